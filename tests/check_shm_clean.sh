#!/usr/bin/env bash
# Fails if any test left a shared-memory object behind. Test names all start
# with "sluice-t" (tests/support/shm_names.hpp).
left=$(ls /dev/shm 2>/dev/null | grep -E '^(sluice-t|vgis-t)' || true)
if [ -n "$left" ]; then
  echo "tests left shared-memory objects in /dev/shm:"
  echo "$left"
  for f in $left; do rm -f "/dev/shm/$f"; done
  exit 1
fi
echo "/dev/shm is clean"
