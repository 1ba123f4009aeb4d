#!/usr/bin/env bash
# The broker benchmarks (bench/run.sh calls this after the storage ones; it also runs alone).
# Starts `wharf serve --sync always` on a fresh data directory and a free 127.0.0.1 port and
# measures it with `wharf bench` (librdkafka) against references taken in the same run:
#   - fio, 1 MiB writes with fdatasync each, in the same directory (the disk's durable limit),
#     run right before each 1 KiB throughput run, because this VM's disk drifts within seconds;
#   - NATS JetStream (Debian's nats-server, file store in the same directory) published to by
#     bench/nats_pub.c, run right after each 100 B throughput run.
# The broker's admin endpoint gives its fdatasync histogram around each latency run, so the report
# can tell a slow disk from a slow broker. Then bench/report.py writes docs/benchmarks.md's
# broker section and prints every target as met or MISSED. Builds nothing.
#
# Environment (all optional):
#   WHARF_BENCH_BIN_DIR        binaries: wharf, wharf_nats_pub  (default build/bin)
#   WHARF_BENCH_DIR            data directory for the broker, nats-server and fio
#                                                              (default build/bench-data)
#   WHARF_BENCH_RESULTS        raw results go to <this>/broker  (default build/bench-results)
#   WHARF_BENCH_DOC            the report to update            (default docs/benchmarks.md)
#   WHARF_BENCH_BROKER_REPEATS throughput rounds; medians reported (default 3)
#   WHARF_BENCH_BROKER_SECONDS time bound of each throughput run and fio run (default 5)
#   WHARF_BENCH_LATENCY_SECONDS length of each fixed-rate latency run (default 10)
#   WHARF_BENCH_RATES          offered rates, records/s of 1 KiB  (default "1000 10000 50000")
#
# Runtime on this 2-core VM: about 4 minutes with the defaults. The broker and nats-server are
# stopped and their data removed at the end, also on failure or Ctrl-C.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${WHARF_BENCH_BIN_DIR:-$root/build/bin}"
wharf="$bin_dir/wharf"
nats_pub="$bin_dir/wharf_nats_pub"
dir="${WHARF_BENCH_DIR:-$root/build/bench-data}"
results="${WHARF_BENCH_RESULTS:-$root/build/bench-results}/broker"
doc="${WHARF_BENCH_DOC:-$root/docs/benchmarks.md}"
repeats="${WHARF_BENCH_BROKER_REPEATS:-3}"
seconds="${WHARF_BENCH_BROKER_SECONDS:-5}"
latency_seconds="${WHARF_BENCH_LATENCY_SECONDS:-10}"
read -r -a rates <<<"${WHARF_BENCH_RATES:-1000 10000 50000}"
for n in "$repeats" "$seconds" "$latency_seconds" "${rates[@]}"; do
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench/broker.sh: '$n': rounds, seconds and rates must be whole positive numbers" >&2
    exit 1
  fi
done

log() { echo "[bench broker] $*" >&2; }

if [[ ! -x "$wharf" ]]; then
  echo "bench/broker.sh: $wharf is missing; run 'make build' first (or set WHARF_BENCH_BIN_DIR)." >&2
  exit 1
fi
for tool in fio python3 curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench/broker.sh: '$tool' is not installed (Debian: apt-get install $tool)." >&2
    exit 1
  fi
done
# The peer is optional: without it the run goes on and the report says the target is unchecked.
nats_server="$(command -v nats-server || true)"
have_nats=1
if [[ -z "$nats_server" ]]; then
  log "nats-server is not installed (Debian: apt-get install nats-server): no NATS JetStream peer"
  have_nats=0
elif [[ ! -x "$nats_pub" ]]; then
  log "$nats_pub is missing (needs libnats-dev when configuring): no NATS JetStream peer"
  have_nats=0
fi

