#!/usr/bin/env bash
# The separate-process deployment (wharf serve + service + six consumer processes + load) with
# each fault drill: a consumer group's process killed with SIGKILL and restarted, and the
# broker killed and restarted 10 s later. The run's report exits 0 only when every order
# checkout committed took effect exactly once in every group's store (poison orders: never) and
# every group committed everything: a lost or double-applied order fails the test.
set -uo pipefail
BUILD=${CHECKOUT_BUILD:?set CHECKOUT_BUILD to the build directory}
SCRIPT=$(dirname "$0")/run-processes.sh
DIR=$(mktemp -d /tmp/wharf-checkout-processes.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
passed=0; failed=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
for drill in kill-consumer stop-broker; do
  bash "$SCRIPT" --build "$BUILD" --rate 200 --duration 21 --drill "$drill" \
    --data-dir "$DIR/$drill" >"$DIR/$drill.out" 2>&1
  status=$?
  grep -v '^\[' "$DIR/$drill.out" | grep -v librdkafka | tail -n 16
  check "$drill: exactly one effect per committed order in every group" test "$status" -eq 0
  check "$drill: the drill ran" grep -q "== drill: .* again" "$DIR/$drill.out"
done
check "stop-broker: orders were accepted while the broker was down" \
  /usr/bin/python3 - "$DIR/stop-broker/load.json" <<'PY'
import json, sys
load = json.load(open(sys.argv[1]))
# The broker is down from second 7 to second 17 of the load (the script's schedule): checkout
# kept acknowledging orders, into its outbox.
during = sum(s["accepted_per_s"] for s in load["series"] if 9 <= s["t_s"] <= 15)
assert during > 0, [s["accepted_per_s"] for s in load["series"]]
PY
echo "checkout processes: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
