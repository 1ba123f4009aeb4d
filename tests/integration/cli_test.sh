#!/usr/bin/env bash
# The wharf client commands (topic, produce, consume, group) against the real broker, checked
# by their output and exit codes, failures included: unknown topics and groups, bad arguments,
# an unreachable cluster with a short timeout, a group that still has members, records the
# broker refuses. Run by ctest with WHARF_BIN set; prints "cli: N passed, M failed" last and
# exits non-zero on any mismatch.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
failed() { FAILED=$((FAILED + 1)); echo "FAIL $1"; }

# check NAME EXPECTED ACTUAL
check() {
  if [ "$2" == "$3" ]; then
    pass "$1"
  else
    failed "$1"
    printf '  expected:\n%s\n  actual:\n%s\n' "$(printf '%s' "$2" | head -c 3000 | sed 's/^/    /')" \
      "$(printf '%s' "$3" | head -c 3000 | sed 's/^/    /')"
  fi
}

# check_contains NAME NEEDLE HAYSTACK
check_contains() {
  if grep -qF -- "$2" <<<"$3"; then
    pass "$1"
  else
    failed "$1: '$2' not found in:"
    printf '%s\n' "$3" | head -n 40 | sed 's/^/    /'
  fi
}

# run CMD...: runs with a 60 s limit and no stdin; sets OUT, ERR and RC.
# run_in INPUT CMD...: the same with INPUT (a string) on stdin.
ERRFILE=$(mktemp /tmp/wharf-cli-test-err.XXXXXX)
trap 'rm -f "$ERRFILE"; _wharf_lib_cleanup' EXIT
run() { OUT=$(timeout 60 "$@" </dev/null 2>"$ERRFILE"); RC=$?; ERR=$(cat "$ERRFILE"); }
run_in() { local input=$1; shift; OUT=$(timeout 60 "$@" <<<"$input" 2>"$ERRFILE"); RC=$?; ERR=$(cat "$ERRFILE"); }

# check_fails NAME STDERR-NEEDLE CMD...: must exit non-zero with the needle in stderr, in one line.
check_fails() {
  local name=$1 needle=$2
  shift 2
  run "$@"
  if [ "$RC" -ne 0 ] && grep -qF -- "$needle" <<<"$ERR" && [ "$(wc -l <<<"$ERR")" -le 2 ]; then
    pass "$name"
  else
    failed "$name (exit $RC)"
    printf '  stdout: %s\n  stderr: %s\n' "$OUT" "$ERR" | head -n 20
  fi
}

# Waits up to 30 s for CMD's stdout to contain NEEDLE.
wait_for() {
  local needle=$1 i
  shift
  for i in $(seq 1 150); do
    if "$@" 2>/dev/null | grep -qF -- "$needle"; then return 0; fi
    sleep 0.2
  done
  return 1
}

# row KEY: the other columns of the first line whose first column is KEY, space-separated.
row() { awk -v k="$1" '$1 == k {$1 = ""; sub(/^ /, ""); print; exit}'; }

# members_and_state GROUP: "MEMBERS n STATE s" from group describe.
members_and_state() {
  local out
  out=$("$W" group describe "$1") || return 1
  echo "MEMBERS $(row MEMBERS <<<"$out") STATE $(row STATE <<<"$out")"
}

# Java's partitioner: murmur2(key) & 0x7fffffff % partitions (Utils.murmur2 in Kafka's clients).
java_partition() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys
data, n = sys.argv[1].encode(), int(sys.argv[2])
m, h = 0x5bd1e995, (0x9747b28c ^ len(data)) & 0xffffffff
for i in range(len(data) // 4):
    k = int.from_bytes(data[4 * i:4 * i + 4], "little")
    k = (k * m) & 0xffffffff
    k ^= k >> 24
    k = (k * m) & 0xffffffff
    h = ((h * m) & 0xffffffff) ^ k
tail, rem = data[len(data) & ~3:], len(data) % 4
if rem == 3: h ^= tail[2] << 16
if rem >= 2: h ^= tail[1] << 8
if rem >= 1: h = ((h ^ tail[0]) * m) & 0xffffffff
h ^= h >> 13
h = (h * m) & 0xffffffff
h ^= h >> 15
print((h & 0x7fffffff) % n)
EOF
}

start_broker || exit 1
W=$WHARF_BIN
export WHARF_BOOTSTRAP=$BROKER
export WHARF_TIMEOUT=10

