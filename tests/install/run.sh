#!/usr/bin/env bash
# run.sh BUILD_DIR CONSUMER_SRC CXX: install, then build and run the consumer.
set -euo pipefail
build=$1
src=$2
cxx=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -x "$work/prefix/bin/sluice"
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
# pkg-config route
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig" \
  pkg-config --cflags --libs sluice > "$work/flags"
# shellcheck disable=SC2046
"$cxx" -o "$work/consumer_pc" "$src/main.cpp" $(cat "$work/flags")
"$work/consumer_pc"
echo "install + find_package + pkg-config consumer ok"
