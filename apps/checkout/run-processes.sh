#!/usr/bin/env bash
# The checkout system as separate processes on the Kafka transport: `wharf serve`, the order
# service, one process per consumer group and the load generator, then the merged report.
# Optional fault drill a third of the way in:
#   kill-consumer  SIGKILL the email group's process, start it again 5 s later
#   stop-broker    SIGKILL the broker, start it again 10 s later (orders keep being accepted
#                  into the outbox meanwhile)
# Exits with the report's code: 0 only when every order checkout committed took effect exactly
# once in every group (poison orders: never) and every group caught up.
#
#   apps/checkout/run-processes.sh [--rate N] [--duration S] [--drill none|kill-consumer|stop-broker]
#                                  [--data-dir DIR] [--build DIR]
set -uo pipefail
RATE=2000; DURATION=30; DRILL=none; DIR=./checkout-processes; BUILD=build
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --drill) DRILL=$2; shift 2 ;;
    --data-dir) DIR=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$DRILL" in none|kill-consumer|stop-broker) ;; *) echo "--drill: none, kill-consumer or stop-broker" >&2; exit 2 ;; esac
WHARF=$BUILD/bin/wharf
CHECKOUT=$BUILD/bin/wharf-checkout
GROUPS_=(inventory fraud email search analytics loyalty)
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ] && [ ! -e "$DIR/.wharf-checkout" ]; then
  echo "$DIR exists and was not made by this script: choose another --data-dir" >&2; exit 2
fi
rm -rf "$DIR"; mkdir -p "$DIR"; echo "scratch directory of wharf-checkout" > "$DIR/.wharf-checkout"
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
KPORT=$(free_port); HPORT=$(free_port)
declare -A PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; tail -5 "$1" >&2; return 1
}
start_broker() {
  "$WHARF" serve --data-dir "$DIR/broker" --listen "127.0.0.1:$KPORT" \
    --set group.initial.rebalance.delay.ms=0 >>"$DIR/broker.log" 2>&1 &
  PIDS[broker]=$!
  wait_for "$DIR/broker.log" '^ready$' 30
}
start_consumer() {  # start_consumer GROUP
  "$CHECKOUT" consumer --bootstrap "127.0.0.1:$KPORT" --group "$1" --data-dir "$DIR/groups" \
    >>"$DIR/$1.log" 2>&1 &
  PIDS[$1]=$!
}
echo "== broker on 127.0.0.1:$KPORT, checkout on 127.0.0.1:$HPORT, data in $DIR"
start_broker || exit 1
"$CHECKOUT" service --bootstrap "127.0.0.1:$KPORT" --listen "127.0.0.1:$HPORT" \
  --data-dir "$DIR/service" >"$DIR/service.log" 2>&1 &
PIDS[service]=$!
wait_for "$DIR/service.log" '^ready$' 30 || exit 1
for g in "${GROUPS_[@]}"; do start_consumer "$g"; done
for g in "${GROUPS_[@]}"; do wait_for "$DIR/$g.log" 'running' 30 || exit 1; done
echo "== load: $RATE orders/s for $DURATION s, drill: $DRILL"
"$CHECKOUT" load --target "127.0.0.1:$HPORT" --bootstrap "127.0.0.1:$KPORT" --rate "$RATE" \
  --duration "$DURATION" --catch-up 120 --out "$DIR/load.json" &
LOAD=$!
if [ "$DRILL" != none ]; then
  sleep $(( DURATION / 3 ))
  case "$DRILL" in
    kill-consumer)
      echo "== drill: SIGKILL the email group's process"
      kill -9 "${PIDS[email]}"; wait "${PIDS[email]}" 2>/dev/null
      sleep 5
      echo "== drill: email group started again"
      start_consumer email ;;
    stop-broker)
      echo "== drill: SIGKILL the broker for 10 s (checkout keeps accepting into its outbox)"
      kill -9 "${PIDS[broker]}"; wait "${PIDS[broker]}" 2>/dev/null
      sleep 10
      echo "== drill: broker started again"
      start_broker || exit 1 ;;
  esac
fi
wait "$LOAD"; load_status=$?
echo "== stopping the service and the consumer groups"
for g in "${GROUPS_[@]}" service; do kill -TERM "${PIDS[$g]}" 2>/dev/null; done
for g in "${GROUPS_[@]}" service; do wait "${PIDS[$g]}" 2>/dev/null; unset "PIDS[$g]"; done
kill -TERM "${PIDS[broker]}"; wait "${PIDS[broker]}" 2>/dev/null; unset 'PIDS[broker]'
[ "$load_status" -eq 0 ] || { echo "the load generator failed ($load_status)" >&2; exit 1; }
echo
"$CHECKOUT" report --load "$DIR/load.json" --data-dir "$DIR/groups" --service-dir "$DIR/service" \
  --report-dir "$DIR/report"
