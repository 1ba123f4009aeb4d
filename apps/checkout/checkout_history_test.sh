#!/usr/bin/env bash
# The loyalty ledger (event-sourced) and its order-history view (a projection) in a real run,
# then `wharf projection list|status|rebuild` against the store: the rebuild is performed by the
# process following the view (`wharf-checkout history --follow`) while a reader keeps querying
# it, and the rebuilt view equals the one before, row for row.
set -uo pipefail
BIN=${CHECKOUT_BIN:?set CHECKOUT_BIN to wharf-checkout}
WHARF=${WHARF_BIN:?set WHARF_BIN to wharf}
DIR=$(mktemp -d /tmp/wharf-checkout-history.XXXXXX)
follower=
cleanup() { [ -n "$follower" ] && kill "$follower" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
passed=0; failed=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

"$BIN" run --mode events --rate 1000 --duration 4 --data-dir "$DIR/data" >"$DIR/run.out" 2>&1
status=$?
grep -v '^\[' "$DIR/run.out" | tail -n 14
check "the run's ledger equals its view and its effects" test "$status" -eq 0
check "the report says so" grep -q "loyalty ledger=equals the order-history view" "$DIR/run.out"
DB="$DIR/data/events/loyalty.db"
URL="sqlite:$DB"

"$WHARF" projection list --db "$URL" | tee "$DIR/list.out"
check "list: the view at generation 1, no lag" \
  grep -Eq '^order_history +1 +([0-9]+) +\1 +0 ' "$DIR/list.out"
check "a missing store is refused, not created" \
  bash -c "! '$WHARF' projection list --db sqlite:$DIR/nope.db 2>/dev/null && [ ! -e '$DIR/nope.db' ]"
check "rebuild of an unknown projection fails" \
  bash -c "! '$WHARF' projection rebuild nosuch --db '$URL' 2>/dev/null"

dump() {  # the view's rows, in order
  /usr/bin/python3 -c '
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute("SELECT customer_id, orders, points, last_order_id FROM order_history ORDER BY customer_id"):
    print(*row)' "$DB"
}
dump >"$DIR/before.txt"
check "the view has rows" test -s "$DIR/before.txt"

"$BIN" history --db "$DB" --follow >"$DIR/follow.out" 2>&1 &
follower=$!
for _ in $(seq 1 100); do grep -q "following" "$DIR/follow.out" && break; sleep 0.1; done
# A reader queries the view throughout the rebuild: it must never fail.
/usr/bin/python3 - "$DB" "$DIR/reader.out" <<'PY' &
import os, sqlite3, sys, time
reads = failures = 0
end = time.time() + 60
while time.time() < end:
    try:
        con = sqlite3.connect(sys.argv[1], timeout=5)
        n = con.execute("SELECT count(*) FROM order_history").fetchone()[0]
        con.close()
        if n > 0: reads += 1
        else: failures += 1
    except Exception as e:
        failures += 1
        print("read failed:", e, file=sys.stderr)
    with open(sys.argv[2] + ".tmp", "w") as out:  # replaced whole: never seen half-written
        out.write(f"{reads} {failures}\n")
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    time.sleep(0.01)
PY
reader=$!
reads_so_far() { local r=0 f=0; [ -s "$DIR/reader.out" ] && read -r r f <"$DIR/reader.out"; echo "${r:-0}"; }
# The reader must be reading before the rebuild starts and go on reading after the swap.
for _ in $(seq 1 300); do [ "$(reads_so_far)" -gt 0 ] && break; sleep 0.1; done
"$WHARF" projection rebuild order_history --db "$URL" --wait --timeout 120 | tee "$DIR/rebuild.out"
check "rebuild --wait: the new generation is live" grep -q "rebuilt: generation 2 is live" "$DIR/rebuild.out"
after_swap=$(reads_so_far)
for _ in $(seq 1 300); do [ "$(reads_so_far)" -gt "$((after_swap + 5))" ] && break; sleep 0.1; done
kill "$reader" 2>/dev/null; wait "$reader" 2>/dev/null
reads=0; failures=0
[ -s "$DIR/reader.out" ] && read -r reads failures <"$DIR/reader.out"
echo "reader during the rebuild: $reads reads, $failures failures"
check "the view answered throughout the rebuild" test "$failures" -eq 0 -a "$reads" -gt "$after_swap"
"$WHARF" projection status order_history --db "$URL" --json | tee "$DIR/status.json"
events=$(/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM wharf_events").fetchone()[0])' "$DB")
check "status: generation 2, every event replayed" /usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["generation"] == 2 and s["last_replay_events"] == int(sys.argv[2]) and s["lag"] == 0, s
assert s["rebuild_state"] == "", s' "$DIR/status.json" "$events"
dump >"$DIR/after.txt"
check "the rebuilt view equals the one before, row for row" cmp -s "$DIR/before.txt" "$DIR/after.txt"
check "the old copy is gone" bash -c "! /usr/bin/python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute(\"SELECT 1 FROM order_history_g1\")' '$DB' 2>/dev/null"
kill -TERM "$follower"; wait "$follower"; follower=
check "the follower stops on SIGTERM and prints the top customers" grep -q "view at position" "$DIR/follow.out"
echo "checkout history: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
