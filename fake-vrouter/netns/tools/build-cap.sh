#!/usr/bin/env bash
# Builds a private copy of the `cap` libpcap addon with assertions compiled out (-DNDEBUG) into
# <repo>/.cache/cap-ndebug. The stock build aborts the whole process (assert in its poll callback) when a
# captured interface goes down or is deleted — which is what a CNI DEL does to a pod's tap. Without
# assertions the handle just stops and the vrouter process closes it. Cached per cap and Node version.
# Needs a C++ toolchain, libpcap-dev and Node's headers (or network access for node-gyp to fetch them).
# Usage: fake-vrouter/netns/tools/build-cap.sh   (prints the addon directory)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
SRC="$REPO/node_modules/cap"
OUT="$REPO/.cache/cap-ndebug"
[[ -f "$SRC/binding.gyp" ]] || { echo "build-cap: $SRC missing (run npm ci first)" >&2; exit 1; }
STAMP="$(node -p "require('$SRC/package.json').version")-$(node -v)"
current() { [[ -f "$OUT/build/Release/cap.node" && "$(cat "$OUT/.stamp" 2>/dev/null)" == "$STAMP" ]]; }
if current; then
  echo "$OUT"
  exit 0
fi
# Parallel test files may ask at once: one builds, the others wait and reuse.
mkdir -p "$REPO/.cache"
exec 9>"$REPO/.cache/cap-ndebug.lock"
flock 9
if current; then
  echo "$OUT"
  exit 0
fi
GYP="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$GYP" ]] || GYP="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
NODE_PREFIX="$(dirname "$(dirname "$(command -v node)")")"
ARGS=()
[[ -f "$NODE_PREFIX/include/node/node.h" ]] && ARGS+=("--nodedir=$NODE_PREFIX")
# Build beside the target and swap it in whole, so a vrouter starting meanwhile never loads half a build.
TMP="$OUT.tmp.$$"
rm -rf "$TMP"
mkdir -p "$TMP"
cp -r "$SRC/binding.gyp" "$SRC/src" "$SRC/lib" "$SRC/package.json" "$TMP/"
# Inside the repo so the build finds node_modules/nan.
(cd "$TMP" && CXXFLAGS="-DNDEBUG" node "$GYP" rebuild "${ARGS[@]}" >"$TMP/build.log" 2>&1) || {
  echo "build-cap: node-gyp failed, see $TMP/build.log" >&2
  exit 1
}
echo "$STAMP" >"$TMP/.stamp"
rm -rf "$OUT"
mv "$TMP" "$OUT"
echo "$OUT"