mkdir -p "$dir"
rm -rf "$results"
mkdir -p "$results"
data="$dir/broker-$$"
nats_store="$dir/nats-$$"
fio_file="$dir/fio-broker-$$.dat"
serve_pid=""
nats_pid=""
stop_pid() {  # pid: SIGTERM, then SIGKILL after 15 s
  local pid="$1"
  [[ -z "$pid" ]] && return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$serve_pid"
  stop_pid "$nats_pid"
  rm -rf "$data" "$nats_store"
  rm -f "$fio_file"
  rmdir "$dir" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {  # a port nothing listens on now (the tiny race until the server binds is accepted)
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the machine ---------------------------------------------------------------------------
build_type="unknown"
cache="$bin_dir/../CMakeCache.txt"
if [[ -f "$cache" ]]; then
  build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$cache")"
  [[ -z "$build_type" ]] && build_type="RelWithDebInfo (default)"
fi
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "memory_gib=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "fs_type=$(df --output=fstype "$dir" | tail -1 | tr -d ' ')"
  echo "fs_source=$(df --output=source "$dir" | tail -1 | tr -d ' ')"
  echo "bench_dir=$dir"
  echo "fio=$(fio --version)"
  echo "build_type=$build_type"
  echo "librdkafka=$(pkg-config --modversion rdkafka 2>/dev/null || echo unknown)"
  echo "nats_server=$([[ $have_nats == 1 ]] && "$nats_server" --version | sed 's/^nats-server: //' || echo none)"
  echo "repeats=$repeats"
  echo "seconds=$seconds"
  echo "latency_seconds=$latency_seconds"
  echo "rates=${rates[*]}"
  # Other compilations share these 2 CPUs and the disk; the report says so when there were any.
  echo "compilers_before=$(pgrep -c cc1plus || true)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$results/machine.env"

# --- the broker ------------------------------------------------------------------------------
"$wharf" serve --data-dir "$data" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --sync always \
  >"$results/serve.log" 2>&1 &
serve_pid=$!
port=""
for _ in $(seq 300); do
  if grep -qs '^ready' "$results/serve.log"; then
    port="$(sed -n 's/^  kafka listener  [^ ]*:\([0-9]*\) .*/\1/p' "$results/serve.log")"
    admin="$(sed -n 's|^  admin http *http://\([^/]*\)/.*|\1|p' "$results/serve.log")"
    break
  fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port" || -z "$admin" ]]; then
  echo "bench/broker.sh: wharf serve did not become ready; its output:" >&2
  cat "$results/serve.log" >&2
  exit 1
fi
export WHARF_BOOTSTRAP="127.0.0.1:$port"
log "wharf serve (pid $serve_pid) on 127.0.0.1:$port (admin $admin), data in $data, sync policy always"

if [[ $have_nats == 1 ]]; then
  nats_port="$(free_port)"
  mkdir -p "$nats_store"
  "$nats_server" -js -sd "$nats_store" -a 127.0.0.1 -p "$nats_port" >"$results/nats-server.log" 2>&1 &
  nats_pid=$!
  for _ in $(seq 100); do
    grep -qs 'Server is ready' "$results/nats-server.log" && break
    kill -0 "$nats_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q 'Server is ready' "$results/nats-server.log"; then
    echo "bench/broker.sh: nats-server did not become ready; its output:" >&2
    cat "$results/nats-server.log" >&2
    exit 1
  fi
  log "nats-server -js (pid $nats_pid) on 127.0.0.1:$nats_port, store in $nats_store"
fi

bench() {  # output file, wharf bench arguments...: one JSON summary, status lines to a log
  local out="$1"
  shift
  if ! "$wharf" bench "$@" --json >"$out" 2>"${out%.json}.log"; then
    # Failed records still make a summary (the report shows the errors); anything else stops.
    if ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$out" 2>/dev/null; then
      echo "bench/broker.sh: wharf bench $* failed:" >&2
      tail -3 "${out%.json}.log" >&2
      exit 1
    fi
    log "$(basename "${out%.json}"): $(tail -1 "${out%.json}.log")"
  fi
  log "$(basename "${out%.json}"): $(python3 "$root/bench/report.py" bench-summary "$out")"
}
sync_histogram() {  # output file: the broker's fdatasync histogram now (Prometheus text)
  curl -fsS "http://$admin/metrics" | grep '^wharf_log_sync_duration_seconds' >"$1" || {
    echo "bench/broker.sh: could not read http://$admin/metrics" >&2
    exit 1
  }
}
run_fio() {  # job name, output file, fio options...: a new file in the bench directory
  local job="$1" out="$2"
  shift 2
  rm -f "$fio_file"
  fio --name="$job" --filename="$fio_file" --ioengine=psync --size=1g --runtime="$seconds" \
    --fallocate=none "$@" --output-format=json >"$out"
  rm -f "$fio_file"
  log "$(basename "${out%.json}"): $(python3 "$root/bench/report.py" fio-summary "$out")"
}

# --- durable produce throughput, each beside its reference ------------------------------------
# fio appends to a new file, as a log segment grows; --fallocate=none and psync as in run.sh.
for ((i = 0; i < repeats; i++)); do
  run_fio fdatasync1_1m "$results/r$i--fio-fdatasync1_1m.json" --rw=write --bs=1m --fdatasync=1
  bench "$results/r$i--produce-1KiB.json" produce --topic "tput-1KiB-r$i" --partitions 1 \
    --record-size 1024 --seconds "$seconds" --acks all
  bench "$results/r$i--produce-100B.json" produce --topic "tput-100B-r$i" --partitions 1 \
    --record-size 100 --seconds "$seconds" --acks all
  if [[ $have_nats == 1 ]]; then
    "$nats_pub" --url "nats://127.0.0.1:$nats_port" --stream "BENCH_r$i" --subject "bench.r$i" \
      --size 100 --seconds "$seconds" --max-pending 4096 >"$results/r$i--nats-100B.json"
    log "r$i nats-100B: $(python3 "$root/bench/report.py" bench-summary "$results/r$i--nats-100B.json")"
  fi
done

# --- latency at fixed offered rates (open loop) ------------------------------------------------
# The disk's own floor first: one 1 KiB write and one fdatasync at a time, as a produce of one
# record under `always` needs at least; report.py shows its fdatasync percentiles beside ours.
run_fio fdatasync1_1k "$results/fio-fdatasync1_1k.json" --rw=write --bs=1k --fdatasync=1
# linger.ms=0: the client sends as soon as it can, so the figure is the broker's, the disk's and
# the network's, not a wait the client adds on purpose (the target is checked on these runs).
# The same rates again with librdkafka's default linger.ms (5) show what batching changes.
# The broker's fdatasync histogram before and after each run shows what the disk did meanwhile.
for linger in 0 5; do
  for rate in "${rates[@]}"; do
    sync_histogram "$results/latency-$rate-linger$linger.syncs-before.prom"
    bench "$results/latency-$rate-linger$linger.json" produce --topic "latency-$rate-linger$linger" \
      --partitions 1 --record-size 1024 --rate "$rate" --seconds "$latency_seconds" --acks all \
      --linger-ms "$linger"
    sync_histogram "$results/latency-$rate-linger$linger.syncs-after.prom"
  done
done

# --- what p99 is made of: the broker without the disk, the disk without the broker ----------
# The linger.ms=0 runs again on topics with sync.policy=none (acks=all is then answered once the
# batch is written): the broker's and the client's own share of the latency. Then
# bench/sync_probe.py on the same disk: an ideal group commit (a writer at the same rate, a
# thread syncing in a loop) with no broker at all, once with the CPUs idle and once with one CPU
# kept busy, as the broker and its client keep them during the runs above.
for rate in "${rates[@]}"; do
  "$wharf" topic create "nosync-$rate" --partitions 1 --config sync.policy=none >/dev/null
  bench "$results/nosync-latency-$rate.json" produce --topic "nosync-$rate" --partitions 1 \
    --record-size 1024 --rate "$rate" --seconds "$latency_seconds" --acks all --linger-ms 0
  for busy in 0 1; do
    python3 "$root/bench/sync_probe.py" --dir "$dir" --rate "$rate" \
      --seconds "$latency_seconds" --busy "$busy" >"$results/sync-probe-$rate-busy$busy.json"
    log "sync probe at $rate/s, $busy busy: $(cat "$results/sync-probe-$rate-busy$busy.json")"
  done
done

# --- consume from the page cache -----------------------------------------------------------
# The 1 KiB throughput topics were written seconds ago and are far smaller than memory, so they
# are read from the page cache. Each is read from its beginning to its end, no group.
for ((i = 0; i < repeats; i++)); do
  bench "$results/r$i--consume-1KiB.json" consume --topic "tput-1KiB-r$i"
done

{
  echo "compilers_after=$(pgrep -c cc1plus || true)"
  echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "data_bytes=$(du -sb "$data" | cut -f1)"
} >>"$results/machine.env"
stop_pid "$serve_pid"
serve_pid=""

# --- the report ----------------------------------------------------------------------------
python3 "$root/bench/report.py" broker "$results" "$doc"
