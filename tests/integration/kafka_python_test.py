#!/usr/bin/python3
"""kafka-python 2.0.2 (Debian's python3-kafka, a pure-Python client) against the real broker:
produce with every codec (checked by what comes back and by the size of the stored log), a
consumer group that commits part of a topic, closes, and a second consumer in the same group
that gets exactly the rest, the KafkaAdminClient (topics, configs, partitions, groups) and
offsets (committed, listed by the admin client, earliest/latest/for a time).

kafka-python 2.0.2 has no idempotent producer (no enable.idempotence): that flow is skipped
with its reason. Run with Debian's /usr/bin/python3, with WHARF_BIN naming the wharf binary
(ctest sets it). The broker helper is admin_test.py's.
"""

import glob
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import admin_test  # noqa: E402  (the Broker helper and its test base)
import kafka  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic  # noqa: E402
from kafka.errors import (InvalidReplicationFactorError, TopicAlreadyExistsError,  # noqa: E402
                          UnknownTopicOrPartitionError)
from kafka.structs import OffsetAndMetadata  # noqa: E402

TIMEOUT_S = admin_test.TIMEOUT_S
CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
VALUE_PAD = "x" * 120


def value(prefix, i):
    return f"{prefix}-{i}-{VALUE_PAD}".encode()


