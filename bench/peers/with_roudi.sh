#!/usr/bin/env bash
# with_roudi.sh CONFIG LOG COMMAND [ARGS...]
#
# Runs COMMAND while a private iceoryx RouDi (iox-roudi -c CONFIG, output in
# LOG) is up, then stops that RouDi by its pid.
#
# Isolation: the script re-executes itself in new mount and IPC namespaces
# (unshare; as an unprivileged user through a user namespace) and mounts a
# fresh tmpfs on /dev/shm and on /tmp, where iceoryx 2.0 keeps its shared
# memory, its Unix sockets and its lock files. RouDi and COMMAND therefore
# cannot meet another RouDi on this machine, and whatever they leave in
# /dev/shm or /tmp vanishes with the namespace. When the command uses paths
# under /tmp (a checkout or an output there would be hidden), /tmp stays
# shared and the script refuses to start if another RouDi's socket is there.
#
# Exit status: COMMAND's, or 75 when no RouDi could be started.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG LOG COMMAND [ARGS...]" >&2
  exit 2
fi
CONFIG=$(realpath "$1")
LOG=$(realpath -m "$2")
shift 2
SELF=$(realpath "$0")

note() { echo "with_roudi: $*" >&2; }

if [ "${SLUICE_ROUDI_NS:-}" != "1" ]; then
  userns=()
  [ "$(id -u)" -ne 0 ] && userns=(--user --map-root-user)
  if unshare "${userns[@]}" --mount --ipc --propagation private true 2>/dev/null; then
    exec unshare "${userns[@]}" --mount --ipc --propagation private \
      env SLUICE_ROUDI_NS=1 "$SELF" "$CONFIG" "$LOG" "$@"
  fi
  note "cannot create mount/IPC namespaces (unshare); using the host's /tmp and /dev/shm"
  SLUICE_ROUDI_NS=host
fi

if [ "$SLUICE_ROUDI_NS" = "1" ]; then
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  # Anything the command names under /tmp (its binary, its output) would be
  # hidden by a private /tmp.
  shared_tmp=0
  for arg in "$CONFIG" "$LOG" "$PWD" "$@"; do
    case $(realpath -m -- "$arg" 2>/dev/null || echo "$arg") in
      /tmp|/tmp/*) shared_tmp=1 ;;
    esac
  done
  if [ $shared_tmp -eq 1 ]; then
    note "the command uses paths under /tmp: /tmp stays shared"
  else
    mount -t tmpfs -o mode=1777 tmpfs /tmp
  fi
fi
if [ -e /tmp/roudi ]; then
  note "another RouDi's socket exists (/tmp/roudi); not starting a second one"
  exit 75
fi

mkdir -p "$(dirname "$LOG")"
iox-roudi -c "$CONFIG" -l info >"$LOG" 2>&1 &
ROUDI=$!
stop_roudi() {
  if kill -0 "$ROUDI" 2>/dev/null; then
    kill -TERM "$ROUDI" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$ROUDI" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$ROUDI" 2>/dev/null || true
  fi
  wait "$ROUDI" 2>/dev/null || true
}
trap stop_roudi EXIT

# RouDi reserves and touches its whole segment before it says it is ready.
for _ in $(seq 600); do
  grep -q "RouDi is ready for clients" "$LOG" 2>/dev/null && break
  if ! kill -0 "$ROUDI" 2>/dev/null; then
    note "iox-roudi exited during start-up; see $LOG"
    exit 75
  fi
  sleep 0.1
done
if ! grep -q "RouDi is ready for clients" "$LOG"; then
  note "iox-roudi not ready after 60 s; see $LOG"
  exit 75
fi

status=0
"$@" || status=$?
exit $status
