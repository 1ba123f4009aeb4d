#!/usr/bin/python3
"""Topic administration through confluent-kafka's AdminClient (librdkafka 2.0.2) against the
real broker: CreateTopics (configs, validate_only, and each error a single node must give),
Metadata, DescribeConfigs, CreatePartitions and DeleteTopics, and that every change survives a
restart.

Run with Debian's /usr/bin/python3 (python3-confluent-kafka), with WHARF_BIN naming the wharf
binary (ctest sets it). Each test class starts its own broker on a free 127.0.0.1 port with a
fresh data directory. The exit status is non-zero if any test fails.
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewPartitions, NewTopic

WHARF_BIN = os.environ.get("WHARF_BIN", "build/bin/wharf")
TIMEOUT_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """`wharf serve` as a child process; start() waits for its "ready" line."""

    def __init__(self, *extra_args):
        self.extra_args = list(extra_args)
        self.data_dir = tempfile.mkdtemp(prefix="wharf-admin-it-")
        self.port = None
        self.proc = None
        self.output = b""

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        # A free port can be taken between our probe and the broker's bind: retry with another.
        for _ in range(5):
            if self.port is None:
                self.port = free_port()
            self.proc = subprocess.Popen(
                [WHARF_BIN, "serve", "--data-dir", os.path.join(self.data_dir, "data"),
                 "--listen", self.bootstrap] + self.extra_args,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.output = b""
            if self._wait_ready():
                return
            if b"cannot listen" not in self.output:
                break
            self.port = None
        raise RuntimeError("broker did not start:\n" + self.output.decode(errors="replace"))

    def _wait_ready(self):
        deadline = time.monotonic() + TIMEOUT_S
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait()
                    return False
                self.output += chunk
                if b"\nready\n" in self.output:
                    os.set_blocking(fd, False)
                    return True
        self.proc.kill()
        self.proc.wait()
        return False

    def stop(self):
        """SIGTERM and wait; returns the exit status (0 = clean shutdown)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = self.proc.communicate(timeout=TIMEOUT_S)
            self.output += rest or b""
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        status = self.proc.returncode
        self.proc = None
        return status

    def remove(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if not os.environ.get("WHARF_KEEP_DATA"):
            shutil.rmtree(self.data_dir, ignore_errors=True)


def results(futures):
    """{name: None on success or the KafkaError it failed with}, waiting for every future."""
    out = {}
    for key, future in futures.items():
        name = key.name if isinstance(key, ConfigResource) else key
        try:
            future.result(timeout=TIMEOUT_S)
            out[name] = None
        except KafkaException as e:
            out[name] = e.args[0]
    return out


class BrokerTestCase(unittest.TestCase):
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(*cls.extra_args)
        try:
            cls.broker.start()
        except Exception:
            cls.broker.remove()
            raise
        cls.admin = cls.new_admin()

    @classmethod
    def tearDownClass(cls):
        cls.admin = None  # destroys the client first, so it does not log the broker going away
        status = cls.broker.stop()
        output = cls.broker.output.decode(errors="replace")
        cls.broker.remove()
        if status != 0:
            raise AssertionError(f"broker exited with {status}:\n{output}")

    @classmethod
    def new_admin(cls):
        return AdminClient({"bootstrap.servers": cls.broker.bootstrap})

    def create(self, *topics, validate_only=False):
        return results(self.admin.create_topics(list(topics), request_timeout=TIMEOUT_S,
                                                validate_only=validate_only))

    def assertError(self, error, code):
        self.assertIsNotNone(error, f"expected error {code}, got success")
        self.assertEqual(error.code(), code, f"expected error {code}, got {error.name()}: {error.str()}")

    def partition_count(self, name):
        md = self.admin.list_topics(timeout=TIMEOUT_S)
        return len(md.topics[name].partitions) if name in md.topics else None

    def topic_configs(self, name):
        futures = self.admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)])
        (future,) = futures.values()
        return future.result(timeout=TIMEOUT_S)


