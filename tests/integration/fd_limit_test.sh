#!/usr/bin/env bash
# Out of file descriptors (issue 9, defect 3). A broker started with too low a limit refuses to
# start and says why; one that runs out later (partitions created after start) backs off in its
# accept loop instead of spinning, logs the failure once per interval, says "too many open
# files" when a create fails, and keeps serving the connections it has.
set -uo pipefail
WHARF=${WHARF_BIN:?set WHARF_BIN to the wharf binary}
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DIR=$(mktemp -d /tmp/wharf-fd-limit.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$DIR"' EXIT
passed=0; failed=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

# 1. A limit that cannot hold connections.max: refused at start, with the numbers.
KPORT=$(free_port)
(ulimit -n 256; exec timeout 20 "$WHARF" serve --data-dir "$DIR/a" --listen 127.0.0.1:$KPORT \
   --set offsets.topic.num.partitions=1) >"$DIR/a.log" 2>&1
status=$?
check "refuses to start under a 256-descriptor limit" test "$status" -ne 0 -a "$status" -ne 124
check "says which limit and what to do" grep -q "open-file limit is 256.*connections.max" "$DIR/a.log"

# 2. Enough to start, then partitions eat the rest: accept fails and must back off.
KPORT=$(free_port)
(ulimit -n 900; exec "$WHARF" serve --data-dir "$DIR/b" --listen 127.0.0.1:$KPORT \
   --set offsets.topic.num.partitions=1 --set connections.max=200) >"$DIR/b.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do grep -q '^ready$' "$DIR/b.log" && break; sleep 0.1; done
check "starts with room for connections.max" grep -q '^ready$' "$DIR/b.log"
# Topics of 50 partitions (150 descriptors each) until a create fails: the descriptors of the
# ones that succeeded stay in use.
/usr/bin/python3 - "$KPORT" >"$DIR/create.out" 2>&1 <<'PY'
from confluent_kafka.admin import AdminClient, NewTopic
import sys
a = AdminClient({'bootstrap.servers': '127.0.0.1:' + sys.argv[1]})
for i in range(20):
    try:
        a.create_topics([NewTopic(f'many{i}', 50, 1)], request_timeout=60)[f'many{i}'].result()
        print('created', i)
    except Exception as e:
        print('error', e)
        break
PY
check "the failed create says 'too many open files'" grep -q "too many open files" "$DIR/create.out"
# Now open connections until accept fails, and hold them: the broker must not spin. The
# broker's CPU time is read from /proc while they wait (2 s of wall time is 200 ticks; a
# spinning accept loop burns nearly all of them).
ticks=$(/usr/bin/python3 - "$KPORT" "$PID" <<'PY'
import socket, sys, time
def cpu(pid):
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return int(f[11]) + int(f[12])
socks = []
for _ in range(300):
    try:
        socks.append(socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2))
    except OSError:
        break
time.sleep(1)
before = cpu(sys.argv[2])
time.sleep(2)
print(cpu(sys.argv[2]) - before)
PY
)
accept_lines=$(grep -c 'accept:' "$DIR/b.log")
check "accept failed and was logged at most a few times ($accept_lines lines)" test "$accept_lines" -ge 1 -a "$accept_lines" -le 3
check "not spinning while connections wait ($ticks ticks in 2 s)" test "${ticks:-999}" -lt 60
check "still serving" bash -c "kcat -b 127.0.0.1:$KPORT -L -m 5 >/dev/null 2>&1"
kill -TERM $PID; wait $PID; PID=
echo "fd-limit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
