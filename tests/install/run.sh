#!/usr/bin/env bash
# run.sh BUILD_DIR CONSUMER_SRC CXX...: installs BUILD_DIR into a scratch
# prefix, checks what was installed (public headers only, no internal target,
# a LICENSE), then builds and runs the consumer with each compiler given, both
# through find_package(sluice) and through pkg-config, never setting the C++
# standard itself.
set -euo pipefail
build=$1
src=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix=$work/prefix
fail() { echo "install check: $*" >&2; exit 1; }
test -x "$prefix/bin/sluice" || fail "bin/sluice missing"
"$prefix/bin/sluice" --version | grep -q '^sluice [0-9]' || fail "sluice --version"
test -f "$prefix/include/sluice/sluice.hpp" || fail "umbrella header missing"
test -f "$prefix/include/sluice/version.hpp" || fail "version.hpp missing"
test -f "$prefix/share/doc/sluice/LICENSE" || fail "LICENSE missing"
leaked=$(find "$prefix/include" \( -path '*/internal/*' -o -name '*.cpp' -o -path '*/tools/*' \) -print)
[ -z "$leaked" ] || fail "private files installed: $leaked"
if grep -rq 'sluice::tools\|CLI11' "$prefix"/lib*/cmake/sluice/ "$prefix"/lib/*/cmake/sluice/ 2>/dev/null; then
  fail "the CLI's internal library is exported"
fi
pc_path="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
for cxx in "$@"; do
  tag=$(basename "$cxx")
  cmake -S "$src" -B "$work/build-$tag" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$work/build-$tag" >/dev/null
  "$work/build-$tag/consumer"
  flags=$(PKG_CONFIG_PATH="$pc_path" pkg-config --cflags --libs sluice)
  # shellcheck disable=SC2086
  "$cxx" -o "$work/consumer-pc-$tag" "$src/main.cpp" $flags -Wl,-rpath,"$prefix/lib"
  "$work/consumer-pc-$tag"
  echo "install consumer ok with $tag (find_package and pkg-config)"
done
# A publisher built with the first compiler, a subscriber built with the last.
if [ $# -ge 2 ]; then
  first=$(basename "$1")
  last=$(basename "${@: -1}")
  name="sluice-t$$-cross"
  "$work/build-$first/consumer" publish "$name" &
  pub=$!
  got=$("$work/build-$last/consumer" subscribe "$name")
  wait "$pub"
  [ "$got" = "typed value across compilers: ok" ] || fail "cross-compiler subscriber said: $got"
  echo "typed channel between a $first publisher and a $last subscriber ok"
fi
