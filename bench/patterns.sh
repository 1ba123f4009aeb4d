#!/usr/bin/env bash
# The pattern library's benchmark: publish -> handler throughput and latency of 100 B events on
# each transport, beside `wharf bench` produce and consume against the same `wharf serve` in the
# same run (the kafka transport's reference). Writes build/bench-results/patterns/*.json and
# rewrites the "Pattern library" generated section of docs/benchmarks.md.
#
#   bash bench/patterns.sh                 # about 3 minutes on a 2-core VM
#   WHARF_BENCH_EVENTS=300000 bash bench/patterns.sh
#
# Also runs wharf_storage_bench's 100 B append cases (the storage engine alone) as the ceiling of
# a straight-to-storage embedded path. Settings: WHARF_BENCH_BIN_DIR (build/bin), WHARF_BENCH_EVENTS (1000000: events per
# throughput run), WHARF_BENCH_LATENCY_SECONDS (10), WHARF_BENCH_DOC (docs/benchmarks.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="${WHARF_BENCH_BIN_DIR:-$root/build/bin}"
events="${WHARF_BENCH_EVENTS:-1000000}"
latency_seconds="${WHARF_BENCH_LATENCY_SECONDS:-10}"
doc="${WHARF_BENCH_DOC:-$root/docs/benchmarks.md}"
results="$root/build/bench-results/patterns"
wharf="$bin_dir/wharf"
bench="$bin_dir/wharf_patterns_bench"
for b in "$wharf" "$bench"; do
  [ -x "$b" ] || { echo "patterns.sh: $b is missing; run 'make build' first" >&2; exit 1; }
done
mkdir -p "$results"
rm -f "$results"/*.json
work="$(mktemp -d /tmp/wharf-patterns-bench-XXXXXX)"
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
log() { echo "patterns.sh: $*" >&2; }
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
compilers_before="$(pgrep -c -x cc1plus || true)"

# --- wharf serve, sync always, on a free port --------------------------------------------------
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$wharf" serve --data-dir "$work/broker" --listen "127.0.0.1:$port" --sync always \
  --set group.initial.rebalance.delay.ms=0 >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 100); do
  grep -q ready "$work/broker.log" && break
  sleep 0.1
done
grep -q ready "$work/broker.log" || { cat "$work/broker.log" >&2; exit 1; }
bootstrap="127.0.0.1:$port"
log "wharf serve at $bootstrap (sync always)"

# --- references: wharf bench produce, then consume of the same records ----------------------------
"$wharf" -b "$bootstrap" bench produce --topic ref --partitions 12 --records "$events" --record-size 100 \
  --acks all --idempotent --json -q >"$results/ref-produce.json"
"$wharf" -b "$bootstrap" bench consume --topic ref --records "$events" --json -q >"$results/ref-consume.json"
log "reference produce: $(cat "$results/ref-produce.json")"
log "reference consume: $(cat "$results/ref-consume.json")"

# --- the storage engine alone: what a straight-to-storage embedded path could reach ------------
# (decision 0004): 100 B records in 64 KiB batches appended through Partition, no client, no
# network, no decoding or dispatch; an upper bound for the append side only.
storage_bench="$bin_dir/wharf_storage_bench"
if [ -x "$storage_bench" ]; then
  for policy in none always; do
    "$storage_bench" --dir "$work/storage-$policy" --seconds 3 --filter "append/$policy/rec=100B/batch=64KiB" \
      2>/dev/null | tail -1 >"$results/storage-$policy.json"
    log "storage append ($policy): $(cat "$results/storage-$policy.json")"
  done
fi

# --- throughput per transport ------------------------------------------------------------------
run() {  # name, args...
  local name=$1
  shift
  log "$name: $*"
  "$bench" "$@" --events "$events" --json >"$results/$name.json" 2>"$results/$name.log" || {
    tail -3 "$results/$name.log" >&2
    exit 1
  }
  log "$name: $(cat "$results/$name.json")"
}
run kafka --transport kafka --bootstrap "$bootstrap"
run embedded-none --transport embedded --sync none --data-dir "$work/embedded-none"
run embedded-always --transport embedded --sync always --data-dir "$work/embedded-always"
run memory --transport memory

# --- latency at half of each transport's measured rate (open loop) ----------------------------
half() { python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["events_per_s"] / 2))' "$1"; }
for name in kafka embedded-always embedded-none memory; do
  rate="$(half "$results/$name.json")"
  n=$((rate * latency_seconds))
  case $name in
    kafka) args=(--transport kafka --bootstrap "$bootstrap") ;;
    embedded-none) args=(--transport embedded --sync none --data-dir "$work/lat-embedded-none") ;;
    embedded-always) args=(--transport embedded --sync always --data-dir "$work/lat-embedded-always") ;;
    memory) args=(--transport memory) ;;
  esac
  log "latency $name at $rate events/s for ${latency_seconds}s"
  "$bench" "${args[@]}" --rate "$rate" --events "$n" --json >"$results/latency-$name.json" \
    2>"$results/latency-$name.log" || { tail -3 "$results/latency-$name.log" >&2; exit 1; }
  log "latency $name: $(cat "$results/latency-$name.json")"
done

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
compilers_after="$(pgrep -c -x cc1plus || true)"
python3 "$root/bench/patterns_report.py" "$results" "$doc" "$load_before" "$load_after" \
  "$compilers_before" "$compilers_after"
