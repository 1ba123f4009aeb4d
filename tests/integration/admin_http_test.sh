#!/usr/bin/env bash
# The admin HTTP API of a real broker: /healthz, /readyz, /metrics (checked by Prometheus's own
# promtool), and the JSON endpoints, after real traffic from kcat (produce, group consume).
set -uo pipefail
WHARF=${WHARF_BIN:?set WHARF_BIN to the wharf binary}
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
KPORT=$(free_port); APORT=$(free_port)
DATA=$(mktemp -d /tmp/wharf-admin-it.XXXXXX)
"$WHARF" serve --data-dir "$DATA/data" --listen 127.0.0.1:$KPORT --admin 127.0.0.1:$APORT \
  --set group.initial.rebalance.delay.ms=0 >"$DATA/broker.log" 2>&1 &
PID=$!
trap 'kill -9 $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do grep -q '^ready$' "$DATA/broker.log" && break; sleep 0.1; done
passed=0; failed=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
URL=http://127.0.0.1:$APORT
check "startup prints the admin URL" grep -q "admin http      http://127.0.0.1:$APORT/metrics" "$DATA/broker.log"
check "healthz" test "$(curl -s $URL/healthz)" = "ok"
check "readyz while serving" test "$(curl -s -o /dev/null -w '%{http_code}' $URL/readyz)" = "200"
check "unknown path is 404" test "$(curl -s -o /dev/null -w '%{http_code}' $URL/nope)" = "404"
check "POST is refused" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST $URL/metrics)" = "405"

seq 1 1000 | awk '{print "k" $1 ":v" $1}' | kcat -b 127.0.0.1:$KPORT -P -t orders -K : -X enable.idempotence=true
timeout 30 kcat -b 127.0.0.1:$KPORT -G billing -o beginning orders -e -q >/dev/null 2>&1
sleep 1
METRICS=$(curl -s $URL/metrics)
echo "$METRICS" > "$DATA/metrics.txt"
check "promtool accepts /metrics" promtool check metrics < "$DATA/metrics.txt"
has() { grep -qE "$1" "$DATA/metrics.txt"; }
check "records in per partition" has '^wharf_partition_records_in_total\{topic="orders",partition="0"\} 1000$'
check "bytes out per partition" has '^wharf_partition_bytes_out_total\{topic="orders",partition="0"\} [1-9]'
check "request latency histogram per API" has '^wharf_request_duration_seconds_bucket\{api="Produce",le="\+Inf"\} [1-9]'
check "requests per API" has '^wharf_requests_total\{api="ApiVersions"\} [1-9]'
check "sync latency histogram" has '^wharf_log_sync_duration_seconds_count [1-9]'
check "connections gauge" has '^wharf_connections [0-9]'
check "partition size" has '^wharf_partition_size_bytes\{topic="orders",partition="0"\} [1-9]'
check "group committed offset" has '^wharf_group_committed_offset\{group="billing",topic="orders",partition="0"\} 1000$'
check "group lag" has '^wharf_group_lag\{group="billing",topic="orders",partition="0"\} 0$'
check "group rebalances" has '^wharf_group_rebalances_total\{group="billing"\} [1-9]'
check "group skew" has '^wharf_group_topic_lag_skew\{group="billing",topic="orders"\} '

TOPICS=$(curl -s $URL/v1/topics)
check "/v1/topics lists orders" /usr/bin/python3 -c "import json,sys; t={x['name']:x for x in json.loads(sys.argv[1])}; assert t['orders']['partitions']==1 and t['__consumer_offsets']['internal']" "$TOPICS"
TOPIC=$(curl -s $URL/v1/topics/orders)
check "/v1/topics/orders has offsets" /usr/bin/python3 -c "import json,sys; t=json.loads(sys.argv[1]); p=t['partitions'][0]; assert p['high_watermark']==1000 and p['size_bytes']>0 and t['configs']['sync.policy']=='always'" "$TOPIC"
check "/v1/topics/missing is 404" test "$(curl -s -o /dev/null -w '%{http_code}' $URL/v1/topics/missing)" = "404"
GROUPS_JSON=$(curl -s $URL/v1/groups)
check "/v1/groups lists billing" /usr/bin/python3 -c "import json,sys; g={x['group']:x for x in json.loads(sys.argv[1])}; assert 'billing' in g" "$GROUPS_JSON"
GROUP=$(curl -s $URL/v1/groups/billing)
check "/v1/groups/billing shows lag 0 at offset 1000" /usr/bin/python3 -c "import json,sys; g=json.loads(sys.argv[1]); p=g['partitions'][0]; assert p['committed_offset']==1000 and p['lag']==0 and g['total_lag']==0" "$GROUP"

