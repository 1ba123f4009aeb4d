#!/usr/bin/env bash
# kcat (librdkafka 2.0.2's command-line client) against the real broker, checked by its output:
# metadata (-L), keyed and compressed and idempotent produce (-P), consume with exact formats
# and start offsets (-C), offsets for a timestamp (-Q), and a topic that does not exist.
# Run by ctest with WHARF_BIN set; prints "kcat: N passed, M failed" and exits non-zero on any
# mismatch.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

PASSED=0
FAILED=0

# check NAME EXPECTED ACTUAL
check() {
  if [ "$2" == "$3" ]; then
    PASSED=$((PASSED + 1))
    echo "ok   $1"
  else
    FAILED=$((FAILED + 1))
    echo "FAIL $1"
    echo "  expected: $(printf '%s' "$2" | head -c 2000 | sed 's/^/    /')"
    echo "  actual:   $(printf '%s' "$3" | head -c 2000 | sed 's/^/    /')"
  fi
}

# check_contains NAME NEEDLE HAYSTACK
check_contains() {
  if grep -qF -- "$2" <<<"$3"; then
    PASSED=$((PASSED + 1))
    echo "ok   $1"
  else
    FAILED=$((FAILED + 1))
    echo "FAIL $1: '$2' not found in:"
    printf '%s\n' "$3" | head -n 40 | sed 's/^/    /'
  fi
}

command -v kcat >/dev/null || { echo "kcat: not installed (Debian package kcat)"; exit 1; }

# Three partitions for auto-created topics, so a produce creates a multi-partition topic.
start_broker --default-partitions 3 || exit 1
B=$BROKER
KCAT=(kcat -b "$B")
# Every consume stops at the end of the partitions (-e), quietly (-q) and within 60 s.
consume() { timeout 60 "${KCAT[@]}" -C -e -q "$@"; }