echo "== help"
for c in "topic" "topic create" "topic list" "topic describe" "topic delete" "topic alter" "topic add-partitions" \
         "produce" "consume" "group" "group list" "group describe" "group reset-offsets" "group delete"; do
  # shellcheck disable=SC2086
  run "$W" $c --help
  if [ "$RC" -eq 0 ] && grep -q "^Usage: .*wharf $c" <<<"$OUT" && grep -qF -- "--help" <<<"$OUT"; then
    pass "wharf $c --help"
  else
    failed "wharf $c --help (exit $RC)"
    printf '%s\n%s\n' "$OUT" "$ERR" | head -n 10
  fi
done
run "$W" consume --help
check_contains "consume --help documents the format tokens" "%t topic, %p partition, %o offset, %k key, %s value" "$OUT"
check_contains "client commands document --timeout and its variable" '(default: $WHARF_TIMEOUT, else 10)' "$OUT"

echo "== bad arguments"
run "$W" topic
check "topic without a subcommand fails" 1 "$((RC != 0))"
run "$W" consume
check "consume without a topic fails" 1 "$((RC != 0))"
run "$W" produce orders --acks 2
check "produce --acks 2 fails" 1 "$((RC != 0))"
check_contains "produce --acks 2 says what is allowed" "not in {all,-1,1,0}" "$ERR"
check_fails "topic create --config without = fails" "--config: expected key=value, got 'retention.ms'" \
  "$W" topic create bad --config retention.ms
check_fails "an unknown -X property fails" '-X no.such.property=1: No such configuration property' \
  "$W" topic list -X no.such.property=1
missing_db="$(dirname "$ERRFILE")/wharf-cli-missing-$$.db"
check_fails "outbox-relay on a missing SQLite file fails instead of creating it" \
  "unable to open database file" "$W" outbox-relay --sqlite "$missing_db"
check "the missing SQLite file was not created" 0 "$([ -e "$missing_db" ] && echo 1 || echo 0)"

echo "== topic create / list"
run "$W" topic create orders --partitions 6 --config retention.ms=86400000
check "topic create exits 0" 0 "$RC"
check "topic create reports what was created" "created topic orders (6 partition(s), replication factor 1)" "$OUT"
check_fails "creating it again fails" "wharf topic create: topic 'orders' already exists" "$W" topic create orders -p 3
run "$W" topic create events -p 1
run "$W" topic list
check "topic list shows names, partitions and replicas, without internal topics" \
"NAME    PARTITIONS  REPLICAS
events  1           1
orders  6           1" "$OUT"
run "$W" topic list --all
check_contains "topic list --all shows __consumer_offsets" "__consumer_offsets" "$OUT"
run "$W" topic list --json
check "topic list --json is JSON with names and partition counts" "events:1 orders:6" \
  "$(/usr/bin/python3 -c 'import json,sys; print(" ".join("%s:%d" % (t["name"], t["partitions"]) for t in json.load(sys.stdin)))' <<<"$OUT")"
run "$W" -b "$BROKER" topic list
check "the global -b before the command works" 0 "$RC"
run "$W" topic list -b "$BROKER"
check "-b after the subcommand falls through to the global option" 0 "$RC"

echo "== produce"
input=$(for i in $(seq 1 1000); do echo "key-$i:value-$i"; done)
run_in "$input" "$W" produce orders -K : -H source=cli -H env=test
check "produce exits 0" 0 "$RC"
check_contains "produce summary on stderr" "wharf produce: 1000 record(s) delivered to orders" "$ERR"
check_contains "produce is idempotent with acks=all by default" "(acks=all, idempotent)" "$ERR"
check "produce prints nothing on stdout" "" "$OUT"
run_in $'a:1\nb:2\nno-separator\n:empty-key' "$W" produce events -K : -H h1=x -H h2=
check "produce into a one-partition topic exits 0" 0 "$RC"

