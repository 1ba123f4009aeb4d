#!/usr/bin/env bash
# `wharf saga list|show|retry|abort` on a SQLite store that a service running sagas
# (wharf_saga_fixture: a SagaCoordinator, its outbox relay and participants) filled: one
# instance completed, one needs_attention, one awaiting a reply. retry is followed end to end:
# the command only asks, and the service's next timer pass sends the compensation. Then the
# same on a PostgreSQL server started here (skipped, saying so, when none is installed).
set -euo pipefail
fail() { echo "saga_cli_test: FAIL: $*" >&2; exit 1; }
[ -x "${WHARF_BIN:-}" ] || fail "WHARF_BIN not set"
[ -x "${WHARF_SAGA_FIXTURE:-}" ] || fail "WHARF_SAGA_FIXTURE not set"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
w() { "$WHARF_BIN" "$@"; }

for sub in list show retry abort; do
  w saga "$sub" --help | grep -q -- "--db" || fail "saga $sub --help"
done
w saga list --db "sqlite:$dir/nope.db" 2>"$dir/err" && fail "a missing SQLite file was accepted"
grep -q "no such SQLite file" "$dir/err" || fail "missing file: $(cat "$dir/err")"
[ ! -e "$dir/nope.db" ] || fail "a missing SQLite file was created"
/usr/bin/python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("CREATE TABLE t(x)")' "$dir/other.db"
w saga list --db "sqlite:$dir/other.db" 2>"$dir/err" && fail "a store without saga tables was accepted"
grep -q "no saga tables" "$dir/err" || fail "no tables: $(cat "$dir/err")"

# The whole flow on one store: seed, list, show, retry followed to the end, abort. (The body is
# not indented: it holds python3 -c scripts.)
suite() {
local db=$1
"$WHARF_SAGA_FIXTURE" seed "$db" | tee "$dir/seed"
grep -qx "done completed" "$dir/seed" || fail "seed: done"
grep -qx "stuck needs_attention" "$dir/seed" || fail "seed: stuck"
grep -qx "waiting running" "$dir/seed" || fail "seed: waiting"

out=$(w saga list --db "$db")
echo "$out"
[ "$(echo "$out" | tail -n +2 | wc -l)" = 3 ] || fail "list shows every instance"
echo "$out" | grep "^stuck " | grep "needs_attention" | grep -q "Refund.failed" || fail "list: stuck"
out=$(w saga list --db "$db" --state needs_attention)
[ "$(echo "$out" | tail -n +2 | awk '{print $1}')" = stuck ] || fail "--state: $out"
out=$(w saga list --db "$db" --name order --limit 1)
[ "$(echo "$out" | tail -n +2 | awk '{print $1}')" = done ] || fail "--name --limit: $out"
[ -z "$(w saga list --db "$db" --name other | tail -n +2)" ] || fail "--name other lists something"
w saga list --db "$db" --state stuck 2>"$dir/err" && fail "an unknown state was accepted"
grep -q "needs_attention" "$dir/err" || fail "unknown state: $(cat "$dir/err")"
w saga list --db "$db" --json | /usr/bin/python3 -c '
import json, sys
l = json.load(sys.stdin)
assert [i["id"] for i in l] == ["done", "stuck", "waiting"], l
w = l[2]
assert w["state"] == "running" and w["step"] == 1 and w["awaiting_message_id"], w
assert w["data"] == {"order_id": "waiting"}, w
' || fail "list --json"

out=$(w saga show --db "$db" stuck)
echo "$out"
echo "$out" | grep -q "^state  *needs_attention" || fail "show: state"
echo "$out" | grep -q "^attempts  *2" || fail "show: attempts"
echo "$out" | grep -q "^last error .*Refund.failed" || fail "show: last error"
echo "$out" | grep -q '^data  *{' || fail "show: data"
echo "$out" | grep -q " needs_attention  *1  *needs_attention " || fail "show: history"
w saga show --db "$db" waiting --json | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["state"] == "running" and j["due_at_ms"] is None, j
assert [h["event"] for h in j["history"]] == ["started", "command_sent", "step_completed", "command_sent"], j
' || fail "show --json"
w saga show --db "$db" nobody 2>/dev/null && fail "show of an unknown id"

w saga retry --db "$db" done 2>"$dir/err" && fail "retry of a completed instance"
grep -q "not needs_attention" "$dir/err" || fail "retry done: $(cat "$dir/err")"
w saga retry --db "$db" stuck
w saga show --db "$db" stuck | grep -q "^state  *compensating" || fail "retry did not move it"
w saga retry --db "$db" stuck 2>/dev/null && fail "a second retry while the first is pending"
"$WHARF_SAGA_FIXTURE" resume "$db" stuck | tee "$dir/resume"
grep -qx "stuck compensated" "$dir/resume" || fail "the running coordinator did not finish it"
events=$(w saga show --db "$db" stuck --json | /usr/bin/python3 -c '
import json, sys
print(" ".join(h["event"] for h in json.load(sys.stdin)["history"][-6:]))')
[ "$events" = "retried compensation_sent step_compensated compensation_sent step_compensated compensated" ] ||
  fail "history after retry: $events"

w saga abort --db "$db" waiting 2>/dev/null && fail "abort without --reason"
w saga abort --db "$db" waiting --reason "charged by hand"
w saga show --db "$db" waiting | grep -q "^state  *aborted" || fail "abort"
w saga show --db "$db" waiting | grep -q "^last error  *charged by hand" || fail "abort reason"
w saga abort --db "$db" done --reason x 2>/dev/null && fail "abort of a completed instance"
return 0
}

suite "sqlite:$dir/service.db"

# The same on PostgreSQL, with a server started here (as the library's tests do).
initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$initdb" ]; then
  echo "saga_cli_test: PostgreSQL part skipped: no /usr/lib/postgresql/*/bin/initdb"
else
  bin=$(dirname "$initdb")
  pgdir=$(mktemp -d /tmp/wharf-saga-cli-pg-XXXXXX)
  as_pg=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || fail "running as root and there is no postgres user"
    chown postgres "$pgdir"
    as_pg=(runuser -u postgres --)
  fi
  port=$(( 20000 + RANDOM % 20000 ))
  trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir" "$pgdir"' EXIT
  "${as_pg[@]}" "$bin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
  "${as_pg[@]}" "$bin/pg_ctl" -D "$pgdir/data" -w -l "$pgdir/log" \
    -o "-k $pgdir -p $port -c listen_addresses='' -c fsync=off" start >/dev/null
  "${as_pg[@]}" "$bin/createdb" -h "$pgdir" -p "$port" -U postgres sagas
  "${as_pg[@]}" "$bin/createdb" -h "$pgdir" -p "$port" -U postgres other
  w saga list --db "postgresql://postgres@/other?host=$pgdir&port=$port" 2>"$dir/err" &&
    fail "a PostgreSQL database without saga tables was accepted"
  grep -q "no saga tables" "$dir/err" || fail "no tables (postgresql): $(cat "$dir/err")"
  suite "postgresql://postgres@/sagas?host=$pgdir&port=$port"
fi
echo "saga_cli_test: ok"
