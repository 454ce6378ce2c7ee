#!/usr/bin/env bash
# Layers depend only downward: a file of layer L (anything under sluice/L/)
# may include sluice/M/ only when M is L or a layer L is built on. CMake links
# enforce the same for symbols; this check catches header-only leaks upward
# and sideways (the arrow codec must not reach shared memory, ring sits on
# base alone).
root=${1:-.}
declare -A allowed=(
  [base]="base"
  [os]="os base"
  [layout]="layout os base"
  [alloc]="alloc layout os base"
  [ring]="ring base"
  [channel]="channel ring alloc layout os base"
  [arrow]="arrow base"
  [batch]="batch arrow channel ring alloc layout os base"
  [rpc]="rpc batch arrow channel ring alloc layout os base"
  [tools]="tools rpc batch arrow channel ring alloc layout os base"
)
bad=0
for layer in "${!allowed[@]}"; do
  dir="$root/sluice/$layer"
  [ -d "$dir" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    dep=$(echo "$line" | sed -E 's/.*#include [<"]sluice\/([a-z_]+)\/.*/\1/')
    if [[ " ${allowed[$layer]} " != *" $dep "* ]]; then
      echo "layering violation: $file ($layer) includes sluice/$dep/"
      bad=1
    fi
  done < <(grep -rHE '#include [<"]sluice/[a-z_]+/' "$dir" 2>/dev/null)
done
[ $bad -eq 0 ] && echo "layering ok"
exit $bad
