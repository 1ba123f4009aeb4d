# Shell helpers for the integration tests written in bash (source it; do not run it).
#
#   start_broker [extra wharf serve args...]   starts `wharf serve` on a free loopback port with
#                                              a fresh data directory and waits for "ready";
#                                              sets BROKER (host:port), BROKER_PORT, BROKER_PID,
#                                              BROKER_DATA and BROKER_LOG. Called again after
#                                              stop_broker, it restarts on the same data
#                                              directory and, if still free, the same port.
#   stop_broker                                SIGTERM, wait, and check it stopped cleanly
#   broker_alive                               true while the broker process runs
#
# The binary is $WHARF_BIN (ctest sets it), else build/bin/wharf. Everything listens on
# 127.0.0.1 only. An EXIT trap kills a broker that is still running and removes its data
# directory (kept when WHARF_KEEP_DATA is set). One broker per sourcing script.

WHARF_BIN=${WHARF_BIN:-build/bin/wharf}
BROKER=
BROKER_PORT=
BROKER_PID=
BROKER_DATA=
BROKER_LOG=

_wharf_lib_cleanup() {
  if [ -n "$BROKER_PID" ]; then
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
  fi
  if [ -n "$BROKER_DATA" ] && [ -z "${WHARF_KEEP_DATA:-}" ]; then
    rm -rf "$BROKER_DATA"
  fi
}
trap _wharf_lib_cleanup EXIT

# A port the kernel just handed out on 127.0.0.1. Another process could take it before the
# broker binds it, so start_broker retries with a new one if the bind fails.
_wharf_free_port() {
  local py
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1; then
      "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
      return
    fi
  done
  echo $((20000 + RANDOM % 30000))  # no python: a random high port, retried on failure
}

broker_alive() { [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; }

start_broker() {
  if [ ! -x "$WHARF_BIN" ]; then
    echo "lib.sh: wharf binary '$WHARF_BIN' not found (set WHARF_BIN)" >&2
    return 1
  fi
  [ -n "$BROKER_DATA" ] || BROKER_DATA=$(mktemp -d /tmp/wharf-sh-it.XXXXXX)
  local attempt
  for attempt in 1 2 3 4 5; do
    # A restart keeps its port so that clients can reconnect to the same address.
    if [ "$attempt" -gt 1 ] || [ -z "$BROKER_PORT" ]; then BROKER_PORT=$(_wharf_free_port); fi
    BROKER=127.0.0.1:$BROKER_PORT
    BROKER_LOG=$(mktemp "$BROKER_DATA/broker.XXXXXX.log")
    "$WHARF_BIN" serve --data-dir "$BROKER_DATA/data" --listen "$BROKER" "$@" >"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    local i
    for i in $(seq 1 300); do  # 30 s
      if grep -q '^ready$' "$BROKER_LOG" 2>/dev/null; then return 0; fi
      if ! kill -0 "$BROKER_PID" 2>/dev/null; then break; fi
      sleep 0.1
    done
    if kill -0 "$BROKER_PID" 2>/dev/null; then
      echo "lib.sh: broker did not print 'ready' within 30 s:" >&2
      cat "$BROKER_LOG" >&2
      return 1
    fi
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
    if ! grep -q 'cannot listen' "$BROKER_LOG"; then
      echo "lib.sh: broker exited during start:" >&2
      cat "$BROKER_LOG" >&2
      return 1
    fi
    echo "lib.sh: port $BROKER_PORT was taken; retrying" >&2
  done
  echo "lib.sh: no free port after 5 attempts" >&2
  return 1
}

# Returns the broker's exit status (0 = clean shutdown).
stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  kill -TERM "$BROKER_PID" 2>/dev/null || true
  local status=0
  wait "$BROKER_PID" || status=$?
  BROKER_PID=
  if [ "$status" -ne 0 ]; then
    echo "lib.sh: broker exited with status $status:" >&2
    tail -n 20 "$BROKER_LOG" >&2
  fi
  return "$status"
}
