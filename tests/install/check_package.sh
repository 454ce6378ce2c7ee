#!/usr/bin/env bash
# check_package.sh: builds the library and the CLI as a user would package
# them (release, no tests, no crash points), once with static and once with
# shared libraries, installs each into a scratch prefix and builds the consumer
# against it with g++ and clang++ (tests/install/run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=${SLUICE_JOBS:-$(nproc)}
for kind in ${SLUICE_PACKAGE_KINDS:-static shared}; do
  shared=OFF
  [ "$kind" = shared ] && shared=ON
  dir=build/package-$kind
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=$shared \
        -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF -DSLUICE_BUILD_EXAMPLES=OFF \
        ${SLUICE_CMAKE_ARGS:-} >/dev/null
  cmake --build "$dir" -j "$jobs" >/dev/null
  if [ "$kind" = shared ]; then
    lib=$(find "$dir" -name 'libsluice_channel.so.*.*.*' | head -n 1)
    [ -n "$lib" ] || { echo "no versioned libsluice_channel.so" >&2; exit 1; }
    soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
    echo "shared: $(basename "$lib"), SONAME $soname"
  fi
  tests/install/run.sh "$dir" tests/install/consumer g++ clang++
done
