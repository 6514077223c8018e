#!/usr/bin/env bash
# Creates the Python venv used by the vnc_api conformance suite (test/fake-contrail-api/vnc_api/test_*.py)
# and installs the real VNC API client into it.
#
#   bash test/fake-contrail-api/vnc_api/setup.sh        # venv at .cache/venv (override: VNC_API_VENV=/path)
#
# What is (and is not) patched: nothing in vnc_api itself. contrail-api-client 2005 is an sdist whose
# setup.py declares no dependencies, so a bare `pip install contrail-api-client` gives a package that fails
# at `import vnc_api.vnc_api` (ModuleNotFoundError: future). We install the three modules it imports
# (future, six, requests) explicitly, pinned in requirements.txt. With them it imports and runs unchanged on
# Python 3.11 (it still works with urllib3 2.x; the only noise is a DeprecationWarning for
# ssl.PROTOCOL_SSLv23, used only for https sessions).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${VNC_API_VENV:-$root/.cache/venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
# Fail here, not in the test run, if the client cannot be imported.
"$venv/bin/python" -c "from vnc_api.vnc_api import VncApi; from vnc_api.exceptions import NoIdError, RefsExistError, BadRequest"
echo "vnc_api venv ready: $venv"
