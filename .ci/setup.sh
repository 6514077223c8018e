#!/usr/bin/env bash
# Installs what the testbed needs on a fresh Debian machine, idempotently (fast when already done).
#
#   bash .ci/setup.sh --runtime   what every `ctb` command needs: the Debian packages of the netns datapath
#                                 (libpcap, iproute2, ping, haproxy for Ingress, dnsutils for nslookup/dig in pods, iptables for forwarding pods' rules), the npm dependencies, the CNI bundle and the
#                                 libpcap addon. `npm start` runs this, so `ctb up … --datapath netns` works after it.
#   bash .ci/setup.sh             all of that, plus what the test suite needs: the Python vnc_api client venv,
#                                 the network-config-analyzer venv (NetworkPolicy cross-check), cnitool, tcpdump,
#                                 chromium (the web view's browser test), containerd, runc and static busybox
#                                 (the real nodes of `--nodes kubelet`),
#                                 and the real Kubernetes control plane built once from the Go module proxy
#                                 (cached under ${CTB_CACHE:-$HOME/.cache/ctb}). `npm test` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full
[ "${1:-}" = "--runtime" ] && mode=runtime

pkgs=(libpcap-dev iproute2 iputils-ping util-linux build-essential python3 haproxy dnsutils iptables)
# chromium: the headless browser the web view's test drives (test/web/browser.test.ts, tier BROWSER)
[ "$mode" = full ] && pkgs+=(tcpdump python3-venv openssl containernetworking-plugins chromium)
# containerd + runc run the pods of the real kubelet nodes (tier KUBELET); busybox-static is their test image's
# userland. Nothing starts containerd as a service: the policy-rc.d below refuses it, the testbed runs its own.
# nftables: the nft CLI, with which their teardown removes the nf_tables tables kubelet's iptables calls register.
[ "$mode" = full ] && pkgs+=(containerd runc busybox-static nftables)
need_pkgs=()
for pkg in "${pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    if [ "$mode" = full ]; then
      echo "setup: missing Debian packages: ${need_pkgs[*]} (run as root or install them)" >&2
      exit 1
    fi
    # the embedded default needs none of them; `ctb` names what is missing when a backend needs it
    echo "setup: not root, so not installing ${need_pkgs[*]}: the netns datapath will not be available" >&2
  else
    echo "setup: installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packages with a daemon (haproxy) must not start one on the host: the testbed runs its own, in its
    # namespaces. Without a policy-rc.d of the machine's own, one that refuses starts is in place for the install.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
      trap '[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; own_policy=; fi
  fi
fi

# after the Debian packages: the optional libpcap addon builds only when libpcap-dev is there
node .ci/ensure-node-deps.mjs
npm run build --silent
if [ -d node_modules/cap ]; then bash fake-vrouter/netns/tools/build-cap.sh >/dev/null; fi
[ "$mode" = runtime ] && exit 0

bash test/fake-contrail-api/vnc_api/setup.sh
bash test/oracle/nca/setup.sh
bash cni/tools/build-cnitool.sh
bash fake-vrouter/netns/tools/build-cap.sh
if [ -f testbed/cluster/local/build.sh ] && [ "${CTB_SKIP_K8S_BUILD:-}" != "1" ]; then bash testbed/cluster/local/build.sh; fi
