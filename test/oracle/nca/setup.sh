#!/usr/bin/env bash
# Creates the Python venv with network-config-analyzer (NCA, np-guard), the independent NetworkPolicy
# evaluator that test/oracle/cross-check.test.ts holds the testbed's Kubernetes oracle to.
#
#   bash test/oracle/nca/setup.sh        # venv at .cache/nca-venv (override: NCA_VENV=/path)
#
# Idempotent: a stamp holding the requirements' checksum makes a second run a no-op. Ends by importing NCA
# the way verdicts.py does, so a broken install fails here and not in the test run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${NCA_VENV:-$root/.cache/nca-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.ctb-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "nca venv ready: $venv"
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" "$here/verdicts.py" --self-check
echo "$want" >"$stamp"
echo "nca venv ready: $venv"
