#!/usr/bin/env bash
# A short run of every libFuzzer target, for CI (reliability.md §6.5 B1, B2): builds the targets
# with clang, ASan and UBSan into build-fuzz, then runs each for FUZZ_SECONDS (default 20) on a
# scratch copy of its committed seed corpus, so the seeds in the tree stay small. Exits non-zero
# if any target crashes, leaks, times out on an input or fails to build; a crashing input is
# kept under build-fuzz/fuzz-artifacts/ to reproduce it with `build-fuzz/bin/<target> <file>`.
#
# Targets are found by convention: tests/fuzz/fuzz_<name>.cc is the target fuzz_<name>, and
# its seeds are tests/fuzz/corpus/<name>/.
#
# Environment: FUZZ_SECONDS (per target, default 20), FUZZ_BUILD_JOBS (ninja -j, default nproc),
# FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_BUILD_JOBS:-$(nproc)}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
ARTIFACTS=$BUILD_DIR/fuzz-artifacts

targets=()
for source in tests/fuzz/fuzz_*.cc; do
  targets+=("$(basename "$source" .cc)")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets under tests/fuzz" >&2
  exit 1
fi

echo "== fuzz-smoke: building ${targets[*]} (clang, ASan+UBSan) in $BUILD_DIR"
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DWHARF_FUZZ=ON -DWHARF_SANITIZE=ON \
  -DWHARF_BENCH=OFF >/dev/null
ninja -C "$BUILD_DIR" -j "$JOBS" "${targets[@]}"

mkdir -p "$ARTIFACTS"
scratch=$(mktemp -d /tmp/wharf-fuzz-smoke.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/${target#fuzz_}
  corpus=$scratch/$target
  mkdir -p "$corpus"
  if [ -d "$seeds" ]; then
    cp -r "$seeds/." "$corpus/"
  else
    echo "fuzz-smoke: warning: $target has no seed corpus at $seeds" >&2
  fi
  echo "== fuzz-smoke: $target for ${FUZZ_SECONDS}s on $(ls "$corpus" | wc -l) seeds"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a decoder must never need 2 GiB
  # for a few KB of input. Leak checking is on (libFuzzer's default under ASan).
  status=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$BUILD_DIR/bin/$target" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$target-" "$corpus" \
    >"$scratch/$target.log" 2>&1 || status=$?
  tail -n 12 "$scratch/$target.log"
  if [ "$status" -ne 0 ]; then
    echo "fuzz-smoke: $target FAILED (exit $status); output:" >&2
    grep -v -e '^#[0-9]' -e 'NEW_FUNC' "$scratch/$target.log" | tail -n 60 >&2
    ls -l "$ARTIFACTS" >&2 || true
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz-smoke: ${#failed[@]} of ${#targets[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-smoke: ${#targets[@]} target(s) ran ${FUZZ_SECONDS}s each without a crash"
