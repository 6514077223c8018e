#!/usr/bin/env bash
# Builds cnitool (the CNI project's manual driver) into <repo>/.cache/bin, pinned and cached, for the
# cnitool conformance test of the contrail-k8s-cni plugin. Needs Go and the module proxy.
# Usage: cni/tools/build-cnitool.sh   (prints the binary's path)
set -euo pipefail
VERSION="v1.3.0"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$REPO/.cache/bin"
STAMP="$BIN/cnitool.version"
if [[ -x "$BIN/cnitool" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "$BIN/cnitool"
  exit 0
fi
command -v go >/dev/null || { echo "build-cnitool: go is not installed" >&2; exit 1; }
mkdir -p "$BIN"
GOBIN="$BIN" go install "github.com/containernetworking/cni/cnitool@$VERSION"
echo "$VERSION" >"$STAMP"
echo "$BIN/cnitool"
