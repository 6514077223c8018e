#!/usr/bin/env bash
# Builds the images real kubelet nodes run, without Docker or a registry, as docker-save tarballs that
# `ctr -n k8s.io images import` loads (the kubelet backend imports them into each node's containerd):
#   ctb.local/pause:v1          the pod sandbox (containerd's sandbox_image): a static pause program
#   ctb.local/echo:v1           scenario pods' workload: TCP/HTTP/UDP(/SCTP) echo as the node emulator's pods
#   contrail-k8s-testbed:dev    the project (ctb controller|api|vrouter): deploy/'s image, from this tree
#
#   bash testbed/cluster/kubelet/images/build.sh        prints "<ref>\t<tarball>" lines; writes images.json
#   bash testbed/cluster/kubelet/images/build.sh pause echo     only those (names: pause echo testbed)
#
# Output: ${CTB_IMAGES_OUT:-${CTB_CACHE:-$HOME/.cache/ctb}/images}/<name>.tar (+ <name>.tar.json: ref, image
# id, cache key), and images.json there. Cached: a tarball is rewritten only when its content changes (the
# key is the image's config and layer digests, computed from the files each run). Runs at nice 19.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
cache="${CTB_CACHE:-$HOME/.cache/ctb}"
out="${CTB_IMAGES_OUT:-$cache/images}"
all=(pause echo testbed)
want=("$@")
[ ${#want[@]} -eq 0 ] && want=("${all[@]}")
for w in "${want[@]}"; do
  case "$w" in
    pause | echo | testbed) ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "images/build.sh: unknown image '$w' (pause, echo, testbed)" >&2; exit 2 ;;
  esac
done
command -v go >/dev/null || { echo "images/build.sh: 'go' is not on PATH; the image tools are built with Go" >&2; exit 1; }

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9 # one build at a time per output directory (helpers, tests and backends may ask together)

# The Go programs (builder, pause, echo server), static and reproducible, cached by a hash of their sources.
key="$(go env GOVERSION) $(cd "$here/go" && find . -name '*.go' -o -name 'go.mod' -o -name 'go.sum' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"
tools="$cache/image-tools"
if [ "$(cat "$tools/stamp" 2>/dev/null)" != "$key" ]; then
  echo "images/build.sh: building the image tools into $tools" >&2
  mkdir -p "$tools"
  (cd "$here/go" && CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath" nice -n 19 \
    go build -ldflags "-s -w" -o "$tools/" ./cmd/ctb-image ./cmd/pause ./cmd/ctb-echo)
  echo "$key" >"$tools/stamp"
fi

specs="$out/specs"
mkdir -p "$specs"
t=$'\t'

# A host program and the shared libraries it loads (as ldd resolves them), each at its host path.
with_libs() {
  local bin="$1" dst="$2"
  echo "file$t$(readlink -f "$bin")$t$dst"
  ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    echo "file$t$(readlink -f "$lib")$t$lib"
  done
}

spec_pause() {
  printf 'ref%sctb.local/pause:v1\nentrypoint%s/pause\nfile%s%s\tpause\t0755\n' "$t" "$t" "$t" "$tools/pause"
}

spec_echo() {
  printf 'ref%sctb.local/echo:v1\nentrypoint%s/ctb-echo\nfile%s%s\tctb-echo\t0755\n' "$t" "$t" "$t" "$tools/ctb-echo"
}

# The project's image, as deploy/Dockerfile describes it (node at /usr/local/bin, the tree at /app with its
# bundle and its runtime packages, entry point `node /app/bin/ctb`), assembled from this machine's files: the
# Node.js binary and its libraries, iproute2's ip and ping (the agent plumbs interfaces), haproxy when
# installed (load-balancer instances), busybox for the shell tools deploy/'s init container uses.
spec_testbed() {
  local node
  node="$(command -v node)" || { echo "images/build.sh: 'node' is not on PATH" >&2; return 1; }
  git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || {
    echo "images/build.sh: $repo is not a git checkout: the project image takes git's tracked files (as deploy/Dockerfile's COPY with its .dockerignore)" >&2
    return 1
  }
  (cd "$repo" && nice -n 19 node build.mjs) >&2
  echo "ref${t}contrail-k8s-testbed:dev"
  echo "entrypoint${t}node$t/app/bin/ctb"
  echo "env${t}PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  echo "workdir$t/app"
  echo "# system layer: programs and their libraries"
  echo "layer"
  with_libs "$node" usr/local/bin/node
  echo "link${t}usr/bin/node$t../local/bin/node"
  for tool in ip ping haproxy; do
    local p
    p="$(PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH" command -v "$tool")" || continue
    with_libs "$p" "${p#/}"
  done
  local bb
  bb="$(command -v busybox)" || { echo "images/build.sh: busybox is not installed (Debian: busybox-static)" >&2; return 1; }
  echo "file$t$(readlink -f "$bb")${t}bin/busybox"
  for applet in sh cat cp mv mkdir rm ln ls echo sleep sed grep ps kill env test true false chmod touch head tail; do
    echo "link${t}bin/$applet${t}busybox"
  done
  printf 'dir\ttmp\n'
  echo "# the project: its tree (as deploy/Dockerfile's COPY with its .dockerignore), bundle, runtime packages"
  echo "layer"
  (cd "$repo" && git ls-files --cached --others --exclude-standard) |
    grep -vE '^(node_modules|dist|\.git|\.ctb|\.cache)(/|$)' | while read -r f; do
    if [ -f "$repo/$f" ] && [ ! -L "$repo/$f" ]; then echo "file$t$repo/$f${t}app/$f"; fi
  done
  echo "tree$t$repo/dist${t}app/dist"
  # runtime packages only (npm's production tree, as `npm ci --omit=dev` installs), each with its nested ones
  (cd "$repo" && npm ls --omit=dev --parseable --all 2>/dev/null) | while read -r p; do
    rel="${p#"$repo/node_modules/"}"
    if [ "$rel" != "$p" ] && [[ "$rel" != */node_modules/* ]]; then echo "tree$t$p${t}app/node_modules/$rel"; fi
  done
}

for w in "${want[@]}"; do
  "spec_$w" >"$specs/$w.spec.new"
  mv "$specs/$w.spec.new" "$specs/$w.spec"
done
for w in "${want[@]}"; do
  nice -n 19 "$tools/ctb-image" build -spec "$specs/$w.spec" -out "$out/$w.tar" >/dev/null
done

# images.json: every image built so far in this directory (ref, id, tarball)
node -e '
  const fs = require("node:fs"), path = require("node:path");
  const dir = process.argv[1];
  const images = fs.readdirSync(dir).filter((f) => f.endsWith(".tar.json")).sort().map((f) => {
    const s = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
    return { name: f.slice(0, -".tar.json".length), ref: s.ref, id: s.id, tarball: path.join(dir, f.slice(0, -5)) };
  });
  fs.writeFileSync(path.join(dir, "images.json"), JSON.stringify({ images }, null, 2) + "\n");
' "$out"
for w in "${want[@]}"; do
  printf '%s\t%s\n' "$(node -p 'require(process.argv[1]).ref' "$out/$w.tar.json")" "$out/$w.tar"
done
