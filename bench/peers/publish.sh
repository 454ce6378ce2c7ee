#!/usr/bin/env bash
# publish.sh [BIN_DIR]: puts the latest peer results (bench/results/peers.json,
# from bench/run.sh) into the documentation:
#   docs/bench/peers.json        the result file
#   docs/bench/peers.md          every table (bench_report --markdown)
#   docs/bench/peers-*.png       the plots
#   docs/benchmarks.md           the summary tables, between the lines
#                                <!-- peers:begin --> and <!-- peers:end -->
# BIN_DIR holds bench_report (default: build/release/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/release/bin}
RESULTS=$ROOT/bench/results
DOCS=$ROOT/docs/bench

[ -f "$RESULTS/peers.json" ] || { echo "publish: no $RESULTS/peers.json; run bench/run.sh first" >&2; exit 1; }
mkdir -p "$DOCS"
cp "$RESULTS/peers.json" "$DOCS/peers.json"
cp "$RESULTS"/peers-latency-busy.png "$RESULTS"/peers-latency-blocking.png \
   "$RESULTS"/peers-throughput.png "$RESULTS"/peers-fanout.png "$DOCS/"
"$BIN/bench_report" "$DOCS/peers.json" --markdown "$DOCS/peers.md" --summary "$RESULTS/peers-summary.md"

doc=$ROOT/docs/benchmarks.md
grep -q '^<!-- peers:begin -->$' "$doc" && grep -q '^<!-- peers:end -->$' "$doc" ||
  { echo "publish: $doc lacks the peers:begin / peers:end markers" >&2; exit 1; }
awk -v summary="$RESULTS/peers-summary.md" '
  /^<!-- peers:begin -->$/ { print; while ((getline line < summary) > 0) print line; skip = 1; next }
  /^<!-- peers:end -->$/   { skip = 0 }
  !skip                    { print }
' "$doc" > "$doc.tmp"
mv "$doc.tmp" "$doc"
echo "publish: docs/bench/peers.{json,md}, docs/bench/peers-*.png and docs/benchmarks.md updated"
