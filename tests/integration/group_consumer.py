"""A confluent-kafka (Python) group consumer, the twin of group_consumer.cc for group_test.cc.

Run with Debian's /usr/bin/python3 (python3-confluent-kafka). It subscribes to one topic,
commits synchronously after each batch of records, and writes the same flushed lines as
group_consumer.cc on stdout:

  assigned <p,p,...> / revoked <p,p,...> / rec <partition> <offset> <key> <value> /
  commit <p>:<o>,... / commit-failed <p>:<error>,... / error <text> / closed

SIGTERM ends the loop; close() then leaves the group. Exits after --max-seconds regardless.
"""

import argparse
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

stop = False


def on_signal(_signum, _frame):
    global stop
    stop = True


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parts_text(partitions):
    return ",".join(str(p.partition) for p in partitions) or "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--client-id", default="group-consumer-py")
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    ap.add_argument("--heartbeat-interval-ms", type=int, default=500)
    ap.add_argument("--max-seconds", type=int, default=300)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": args.client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": args.session_timeout_ms,
        "heartbeat.interval.ms": args.heartbeat_interval_ms,
    })
    pending = {}  # partition -> next offset to read, consumed but not committed

    def commit(only=None):
        offsets = [TopicPartition(args.topic, p, o) for p, o in sorted(pending.items())
                   if only is None or p in only]
        for tp in offsets:
            del pending[tp.partition]
        if not offsets:
            return
        try:
            result = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            emit("commit-failed " + ",".join(f"{tp.partition}:{e.args[0].name()}" for tp in offsets))
            return
        ok = [f"{tp.partition}:{tp.offset}" for tp in result if tp.error is None]
        failed = [f"{tp.partition}:{tp.error.name()}" for tp in result if tp.error is not None]
        if ok:
            emit("commit " + ",".join(ok))
        if failed:
            emit("commit-failed " + ",".join(failed))

    def on_assign(_consumer, partitions):
        emit("assigned " + parts_text(partitions))

    def on_revoke(_consumer, partitions):
        commit({p.partition for p in partitions})
        emit("revoked " + parts_text(partitions))

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
    give_up = time.monotonic() + args.max_seconds
    while not stop and time.monotonic() < give_up:
        for m in consumer.consume(num_messages=500, timeout=0.1):
            if m.error():
                emit(f"error {m.error()}")
                continue
            key = m.key().decode() if m.key() is not None else "-"
            emit(f"rec {m.partition()} {m.offset()} {key} {m.value().decode()}")
            pending[m.partition()] = m.offset() + 1
        commit()
    commit()
    consumer.close()
    emit("closed")


if __name__ == "__main__":
    main()
