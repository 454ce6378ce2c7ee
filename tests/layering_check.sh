#!/usr/bin/env bash
# Layers depend only downward: a header or source of layer L may include
# sluice/<M>/ only when M is L or below it. CMake links enforce the same for
# symbols; this check catches header-only leaks upward.
root=${1:-.}
layers=(base os layout alloc ring channel arrow rpc tools)
declare -A rank
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done
# ring sits on base only; it must not reach into os/layout/alloc.
declare -A forbid_extra=([ring]="os layout alloc")
bad=0
for layer in "${layers[@]}"; do
  for dir in "$root/include/sluice/$layer" "$root/src/$layer"; do
    [ -d "$dir" ] || continue
    while IFS= read -r line; do
      file=${line%%:*}
      dep=$(echo "$line" | sed -E 's/.*#include [<"]sluice\/([a-z_]+)\/.*/\1/')
      [ -n "${rank[$dep]:-}" ] || continue
      if [ "${rank[$dep]}" -gt "${rank[$layer]}" ] || [[ " ${forbid_extra[$layer]:-} " == *" $dep "* ]]; then
        echo "layering violation: $file ($layer) includes sluice/$dep/"
        bad=1
      fi
    done < <(grep -rHE '#include [<"]sluice/[a-z_]+/' "$dir" 2>/dev/null)
  done
done
[ $bad -eq 0 ] && echo "layering ok"
exit $bad
