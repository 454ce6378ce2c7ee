#!/usr/bin/env bash
# bench/run.sh BIN_DIR WHAT [--quick]
#
# Runs benchmark families from an optimised build (./sluice.sh bench calls it
# with build/release/bin):
#   alloc     BIN_DIR/bench_alloc     allocator micro-benchmarks
#   channels  BIN_DIR/bench_channels  sluice channels on their own
#   peers     BIN_DIR/bench_peers     sluice against iceoryx, Boost, sockets, pipes
#   arrow     BIN_DIR/bench_arrow     Arrow batches through shared memory
#   rpc       BIN_DIR/bench_rpc       vgi-rpc calls against socket floors, Asio, gRPC, npm
#   all       each of the above that was built
# bench_alloc is a Google Benchmark program: its output is kept as alloc.txt
# (--quick shortens Google Benchmark's minimum time per benchmark). The other
# family programs take --out FILE.json (the result format of
# bench/common/record.hpp) and --quick. A family whose program was not built
# is skipped with a message.
#
# Outputs go to bench/results/ (git-ignored): <family>.json, and for result
# files in the common format <family>.md (tables) and <family>-*.png (plots).
# The peers family runs under bench/peers/with_roudi.sh, which gives iceoryx
# a private RouDi; SLUICE_BENCH_PEERS_ARGS adds options to bench_peers (e.g.
# "--realtime", see bench_peers --help).
set -euo pipefail

usage() { echo "usage: $0 BIN_DIR alloc|channels|peers|arrow|rpc|all [--quick]" >&2; exit 2; }
[ $# -ge 2 ] || usage
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$1" && pwd)
WHAT=$2
shift 2
QUICK=()
for arg in "$@"; do
  case $arg in
    --quick) QUICK=(--quick) ;;
    *) echo "run.sh: unknown option $arg" >&2; usage ;;
  esac
done

RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%d-%H%M%S)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && ! git -C "$ROOT" diff --quiet HEAD 2>/dev/null; then
  COMMIT="$COMMIT+dirty"
fi

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# report FAMILY: tables and plots from bench/results/FAMILY.json, when it is
# in the common result format.
report() {
  local family=$1 json=$RESULTS/$1.json data=$RESULTS/plot-$1
  [ -x "$BIN/bench_report" ] || { log "$family: bench_report not built, no tables"; return 0; }
  mkdir -p "$data"
  if ! "$BIN/bench_report" "$json" --markdown "$RESULTS/$family.md" --plot-data "$data"; then
    log "$family: $json is not in the common result format; no tables or plots"
    return 0
  fi
  log "$family: tables in $RESULTS/$family.md"
  if ! command -v gnuplot >/dev/null; then
    log "$family: gnuplot not installed (Debian: gnuplot-nox); no plots"
    return 0
  fi
  local gp
  for gp in "$ROOT"/bench/plot/*.gp; do
    gnuplot -e "datadir='$data'; outdir='$RESULTS'; prefix='$family'" "$gp" ||
      log "$family: $(basename "$gp") failed"
  done
  log "$family: plots in $RESULTS/$family-*.png"
}

# run_family FAMILY [ARGS...]: runs PREFIX... BIN/bench_FAMILY --out FILE
# [--quick] ARGS..., keeps a time-stamped copy of the result file as
# FAMILY.json, then reports. PREFIX (empty unless set) wraps the program.
PREFIX=()
run_family() {
  local family=$1 prog=$BIN/bench_$1
  shift
  if [ ! -x "$prog" ]; then
    log "$family: skipped ($prog not built)"
    return 0
  fi
  log "$family${QUICK:+ (quick)}"
  local out=$RESULTS/$family-$STAMP.json status=0
  "${PREFIX[@]}" "$prog" --out "$out" "${QUICK[@]}" "$@" || status=$?
  if [ $status -ne 75 ] && [ -f "$out" ]; then
    cp "$out" "$RESULTS/$family.json"
    report "$family"
  fi
  return $status
}

run_alloc() {
  local prog=$BIN/bench_alloc
  if [ ! -x "$prog" ]; then
    log "alloc: skipped ($prog not built)"
    return 0
  fi
  log "alloc${QUICK:+ (quick)}"
  local args=()
  [ ${#QUICK[@]} -gt 0 ] && args=(--benchmark_min_time=0.05 --benchmark_repetitions=2)
  local status=0
  "$prog" "${args[@]}" | tee "$RESULTS/alloc-$STAMP.txt" || status=$?
  cp "$RESULTS/alloc-$STAMP.txt" "$RESULTS/alloc.txt"
  log "alloc: output in $RESULTS/alloc.txt"
  return $status
}

run_peers() {
  local prog=$BIN/bench_peers
  if [ ! -x "$prog" ]; then
    log "peers: skipped ($prog not built)"
    return 0
  fi
  local status=0
  local extra=()
  read -r -a extra <<<"${SLUICE_BENCH_PEERS_ARGS:-}"
  if "$prog" --list | grep -q '^iceoryx '; then
    if command -v iox-roudi >/dev/null; then
      PREFIX=("$ROOT/bench/peers/with_roudi.sh" "$ROOT/bench/peers/roudi.toml" "$RESULTS/roudi.log")
      run_family peers --commit "$COMMIT" "${extra[@]}" || status=$?
      PREFIX=()
      [ $status -ne 75 ] && return $status
      log "peers: no private RouDi could be started; running without iceoryx"
    else
      log "peers: iox-roudi not installed (Debian: iceoryx); running without iceoryx"
    fi
  fi
  local others
  others=$("$prog" --list | awk '$2 != "[floor]" && $1 != "iceoryx" {print $1}' | paste -sd, -)
  run_family peers --commit "$COMMIT" --transports "$others" "${extra[@]}"
}

# rpc: bench/results/rpc-<commit>.json (and rpc.json), a Markdown table
# (rpc.md) and three plots (rpc-unary.png, rpc-stream.png, rpc-results.png).
run_rpc() {
  local prog=$BIN/bench_rpc
  if [ ! -x "$prog" ]; then
    log "rpc: skipped ($prog not built)"
    return 0
  fi
  log "rpc${QUICK:+ (quick)}"
  local out=$RESULTS/rpc-${COMMIT}.json data=$RESULTS/plot-rpc status=0
  mkdir -p "$data"
  "$prog" --out "$out" --commit "$COMMIT" "${QUICK[@]}" --plot-data "$data" \
    --npm-service "$ROOT/tests/interop/conformance_service.mjs" > "$RESULTS/rpc.md" || status=$?
  [ -f "$out" ] && cp "$out" "$RESULTS/rpc.json"
  cat "$RESULTS/rpc.md"
  if command -v gnuplot >/dev/null; then
    gnuplot -e "datadir='$data'; outdir='$RESULTS'" "$ROOT/bench/rpc/plot.gp" ||
      log "rpc: plot failed"
  fi
  log "rpc: $out, table in $RESULTS/rpc.md, plots in $RESULTS/rpc-*.png"
  return $status
}

start=$(date +%s)
status=0
case $WHAT in
  alloc) run_alloc || status=$? ;;
  channels|arrow) run_family "$WHAT" || status=$? ;;
  peers) run_peers || status=$? ;;
  rpc) run_rpc || status=$? ;;
  all)
    run_alloc || status=$?
    run_family channels --commit "$COMMIT" || status=$?
    run_peers || status=$?
    run_family arrow --commit "$COMMIT" || status=$?
    run_rpc || status=$?
    ;;
  *) usage ;;
esac
log "done in $(( $(date +%s) - start )) s (status $status); results in $RESULTS"
exit $status
