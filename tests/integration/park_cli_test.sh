#!/usr/bin/env bash
# `wharf park list|show|release` on a SQLite store that holds a parked key (written here with
# Python's sqlite3 in the layout of docs/formats/parking.md), against a real broker for the
# release marker, checked with kcat.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start_broker --set group.initial.rebalance.delay.ms=0
fail() { echo "park_cli_test: FAIL: $*" >&2; exit 1; }
db="$BROKER_DATA/service.db"
w() { "$WHARF_BIN" -b "$BROKER" "$@"; }

# A mistyped path is an error, not a new empty store that lists nothing.
if w park list --db "sqlite:$db" >/dev/null 2>"$BROKER_DATA/park.err"; then
  fail "park list of a missing SQLite file succeeded"
fi
grep -q "no such SQLite file" "$BROKER_DATA/park.err" || fail "missing file: $(cat "$BROKER_DATA/park.err")"
[[ ! -e "$db" ]] || fail "park list created the missing file $db"
/usr/bin/python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).close()' "$db"  # empty file
w park list --db "sqlite:$db" >/dev/null  # creates the schema (migrations)
/usr/bin/python3 - "$db" <<'PY'
import sqlite3, struct, sys
def field(b): return struct.pack(">I", len(b)) + b
fields = [b"id-2", b"checkout.OrderPlaced", b"k1", b"", b"", b"", b"", b"application/json", b"test", b"orders",
          b'{"order":2}', b"1", b"1764000000000", b"0", b"7", b"1", b"x-h", b"v"]
record = b"".join(field(f) for f in fields)
con = sqlite3.connect(sys.argv[1])
con.execute("INSERT INTO wharf_parked_keys VALUES ('inventory', 'orders', ?, 'parked', 1764000000000, 'unavailable: down', 'id-1')", (b"k1",))
con.execute("INSERT INTO wharf_parked_messages VALUES ('inventory', 'orders', ?, 1, 'id-2', ?)", (b"k1", record))
con.commit()
PY
out=$(w park list --db "sqlite:$db")
echo "$out"
echo "$out" | grep "inventory" | grep "orders" | grep "k1" | grep "parked" | grep -q "unavailable: down" || fail "list"
out=$(w park show --db "sqlite:$db" -g inventory -t orders k1)
echo "$out"
echo "$out" | grep -q 'id-2  *orders/0/7  *checkout.OrderPlaced  *{"order":2}' || fail "show"
w park release --db "sqlite:$db" -g inventory -t orders nobody 2>/dev/null && fail "release of a key that is not parked"
w park release --db "sqlite:$db" -g inventory -t orders k1
w park list --db "sqlite:$db" | grep k1 | grep -q releasing || fail "release did not mark the key releasing"
got=$(kcat -b "$BROKER" -C -t orders -e -q -f '%k %h\n')
echo "$got"
echo "$got" | grep -q "^k1 .*ce_type=wharf.ParkingReleased" || fail "no release marker on the key's topic"
echo "park_cli_test: ok"
