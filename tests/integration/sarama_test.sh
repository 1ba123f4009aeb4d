#!/usr/bin/env bash
# Debian's sarama 1.22.1 (Go) against the real broker: sarama/sarama_compat.go, which CMake
# builds into $SARAMA_COMPAT (ctest sets it), checks produce with every codec, the idempotent
# producer, a consumer group restarted in the same group, the ClusterAdmin, committed offsets,
# and sarama's default configuration (no ApiVersions, oldest request versions).
# Prints the program's "ok"/"FAIL" lines and "sarama: N passed, M failed"; exits non-zero on
# any failure, or when the program was not built (no Go toolchain: Debian package golang-go).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

if [ -z "${SARAMA_COMPAT:-}" ] || [ ! -x "$SARAMA_COMPAT" ]; then
  echo "sarama_test: the Go test program '${SARAMA_COMPAT:-}' was not built; it needs the Debian" \
    "packages golang-go and golang-github-shopify-sarama-dev (make deps), then a new cmake configure" >&2
  exit 1
fi

# No initial rebalance delay: each group run joins alone.
start_broker --set group.initial.rebalance.delay.ms=0 || exit 1
timeout 120 "$SARAMA_COMPAT" -bootstrap "$BROKER"
status=$?
if [ "$status" -eq 124 ]; then echo "sarama_test: the program did not finish within 120 s"; fi
stop_broker || status=1
exit "$status"
