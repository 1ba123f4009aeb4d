#!/usr/bin/env bash
# The fulfilment saga (reserve stock -> charge payment -> arrange shipping, compensated by
# cancel / refund / release), twice:
# 1. In one process on the embedded log, with every kind of failure: some orders out of stock
#    (step 1 fails: nothing to undo), some payments declined (step 2: the stock is released),
#    some shipments never answered (step 3 times out: shipment cancelled, payment refunded,
#    stock released). The run's own check must pass and each cause must have happened.
# 2. As separate processes around `wharf serve`, with the saga orchestrator killed with SIGKILL
#    at seeded moments and started again, over and over, while orders keep coming. Step
#    deadlines (3 s) fall due while it is down (2-4 s each time) and fire after it restarts. At the end every
#    order checkout committed must have a saga that completed or compensated, and every
#    participant effect must have been applied exactly once (`wharf-checkout fulfilment-check`).
# FULFILMENT_SEED=N repeats a run's kill schedule.
set -uo pipefail
BUILD=${CHECKOUT_BUILD:?set CHECKOUT_BUILD to the build directory}
CHECKOUT=$BUILD/bin/wharf-checkout
WHARF=$BUILD/bin/wharf
DIR=$(mktemp -d /tmp/wharf-checkout-fulfilment.XXXXXX)
declare -A PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; [ -n "${FULFILMENT_KEEP:-}" ] && echo "kept $DIR" || rm -rf "$DIR"; }
trap cleanup EXIT
passed=0; failed=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; tail -5 "$1" >&2; return 1
}

# --- 1. one process, every failure -------------------------------------------------------------
"$CHECKOUT" run --fulfilment --rate 200 --duration 6 --data-dir "$DIR/one" --catch-up 90 \
  --out-of-stock-rate 0.03 --declined-rate 0.03 --lost-shipment-rate 0.03 >"$DIR/one.out" 2>&1
status=$?
grep -E "fulfilment|exactly|FAILED|note" "$DIR/one.out" | tail -n 6
check "one process: every saga finished with exactly its effects" test "$status" -eq 0
for cause in out_of_stock declined shipment_lost; do
  check "one process: some sagas compensated because $cause" \
    grep -Eq "fulfilment sagas=.*$cause [1-9]" "$DIR/one.out"
done

# --- 2. separate processes, the orchestrator killed again and again ----------------------------
SEED=${FULFILMENT_SEED:-$(( $(date +%s) % 100000 ))}
echo "kill schedule seed: $SEED (FULFILMENT_SEED=$SEED repeats it)"
RANDOM=$SEED
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
KPORT=$(free_port); HPORT=$(free_port)
B=127.0.0.1:$KPORT
"$WHARF" serve --data-dir "$DIR/broker" --listen "$B" --set group.initial.rebalance.delay.ms=0 \
  >"$DIR/broker.log" 2>&1 &
PIDS[broker]=$!
wait_for "$DIR/broker.log" '^ready$' 30 || exit 1
"$CHECKOUT" service --bootstrap "$B" --listen "127.0.0.1:$HPORT" --data-dir "$DIR/service" \
  >"$DIR/service.log" 2>&1 &
PIDS[service]=$!
wait_for "$DIR/service.log" '^ready$' 30 || exit 1
"$CHECKOUT" participants --bootstrap "$B" --data-dir "$DIR/saga" --lost-shipment-rate 0.05 \
  >"$DIR/participants.log" 2>&1 &
PIDS[participants]=$!
wait_for "$DIR/participants.log" 'running' 30 || exit 1
start_saga() {
  "$CHECKOUT" fulfilment --bootstrap "$B" --data-dir "$DIR/saga" --step-deadline 3s \
    >>"$DIR/fulfilment.log" 2>&1 &
  PIDS[saga]=$!
}
start_saga
wait_for "$DIR/fulfilment.log" 'running' 30 || exit 1
"$CHECKOUT" load --target "127.0.0.1:$HPORT" --bootstrap "$B" --groups fulfilment --rate 100 \
  --duration 20 --poison-rate 0 --catch-up 120 --out "$DIR/load.json" >"$DIR/load.out" 2>&1 &
LOAD=$!
kills=0
for _ in 1 2 3 4 5 6 7 8; do
  sleep "$(( RANDOM % 20 / 10 )).$(( RANDOM % 10 ))"   # 0.0 - 1.9 s up
  kill -9 "${PIDS[saga]}"; wait "${PIDS[saga]}" 2>/dev/null
  kills=$((kills + 1))
  sleep "$(( 2 + RANDOM % 2 )).$(( RANDOM % 10 ))"       # 2.0 - 3.9 s down: deadlines fall due
  start_saga
done
echo "orchestrator killed $kills times"
wait "$LOAD"; load_status=$?
tail -n 3 "$DIR/load.out"
check "processes: the load finished and the group committed every order" test "$load_status" -eq 0
kill -TERM "${PIDS[service]}"; wait "${PIDS[service]}" 2>/dev/null; unset 'PIDS[service]'
"$CHECKOUT" fulfilment-check --checkout-db "$DIR/service/checkout.db" --data-dir "$DIR/saga" \
  --wait 120 >"$DIR/check.out" 2>&1
status=$?
grep -v '^waiting' "$DIR/check.out"
check "processes: after $kills SIGKILLs every saga finished, each effect applied once" \
  test "$status" -eq 0
check "processes: some sagas compensated after a lost shipment's deadline" \
  grep -Eq "compensated because shipment_lost: [1-9]" "$DIR/check.out"
for p in saga participants broker; do kill -TERM "${PIDS[$p]}" 2>/dev/null; wait "${PIDS[$p]}" 2>/dev/null; unset "PIDS[$p]"; done
echo "checkout fulfilment: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