class CreateTopicsTest(BrokerTestCase):
    def test_creates_topics_with_partitions_and_configs(self):
        errors = self.create(NewTopic("orders", 6, 1, config={"retention.ms": "3600000"}),
                             NewTopic("payments", 1, 1))
        self.assertEqual(errors, {"orders": None, "payments": None})
        self.assertEqual(self.partition_count("orders"), 6)
        self.assertEqual(self.partition_count("payments"), 1)
        self.assertEqual(self.topic_configs("orders")["retention.ms"].value, "3600000")

    def test_validate_only_checks_without_creating(self):
        self.assertEqual(self.create(NewTopic("dry-run", 3, 1), validate_only=True), {"dry-run": None})
        self.assertIsNone(self.partition_count("dry-run"))
        # validate_only still reports what a real create would refuse.
        errors = self.create(NewTopic("dry-run-bad", 1, 1, config={"no.such.config": "1"}),
                             NewTopic("dry run", 1, 1), validate_only=True)
        self.assertError(errors["dry-run-bad"], KafkaError.INVALID_CONFIG)
        self.assertError(errors["dry run"], KafkaError.TOPIC_EXCEPTION)
        self.assertIsNone(self.partition_count("dry-run-bad"))

    def test_invalid_topic_names_get_error_17(self):
        names = ["bad name", "slash/topic", "x" * 250, ".", ".."]
        errors = self.create(*[NewTopic(n, 1, 1) for n in names])
        for name in names:
            with self.subTest(name=name[:20]):
                self.assertError(errors[name], 17)
        self.assertEqual(KafkaError.TOPIC_EXCEPTION, 17)
        # The longest legal name (249 characters) is accepted.
        self.assertEqual(self.create(NewTopic("y" * 249, 1, 1)), {"y" * 249: None})

    def test_replication_factor_above_one_gets_error_38(self):
        errors = self.create(NewTopic("replicated", 1, 3))
        self.assertError(errors["replicated"], 38)
        self.assertEqual(KafkaError.INVALID_REPLICATION_FACTOR, 38)
        self.assertIsNone(self.partition_count("replicated"))

    def test_replication_factor_zero_gets_error_38_and_minus_one_means_the_default(self):
        errors = self.create(NewTopic("unreplicated", 1, 0), NewTopic("default-rf", 2, -1))
        self.assertError(errors["unreplicated"], 38)
        self.assertIsNone(self.partition_count("unreplicated"))
        self.assertIsNone(errors["default-rf"])
        self.assertEqual(self.partition_count("default-rf"), 2)

    def test_manual_assignment_on_broker_0_is_accepted_and_other_brokers_refused(self):
        errors = self.create(NewTopic("assigned", 3, replica_assignment=[[0], [0], [0]]),
                             NewTopic("elsewhere", 1, replica_assignment=[[1]]))
        self.assertIsNone(errors["assigned"])
        self.assertEqual(self.partition_count("assigned"), 3)
        self.assertError(errors["elsewhere"], KafkaError.INVALID_REPLICA_ASSIGNMENT)

    def test_duplicate_topic_gets_topic_already_exists(self):
        self.assertEqual(self.create(NewTopic("twice", 2, 1)), {"twice": None})
        errors = self.create(NewTopic("twice", 4, 1))
        self.assertError(errors["twice"], KafkaError.TOPIC_ALREADY_EXISTS)
        self.assertEqual(self.partition_count("twice"), 2, "the failed create must not change it")

    def test_bad_partition_counts_and_configs_are_refused(self):
        errors = self.create(NewTopic("too-many", 10_001, 1),
                             NewTopic("bad-value", 1, 1, config={"retention.ms": "soon"}),
                             NewTopic("unknown-config", 1, 1, config={"no.such.config": "1"}))
        self.assertError(errors["too-many"], KafkaError.INVALID_PARTITIONS)
        self.assertError(errors["bad-value"], KafkaError.INVALID_CONFIG)
        self.assertError(errors["unknown-config"], KafkaError.INVALID_CONFIG)
        for name in errors:
            self.assertIsNone(self.partition_count(name), name)

    def test_one_bad_topic_does_not_fail_the_others(self):
        errors = self.create(NewTopic("good-1", 1, 1), NewTopic("bad/1", 1, 1), NewTopic("good-2", 2, 1))
        self.assertIsNone(errors["good-1"])
        self.assertError(errors["bad/1"], 17)
        self.assertIsNone(errors["good-2"])
        self.assertEqual(self.partition_count("good-2"), 2)


class DescribeTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        errors = results(cls.admin.create_topics([
            NewTopic("described", 4, 1, config={"retention.ms": "86400000",
                                                 "message.timestamp.type": "LogAppendTime",
                                                 "sync.policy": "interval:1000"}),
            NewTopic("plain", 1, 1)], request_timeout=TIMEOUT_S))
        assert errors == {"described": None, "plain": None}, errors

    def test_metadata_lists_partitions_led_by_broker_0(self):
        md = self.admin.list_topics(timeout=TIMEOUT_S)
        self.assertEqual(list(md.brokers), [0])
        self.assertEqual(md.brokers[0].host, "127.0.0.1")
        self.assertEqual(md.brokers[0].port, self.broker.port)
        self.assertEqual(md.controller_id, 0)
        self.assertTrue(md.cluster_id)
        # Internal topics (such as __consumer_offsets) may exist too.
        self.assertEqual(sorted(t for t in md.topics if not t.startswith("__")), ["described", "plain"])
        topic = md.topics["described"]
        self.assertIsNone(topic.error)
        self.assertEqual(sorted(topic.partitions), [0, 1, 2, 3])
        for p in topic.partitions.values():
            self.assertEqual((p.leader, p.replicas, p.isrs, p.error), (0, [0], [0], None))

    def test_overrides_show_up_as_dynamic_topic_configs(self):
        configs = self.topic_configs("described")
        for name, value in [("retention.ms", "86400000"), ("message.timestamp.type", "LogAppendTime"),
                            ("sync.policy", "interval:1000")]:
            with self.subTest(name=name):
                self.assertEqual(configs[name].value, value)
                self.assertFalse(configs[name].is_default)
                self.assertEqual(configs[name].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)

    def test_defaults_show_up_as_default_configs(self):
        for topic in ["described", "plain"]:
            configs = self.topic_configs(topic)
            for name, value in [("segment.bytes", "1073741824"), ("max.message.bytes", "1048588"),
                                ("cleanup.policy", "delete"), ("retention.bytes", "-1")]:
                with self.subTest(topic=topic, name=name):
                    self.assertEqual(configs[name].value, value)
                    self.assertTrue(configs[name].is_default)
                    self.assertEqual(configs[name].source, ConfigSource.DEFAULT_CONFIG.value)
        self.assertEqual(self.topic_configs("plain")["retention.ms"].value, "604800000")

    def test_broker_configs_are_static_and_all_but_log_level_read_only(self):
        futures = self.admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "0")])
        (future,) = futures.values()
        configs = future.result(timeout=TIMEOUT_S)
        self.assertEqual(configs["num.partitions"].value, "1")
        self.assertEqual(configs["auto.create.topics.enable"].value, "true")
        for entry in configs.values():
            # log.level is the one broker config that changes at run time (docs/broker.md).
            self.assertEqual(entry.is_read_only, entry.name != "log.level", entry.name)
            self.assertEqual(entry.source, ConfigSource.STATIC_BROKER_CONFIG.value, entry.name)

    def test_describing_an_unknown_topic_gets_error_3(self):
        errors = results(self.admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "nowhere")]))
        self.assertError(errors["nowhere"], KafkaError.UNKNOWN_TOPIC_OR_PART)


