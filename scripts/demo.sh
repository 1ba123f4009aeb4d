#!/usr/bin/env bash
# The walk-through `make demo` runs: the Wharf broker on a fresh data directory, used by
# standard Kafka tools it has never seen (kcat, Debian's python3-confluent-kafka). It creates a
# 6-partition topic, produces keyed orders with an idempotent zstd producer, consumes them back,
# kills the broker with SIGKILL, restarts it, shows that every acknowledged record survived and
# the data directory checks clean, and stops the broker with SIGTERM.
set -euo pipefail
WHARF=$(realpath "${1:-build/bin/wharf}")
PORT=${WHARF_DEMO_PORT:-$(/usr/bin/python3 -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")}
BOOT=127.0.0.1:$PORT
DATA=$(mktemp -d /tmp/wharf-demo.XXXXXX)
STARTS=0
LOG=
BROKER_PID=
cleanup() { [ -n "$BROKER_PID" ] && kill -9 "$BROKER_PID" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
start_broker() {
  STARTS=$((STARTS + 1))
  LOG=$DATA/broker.$STARTS.log
  "$WHARF" serve --data-dir "$DATA/data" --listen "$BOOT" >>"$LOG" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 1 100); do grep -q '^ready$' "$LOG" 2>/dev/null && return 0; sleep 0.1; done
  echo "broker did not start:"; cat "$LOG"; exit 1
}

step "Start the broker: wharf serve --data-dir $DATA/data --listen $BOOT"
start_broker
sed -n '1,6p' "$LOG"

step "Create topic 'orders' with 6 partitions (confluent-kafka AdminClient)"
/usr/bin/python3 - "$BOOT" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
for topic, f in admin.create_topics([NewTopic("orders", 6, 1)]).items():
    f.result()
    print(f"created {topic}")
PY

step "Produce 10,000 keyed orders with kcat (idempotent, acks=all, zstd)"
seq 1 10000 | awk '{printf "order-%d:{\"order_id\":%d,\"total_cents\":%d}\n", $1, $1, ($1*37)%10000}' \
  | kcat -b "$BOOT" -P -t orders -K : -z zstd -X enable.idempotence=true
echo "done"

step "Metadata as kcat sees it"
kcat -b "$BOOT" -L -t orders

step "Records per partition (same key, same partition)"
kcat -b "$BOOT" -C -t orders -e -q -f '%p\n' | sort | uniq -c | awk '{print "  partition " $2 ": " $1 " records"}'

step "First three records of partition 2"
kcat -b "$BOOT" -C -t orders -p 2 -o beginning -c 3 -q -f '  offset %o key %k value %s\n'

step "Crash: kill -9 the broker, restart it on the same data directory"
before=$(kcat -b "$BOOT" -C -t orders -e -q -f '%k %s\n' | sort | md5sum)
kill -9 "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true; BROKER_PID=
echo "killed"
start_broker
after=$(kcat -b "$BOOT" -C -t orders -e -q -f '%k %s\n' | sort | md5sum)
count=$(kcat -b "$BOOT" -C -t orders -e -q -f '%o\n' | wc -l)
echo "records after restart: $count"
if [ "$before" != "$after" ] || [ "$count" -ne 10000 ]; then echo "DATA CHANGED ACROSS THE CRASH" >&2; exit 1; fi
echo "every acknowledged record is back, byte for byte"

step "Stop the broker with SIGTERM (clean shutdown), then check the data directory offline"
kill -TERM "$BROKER_PID"; wait "$BROKER_PID" || true; BROKER_PID=
tail -n 2 "$LOG"
"$WHARF" check-data --data-dir "$DATA/data" --quiet
echo
echo "Demo finished: a Kafka-compatible broker, used by kcat and confluent-kafka unchanged."
