#!/usr/bin/env bash
# Fails when regenerating the golden files (UPDATE_GOLDEN=1) would change any of them.
#
# In a copy of the tracked files, every generated file of a test/**/golden/ folder (all but the hand-written
# *.input.yaml cases) is deleted, the golden tests (the test files using test/support/golden.ts) are run with
# UPDATE_GOLDEN=1, and each golden folder must come back byte for byte as it is in the tree: a changed file,
# a file no test writes any more, or a new one fails. Deleting first is what keeps the check from passing
# vacuously: a test that stopped writing, or no longer runs, leaves its file missing.
#
#   bash .ci/check-goldens.sh        (.ci/run runs it after the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctb-goldens.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mapfile -t tests < <(git grep -l 'support/golden' -- 'test/*.test.ts')
mapfile -t dirs < <(git ls-files 'test/*/golden/*' | xargs -r -n1 dirname | sort -u)
if [ ${#tests[@]} -eq 0 ] || [ ${#dirs[@]} -eq 0 ]; then
  echo "check-goldens: no golden tests (${#tests[@]}) or golden folders (${#dirs[@]}) found" >&2
  exit 1
fi

mkdir -p "$tmp/tree" "$tmp/before"
git ls-files -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$tmp/tree"
[ -e "$tmp/tree/node_modules" ] || ln -s "$repo/node_modules" "$tmp/tree/node_modules"
generated=0
for d in "${dirs[@]}"; do
  mkdir -p "$tmp/before/$d"
  cp -a "$tmp/tree/$d/." "$tmp/before/$d/"
  while IFS= read -r -d '' f; do
    rm "$f"
    generated=$((generated + 1))
  done < <(find "$tmp/tree/$d" -maxdepth 1 -type f ! -name '*.input.yaml' -print0)
done
if [ "$generated" -eq 0 ]; then
  echo "check-goldens: the golden folders (${dirs[*]}) hold no generated files" >&2
  exit 1
fi

echo "check-goldens: regenerating $generated file(s) in ${dirs[*]} with ${tests[*]}"
if ! (cd "$tmp/tree" && UPDATE_GOLDEN=1 npx vitest run "${tests[@]}" >"$tmp/vitest.log" 2>&1); then
  tail -n 40 "$tmp/vitest.log" >&2
  echo "check-goldens: the golden tests failed while regenerating" >&2
  exit 1
fi
status=0
for d in "${dirs[@]}"; do
  if ! diff -r "$tmp/before/$d" "$tmp/tree/$d" >"$tmp/diff" 2>&1; then
    head -n 60 "$tmp/diff" | sed "s#$tmp/before/##g; s#$tmp/tree/##g" >&2
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "check-goldens: regenerating changes the files above; run UPDATE_GOLDEN=1 npx vitest run ${tests[*]} and commit the result" >&2
  exit 1
fi
echo "check-goldens: all $generated generated file(s) regenerate unchanged"
