#!/usr/bin/python3
"""confluent-kafka-python 1.7.0 (Debian's python3-confluent-kafka, on librdkafka 2.0.2) against
the real broker: the Producer with every codec, plain and idempotent (checked by what comes back
and by the size of the stored log), a consumer group that commits part of a topic, closes, and a
second consumer in the same group that gets exactly the rest, and offsets (committed, watermarks,
for a time). The AdminClient is covered by admin_test.py, OffsetCommit's errors by
offset_commit_test.py.

Run with Debian's /usr/bin/python3, with WHARF_BIN naming the wharf binary (ctest sets it). The
broker helper is admin_test.py's.
"""

import glob
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import admin_test  # noqa: E402  (the Broker helper and its test base)
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

TIMEOUT_S = admin_test.TIMEOUT_S
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
VALUE_PAD = "x" * 120


def value(prefix, i):
    return f"{prefix}-{i}-{VALUE_PAD}".encode()


class ConfluentPythonTest(admin_test.BrokerTestCase):
    extra_args = ("--set", "group.initial.rebalance.delay.ms=0")

    def consumer(self, **config):
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, **config})
        self.addCleanup(self.close_quietly, c)
        return c

    @staticmethod
    def close_quietly(consumer):
        try:
            consumer.close()
        except RuntimeError:  # already closed
            pass

    def create_topic(self, name, partitions):
        errors = admin_test.results(self.admin.create_topics([NewTopic(name, partitions, 1)],
                                                             request_timeout=TIMEOUT_S))
        self.assertEqual(errors, {name: None})

    def produce(self, topic, partition, prefix, count, **config):
        """Sends count keyed records to one partition; returns the acknowledged offsets in order."""
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "acks": "all", **config})
        acked, failed = [], []

        def on_delivery(err, msg):
            if err is not None:
                failed.append(err)
            else:
                acked.append(msg.offset())

        for i in range(count):
            p.produce(topic, key=f"k{i}".encode(), value=value(prefix, i), partition=partition,
                      on_delivery=on_delivery)
        self.assertEqual(p.flush(TIMEOUT_S), 0, "every record delivered")
        self.assertEqual(failed, [])
        return acked

    def read(self, topic, partition, count):
        c = self.consumer(**{"group.id": "reader"})
        c.assign([TopicPartition(topic, partition, 0)])
        records = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(records) < count and time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.5):
                self.assertIsNone(m.error())
                records.append((m.offset(), m.key().decode(), m.value()))
        c.close()
        return records

    def log_size(self, topic, partition):
        logs = glob.glob(os.path.join(self.broker.data_dir, "data", "topics", topic, str(partition), "*.log"))
        return sum(os.path.getsize(f) for f in logs)

    def check_codec(self, topic, codec, **config):
        offsets = self.produce(topic, 0, codec, 200, **{"compression.codec": codec, "linger.ms": 200}, **config)
        self.assertEqual(offsets, list(range(200)))
        self.assertEqual(self.read(topic, 0, 200), [(i, f"k{i}", value(codec, i)) for i in range(200)])
        # The broker keeps the client's batch as received: compressed ones stay small.
        if codec == "none":
            self.assertGreater(self.log_size(topic, 0), 200 * 120)
        else:
            self.assertLess(self.log_size(topic, 0), 6000, f"{codec}: the log should hold the compressed batch")

    def test_produce_with_every_codec(self):
        for codec in CODECS:
            with self.subTest(codec=codec):
                self.check_codec(f"cp-codec-{codec}", codec)

    def test_idempotent_produce_with_every_codec(self):
        for codec in CODECS:
            with self.subTest(codec=codec):
                self.check_codec(f"cp-idem-{codec}", codec, **{"enable.idempotence": True})

    def test_group_consumes_part_commits_and_a_restarted_member_gets_exactly_the_rest(self):
        topic, group, partitions, per_partition = "cp-group", "cp-g", 3, 100
        self.create_topic(topic, partitions)
        everything = set()
        for p in range(partitions):
            self.produce(topic, p, f"p{p}", per_partition)
            everything |= {(p, i, f"k{i}") for i in range(per_partition)}

        # First member: take exactly 120 records, commit the offset after each partition's last.
        first = self.consumer(**{"group.id": group})
        first.subscribe([topic])
        taken, next_offsets = set(), {}
        deadline = time.monotonic() + TIMEOUT_S
        while len(taken) < 120 and time.monotonic() < deadline:
            for m in first.consume(num_messages=50, timeout=0.5):
                self.assertIsNone(m.error())
                if len(taken) == 120:
                    break
                self.assertEqual(m.value(), value(f"p{m.partition()}", m.offset()))
                taken.add((m.partition(), m.offset(), m.key().decode()))
                next_offsets[m.partition()] = m.offset() + 1
        self.assertEqual(len(taken), 120)
        committed = first.commit(offsets=[TopicPartition(topic, p, o) for p, o in next_offsets.items()],
                                 asynchronous=False)
        self.assertEqual({tp.partition: (tp.offset, tp.error) for tp in committed},
                         {p: (o, None) for p, o in next_offsets.items()})
        first.close()

        # Second member, same group: starts at the committed offsets.
        second = self.consumer(**{"group.id": group})
        all_partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.assertEqual({tp.partition: tp.offset for tp in second.committed(all_partitions, timeout=TIMEOUT_S)},
                         {p: next_offsets.get(p, -1001) for p in range(partitions)})
        second.subscribe([topic])
        rest = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(rest) < 180 and time.monotonic() < deadline:
            for m in second.consume(num_messages=500, timeout=0.5):
                self.assertIsNone(m.error())
                rest.append((m.partition(), m.offset(), m.key().decode()))
        self.assertEqual(len(rest), len(set(rest)), "no record twice")
        self.assertEqual(set(rest), everything - taken, "exactly the records the first member did not commit")
        second.commit(asynchronous=False)
        self.assertEqual({tp.partition: tp.offset for tp in second.committed(all_partitions, timeout=TIMEOUT_S)},
                         {p: per_partition for p in range(partitions)})
        for tp in all_partitions:
            self.assertEqual(second.get_watermark_offsets(tp, timeout=TIMEOUT_S), (0, per_partition))
        second.close()

        # The group is Empty now, and known to the admin client.
        (listed,) = [g for g in self.admin.list_groups(group, timeout=TIMEOUT_S)]
        self.assertEqual((listed.id, listed.state, listed.members), (group, "Empty", []))

    def test_offsets_for_a_time(self):
        topic = "cp-offsets"
        self.create_topic(topic, 1)
        self.produce(topic, 0, "early", 3)
        time.sleep(1.2)
        middle_ms = int(time.time() * 1000)
        time.sleep(1.2)
        self.produce(topic, 0, "late", 2)
        c = self.consumer(**{"group.id": "times"})
        tp = TopicPartition(topic, 0)
        self.assertEqual(c.get_watermark_offsets(tp, timeout=TIMEOUT_S), (0, 5))
        (found,) = c.offsets_for_times([TopicPartition(topic, 0, middle_ms)], timeout=TIMEOUT_S)
        self.assertEqual((found.offset, found.error), (3, None))
        (found,) = c.offsets_for_times([TopicPartition(topic, 0, 0)], timeout=TIMEOUT_S)
        self.assertEqual(found.offset, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
