#!/usr/bin/env bash
# check_lint.sh BUILD_DIR: clang-tidy-14 (.clang-tidy) over the lines of C++
# sources changed since the lint base (.ci/lint-base, the commit from which
# the tree is held to the check set; older code is cleaned file by file as it
# changes). Any warning fails. BUILD_DIR holds compile_commands.json.
# The whole tree takes too long for CI on 2 cores, hence the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/test}
base=$(tr -d '[:space:]' < .ci/lint-base)
command -v clang-tidy-diff-14.py >/dev/null || { echo "lint: clang-tidy-14 missing" >&2; exit 1; }
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
  echo "lint: base $base not in this clone" >&2
  exit 1
fi
changed=$(git diff --name-only --diff-filter=AMR "$base" -- '*.cpp' | grep -v '^tests/fuzz/corpus/' || true)
if [ -z "$changed" ]; then
  echo "lint: no C++ source changed since $base"
  exit 0
fi
echo "lint: $(echo "$changed" | wc -l) changed sources since ${base:0:12}"
out=$(git diff -U0 "$base" -- $changed |
      clang-tidy-diff-14.py -p1 -path "$build" -j "$(nproc)" -quiet -extra-arg=-Wno-unknown-warning-option 2>&1 || true)
if echo "$out" | grep -E '(warning|error): ' >/dev/null; then
  echo "$out" | grep -E -A3 '(warning|error): ' | head -n 120
  echo "lint: $(echo "$out" | grep -cE '(warning|error): ') findings" >&2
  exit 1
fi
echo "lint: clean"
