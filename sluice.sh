#!/usr/bin/env bash
# sluice developer entry point: installs what is missing, builds, runs.
#   ./sluice.sh demo | test | build [preset] | bench [what] | torture | fuzz | help
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
JOBS=${SLUICE_JOBS:-$(nproc)}

BUILD_PKGS=(cmake ninja-build g++ clang libclang-rt-14-dev pkg-config libgtest-dev libgmock-dev
            libbenchmark-dev libfmt-dev libcli11-dev libflatbuffers-dev flatbuffers-compiler
            libboost-dev liblz4-dev libzstd-dev nlohmann-json3-dev libsodium-dev)
BENCH_PKGS=(iceoryx libiceoryx-posh-dev libiceoryx-hoofs-dev gnuplot-nox util-linux
            libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev)

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_node() {
  # Node.js may come from Debian (nodejs + npm) or another packaging that
  # bundles npm: only install Debian's when the commands are missing.
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    ensure_packages nodejs npm
  fi
}

ensure_node_modules() {
  ensure_node
  # The JavaScript peers of the interop tests (apache-arrow, @query-farm/vgi-rpc),
  # pinned in tests/interop/package-lock.json: installed again whenever the
  # lockfile is newer than what node_modules holds.
  local installed=tests/interop/node_modules/.package-lock.json
  if [ -f tests/interop/package.json ] &&
     { [ ! -f "$installed" ] || [ tests/interop/package-lock.json -nt "$installed" ] ||
       [ ! -d tests/interop/node_modules/@query-farm/vgi-rpc ]; }; then
    log "installing npm packages for the interop tests"
    (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

configure_build() {
  local preset=$1
  log "configure + build ($preset)"
  cmake --preset "$preset" ${SLUICE_CMAKE_ARGS:-} >/dev/null
  cmake --build --preset "$preset" -j "$JOBS"
}

cmd_build() {
  ensure_packages "${BUILD_PKGS[@]}"
  configure_build "${1:-release}"
}

cmd_test() {
  local preset=test label=""
  while [ $# -gt 0 ]; do
    case $1 in
      --preset) preset=$2; shift 2 ;;
      -L|--label) label=$2; shift 2 ;;
      *) echo "test: unknown option $1" >&2; exit 2 ;;
    esac
  done
  ensure_packages "${BUILD_PKGS[@]}"
  ensure_node_modules
  configure_build "$preset"
  log "ctest ($preset${label:+, label $label})"
  local args=(--test-dir "build/$preset" --output-on-failure --no-tests=error -j "$JOBS")
  [ -n "$label" ] && args+=(-L "$label")
  ctest "${args[@]}"
}

cmd_demo() {
  ensure_packages "${BUILD_PKGS[@]}"
  configure_build release
  log "demo"
  "$ROOT/examples/demo.sh" "$ROOT/build/release/bin"
}

cmd_bench() {
  ensure_packages "${BUILD_PKGS[@]}" "${BENCH_PKGS[@]}"
  ensure_node_modules  # the npm vgi-rpc peer of bench rpc
  configure_build release
  local what=${1:-all}
  shift || true
  "$ROOT/bench/run.sh" "$ROOT/build/release/bin" "$what" "$@"
}

cmd_torture() {
  ensure_packages "${BUILD_PKGS[@]}"
  configure_build test  # the crash points the harness stops at
  "$ROOT/build/test/bin/sluice_crash_harness" "$@"
}

cmd_fuzz() {
  local seconds=${1:-30}
  ensure_packages "${BUILD_PKGS[@]}"
  configure_build fuzz
  "$ROOT/tests/fuzz/run_all.sh" "$ROOT/build/fuzz/bin" "$seconds"
}

cmd_help() {
  cat <<'HELP'
usage: ./sluice.sh COMMAND [ARGS]

  demo                  build (release) and run the two-process demonstration
  test [--preset P] [-L LABEL]
                        build and run the test suite with ctest (default preset: test,
                        optimised with crash points; presets: test, debug, asan, tsan;
                        labels: unit, multiprocess,
                        stress, crash, interop)
  build [PRESET]        configure and build a preset (default: release: library, CLI,
                        examples, benchmarks; no tests, no crash points)
  bench [WHAT] [--quick]
                        run benchmarks: alloc, channels, peers, arrow, rpc or all
  torture [--trials N]  kill -9 publishers/subscribers at random points, check nothing leaks
  fuzz [SECONDS]        build the libFuzzer targets (clang) and run each for SECONDS
  help                  this text

Missing Debian packages are installed with apt-get (root or sudo).
The CLI ends up at build/release/bin/sluice.
HELP
}

case "${1:-help}" in
  demo) shift; cmd_demo "$@" ;;
  test) shift; cmd_test "$@" ;;
  build) shift; cmd_build "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  torture) shift; cmd_torture "$@" ;;
  fuzz) shift; cmd_fuzz "$@" ;;
  help|-h|--help) cmd_help ;;
  *) echo "unknown command: $1" >&2; cmd_help >&2; exit 2 ;;
esac
