#!/usr/bin/env bash
# One command for the benchmarks (`make bench`). First the storage engine: fio's reference
# figures and the storage bench, interleaved case by case in the same directory (so on the same
# file system), then docs/benchmarks.md's generated section rewritten with every figure as a
# ratio to its reference. Then the broker: bench/broker.sh (its own header says what it runs),
# which writes the broker's generated section. Builds nothing: it runs the binaries `make build`
# left in build/bin.
#
# Environment (all optional):
#   WHARF_BENCH_PHASES   which parts to run           (default "storage broker")
#   WHARF_BENCH_BIN_DIR  where the binaries are       (default build/bin)
#   WHARF_BENCH_BIN      the storage bench binary     (default $WHARF_BENCH_BIN_DIR/wharf_storage_bench)
#   WHARF_BENCH_RESULTS  raw results                  (default build/bench-results)
#   WHARF_BENCH_DIR      where data goes; fio and the bench both write here
#                                                    (default build/bench-data)
#   WHARF_BENCH_REPEATS  rounds over every case (fio reference, then bench); medians reported
#                                                    (default 3)
#   WHARF_BENCH_SECONDS  time bound of each bench case and of each fio run (default 3)
#   WHARF_BENCH_RECOVERY_BYTES  bytes written for the recovery scan (default 512 MiB)
#   WHARF_BENCH_DOC      the report to update         (default docs/benchmarks.md)
#
#   (bench/broker.sh reads more: WHARF_BENCH_BROKER_REPEATS, WHARF_BENCH_BROKER_SECONDS, ...)
#
# Runtime on this 2-core VM: about 4 minutes for the storage part and 2.5 for the broker's with the
# defaults. Data files are removed at the end, also on failure or Ctrl-C; raw results stay in
# build/bench-results/ (the broker's in its broker/ subdirectory).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
phases="${WHARF_BENCH_PHASES:-storage broker}"
bin_dir="${WHARF_BENCH_BIN_DIR:-$root/build/bin}"
bin="${WHARF_BENCH_BIN:-$bin_dir/wharf_storage_bench}"
dir="${WHARF_BENCH_DIR:-$root/build/bench-data}"
repeats="${WHARF_BENCH_REPEATS:-3}"
seconds="${WHARF_BENCH_SECONDS:-3}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "bench/run.sh: WHARF_BENCH_SECONDS must be a whole number of seconds (fio's --runtime)" >&2
  exit 1
fi
recovery_bytes="${WHARF_BENCH_RECOVERY_BYTES:-$((512 * 1024 * 1024))}"
doc="${WHARF_BENCH_DOC:-$root/docs/benchmarks.md}"
results="${WHARF_BENCH_RESULTS:-$root/build/bench-results}"
export WHARF_BENCH_BIN_DIR="$bin_dir" WHARF_BENCH_DIR="$dir" WHARF_BENCH_RESULTS="$results"
export WHARF_BENCH_DOC="$doc"
for phase in $phases; do
  if [[ "$phase" != storage && "$phase" != broker ]]; then
    echo "bench/run.sh: WHARF_BENCH_PHASES: unknown phase '$phase' (storage, broker)" >&2
    exit 1
  fi
done
rm -rf "$results"
mkdir -p "$results"
if [[ " $phases " != *" storage "* ]]; then
  bash "$root/bench/broker.sh"
  exit
fi

if [[ ! -x "$bin" ]]; then
  echo "bench/run.sh: $bin is missing; run 'make build' first (or set WHARF_BENCH_BIN)." >&2
  exit 1
fi
for tool in fio python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench/run.sh: '$tool' is not installed (Debian: apt-get install $tool)." >&2
    exit 1
  fi
done

mkdir -p "$dir"
fio_file="$dir/fio-$$.dat"
cleanup() { rm -f "$fio_file"; rm -rf "$dir"/storage_bench-*; rmdir "$dir" 2>/dev/null || true; }
trap cleanup EXIT

log() { echo "[bench] $*" >&2; }

# --- the machine ---------------------------------------------------------------------------
build_type="unknown"
cache="$(dirname "$bin")/../CMakeCache.txt"
if [[ -f "$cache" ]]; then
  build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$cache")"
  # The top-level CMakeLists.txt picks RelWithDebInfo when none is given.
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
  echo "fs_options=$(findmnt -no OPTIONS -T "$dir" 2>/dev/null || echo unknown)"
  echo "bench_dir=$dir"
  echo "fio=$(fio --version)"
  echo "build_type=$build_type"
  echo "repeats=$repeats"
  echo "seconds=$seconds"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$results/machine.env"

# --- fio and the bench, interleaved case by case ---------------------------------------------
# This VM's disk drifts: mean fdatasync has been seen flipping between ~0.15 ms and ~3.5 ms
# within seconds. So every bench case runs right after its own fio reference, with the same
# time bound, and report.py takes each ratio within that pair (the median over the rounds is
# reported). report.py also names the reference of each case, so the mapping lives in one place.
#
# fio: write jobs append to a new file (fallocate=none), as the log does; psync is the engine's
# pwrite/fdatasync; bounded by 1 GiB and by the same --runtime as a bench case.
fio_options() {
  case "$1" in
    buffered_64k) echo "--rw=write --bs=64k" ;;
    fdatasync16_64k) echo "--rw=write --bs=64k --fdatasync=16" ;;
    fdatasync1_1m) echo "--rw=write --bs=1m --fdatasync=1" ;;
    fdatasync1_64k) echo "--rw=write --bs=64k --fdatasync=1" ;;
    read_warm_1m) echo "--rw=read --bs=1m --invalidate=0" ;;  # invalidate=0: page cache warm
    *) echo "bench/run.sh: unknown fio job $1" >&2; return 1 ;;
  esac
}
run_fio() {  # job, output file[, fio options instead of the job's own]
  local job="$1" out="$2" options
  options="${3:-$(fio_options "$job")}"
  rm -f "$fio_file"
  if [[ "$job" == read_* ]]; then  # lay the file out first (not measured)
    fio --name=layout --filename="$fio_file" --ioengine=psync --size=1g --rw=write --bs=1m \
      --fallocate=none --output-format=json >/dev/null
  fi
  # shellcheck disable=SC2086  # $options is a list of fio flags
  fio --name="$job" --filename="$fio_file" --ioengine=psync --size=1g --runtime="$seconds" \
    --fallocate=none $options --output-format=json >"$out"
  rm -f "$fio_file"
  log "fio $job: $(python3 "$root/bench/report.py" fio-summary "$out")"
}

