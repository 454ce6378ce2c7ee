#!/usr/bin/env bash
# Fails if a test left a shared-memory object behind. Test objects are named
# sluice-t<pid>-... (tests/support/shm_names.hpp), side-channel segments
# vgi_rpc_<hex pid>_...; an object whose creating
# process is still alive belongs to a test still running (another ctest on
# the same machine) and is left alone.
left=""
for f in /dev/shm/sluice-t* /dev/shm/vgis-t*; do
  [ -e "$f" ] || continue
  name=$(basename "$f")
  pid=$(echo "$name" | sed -nE 's/^(sluice|vgis)-t([0-9]+)-.*/\2/p')
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    continue
  fi
  left="$left $name"
done
# vgi-rpc side-channel segments: vgi_rpc_<pid in hex>_<nanoseconds in hex>.
for f in /dev/shm/vgi_rpc_*; do
  [ -e "$f" ] || continue
  name=$(basename "$f")
  hex=$(echo "$name" | sed -nE 's/^vgi_rpc_([0-9a-f]+)_.*/\1/p')
  if [ -n "$hex" ] && kill -0 "$((16#$hex))" 2>/dev/null; then
    continue
  fi
  left="$left $name"
done
if [ -n "$left" ]; then
  echo "tests left shared-memory objects in /dev/shm:"
  for f in $left; do echo "  $f"; rm -f "/dev/shm/$f"; done
  exit 1
fi
echo "/dev/shm is clean"
