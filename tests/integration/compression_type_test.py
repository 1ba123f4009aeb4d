#!/usr/bin/python3
"""The topic config compression.type applied on produce, with real clients against the real
broker: for each topic setting (gzip, snappy, lz4, zstd, uncompressed) a producer using another
codec writes records of every shape (null and empty keys and values, binary values, headers,
explicit timestamps); a consumer gets every record back byte for byte, and `wharf dump-segment`
shows each stored batch with the topic's codec. Producers are confluent-kafka (librdkafka
2.0.2, idempotent) and kafka-python 2.0.2; both clients read every topic back, so the broker's
gzip, xerial snappy, LZ4 frame and zstd output is decoded by librdkafka and by python-snappy,
python-lz4 and python-zstandard. Also: AlterConfigs changes the codec for the next batches
only, `producer` keeps the producer's codec, and a batch that would exceed max.message.bytes
once stored uncompressed is refused with MESSAGE_TOO_LARGE.

Run with Debian's /usr/bin/python3 (python3-confluent-kafka, python3-kafka, python3-snappy,
python3-lz4, python3-zstandard), with WHARF_BIN naming the wharf binary (ctest sets it). The
Broker class and test base are admin_test.py's.
"""

import glob
import os
import random
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import admin_test  # noqa: E402  (the Broker class and its test base)
from confluent_kafka import (TIMESTAMP_CREATE_TIME, Consumer, KafkaError, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import ConfigResource, NewTopic  # noqa: E402

try:
    import kafka  # noqa: E402
    KAFKA_PYTHON_MISSING = None
except ImportError as e:  # python3-kafka is in the Makefile's DEB_PACKAGES
    KAFKA_PYTHON_MISSING = f"kafka-python is not installed ({e})"

TIMEOUT_S = admin_test.TIMEOUT_S
# Codec numbers in a batch's attributes (and in dump-segment's "compression N").
CODEC_ID = {"uncompressed": 0, "none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
# topic compression.type -> the confluent-kafka producer's codec, the kafka-python producer's.
CASES = [
    ("gzip", "lz4", "snappy"),
    ("snappy", "zstd", None),
    ("lz4", "none", "gzip"),
    ("zstd", "gzip", "lz4"),
    ("uncompressed", "snappy", "zstd"),
]
COUNT = 300
BASE_TS = 1_700_000_000_000


def records(prefix, count):
    """[(key, value, headers, timestamp_ms)]: every shape a record can take, seeded by prefix."""
    rng = random.Random(prefix)
    out = []
    for i in range(count):
        shape = i % 6
        key = None if shape == 0 else b"" if shape == 1 else f"{prefix}-{i}".encode()
        if shape == 2:
            value = None
        elif shape == 3:
            value = b""
        elif shape == 4:  # noise does not compress
            value = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        else:  # text compresses well
            value = (f"{prefix} record {i} " * rng.randrange(1, 40)).encode()
        headers = [("i", str(i).encode()), ("empty", b"")] if i % 4 == 0 else []
        out.append((key, value, headers, BASE_TS + i * 7))
    return out


class CompressionTypeTest(admin_test.BrokerTestCase):
    def create_topic(self, name, **config):
        self.assertEqual(self.create(NewTopic(name, 1, 1, config=config)), {name: None})

    def set_compression_type(self, topic, value):
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic,
                                  set_config={"compression.type": value})
        self.assertEqual(admin_test.results(self.admin.alter_configs([resource],
                                                                     request_timeout=TIMEOUT_S)),
                         {topic: None})
        self.assertEqual(self.topic_configs(topic)["compression.type"].value, value)

    def produce_confluent(self, topic, rows, codec):
        """Produces rows with an idempotent librdkafka producer; returns the acked offsets."""
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "enable.idempotence": True,
                      "compression.codec": codec, "linger.ms": 100})
        acked, failed = [], []

        def on_delivery(err, msg):
            (failed if err is not None else acked).append(err if err is not None else msg.offset())

        for key, value, headers, ts in rows:
            p.produce(topic, key=key, value=value, headers=headers, timestamp=ts, partition=0,
                      on_delivery=on_delivery)
        self.assertEqual(p.flush(TIMEOUT_S), 0, "every record delivered")
        self.assertEqual(failed, [])
        return sorted(acked)

    def produce_kafka_python(self, topic, rows, codec):
        p = kafka.KafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all",
                                compression_type=codec, linger_ms=100)
        try:
            futures = [p.send(topic, key=key, value=value, headers=headers, timestamp_ms=ts,
                              partition=0) for key, value, headers, ts in rows]
            p.flush(timeout=TIMEOUT_S)
            return sorted(f.get(timeout=TIMEOUT_S).offset for f in futures)
        finally:
            p.close()

    def read_confluent(self, topic, count):
        """The first count records: [(offset, key, value, headers, timestamp_ms)]."""
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "compression-reader",
                      "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            out = []
            deadline = time.monotonic() + TIMEOUT_S
            while len(out) < count and time.monotonic() < deadline:
                for m in c.consume(num_messages=500, timeout=0.5):
                    self.assertIsNone(m.error())
                    ts_type, ts = m.timestamp()
                    self.assertEqual(ts_type, TIMESTAMP_CREATE_TIME)
                    out.append((m.offset(), m.key(), m.value(), m.headers() or [], ts))
            return out
        finally:
            c.close()

    def read_kafka_python(self, topic, count, timeout_s=TIMEOUT_S):
        c = kafka.KafkaConsumer(bootstrap_servers=self.broker.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
        try:
            tp = kafka.TopicPartition(topic, 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            out = []
            deadline = time.monotonic() + timeout_s
            while len(out) < count and time.monotonic() < deadline:
                for batch in c.poll(timeout_ms=500).values():
                    out += [(r.offset, r.key, r.value, list(r.headers), r.timestamp) for r in batch]
            return out
        finally:
            c.close(autocommit=False)

    @staticmethod
    def expected(rows, first_offset=0):
        # Clients hand back an empty header list and an absent one alike.
        return [(first_offset + i, key, value, headers, ts)
                for i, (key, value, headers, ts) in enumerate(rows)]

    def stored_batches(self, topic):
        """[(codec, record count)] of every stored batch, from `wharf dump-segment`."""
        logs = sorted(glob.glob(os.path.join(self.broker.data_dir, "data", "topics", topic, "0",
                                             "*.log")))
        self.assertTrue(logs, f"no segment of {topic}")
        out = []
        for log in logs:
            dump = subprocess.run([admin_test.WHARF_BIN, "dump-segment", log],
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
            self.assertEqual(dump.returncode, 0, dump.stdout + dump.stderr)
            for line in dump.stdout.splitlines():
                m = re.search(r" count (\d+) .*compression (\d+) .* crc ok$", line)
                self.assertIsNotNone(m, f"unexpected dump line: {line}")
                out.append((int(m.group(2)), int(m.group(1))))
        return out

    def assertKafkaPythonReads(self, topic, setting, rows):
        """kafka-python fetches with Fetch v4. As Kafka does (KIP-110), Wharf answers a topic whose
        compression.type is zstd UNSUPPORTED_COMPRESSION_TYPE below Fetch v10, so this client
        reads nothing of it (src/kafka/server/server_test.cc checks the error code itself); any
        other setting it reads in full."""
        if setting == "zstd":
            self.assertEqual(self.read_kafka_python(topic, len(rows), timeout_s=3), [])
        else:
            self.assertEqual(self.read_kafka_python(topic, len(rows)), self.expected(rows))

    def assertStoredAs(self, topic, codecs, count):
        batches = self.stored_batches(topic)
        self.assertEqual(sum(n for _, n in batches), count, batches)
        self.assertEqual({c for c, _ in batches}, set(codecs), batches)

    def test_each_setting_stores_a_confluent_producers_batches_with_its_codec(self):
        for setting, codec, _ in CASES:
            with self.subTest(setting=setting, producer=codec):
                topic = f"ct-{setting}-from-{codec}"
                self.create_topic(topic, **{"compression.type": setting})
                rows = records(topic, COUNT)
                self.assertEqual(self.produce_confluent(topic, rows, codec), list(range(COUNT)))
                self.assertStoredAs(topic, {CODEC_ID[setting]}, COUNT)
                self.assertEqual(self.read_confluent(topic, COUNT), self.expected(rows))
                if KAFKA_PYTHON_MISSING is None:
                    self.assertKafkaPythonReads(topic, setting, rows)

    def test_each_setting_stores_a_kafka_python_producers_batches_with_its_codec(self):
        if KAFKA_PYTHON_MISSING:
            self.skipTest(KAFKA_PYTHON_MISSING)
        for setting, _, codec in CASES:
            with self.subTest(setting=setting, producer=codec):
                topic = f"ct-kp-{setting}-from-{codec or 'none'}"
                self.create_topic(topic, **{"compression.type": setting})
                rows = records(topic, COUNT)
                self.assertEqual(self.produce_kafka_python(topic, rows, codec), list(range(COUNT)))
                self.assertStoredAs(topic, {CODEC_ID[setting]}, COUNT)
                self.assertKafkaPythonReads(topic, setting, rows)
                self.assertEqual(self.read_confluent(topic, COUNT), self.expected(rows))

    def test_altered_compression_type_applies_to_the_next_batches_only(self):
        topic = "ct-altered"
        self.create_topic(topic)
        self.assertEqual(self.topic_configs(topic)["compression.type"].value, "producer")
        first, second, third = (records(f"{topic}-{n}", 50) for n in range(3))
        self.produce_confluent(topic, first, "gzip")
        self.assertStoredAs(topic, {CODEC_ID["gzip"]}, 50)
        self.set_compression_type(topic, "zstd")
        self.produce_confluent(topic, second, "gzip")
        self.assertStoredAs(topic, {CODEC_ID["gzip"], CODEC_ID["zstd"]}, 100)
        self.set_compression_type(topic, "producer")
        self.produce_confluent(topic, third, "lz4")
        batches = self.stored_batches(topic)
        self.assertEqual(sum(n for _, n in batches), 150)
        # In log order: gzip as sent, then zstd, then lz4 as sent.
        order = [c for i, (c, _) in enumerate(batches) if i == 0 or batches[i - 1][0] != c]
        self.assertEqual(order, [CODEC_ID["gzip"], CODEC_ID["zstd"], CODEC_ID["lz4"]], batches)
        self.assertEqual(self.read_confluent(topic, 150), self.expected(first + second + third))

    def test_batch_over_max_message_bytes_once_uncompressed_is_refused(self):
        topic = "ct-too-large"
        self.create_topic(topic, **{"compression.type": "uncompressed",
                                    "max.message.bytes": "20000"})
        # Values of 30,000 zeros: about 100 bytes each as gzip, yet any batch, even of one
        # record (however linger splits them), is over 20,000 bytes stored uncompressed.
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "compression.codec": "gzip",
                      "linger.ms": 100, "retries": 0})
        errors = []
        for i in range(20):
            p.produce(topic, value=bytes(30000), partition=0,
                      on_delivery=lambda err, msg: errors.append(err))
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        self.assertEqual(len(errors), 20)
        self.assertTrue(all(e is not None and e.code() == KafkaError.MSG_SIZE_TOO_LARGE
                            for e in errors), {str(e) for e in errors})
        self.assertEqual(self.stored_batches(topic), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