echo "== metadata"
out=$("${KCAT[@]}" -L 2>&1)
check_contains "-L lists the broker at its advertised address" "broker 0 at $B (controller)" "$out"
check "-L on a fresh broker lists no user topics (internal ones start with __)" "" \
  "$(grep -o 'topic "[^"]*"' <<<"$out" | grep -v 'topic "__')"

echo "== keyed produce into an explicit partition"
printf 'k1:v1\nk2:v2\nk3:\n:v4\n' | "${KCAT[@]}" -P -t keyed -K: -p 0
check "-P -K: exits 0" 0 "$?"
out=$("${KCAT[@]}" -L -t keyed 2>&1)
check_contains "-L -t shows the auto-created topic with 3 partitions" 'topic "keyed" with 3 partitions:' "$out"
check_contains "-L -t shows partition 2 led by broker 0" "partition 2, leader 0, replicas: 0, isrs: 0" "$out"
out=$(consume -t keyed -p 0 -f '%t|%p|%o|%k|%s|%K|%S\n')
check "-C -f prints topic, partition, offset, key, value and their lengths" \
  "keyed|0|0|k1|v1|2|2
keyed|0|1|k2|v2|2|2
keyed|0|2|k3||2|0
keyed|0|3||v4|0|2" "$out"
check "the other partitions stayed empty" "" "$(consume -t keyed -p 1 -f '%o\n')$(consume -t keyed -p 2 -f '%o\n')"

echo "== keyed produce through the partitioner"
seq 0 299 | awk '{printf "key-%d:%d\n", $1 % 10, $1}' | "${KCAT[@]}" -P -t spread -K:
check "-P -K: (partitioner) exits 0" 0 "$?"
out=$(consume -t spread -f '%p %o %k %s\n')
check "every keyed record comes back once" 300 "$(wc -l <<<"$out")"
check "each key stays in one partition" 10 "$(awk '{print $3, $1}' <<<"$out" | sort -u | wc -l)"
# Within each partition offsets are dense from 0, and each key's values arrive in produce order.
bad=$(awk '{ if ($2 != next_offset[$1]++) print "partition " $1 " offset " $2 " out of sequence";
             if (last[$3] != "" && $4 <= last[$3]) print "key " $3 " value " $4 " after " last[$3];
             last[$3] = $4 }' <<<"$(sort -k1,1n -k2,2n <<<"$out")")
check "offsets are dense per partition and each key keeps its order" "" "$bad"
check "all three partitions were used" 3 "$(awk '{print $1}' <<<"$out" | sort -u | wc -l)"

echo "== compression codecs"
# 200 copies of a 120-byte value compress to a small fraction of their 25 KB; the stored log
# must be that small, which shows the broker kept the client's compressed batch.
value=$(printf 'x%.0s' $(seq 1 120))
for codec in none gzip snappy lz4 zstd; do
  awk -v v="$value" 'BEGIN { for (i = 0; i < 200; i++) printf "%d:%s\n", i, v }' |
    "${KCAT[@]}" -P -t "codec-$codec" -p 0 -K: -z "$codec" -X linger.ms=200
  check "-P -z $codec exits 0" 0 "$?"
  out=$(consume -t "codec-$codec" -p 0 -f '%o %k %S\n')
  expected=$(seq 0 199 | awk '{print $1, $1, 120}')
  check "-z $codec: 200 records read back with their offsets, keys and sizes" "$expected" "$out"
  bytes=$(stat -c %s "$BROKER_DATA"/data/topics/"codec-$codec"/0/*.log | awk '{s += $1} END {print s}')
  if [ "$codec" == none ]; then
    check "-z none: the log holds the records uncompressed" 1 "$((bytes > 24000))"
  else
    check "-z $codec: the log holds the compressed batch ($bytes bytes)" 1 "$((bytes < 6000))"
  fi
done

echo "== idempotent producer with headers"
seq 1 500 | "${KCAT[@]}" -P -t idem -p 1 -X enable.idempotence=true -X acks=all -H origin=kcat -H n=1
check "-P -X enable.idempotence=true exits 0" 0 "$?"
out=$(consume -t idem -p 1 -f '%p %o %s %h\n')
check "idempotent produce: exactly 500 records, offsets 0..499, headers kept" \
  "$(seq 1 500 | awk '{print 1, $1 - 1, $1, "origin=kcat,n=1"}')" "$out"

echo "== start offsets"
check "-o beginning starts at offset 0" "0 k1
1 k2
2 k3
3 " "$(consume -t keyed -p 0 -o beginning -f '%o %k\n')"
check "-o -2 starts two records before the end" "2 k3
3 " "$(consume -t keyed -p 0 -o -2 -f '%o %k\n')"
check "-o 1 starts at offset 1" "1 v2
2 
3 v4" "$(consume -t keyed -p 0 -o 1 -f '%o %s\n')"
check "-o 150 -c 3 reads three records from offset 150" "150
151
152" "$(consume -t codec-zstd -p 0 -o 150 -c 3 -f '%o\n')"

echo "== offsets for times"
printf 'early-1\nearly-2\nearly-3\n' | "${KCAT[@]}" -P -t times -p 0
sleep 1.2
middle_ms=$(date +%s%3N)
sleep 1.2
printf 'late-1\nlate-2\n' | "${KCAT[@]}" -P -t times -p 0
after_ms=$(( $(date +%s%3N) + 60000 ))
check "-Q at time 0 returns offset 0" "times [0] offset 0" "$("${KCAT[@]}" -Q -t "times:0:0" 2>&1)"
check "-Q between the two batches returns the later batch's first offset" "times [0] offset 3" \
  "$("${KCAT[@]}" -Q -t "times:0:$middle_ms" 2>&1)"
check "-Q after the last record returns -1" "times [0] offset -1" "$("${KCAT[@]}" -Q -t "times:0:$after_ms" 2>&1)"
check "the late batch has the timestamps -Q relied on" 2 \
  "$(consume -t times -p 0 -f '%T\n' | awk -v m="$middle_ms" '$1 >= m' | wc -l)"

echo "== a topic that does not exist"
err=$(timeout 60 "${KCAT[@]}" -C -e -q -t no-such-topic 2>&1)
status=$?
check "consuming an unknown topic fails" 1 "$((status != 0))"
check_contains "and says why" "Unknown topic or partition" "$err"
check "consumers do not auto-create it" 0 "$("${KCAT[@]}" -L 2>&1 | grep -c no-such-topic)"

echo "== clean shutdown"
stop_broker
check "the broker stops cleanly on SIGTERM" 0 "$?"

echo "kcat: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
