#!/usr/bin/python3
"""Log compaction through confluent-kafka (librdkafka 2.0.2) against the real broker: a topic
with cleanup.policy=compact and small segments gets several values per key and some tombstones;
once the log cleaner has run (polled, bounded, no timing assertion) a consumer reading from the
beginning sees exactly the latest value of every key, at the offset its producer was given, and
the tombstones, which go once delete.retention.ms has passed. A record without a key is
refused with INVALID_RECORD, as Kafka does.

Run with Debian's /usr/bin/python3 (python3-confluent-kafka), with WHARF_BIN naming the wharf
binary (ctest sets it). The broker helper is admin_test.py's.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import admin_test  # noqa: E402  (the Broker helper and its test base)
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import NewTopic  # noqa: E402

TIMEOUT_S = admin_test.TIMEOUT_S
# How long to wait for the cleaner (it runs every 100 ms here; a run takes milliseconds).
CLEANER_WAIT_S = 60
KEYS = 20
ROUNDS = 5
DELETED = ("k3", "k7", "k11")


class CompactionTest(admin_test.BrokerTestCase):
    # The cleaner runs every 100 ms, throttled to 1 MiB/s (so the throttle's path runs too).
    extra_args = ("--set", "log.cleaner.backoff.ms=100",
                  "--set", "log.cleaner.io.max.bytes.per.second=1048576")

    def create_compacted(self, name, delete_retention_ms):
        topic = NewTopic(name, 1, 1, config={
            "cleanup.policy": "compact",
            "segment.bytes": "4096",
            # An idle active segment is rolled after this, so the last values get compacted too.
            "segment.ms": "500",
            "delete.retention.ms": str(delete_retention_ms),
            # Clean whenever anything new was written (the default 0.5 waits until the bytes
            # written since the last cleaning are half of the log).
            "min.cleanable.dirty.ratio": "0.01",
        })
        self.assertEqual(self.create(topic), {name: None})

    def produce(self, topic):
        """Writes ROUNDS values of every key, then tombstones; returns key -> (value, offset)."""
        latest = {}
        errors = []

        def delivered(err, msg):
            if err is not None:
                errors.append(err)
            else:
                latest[msg.key().decode()] = (msg.value(), msg.offset())

        p = Producer({"bootstrap.servers": self.broker.bootstrap, "linger.ms": 5})
        for r in range(ROUNDS):
            for k in range(KEYS):
                value = f"r{r}-k{k}-".encode() + b"x" * 200
                p.produce(topic, key=f"k{k}", value=value, on_delivery=delivered)
            p.flush(TIMEOUT_S)
        for key in DELETED:
            p.produce(topic, key=key, value=None, on_delivery=delivered)
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        self.assertEqual(errors, [])
        self.assertEqual(len(latest), KEYS)
        return latest

    def consume_all(self, topic):
        """Every record from the beginning to the end of the partition: [(key, value, offset)]."""
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": f"read-{topic}",
                      "enable.auto.commit": False, "enable.partition.eof": True})
        try:
            c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
            out = []
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                msg = c.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        return out
                    self.fail(f"consuming {topic}: {msg.error()}")
                out.append((msg.key().decode(), msg.value(), msg.offset()))
            self.fail(f"consuming {topic}: no end of partition within {TIMEOUT_S} s")
        finally:
            c.close()

    def wait_until(self, topic, done):
        """Consumes `topic` until done(records) holds; returns those records."""
        deadline = time.monotonic() + CLEANER_WAIT_S
        while True:
            records = self.consume_all(topic)
            if done(records):
                return records
            if time.monotonic() > deadline:
                self.fail(f"{topic} was not compacted within {CLEANER_WAIT_S} s; it holds "
                          f"{len(records)} records: {[(k, o) for k, _, o in records]}")
            time.sleep(0.5)

    def test_latest_value_per_key_remains_with_tombstones_until_delete_retention(self):
        self.create_compacted("state", delete_retention_ms=3_600_000)
        latest = self.produce("state")

        records = self.wait_until("state", lambda rs: len(rs) == KEYS)
        self.assertEqual({k: (v, o) for k, v, o in records}, latest)
        self.assertEqual(sorted(k for k, v, _ in records if v is None), sorted(DELETED))
        offsets = [o for _, _, o in records]
        self.assertEqual(offsets, sorted(offsets))

    def test_tombstones_go_after_delete_retention(self):
        self.create_compacted("state-short", delete_retention_ms=2000)
        latest = self.produce("state-short")
        for key in DELETED:
            del latest[key]
        records = self.wait_until("state-short", lambda rs: len(rs) == KEYS - len(DELETED))
        self.assertEqual({k: (v, o) for k, v, o in records}, latest)

    def test_a_record_without_a_key_is_refused_with_invalid_record(self):
        self.create_compacted("state-keys", delete_retention_ms=3_600_000)
        outcome = []
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "retries": 0})
        p.produce("state-keys", value=b"no key", on_delivery=lambda err, msg: outcome.append(err))
        p.produce("state-keys", key=b"k", value=b"keyed",
                  on_delivery=lambda err, msg: outcome.append(err))
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        self.assertEqual(len(outcome), 2)
        codes = sorted((e.code() if e is not None else 0) for e in outcome)
        # Both records may travel in one batch, which is refused whole, as Kafka does.
        self.assertIn(codes, ([0, KafkaError.INVALID_RECORD],
                              [KafkaError.INVALID_RECORD, KafkaError.INVALID_RECORD]))


if __name__ == "__main__":
    unittest.main()
