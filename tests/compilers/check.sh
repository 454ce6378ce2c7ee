#!/usr/bin/env bash
# check.sh SOURCE_DIR BINARY_DIR: the type ids of typed channels are the same
# under g++ and clang++ (tests/compilers/type_ids.cpp, built with each).
set -euo pipefail
src=$1
bin=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for cxx in g++ clang++; do
  "$cxx" -std=c++20 -I"$src" -I"$bin/include" "$src/tests/compilers/type_ids.cpp" -o "$work/$cxx"
  "$work/$cxx" > "$work/$cxx.out"
done
if ! diff -u "$work/g++.out" "$work/clang++.out"; then
  echo "type ids differ between g++ and clang++" >&2
  exit 1
fi
cat "$work/g++.out"