"$bin" --list >"$results/cases.txt"
mapfile -t cases <"$results/cases.txt"
log "fio and storage bench in $dir ($(sed -n 's/^fs_type=//p' "$results/machine.env")): ${#cases[@]} cases, $repeats rounds, ${seconds}s each"
for ((i = 0; i < repeats; i++)); do
  for case in "${cases[@]}"; do
    [[ "$case" == read/* ]] && continue  # measured on the data the recovery case leaves
    job="$(python3 "$root/bench/report.py" reference "$case")"
    slug="r$i--${case//[\/=:]/_}"
    run_fio "$job" "$results/$slug--fio-$job.json"
    filters=(--filter "$case")
    [[ "$case" == recovery/* ]] && filters+=(--filter read/)
    "$bin" --dir "$dir" --seconds "$seconds" --recovery-bytes "$recovery_bytes" \
      --first-repeat "$i" "${filters[@]}" >"$results/$slug.jsonl"
    # Under sync.policy=none each batch is one pwrite of the batch's own size, where fio's
    # reference writes 64 KiB at 64 KiB boundaries. The page cache charges more for the first:
    # its folios follow the writes' sizes and alignment, so it allocates smaller ones and more
    # of them (docs/benchmarks.md). So fio also writes the same sizes right after the case;
    # report.py tables that beside the target, which stays against buffered_64k.
    if [[ "$case" == append/none/* ]]; then
      bs="$(python3 "$root/bench/report.py" write-size "$results/$slug.jsonl")"
      run_fio "buffered_same_size" "$results/$slug.same-size.json" "--rw=write --bs=$bs"
    fi
  done
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.env"

# --- the report ----------------------------------------------------------------------------
python3 "$root/bench/report.py" report "$results" "$doc"

# --- the broker ----------------------------------------------------------------------------
if [[ " $phases " == *" broker "* ]]; then
  bash "$root/bench/broker.sh"
fi
