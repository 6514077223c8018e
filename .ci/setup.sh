#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, idempotently (fast when already done):
# Debian packages, npm dependencies, the Python vnc_api client venv, cnitool, and the locally built Kubernetes
# control plane (cached under ${CTB_CACHE:-$HOME/.cache/ctb}).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pkg in libpcap-dev iproute2 iputils-ping util-linux tcpdump python3-venv python3 openssl build-essential containernetworking-plugins; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${need_pkgs[*]} (run as root or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

node .ci/ensure-node-deps.mjs

npm run build --silent
bash test/fake-contrail-api/vnc_api/setup.sh
bash cni/tools/build-cnitool.sh
bash fake-vrouter/netns/tools/build-cap.sh
if [ -f testbed/cluster/local/build.sh ] && [ "${CTB_SKIP_K8S_BUILD:-}" != "1" ]; then bash testbed/cluster/local/build.sh; fi
