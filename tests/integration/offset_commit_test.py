#!/usr/bin/python3
"""OffsetCommit for partitions the broker does not have, through confluent-kafka's Consumer
(librdkafka 2.0.2) against the real broker: as Kafka, each such partition gets
UNKNOWN_TOPIC_OR_PARTITION (3) and nothing is stored for it, while the other partitions of the
same request are committed; OffsetFetch afterwards returns nothing for the refused ones, also
after a restart (so nothing reached __consumer_offsets).

Run with Debian's /usr/bin/python3 (python3-confluent-kafka), with WHARF_BIN naming the wharf
binary (ctest sets it). The broker helper is admin_test.py's.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import admin_test  # noqa: E402  (the Broker helper and its test base)
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

TIMEOUT_S = admin_test.TIMEOUT_S
# What Consumer.committed() reports for a partition with no committed offset.
OFFSET_INVALID = -1001


class OffsetCommitUnknownPartitionTest(admin_test.BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        errors = admin_test.results(cls.admin.create_topics([NewTopic("orders", 2, 1)],
                                                            request_timeout=TIMEOUT_S))
        if errors != {"orders": None}:
            raise AssertionError(f"creating the topic: {errors}")

    def consumer(self, group):
        # assign()-style use: no subscription, so commits go out with generation -1, as admin
        # tools' offset resets do (AlterConsumerGroupOffsets is the same OffsetCommit).
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": group,
                      "enable.auto.commit": False})
        self.addCleanup(self.close_quietly, c)
        return c

    @staticmethod
    def close_quietly(consumer):
        try:
            consumer.close()
        except RuntimeError:  # already closed
            pass

    def commit(self, consumer, offsets):
        """{(topic, partition): None or the KafkaError code} for one synchronous commit."""
        try:
            committed = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            # librdkafka reports a commit with a failed partition as an error of the whole call;
            # the per-partition outcome is then read back with committed() below.
            return {"error": e.args[0].code()}
        return {(tp.topic, tp.partition): (tp.error.code() if tp.error else None)
                for tp in committed}

    def committed(self, consumer, partitions):
        got = consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=TIMEOUT_S)
        return {(tp.topic, tp.partition): tp.offset for tp in got}

    def test_unknown_topic_gets_error_3_and_nothing_is_stored(self):
        c = self.consumer("g-unknown-topic")
        outcome = self.commit(c, [TopicPartition("nosuch", 0, 5)])
        self.assertIn(outcome, ({"error": KafkaError.UNKNOWN_TOPIC_OR_PART},
                                {("nosuch", 0): KafkaError.UNKNOWN_TOPIC_OR_PART}))
        self.assertEqual(self.committed(c, [("nosuch", 0)]), {("nosuch", 0): OFFSET_INVALID})

    def test_unknown_partition_is_refused_and_the_others_in_the_request_are_committed(self):
        c = self.consumer("g-mixed")
        outcome = self.commit(c, [TopicPartition("orders", 0, 7), TopicPartition("orders", 5, 9),
                                  TopicPartition("nosuch", 0, 5)])
        if "error" in outcome:
            self.assertEqual(outcome["error"], KafkaError.UNKNOWN_TOPIC_OR_PART)
        else:
            self.assertEqual(outcome, {("orders", 0): None,
                                       ("orders", 5): KafkaError.UNKNOWN_TOPIC_OR_PART,
                                       ("nosuch", 0): KafkaError.UNKNOWN_TOPIC_OR_PART})
        expected = {("orders", 0): 7, ("orders", 5): OFFSET_INVALID, ("nosuch", 0): OFFSET_INVALID}
        self.assertEqual(self.committed(c, expected.keys()), expected)

        # Nothing was written to __consumer_offsets for the refused partitions: a restart,
        # which replays that topic, brings back only orders/0.
        c.close()
        type(self).admin = None
        self.assertEqual(self.broker.stop(), 0, self.broker.output.decode(errors="replace"))
        self.broker.start()  # same port and data directory
        type(self).admin = self.new_admin()
        after = self.consumer("g-mixed")
        self.assertEqual(self.committed(after, expected.keys()), expected)


if __name__ == "__main__":
    unittest.main(verbosity=2)
