#!/usr/bin/env bash
# Runs every libFuzzer binary in BIN_DIR for SECONDS each, starting from the
# seed corpus in tests/fuzz/corpus/<name>/, and prints executions per target.
# A crash fails the run and leaves its input in build/fuzz/artifacts/.
set -euo pipefail
bin_dir=$1
seconds=${2:-30}
src_dir=$(cd "$(dirname "$0")" && pwd)
art_dir="$bin_dir/../artifacts"
mkdir -p "$art_dir"
status=0
shopt -s nullglob
for fuzzer in "$bin_dir"/fuzz_*; do
  name=$(basename "$fuzzer")
  short=${name#fuzz_}
  work=$(mktemp -d)
  cp -r "$src_dir/corpus/$short/." "$work/" 2>/dev/null || true
  echo "== fuzz $short for ${seconds}s"
  if ! "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$art_dir/$short-" -print_final_stats=1 "$work" > "$work.log" 2>&1; then
    echo "fuzz $short FAILED:"; tail -40 "$work.log"; status=1
  fi
  execs=$(grep -E '^stat::number_of_executed_units' "$work.log" | awk '{print $2}')
  echo "fuzz $short: ${execs:-?} executions"
  rm -rf "$work" "$work.log"
done
# Objects a fuzz input created in /dev/shm must not survive.
ls /dev/shm | grep -E '^sluice-fz' | while read -r f; do rm -f "/dev/shm/$f"; done
exit $status