class KafkaTopicConfigsTest(BrokerTestCase):
    """Every Kafka topic config name is accepted: Wharf applies some and stores the rest
    (docs/broker.md lists which); values are type-checked as Kafka checks them."""

    SET = {"compression.type": "zstd", "min.insync.replicas": "2", "flush.ms": "1000",
           "delete.retention.ms": "3600000", "unclean.leader.election.enable": "true",
           "min.cleanable.dirty.ratio": "0.25", "message.timestamp.after.max.ms": "60000",
           "local.retention.ms": "-2", "segment.index.bytes": "1048576", "preallocate": "false",
           "retention.ms": "3600000"}

    def alter(self, name, configs):
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, set_config=configs)
        return results(self.admin.alter_configs([resource], request_timeout=TIMEOUT_S))

    def test_created_with_kafka_configs_described_with_values_and_sources(self):
        self.assertEqual(self.create(NewTopic("kafka-configs", 1, 1, config=self.SET)),
                         {"kafka-configs": None})
        configs = self.topic_configs("kafka-configs")
        for name, value in self.SET.items():
            with self.subTest(name=name):
                self.assertEqual(configs[name].value, value)
                self.assertFalse(configs[name].is_default)
                self.assertEqual(configs[name].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        for name, value in [("flush.messages", "9223372036854775807"), ("segment.jitter.ms", "0"),
                            ("message.downconversion.enable", "true"), ("remote.storage.enable", "false"),
                            ("leader.replication.throttled.replicas", ""),
                            ("max.compaction.lag.ms", "9223372036854775807")]:
            with self.subTest(name=name):
                self.assertEqual(configs[name].value, value)
                self.assertTrue(configs[name].is_default)
                self.assertEqual(configs[name].source, ConfigSource.DEFAULT_CONFIG.value)

    def test_alter_replaces_kafka_configs(self):
        self.assertEqual(self.create(NewTopic("altered", 1, 1, config={"compression.type": "gzip"})),
                         {"altered": None})
        self.assertEqual(self.alter("altered", {"compression.type": "lz4", "min.insync.replicas": "1",
                                                "flush.messages": "500"}), {"altered": None})
        configs = self.topic_configs("altered")
        self.assertEqual(configs["compression.type"].value, "lz4")
        self.assertEqual(configs["flush.messages"].value, "500")
        self.assertEqual(configs["flush.messages"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        # AlterConfigs replaces the set: what is not given goes back to its default.
        self.assertEqual(self.alter("altered", {"flush.messages": "10"}), {"altered": None})
        configs = self.topic_configs("altered")
        self.assertEqual(configs["compression.type"].value, "producer")
        self.assertEqual(configs["compression.type"].source, ConfigSource.DEFAULT_CONFIG.value)

    def test_bad_values_and_unknown_names_still_get_invalid_config(self):
        errors = self.create(NewTopic("bad-codec", 1, 1, config={"compression.type": "brotli"}),
                             NewTopic("bad-int", 1, 1, config={"min.insync.replicas": "two"}),
                             NewTopic("bad-bool", 1, 1, config={"preallocate": "maybe"}),
                             NewTopic("bad-name", 1, 1, config={"flush.mss": "1"}))
        for name in errors:
            with self.subTest(name=name):
                self.assertError(errors[name], KafkaError.INVALID_CONFIG)
                self.assertIsNone(self.partition_count(name))
        self.assertEqual(self.create(NewTopic("kept", 1, 1, config={"flush.ms": "5"})), {"kept": None})
        for bad in [{"segment.jitter.ms": "soon"}, {"no.such.config": "1"}]:
            with self.subTest(bad=bad):
                self.assertError(self.alter("kept", bad)["kept"], KafkaError.INVALID_CONFIG)
        self.assertEqual(self.topic_configs("kept")["flush.ms"].value, "5", "a failed alter changes nothing")


class CreatePartitionsTest(BrokerTestCase):
    def test_grow_then_refuse_to_shrink(self):
        self.assertEqual(self.create(NewTopic("growing", 2, 1)), {"growing": None})
        self.assertEqual(results(self.admin.create_partitions([NewPartitions("growing", 5)])), {"growing": None})
        self.assertEqual(self.partition_count("growing"), 5)
        for count in (3, 5):  # fewer, and the same number, are both INVALID_PARTITIONS
            with self.subTest(count=count):
                errors = results(self.admin.create_partitions([NewPartitions("growing", count)]))
                self.assertError(errors["growing"], KafkaError.INVALID_PARTITIONS)
        self.assertEqual(self.partition_count("growing"), 5)

    def test_validate_only_does_not_grow(self):
        self.assertEqual(self.create(NewTopic("steady", 1, 1)), {"steady": None})
        errors = results(self.admin.create_partitions([NewPartitions("steady", 4)], validate_only=True))
        self.assertEqual(errors, {"steady": None})
        self.assertEqual(self.partition_count("steady"), 1)

    def test_unknown_topic_gets_error_3(self):
        errors = results(self.admin.create_partitions([NewPartitions("absent", 4)]))
        self.assertError(errors["absent"], KafkaError.UNKNOWN_TOPIC_OR_PART)


class DeleteTopicsTest(BrokerTestCase):
    def test_deleted_topics_are_gone(self):
        self.assertEqual(self.create(NewTopic("doomed", 3, 1), NewTopic("kept", 1, 1)),
                         {"doomed": None, "kept": None})
        errors = results(self.admin.delete_topics(["doomed"], operation_timeout=TIMEOUT_S))
        self.assertEqual(errors, {"doomed": None})
        self.assertIsNone(self.partition_count("doomed"))
        self.assertEqual(self.partition_count("kept"), 1)
        # The name can be used again, starting empty with its new partition count.
        self.assertEqual(self.create(NewTopic("doomed", 2, 1)), {"doomed": None})
        self.assertEqual(self.partition_count("doomed"), 2)

    def test_deleting_an_unknown_topic_gets_error_3(self):
        errors = results(self.admin.delete_topics(["never-existed"], operation_timeout=TIMEOUT_S))
        self.assertError(errors["never-existed"], 3)
        self.assertEqual(KafkaError.UNKNOWN_TOPIC_OR_PART, 3)


class RestartTest(BrokerTestCase):
    def test_admin_changes_survive_a_restart(self):
        self.assertEqual(self.create(NewTopic("durable", 2, 1, config={"retention.ms": "7200000"}),
                                     NewTopic("removed", 1, 1)),
                         {"durable": None, "removed": None})
        self.assertEqual(results(self.admin.create_partitions([NewPartitions("durable", 3)])), {"durable": None})
        self.assertEqual(results(self.admin.delete_topics(["removed"], operation_timeout=TIMEOUT_S)),
                         {"removed": None})
        type(self).admin = None
        self.assertEqual(self.broker.stop(), 0, self.broker.output.decode(errors="replace"))
        self.broker.start()  # same port and data directory
        type(self).admin = self.new_admin()
        self.assertEqual(self.partition_count("durable"), 3)
        self.assertIsNone(self.partition_count("removed"))
        configs = self.topic_configs("durable")
        self.assertEqual(configs["retention.ms"].value, "7200000")
        self.assertFalse(configs["retention.ms"].is_default)


if __name__ == "__main__":
    unittest.main(verbosity=2)
