#!/usr/bin/env bash
# Builds the real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), kubectl and
# kubelet (the node agent of `--nodes kubelet`) from the Go module proxy through the wrapper module in ./go,
# into a cache that later runs reuse.
# Why: no binary downloads are possible here, and the local-cluster backend needs the real components.
#
#   bash testbed/cluster/local/build.sh          # prints the bin directory on stdout
#   CTB_CACHE=/tmp/ctb bash testbed/cluster/local/build.sh --force
#
# Cache: ${CTB_CACHE:-$HOME/.cache/ctb}/k8s-<version>/bin, reused while its stamp (version + hash of go.mod,
# go.sum and the main packages) matches. Runs at nice 19: a cold build takes many CPU-minutes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/go"
commands=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

command -v go >/dev/null || { echo "build.sh: 'go' is not on PATH; the local control plane is built with Go" >&2; exit 1; }

version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$mod/go.mod")"
[[ "$version" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || { echo "build.sh: no k8s.io/kubernetes version in $mod/go.mod" >&2; exit 1; }
major="${BASH_REMATCH[1]}"
minor="${BASH_REMATCH[2]}"

out="${CTB_CACHE:-$HOME/.cache/ctb}/k8s-$version"
bin="$out/bin"
key="$version $(cd "$mod" && cat go.mod go.sum ./*/main.go | sha256sum | cut -c1-16)"

complete=1
for c in "${commands[@]}"; do [ -x "$bin/$c" ] || complete=0; done
if [ "$force" = 0 ] && [ "$complete" = 1 ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$key" ]; then
  echo "build.sh: reusing $bin ($key)" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The version the binaries report (kubectl version, /version); release builds stamp these the same way.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

echo "build.sh: building ${commands[*]} $version into $bin (slow the first time)" >&2
start=$SECONDS
(
  cd "$mod"
  # -mod=readonly: go.sum is committed; a missing sum is an error, not a silent upgrade.
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 19 \
    go build -trimpath -ldflags="$ldflags" -o "$tmp/" "${commands[@]/#/./}"
)
for c in "${commands[@]}"; do [ -x "$tmp/$c" ] || { echo "build.sh: $c was not produced" >&2; exit 1; }; done

rm -rf "$bin"
chmod 755 "$tmp" # mktemp -d makes it private
mv "$tmp" "$bin"
trap - EXIT
echo "$key" >"$out/stamp"
echo "build.sh: built in $((SECONDS - start))s: $(du -sh "$bin" | cut -f1) in $bin" >&2
echo "$bin"