# More records arrive: lag appears.
seq 1 250 | kcat -b 127.0.0.1:$KPORT -P -t orders
check "lag grows with new records" /usr/bin/python3 -c "import json,urllib.request; g=json.load(urllib.request.urlopen('$URL/v1/groups/billing')); assert g['total_lag']==250, g"

# Issue 9, defect 8: a group id that is not UTF-8 must not break /v1/groups or the scrape. Sent
# by hand (OffsetCommit v2, a "simple" commit with generation -1), as no client library would.
commit_bad_group() {
  /usr/bin/python3 - "$KPORT" <<'PY'
import socket, struct, sys
def s16(b): return struct.pack('>h', len(b)) + b
group = b'bad\xff\xfegroup\xc0'
body = s16(group) + struct.pack('>i', -1) + s16(b'') + struct.pack('>q', -1)
body += struct.pack('>i', 1) + s16(b'orders') + struct.pack('>i', 1) + struct.pack('>iq', 0, 5) + s16(b'')
req = struct.pack('>hhi', 8, 2, 77) + s16(b'admin-http-test') + body
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
c.sendall(struct.pack('>i', len(req)) + req)
size = struct.unpack('>i', c.recv(4, socket.MSG_WAITALL))[0]
resp = c.recv(size, socket.MSG_WAITALL)
# correlation id, topics: 1, name, partitions: 1, index, error code
corr, = struct.unpack_from('>i', resp, 0)
name_len, = struct.unpack_from('>h', resp, 8)
err, = struct.unpack_from('>h', resp, 8 + 2 + name_len + 4 + 4)
sys.exit(0 if corr == 77 and err == 0 else 1)
PY
}
check "a commit for a non-UTF-8 group id is accepted" commit_bad_group
check "/v1/groups answers 200 with a non-UTF-8 group" test "$(curl -s -o /dev/null -w '%{http_code}' $URL/v1/groups)" = "200"
check "/v1/groups is valid JSON and shows the group" /usr/bin/python3 -c "import json,urllib.request; g=json.load(urllib.request.urlopen('$URL/v1/groups')); assert any(x['group'].startswith('bad') for x in g), g"
check "/v1/groups/NAME finds it percent-encoded" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/groups/bad%FF%FEgroup%C0")" = "200"
check "/v1/topics/%FF is 404, not 500" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/topics/%FF")" = "404"
check "a raw 0xFF byte in the name is 404, not 500" test "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL/v1/topics/$(printf '\xff')")" = "404"
check "a malformed escape is 400" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/topics/%F")" = "400"
curl -s $URL/metrics > "$DATA/metrics2.txt"
check "promtool still accepts /metrics with the bad group" promtool check metrics < "$DATA/metrics2.txt"
check "the bad group's lag is scraped" grep -qE '^wharf_group_committed_offset\{group="bad' "$DATA/metrics2.txt"

# Idle admin connections (more than the 256 allowed) cannot lock out health probes.
idle_then_probe() {
  /usr/bin/python3 - "$APORT" <<'PY'
import socket, sys, urllib.request
port = int(sys.argv[1])
idle = [socket.create_connection(('127.0.0.1', port), timeout=5) for _ in range(300)]
body = urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=8).read()
sys.exit(0 if body == b'ok\n' else 1)
PY
}
check "healthz answers with 300 idle admin connections open" idle_then_probe

# Dead-letter topics (<topic>.dlq) are listed with their counts; other topics are not.
seq 1 3 | kcat -b 127.0.0.1:$KPORT -P -t orders.dlq
DLQ=$(curl -s $URL/v1/dead-letters)
check "/v1/dead-letters lists orders.dlq with 3" /usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert [(x['topic'], x['source_topic'], x['dead_letters']) for x in d]==[('orders.dlq','orders',3)], d" "$DLQ"

kill -TERM $PID; wait $PID
echo "admin-http: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
