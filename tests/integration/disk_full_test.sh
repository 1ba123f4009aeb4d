#!/usr/bin/env bash
# Disk full (issue 9): the broker's data directory on a 6 MiB tmpfs, kcat producing until it is
# full. Producers get errors (never a false acknowledgement), /readyz turns 503 and
# wharf_storage_full 1 while appends fail, and the failures are logged once per interval, not
# once per request. Needs root (mount); skipped (exit 77) otherwise.
set -uo pipefail
WHARF=${WHARF_BIN:?set WHARF_BIN to the wharf binary}
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
KPORT=$(free_port); APORT=$(free_port)
DIR=$(mktemp -d /tmp/wharf-disk-full.XXXXXX)
if ! mount -t tmpfs -o size=6m tmpfs "$DIR" 2>/dev/null; then
  echo "disk-full: cannot mount a tmpfs (not root?); skipped"
  rmdir "$DIR"
  exit 77
fi
"$WHARF" serve --data-dir "$DIR/data" --listen 127.0.0.1:$KPORT --admin 127.0.0.1:$APORT \
  --set offsets.topic.num.partitions=1 >"$DIR.log" 2>&1 &
PID=$!
trap 'kill -9 $PID 2>/dev/null; wait $PID 2>/dev/null; umount "$DIR"; rmdir "$DIR"; rm -f "$DIR.log" "$DIR.readyz"' EXIT
for _ in $(seq 1 100); do grep -q '^ready$' "$DIR.log" && break; sleep 0.1; done
URL=http://127.0.0.1:$APORT
passed=0; failed=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
check "ready before the disk fills" test "$(curl -s -o /dev/null -w '%{http_code}' $URL/readyz)" = "200"
# 9 MB of records for 6 MiB of disk; /readyz and the gauge are sampled while it runs.
( for _ in $(seq 1 300); do
    echo "$(curl -s -o /dev/null -w '%{http_code}' $URL/readyz) $(curl -s $URL/metrics | grep '^wharf_storage_full ')"
    sleep 0.1
  done ) >"$DIR.readyz" &
SAMPLER=$!
head -c 9000000 /dev/urandom | base64 -w 1000 |
  timeout 60 kcat -b 127.0.0.1:$KPORT -P -t big -X message.timeout.ms=8000 -X queue.buffering.max.ms=5 >/dev/null 2>&1
kill $SAMPLER 2>/dev/null; wait $SAMPLER 2>/dev/null
check "the disk did fill" test "$(df --output=avail -k "$DIR" | tail -1 | tr -d ' ')" -lt 512
check "/readyz answered 503 while appends failed" grep -q '^503 wharf_storage_full 1$' "$DIR.readyz"
check "the disk-full state was logged" grep -q 'the disk is full' "$DIR.log"
warnings=$(grep -c 'produce to big' "$DIR.log")
check "failed appends logged at most once per 10 s ($warnings lines)" test "$warnings" -le 8
check "failed appends counted" bash -c "curl -s $URL/metrics | grep -qE '^wharf_append_errors_total [1-9]'"
check "still serving metadata" bash -c "kcat -b 127.0.0.1:$KPORT -L -t big -m 5 | grep -q 'topic \"big\"'"
echo "disk-full: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
