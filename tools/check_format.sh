#!/usr/bin/env bash
# Fails when any tracked C++ file differs from what clang-format-14 makes of
# it (.clang-format). Fix with: tools/check_format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format)
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' | grep -v '^tests/fuzz/corpus/')
if [ "${1:-}" = "--fix" ]; then
  "$fmt" -i "${files[@]}"
  exit 0
fi
if ! out=$("$fmt" --dry-run --Werror "${files[@]}" 2>&1); then
  echo "$out" | grep -E '^[^ ].*(warning|error):' | head -n 40
  echo "format: $(echo "$out" | grep -c 'error:') differences; run tools/check_format.sh --fix" >&2
  exit 1
fi
echo "format: ${#files[@]} files clean"
