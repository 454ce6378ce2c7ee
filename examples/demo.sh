#!/usr/bin/env bash
# The two-process (and more) demonstration behind `./sluice.sh demo`.
# usage: examples/demo.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: demo.sh BIN_DIR}
domain="sluice-demo-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$bin/sluice" rm --force "$domain" >/dev/null 2>&1 || true
}
trap cleanup EXIT

say() { printf '\n\033[1m-- %s\033[0m\n' "$*"; }

say "1. typed pub/sub, fan-out: 3 subscriber processes, 1 publisher process, 1,000,000 poses"
for i in 1 2 3; do
  "$bin/example_typed_pubsub" subscribe "$domain" 1000000 & pids+=($!)
done
"$bin/example_typed_pubsub" publish "$domain" 1000000 3
for p in "${pids[@]}"; do wait "$p"; done
pids=()

say "2. byte messages from 0 B to 64 MiB, read in place by another process"
"$bin/example_bytes" subscribe "$domain" & pids+=($!)
"$bin/example_bytes" publish "$domain"
wait "${pids[0]}"
pids=()

say "3. an epoll-driven subscriber (notification fd, no busy loop)"
"$bin/example_epoll_subscriber" subscribe "$domain" 100000 & pids+=($!)
"$bin/example_epoll_subscriber" publish "$domain" 100000
wait "${pids[0]}"
pids=()

say "4. what the CLI sees while a publisher is attached: sluice ls, sluice inspect $domain"
"$bin/example_typed_pubsub" subscribe "$domain" 1 >/dev/null &
holder=$!
pids+=($holder)
sleep 0.3
"$bin/sluice" ls
echo
"$bin/sluice" inspect "$domain"
"$bin/example_typed_pubsub" publish "$domain" 1 1 >/dev/null
wait "$holder"
pids=()

say "5. clean up: the last process out removed $domain (sluice ls, sluice rm for crashed ones)"
if "$bin/sluice" inspect "$domain" >/dev/null 2>&1; then
  echo "still there: removing it"
  "$bin/sluice" rm "$domain"
else
  echo "$domain is gone from /dev/shm"
fi

say "6. RPC (vgi-rpc): a C++ service on a Unix socket, its typed client, and sluice rpc"
sock_dir=$(mktemp -d)
"$bin/example_rpc_greeter" serve "unix:$sock_dir/greeter.sock" > "$sock_dir/line" &
server=$!
pids=($server)
for _ in $(seq 50); do [ -s "$sock_dir/line" ] && break; sleep 0.1; done
"$bin/example_rpc_greeter" call "unix:$sock_dir/greeter.sock"
echo
"$bin/sluice" rpc describe "unix:$sock_dir/greeter.sock"
"$bin/sluice" rpc call "unix:$sock_dir/greeter.sock" readings -p count=2
kill -TERM "$server"
wait "$server" || true
pids=()
rm -rf "$sock_dir"
trap - EXIT
echo "demo finished"
