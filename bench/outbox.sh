#!/usr/bin/env bash
# The transactional outbox's benchmark (docs/benchmarks.md, "Outbox"): wharf_outbox_bench on
# SQLite and on a throwaway PostgreSQL, into the memory transport (the relay's own cost) and into
# a real `wharf serve` through the kafka transport (the idempotent producer, acks=all,
# sync.policy=always). Prints each run's summary lines; the doc section is written by hand.
#
#   bash bench/outbox.sh            # about 3 minutes on a 2-core VM
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="${WHARF_BENCH_BIN_DIR:-$root/build/bin}"
bench="$bin_dir/wharf_outbox_bench"
wharf="$bin_dir/wharf"
for b in "$wharf" "$bench"; do
  [ -x "$b" ] || { echo "outbox.sh: $b is missing; build wharf and wharf_outbox_bench first" >&2; exit 1; }
done
work="$(mktemp -d /tmp/wharf-outbox-bench-XXXXXX)"
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$wharf" serve --data-dir "$work/broker" --listen "127.0.0.1:$port" --sync always >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do grep -q '^ready' "$work/broker.log" && break; sleep 0.1; done
run() { echo "## $*"; "$bench" --dir "$work/sqlite" "$@" | sed 's/^/    /'; }
# Write path: one row per transaction (a commit each: the disk decides), then 10 rows per
# transaction with 4 writers (more of the statement cost shows).
run --store sqlite --relay-events 0 --latency-seconds 0 --write-tx 1000
run --store sqlite --relay-events 0 --latency-seconds 0 --write-tx 300 --rows-per-tx 10 --writers 4
run --store postgres --relay-events 0 --latency-seconds 0 --write-tx 3000 --writers 4
run --store postgres --relay-events 0 --latency-seconds 0 --write-tx 500 --rows-per-tx 10 --writers 4
# Relay throughput, batch 1000 (the default) and 5000.
for batch in 1000 5000; do
  run --store sqlite --write-tx 0 --latency-seconds 0 --relay-events 200000 --batch "$batch"
  run --store postgres --write-tx 0 --latency-seconds 0 --relay-events 100000 --batch "$batch"
  run --store sqlite --write-tx 0 --latency-seconds 0 --relay-events 200000 --batch "$batch" \
      --transport kafka --bootstrap "127.0.0.1:$port"
  run --store postgres --write-tx 0 --latency-seconds 0 --relay-events 100000 --batch "$batch" \
      --transport kafka --bootstrap "127.0.0.1:$port"
done
# commit -> acknowledged at 1,000 events/s: SQLite in transactions of 10 (one writer cannot
# commit 1,000 synced transactions a second on this disk) and of 1 at 200/s; PostgreSQL 1 per tx.
run --store sqlite --write-tx 0 --relay-events 0 --latency-seconds 10 --rate 1000 --rows-per-tx 10 \
    --transport kafka --bootstrap "127.0.0.1:$port"
run --store sqlite --write-tx 0 --relay-events 0 --latency-seconds 10 --rate 200 \
    --transport kafka --bootstrap "127.0.0.1:$port"
run --store postgres --write-tx 0 --relay-events 0 --latency-seconds 10 --rate 1000 \
    --transport kafka --bootstrap "127.0.0.1:$port"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