class KafkaPythonTest(admin_test.BrokerTestCase):
    extra_args = ("--set", "group.initial.rebalance.delay.ms=0")

    @classmethod
    def new_admin(cls):
        return KafkaAdminClient(bootstrap_servers=cls.broker.bootstrap, client_id="kafka-python-admin",
                                request_timeout_ms=TIMEOUT_S * 1000)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        super().tearDownClass()

    def producer(self, **config):
        p = KafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all", **config)
        self.addCleanup(p.close)
        return p

    def consumer(self, **config):
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=TIMEOUT_S * 1000, **config)
        self.addCleanup(c.close, autocommit=False)
        return c

    def create_topic(self, name, partitions):
        self.admin.create_topics([NewTopic(name, partitions, 1)], timeout_ms=TIMEOUT_S * 1000)

    def produce(self, topic, partition, prefix, count, **config):
        """Sends count keyed records to one partition; returns their acknowledged offsets."""
        p = self.producer(**config)
        futures = [p.send(topic, key=f"k{i}".encode(), value=value(prefix, i), partition=partition)
                   for i in range(count)]
        p.flush(timeout=TIMEOUT_S)
        return [f.get(timeout=TIMEOUT_S).offset for f in futures]

    def read(self, topic, partition, count):
        """The first count records of one partition, read with an assign()ed consumer."""
        c = self.consumer()
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek_to_beginning(tp)
        records = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(records) < count and time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=500).values():
                records += [(r.offset, r.key.decode(), r.value) for r in batch]
        return records

    def test_produce_with_every_codec(self):
        for codec in CODECS:
            with self.subTest(codec=codec):
                topic = f"kp-codec-{codec or 'none'}"
                # One batch of 200 compressible records (linger gathers them).
                offsets = self.produce(topic, 0, str(codec), 200, compression_type=codec, linger_ms=200,
                                       batch_size=1 << 20)
                self.assertEqual(offsets, list(range(200)))
                self.assertEqual(self.read(topic, 0, 200),
                                 [(i, f"k{i}", value(str(codec), i)) for i in range(200)])
                # The broker keeps the client's batch as received: compressed ones stay small.
                logs = glob.glob(os.path.join(self.broker.data_dir, "data", "topics", topic, "0", "*.log"))
                size = sum(os.path.getsize(f) for f in logs)
                if codec is None:
                    self.assertGreater(size, 200 * 120)
                else:
                    self.assertLess(size, 6000, f"{codec}: the log should hold the compressed batch")

    def test_idempotent_producer(self):
        self.assertNotIn("enable_idempotence", KafkaProducer.DEFAULT_CONFIG)
        self.skipTest(f"kafka-python {kafka.__version__} has no idempotent producer")

    def test_group_consumes_part_commits_and_a_restarted_member_gets_exactly_the_rest(self):
        topic, group, partitions, per_partition = "kp-group", "kp-g", 3, 100
        self.create_topic(topic, partitions)
        everything = set()
        for p in range(partitions):
            self.produce(topic, p, f"p{p}", per_partition)
            everything |= {(p, i, f"k{i}") for i in range(per_partition)}

        # First member: take exactly 120 records, commit the offset after each partition's last.
        first = self.consumer(group_id=group)
        first.subscribe([topic])
        taken, next_offsets = set(), {}
        deadline = time.monotonic() + TIMEOUT_S
        while len(taken) < 120 and time.monotonic() < deadline:
            for tp, batch in first.poll(timeout_ms=500, max_records=50).items():
                for r in batch:
                    if len(taken) == 120:
                        break
                    self.assertEqual(r.value, value(f"p{tp.partition}", r.offset))
                    taken.add((tp.partition, r.offset, r.key.decode()))
                    next_offsets[tp] = r.offset + 1
        self.assertEqual(len(taken), 120)
        first.commit({tp: OffsetAndMetadata(o, "") for tp, o in next_offsets.items()})
        self.assertEqual({tp.partition: first.committed(tp) for tp in next_offsets},
                         {tp.partition: o for tp, o in next_offsets.items()})
        first.close(autocommit=False)

        listed = self.admin.list_consumer_group_offsets(group)
        self.assertEqual({tp.partition: om.offset for tp, om in listed.items() if tp.topic == topic},
                         {tp.partition: o for tp, o in next_offsets.items()})

        # Second member, same group: starts at the committed offsets.
        second = self.consumer(group_id=group)
        second.subscribe([topic])
        rest = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(rest) < 180 and time.monotonic() < deadline:
            for tp, batch in second.poll(timeout_ms=500).items():
                rest += [(tp.partition, r.offset, r.key.decode()) for r in batch]
        self.assertEqual(len(rest), len(set(rest)), "no record twice")
        self.assertEqual(set(rest), everything - taken, "exactly the records the first member did not commit")
        second.commit()
        end = second.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        self.assertEqual({tp.partition: o for tp, o in end.items()}, {p: per_partition for p in range(partitions)})
        self.assertEqual({tp.partition: second.committed(tp) for tp in end}, {p: per_partition for p in range(partitions)})
        second.close(autocommit=False)

        # The admin client sees the group, empty now, and its offsets at the end.
        self.assertIn((group, "consumer"), self.admin.list_consumer_groups())
        (described,) = self.admin.describe_consumer_groups([group])
        self.assertEqual((described.group, described.state, described.members), (group, "Empty", []))
        listed = self.admin.list_consumer_group_offsets(group)
        self.assertEqual({tp.partition: om.offset for tp, om in listed.items() if tp.topic == topic},
                         {p: per_partition for p in range(partitions)})

    def test_offsets_earliest_latest_and_for_a_time(self):
        topic = "kp-offsets"
        self.create_topic(topic, 1)
        self.produce(topic, 0, "early", 3)
        time.sleep(1.2)
        middle_ms = int(time.time() * 1000)
        time.sleep(1.2)
        self.produce(topic, 0, "late", 2)
        c = self.consumer()
        tp = TopicPartition(topic, 0)
        self.assertEqual(c.beginning_offsets([tp]), {tp: 0})
        self.assertEqual(c.end_offsets([tp]), {tp: 5})
        found = c.offsets_for_times({tp: middle_ms})[tp]
        self.assertEqual(found.offset, 3)
        self.assertGreaterEqual(found.timestamp, middle_ms)
        self.assertIsNone(c.offsets_for_times({tp: int(time.time() * 1000) + 60_000})[tp])

    def test_admin_creates_describes_grows_and_deletes_topics(self):
        self.admin.create_topics([NewTopic("kp-admin", 4, 1, topic_configs={"retention.ms": "3600000"})],
                                 timeout_ms=TIMEOUT_S * 1000)
        with self.assertRaises(TopicAlreadyExistsError):
            self.admin.create_topics([NewTopic("kp-admin", 1, 1)])
        with self.assertRaises(InvalidReplicationFactorError):
            self.admin.create_topics([NewTopic("kp-replicated", 1, 3)])
        self.assertIn("kp-admin", self.admin.list_topics())
        self.assertNotIn("kp-replicated", self.admin.list_topics())

        (described,) = self.admin.describe_topics(["kp-admin"])
        self.assertEqual(described["error_code"], 0)
        self.assertEqual(sorted((p["partition"], p["leader"], p["replicas"]) for p in described["partitions"]),
                         [(i, 0, [0]) for i in range(4)])
        cluster = self.admin.describe_cluster()
        self.assertEqual(([b["node_id"] for b in cluster["brokers"]], cluster["controller_id"]), ([0], 0))

        (response,) = self.admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "kp-admin", {"retention.ms": None, "cleanup.policy": None})])
        (resource,) = response.resources
        error_code, _message, _type, name, entries = resource
        self.assertEqual((error_code, name), (0, "kp-admin"))
        self.assertEqual({e[0]: e[1] for e in entries}, {"retention.ms": "3600000", "cleanup.policy": "delete"})

        self.admin.create_partitions({"kp-admin": NewPartitions(6)})
        (described,) = self.admin.describe_topics(["kp-admin"])
        self.assertEqual(len(described["partitions"]), 6)

        self.admin.delete_topics(["kp-admin"], timeout_ms=TIMEOUT_S * 1000)
        self.assertNotIn("kp-admin", self.admin.list_topics())
        with self.assertRaises(UnknownTopicOrPartitionError):
            self.admin.delete_topics(["kp-admin"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
