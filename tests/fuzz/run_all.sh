#!/usr/bin/env bash
# Runs every libFuzzer binary in BIN_DIR for SECONDS each (as many at once as
# there are cores), starting from the seed corpus in
# tests/fuzz/corpus/<name>/, and prints executions per target. A crash fails
# the run and leaves its input in build/fuzz/artifacts/ (turn it into a
# regression file in the corpus folder once fixed).
set -euo pipefail
bin_dir=$1
seconds=${2:-30}
jobs=${SLUICE_FUZZ_JOBS:-$(nproc)}
src_dir=$(cd "$(dirname "$0")" && pwd)
art_dir="$bin_dir/../artifacts"
mkdir -p "$art_dir"
shopt -s nullglob
fuzzers=("$bin_dir"/fuzz_*)
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "no fuzz targets in $bin_dir"
  exit 1
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_one() {
  local fuzzer=$1 name short work
  name=$(basename "$fuzzer")
  short=${name#fuzz_}
  work=$(mktemp -d)
  cp -r "$src_dir/corpus/$short/." "$work/" 2>/dev/null || true
  if "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$art_dir/$short-" -print_final_stats=1 "$work" > "$logs/$short.log" 2>&1; then
    echo ok > "$logs/$short.status"
  else
    echo failed > "$logs/$short.status"
  fi
  rm -rf "$work"
}

echo "fuzzing ${#fuzzers[@]} targets for ${seconds}s each, $jobs at a time"
running=0
for fuzzer in "${fuzzers[@]}"; do
  run_one "$fuzzer" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

status=0
for fuzzer in "${fuzzers[@]}"; do
  short=$(basename "$fuzzer")
  short=${short#fuzz_}
  execs=$(grep -E '^stat::number_of_executed_units' "$logs/$short.log" | awk '{print $2}')
  if [ "$(cat "$logs/$short.status" 2>/dev/null)" = ok ]; then
    echo "fuzz $short: ${execs:-?} executions, no findings"
  else
    echo "fuzz $short: FAILED after ${execs:-?} executions"
    tail -40 "$logs/$short.log"
    status=1
  fi
done
# Objects a fuzz input created in /dev/shm must not survive.
for f in /dev/shm/sluice-fz*; do [ -e "$f" ] && rm -f "$f"; done
exit $status