echo "== topic describe"
run "$W" topic describe orders
check "topic describe exits 0" 0 "$RC"
check "describe shows the record count" 1000 "$(row RECORDS <<<"$OUT")"
# SIZE comes from DescribeLogDirs: the bytes of the topic's segment files.
ORDERS_BYTES=$(cat "$BROKER_DATA"/data/topics/orders/*/*.log | wc -c)
check "describe shows the size on disk" "$ORDERS_BYTES" "$(row SIZE <<<"$OUT")"
check "describe shows the override and its source" "86400000 DYNAMIC_TOPIC_CONFIG" "$(row retention.ms <<<"$OUT")"
check "describe lists 6 partitions led by broker 0" 6 "$(grep -cE '^[0-5] +0 +0 +0 +0 ' <<<"$OUT")"
check "the high watermarks add up to the records produced" 1000 \
  "$(awk '/^PARTITION/ {t=1; next} t && NF==7 {s+=$6} /^$/ {t=0} END {print s}' <<<"$OUT")"
run "$W" topic describe orders --json
check "describe --json carries watermarks and sizes" "1000 $ORDERS_BYTES $ORDERS_BYTES 6" \
  "$(/usr/bin/python3 -c 'import json,sys; t=json.load(sys.stdin)[0]; print(sum(p["high_watermark"] for p in t["partitions"]), t["size_bytes"], sum(p["size_bytes"] for p in t["partitions"]), len(t["partitions"]))' <<<"$OUT")"
check_fails "describe of an unknown topic fails" "wharf topic describe: topic 'nosuch' does not exist" \
  "$W" topic describe nosuch

echo "== keyed records land where Java's partitioner puts them"
run "$W" consume orders --from-beginning -e -q -f '%k %p\n'
check "consume -e reads every record" 1000 "$(wc -l <<<"$OUT")"
mismatch=0
for k in key-1 key-2 key-77 key-500 key-1000; do
  p=$(awk -v k="$k" '$1 == k {print $2}' <<<"$OUT")
  [ "$p" == "$(java_partition "$k" 6)" ] || mismatch=$((mismatch + 1))
done
check "murmur2 partitioning matches Kafka's Java client for 5 keys" 0 "$mismatch"

echo "== consume formats and offsets"
run "$W" consume events --from-beginning -e -f '%t|%p|%o|%k|%s|%h|%S|%K\n'
check "consume -f prints every field" \
"events|0|0|a|1|h1=x,h2=|1|1
events|0|1|b|2|h1=x,h2=|1|1
events|0|2||no-separator|h1=x,h2=|12|-1
events|0|3||empty-key|h1=x,h2=|9|0" "$OUT"
check "consume prints its summary on stderr" "wharf consume: 4 record(s)" "$ERR"
run "$W" consume events -o -2 -e -q
check "-o -2 starts two records before the end" $'no-separator\nempty-key' "$OUT"
run "$W" consume events -o 1 -c 1 -q -f '%o:%s\n'
check "-o 1 -c 1 reads exactly offset 1" "1:2" "$OUT"
run "$W" consume events -o end -e -q
check "-o end -e reads nothing and exits 0" "0:" "$RC:$OUT"
run "$W" consume events -p 0 --from-beginning -e -q -c 2 -J
check "-J prints one JSON object per record" "events 0 0 a 1 h1=x" \
  "$(head -n 1 <<<"$OUT" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["topic"], r["partition"], r["offset"], r["key"], r["value"], "=".join(r["headers"][0]))')"
check "-c 2 stops after two records" 2 "$(wc -l <<<"$OUT")"
check_fails "an unknown format token fails" "unknown token '%x'" "$W" consume events -f '%x'
check_fails "a bad --offset fails" "--offset: expected beginning, end" "$W" consume events -o soon
check_fails "consume of an unknown topic fails" "wharf consume: topic 'nosuch' does not exist" "$W" consume nosuch -e
check_fails "consume of a partition that does not exist fails" "topic 'events' has 1 partition(s); no partition 7" \
  "$W" consume events -p 7 -e
check_fails "--partition with --group is refused" "--partition and --group exclude each other" \
  "$W" consume events -p 0 -g g1

echo "== consume stops cleanly on SIGINT and SIGTERM"
for sig in INT TERM; do
  out_file=$(mktemp /tmp/wharf-cli-consume.XXXXXX)
  "$W" consume events --from-beginning >"$out_file" 2>/dev/null &
  pid=$!
  for i in $(seq 1 100); do [ "$(wc -l <"$out_file")" -ge 4 ] && break; sleep 0.1; done
  kill -"$sig" "$pid"
  status=124
  for i in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; status=$?; break; fi
    sleep 0.1
  done
  [ "$status" -eq 124 ] && kill -9 "$pid" 2>/dev/null
  check "consume exits 0 within 10 s of SIG$sig after printing the records" "0 4" "$status $(wc -l <"$out_file")"
  rm -f "$out_file"
done

echo "== consumer groups"
run "$W" consume orders -g app --from-beginning -c 300 -q
check "a group consumer reads 300 records" 300 "$(wc -l <<<"$OUT")"
run "$W" group list
check "group list shows the group, empty after the consumer left" "Empty consumer - 0 0" "$(row app <<<"$OUT")"
run "$W" group describe app
check "group describe exits 0" 0 "$RC"
# Lag is known only where the group has committed (the other partitions show "-", as Kafka's tool).
check "each partition's lag is its high watermark minus its committed offset" "" \
  "$(awk '$1 == "orders" && NF == 6 && $3 != "-" && $5 != $4 - $3' <<<"$OUT")"
check "TOTAL-LAG is the sum of the partitions' lag" \
  "$(awk '$1 == "orders" && NF == 6 && $5 != "-" {s+=$5} END {print s + 0}' <<<"$OUT")" "$(row TOTAL-LAG <<<"$OUT")"
check "the committed offsets add up to what was consumed" 300 \
  "$(awk '$1 == "orders" && NF == 6 && $3 != "-" {s+=$3} END {print s}' <<<"$OUT")"
check_contains "describe shows per-topic skew" "TOPIC   LAG  LAG-MAX  LAG-MEAN  SKEW" "$OUT"
# Skew recomputed from the partition rows: max lag / mean lag over partitions with a commit.
expected_skew=$(awk '$1 == "orders" && NF == 6 && $5 != "-" {n++; s+=$5; if ($5 > m) m=$5}
                     END {if (s > 0) printf "%.2f", m / (s / n); else print "0.00"}' <<<"$OUT")
check "skew is max partition lag / mean lag" "$expected_skew" "$(awk '$1 == "orders" && NF == 5 {print $5}' <<<"$OUT")"
check_fails "describe of an unknown group fails" "wharf group describe: group 'nosuch' does not exist" \
  "$W" group describe nosuch

echo "== a live group: members, assignments, and refusals while it has members"
pids=()
for i in 1 2; do
  "$W" consume orders -g live --from-beginning -q >/dev/null 2>&1 &
  pids+=($!)
done
if wait_for "MEMBERS 2 STATE Stable" members_and_state live; then
  pass "two members join the group and it becomes Stable"
else
  failed "two members join the group and it becomes Stable"
fi
run "$W" group describe live
check "both members are listed with client id and host" 2 "$(grep -cE '^wharf-[^ ]+ +wharf +/?127\.0\.0\.1 +orders\[' <<<"$OUT")"
check "the decoded assignments cover partitions 0-5 once each" "0,1,2,3,4,5" \
  "$(grep -oE 'orders\[[0-9,]+\]' <<<"$OUT" | tr -d 'orders[]' | tr ',' '\n' | sort -n | paste -sd, -)"
check "the protocol is shown" "consumer/range" "$(row PROTOCOL <<<"$OUT")"
check_fails "reset-offsets refuses a group with members" "group 'live' has 2 active member(s) (state Stable)" \
  "$W" group reset-offsets live --topic orders --to-earliest
check_fails "group delete refuses a group with members" "wharf group delete: live:" "$W" group delete live
kill -TERM "${pids[@]}"
wait "${pids[@]}"
check "the members exit 0 on SIGTERM" 0 "$?"
wait_for "MEMBERS 0 STATE Empty" members_and_state live
run "$W" group describe live
check "after they leave the group is Empty with its offsets kept" "Empty 0" "$(row STATE <<<"$OUT") $(row TOTAL-LAG <<<"$OUT")"

echo "== reset-offsets"
before=$("$W" group describe app 2>&1)
run "$W" group reset-offsets app --topic orders --to-earliest
check "a dry run exits 0" 0 "$RC"
check_contains "a dry run prints current -> new offsets" "TOPIC   PARTITION  CURRENT  NEW  LOG-START-OFFSET  HIGH-WATERMARK" "$OUT"
check "every new offset is 0" "0 0 0 0 0 0" "$(awk '$1 == "orders" {print $4}' <<<"$OUT" | paste -sd' ')"
check_contains "a dry run says nothing was committed" "dry run: nothing committed" "$OUT"
check "a dry run changes nothing" "$before" "$("$W" group describe app 2>&1)"
run "$W" group reset-offsets app --topic orders --partition 0 --to-offset 10 --execute
check "--execute exits 0" 0 "$RC"
check_contains "--execute reports the commit" "committed 1 offset(s) for group app" "$OUT"
run "$W" group describe app
check "partition 0's committed offset is now 10" 10 "$(awk '$1 == "orders" && $2 == 0 && NF == 6 {print $3}' <<<"$OUT")"
run "$W" group reset-offsets app --topic orders --partition 1 --to-latest --execute
hw1=$(awk '$1 == "orders" && $2 == 1 && NF == 6 {print $4}' <<<"$("$W" group describe app)")
check "--to-latest commits the high watermark" "$hw1" \
  "$(awk '$1 == "orders" && $2 == 1 && NF == 6 {print $3}' <<<"$("$W" group describe app)")"
run "$W" group reset-offsets app --topic orders --partition 0 --to-offset 999999
check_contains "--to-offset past the end is clamped, with a note" "999999 clamped to" "$ERR"
check_fails "two targets are refused" "give exactly one of" "$W" group reset-offsets app -t orders --to-earliest --to-latest
check_fails "no target is refused" "give exactly one of" "$W" group reset-offsets app -t orders
check_fails "a bad --to-datetime is refused" "is not an ISO 8601 date-time" \
  "$W" group reset-offsets app -t orders --to-datetime yesterday
check_fails "an unknown topic is refused" "topic 'nosuch' does not exist" \
  "$W" group reset-offsets app -t nosuch --to-earliest

echo "== reset-offsets by time"
run "$W" topic create timed -p 1
run_in $'early-1\nearly-2\nearly-3' "$W" produce timed
sleep 1.2
t_ms=$(/usr/bin/python3 -c 'import time; print(int(time.time() * 1000))')
t_iso=$(/usr/bin/python3 -c 'import datetime,sys; print(datetime.datetime.fromtimestamp(int(sys.argv[1]) / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")' "$t_ms")
sleep 1.2
run_in $'late-1\nlate-2' "$W" produce timed
run "$W" group reset-offsets clock -t timed --to-timestamp "$t_ms"
check "--to-timestamp finds the first record after the time" 3 "$(awk '$1 == "timed" {print $4}' <<<"$OUT")"
run "$W" group reset-offsets clock -t timed --to-datetime "$t_iso" --execute
check "--to-datetime (ISO 8601, UTC) finds the same offset" 3 "$(awk '$1 == "timed" {print $4}' <<<"$OUT")"
run "$W" consume timed -g clock -e -q
check "the group then reads only the later records" $'late-1\nlate-2' "$OUT"
run "$W" group reset-offsets clock -t timed --to-datetime 2999-01-01T00:00:00+01:00
check "a time after every record resets to the end" 5 "$(awk '$1 == "timed" {print $4}' <<<"$OUT")"

echo "== group delete"
run "$W" group delete app clock
check "group delete exits 0" 0 "$RC"
check "group delete reports each group" $'deleted group app\ndeleted group clock' "$OUT"
check_fails "the deleted group is gone" "group 'app' does not exist" "$W" group describe app
check_fails "deleting it again fails" "wharf group delete: app:" "$W" group delete app
run "$W" group list
check "group list no longer shows it" "" "$(row app <<<"$OUT")"

echo "== topic alter"
run "$W" topic alter orders --config segment.ms=3600000 --delete-config retention.ms
check "topic alter exits 0" 0 "$RC"
check "alter prints the resulting overrides" $'altered topic orders\nOVERRIDE    VALUE\nsegment.ms  3600000' "$OUT"
run "$W" topic alter orders --config cleanup.policy=delete
check "a second alter keeps the first override (read, merge, write)" \
  $'altered topic orders\nOVERRIDE        VALUE\ncleanup.policy  delete\nsegment.ms      3600000' "$OUT"
run "$W" topic describe orders
check "describe shows the new override" "3600000 DYNAMIC_TOPIC_CONFIG" "$(row segment.ms <<<"$OUT")"
check "and the deleted one back at its default" "DEFAULT_CONFIG" "$(row retention.ms <<<"$OUT" | awk '{print $2}')"
check_fails "alter with nothing to change fails" "nothing to change" "$W" topic alter orders
check_fails "alter of an unknown topic fails" "topic 'nosuch' does not exist" "$W" topic alter nosuch -c segment.ms=1
check_fails "alter with a key the broker refuses fails with its reason" "no.such.config" \
  "$W" topic alter orders -c no.such.config=1

echo "== topic add-partitions"
run "$W" topic add-partitions orders --partitions 8
check "add-partitions to a new total" "0 topic orders: 6 -> 8 partitions" "$RC $OUT"
run "$W" topic add-partitions orders --add 2
check "add-partitions by a count" "0 topic orders: 8 -> 10 partitions" "$RC $OUT"
check_fails "shrinking is refused" "topic 'orders' has 10 partition(s)" "$W" topic add-partitions orders --partitions 4
check_fails "add-partitions of an unknown topic fails" "topic 'nosuch' does not exist" \
  "$W" topic add-partitions nosuch --add 1
run "$W" topic list
check "topic list shows the new count" "10 1" "$(row orders <<<"$OUT")"

echo "== produce failures"
run "$W" topic create small -p 1 -c max.message.bytes=200
run_in "$(head -c 1000 /dev/zero | tr '\0' x)" "$W" produce small
check "a record the broker refuses makes produce exit 1" 1 "$RC"
check_contains "and the summary says why" "record(s) failed delivery: Broker: Message size too large" "$ERR"
check_fails "produce --partition out of range fails" "topic 'small' has 1 partition(s); no partition 3" \
  "$W" produce small -p 3
check_fails "produce --file that does not exist fails" "--file /nonexistent/input: No such file or directory" \
  "$W" produce small --file /nonexistent/input
input_file=$(mktemp /tmp/wharf-cli-input.XXXXXX)
printf 'f1\nf2\n' >"$input_file"
run "$W" produce small --file "$input_file" -z zstd --acks 1
check_contains "produce --file with zstd and acks=1" "2 record(s) delivered to small" "$ERR"
# A line longer than any record can be (64 MiB, the broker's largest batch) is skipped without
# being held whole, reported, and the lines around it are delivered.
{ echo before; head -c $((64 * 1024 * 1024 + 1)) /dev/zero | tr '\0' x; echo; echo after; } \
  >"$input_file"
run "$W" produce small --file "$input_file"
check "a line over 64 MiB makes produce exit 1" 1 "$RC"
check_contains "the summary names it" \
  "1 record(s) refused by the client: line longer than 67108864 bytes, skipped (the first: line 2)" \
  "$ERR"
check_contains "the lines around it are delivered" "2 record(s) delivered to small" "$ERR"
rm -f "$input_file"
run_in "auto" "$W" produce autocreated
check "produce to a missing topic lets the cluster auto-create it" 0 "$RC"

echo "== topic delete"
run "$W" topic delete small nosuch
check "delete with one unknown topic exits 1" 1 "$RC"
check "the known topic is deleted anyway" "deleted topic small" "$OUT"
check_contains "the unknown one is reported" "wharf topic delete: nosuch:" "$ERR"
run "$W" topic list
check "topic list no longer shows it" "" "$(row small <<<"$OUT")"

echo "== a cluster without auto-creation"
stop_broker || failed "broker stopped cleanly"
start_broker --auto-create-topics false || exit 1
export WHARF_BOOTSTRAP=$BROKER
check_fails "produce to a missing topic fails fast when the cluster will not create it" \
  "topic 'ghost' does not exist and the cluster did not create it" "$W" produce ghost
run "$W" consume orders --from-beginning -e -q
check "records survived the restart" 1000 "$(wc -l <<<"$OUT")"

echo "== unreachable cluster"
DEAD=$BROKER
stop_broker || failed "broker stopped cleanly"
for c in "topic list" "topic describe orders" "group list" "consume orders" "produce orders"; do
  started=$(date +%s%N)
  # shellcheck disable=SC2086
  check_fails "$c against a dead broker fails within the timeout" "cannot reach $DEAD within 1 s" \
    "$W" -b "$DEAD" $c --timeout 1
  elapsed_ms=$((($(date +%s%N) - started) / 1000000))
  check "$c gives up in about a second (took ${elapsed_ms} ms)" 1 "$((elapsed_ms < 5000))"
done
check_contains "the reason names the refusal" "Connection refused" "$ERR"
WHARF_TIMEOUT=1 run "$W" -b "$DEAD" group list
check_contains "WHARF_TIMEOUT sets the timeout" "within 1 s" "$ERR"

echo "cli: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
