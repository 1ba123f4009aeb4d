#!/usr/bin/python3
"""Group metadata records in __consumer_offsets, as Kafka writes them, so that lag tools that
read the topic (Burrow and the like) see members, owners and client ids: two confluent-kafka
consumers (librdkafka 2.0.2) form a group on the real broker; a third client reads
__consumer_offsets from the start and decodes GroupMetadataKey v2 / GroupMetadataValue v3 by
hand (docs/formats/consumer-offsets.md). The latest record of the group must list both members
with their client ids and an assignment covering every partition; after both leave, an Empty
record with no members; after the group is deleted, a tombstone.

Run with Debian's /usr/bin/python3, with WHARF_BIN naming the wharf binary (ctest sets it).
"""

import os
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import admin_test  # noqa: E402  (the Broker helper and its test base)
from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

TIMEOUT_S = admin_test.TIMEOUT_S


class Cursor:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self, nullable=False):
        n = self.take(">h")
        if n < 0:
            assert nullable, "null where a string must be"
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes(self):
        n = self.take(">i")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b


def decode_group_metadata(key, value):
    """(group, None for a tombstone or a dict) for key version 2, else None."""
    k = Cursor(key)
    if k.take(">h") != 2:
        return None
    group = k.string()
    if value is None:
        return group, None
    v = Cursor(value)
    version = v.take(">h")
    assert 0 <= version <= 3, version
    md = {"protocol_type": v.string(), "generation": v.take(">i"),
          "protocol": v.string(nullable=True), "leader": v.string(nullable=True)}
    if version >= 2:
        md["state_timestamp"] = v.take(">q")
    members = []
    for _ in range(v.take(">i")):
        m = {"member_id": v.string()}
        if version >= 3:
            m["group_instance_id"] = v.string(nullable=True)
        m["client_id"], m["client_host"] = v.string(), v.string()
        if version >= 1:
            m["rebalance_timeout"] = v.take(">i")
        m["session_timeout"] = v.take(">i")
        m["subscription"], m["assignment"] = v.bytes(), v.bytes()
        members.append(m)
    md["members"] = members
    assert v.pos == len(value), "trailing bytes"
    return group, md


def assigned_partitions(assignment, topic):
    """Partitions of `topic` in a ConsumerProtocolAssignment (version, [topic, [partition]])."""
    c = Cursor(assignment)
    c.take(">h")
    out = []
    for _ in range(c.take(">i")):
        t = c.string()
        parts = [c.take(">i") for _ in range(c.take(">i"))]
        if t == topic:
            out += parts
    return out


class GroupMetadataTest(admin_test.BrokerTestCase):
    extra_args = ("--set", "group.initial.rebalance.delay.ms=0")

    def latest_metadata(self, group):
        """The latest group metadata record of `group` in __consumer_offsets, read from the start."""
        reader = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "md-reader",
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "enable.partition.eof": True})
        metadata = reader.list_topics("__consumer_offsets", timeout=TIMEOUT_S)
        from confluent_kafka import TopicPartition
        parts = [TopicPartition("__consumer_offsets", p, 0)
                 for p in metadata.topics["__consumer_offsets"].partitions]
        reader.assign(parts)
        remaining, found, seen = len(parts), None, False
        deadline = time.monotonic() + TIMEOUT_S
        while remaining > 0 and time.monotonic() < deadline:
            msg = reader.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                remaining -= 1  # end of a partition
                continue
            decoded = decode_group_metadata(msg.key(), msg.value())
            if decoded and decoded[0] == group:
                found, seen = decoded[1], True
        reader.close()
        return seen, found

    def wait_for(self, group, predicate):
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            seen, md = self.latest_metadata(group)
            if seen and predicate(md):
                return md
            time.sleep(0.5)
        self.fail(f"no group metadata of {group} matched; last: {md}")

    def test_members_owners_and_client_ids_are_in_consumer_offsets(self):
        errors = admin_test.results(self.admin.create_topics([NewTopic("md-orders", 6, 1)],
                                                             request_timeout=TIMEOUT_S))
        self.assertEqual(errors, {"md-orders": None})
        p = Producer({"bootstrap.servers": self.broker.bootstrap})
        for i in range(60):
            p.produce("md-orders", key=str(i), value=b"x")
        self.assertEqual(p.flush(TIMEOUT_S), 0)
        consumers = []
        for name in ("client-a", "client-b"):
            c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "md-group",
                          "client.id": name, "auto.offset.reset": "earliest",
                          "session.timeout.ms": 10000})
            c.subscribe(["md-orders"])
            consumers.append(c)
        got, deadline = 0, time.monotonic() + TIMEOUT_S
        while got < 60 and time.monotonic() < deadline:
            for c in consumers:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    got += 1
        self.assertEqual(got, 60)

        def both_members(md):
            return md is not None and len(md["members"]) == 2
        md = self.wait_for("md-group", both_members)
        self.assertEqual(md["protocol_type"], "consumer")
        self.assertIn(md["protocol"], ("range", "roundrobin"))
        self.assertIn(md["leader"], [m["member_id"] for m in md["members"]])
        self.assertEqual(sorted(m["client_id"] for m in md["members"]), ["client-a", "client-b"])
        owned = sorted(p for m in md["members"]
                       for p in assigned_partitions(m["assignment"], "md-orders"))
        self.assertEqual(owned, list(range(6)), "every partition has exactly one owner")
        for m in md["members"]:
            self.assertEqual(m["session_timeout"], 10000)
            self.assertIn(b"md-orders", m["subscription"])

        for c in consumers:
            c.close()
        md = self.wait_for("md-group", lambda md: md is not None and not md["members"])
        self.assertIsNone(md["protocol"], "an Empty group has no protocol")

        # confluent-kafka 1.7 has no DeleteGroups: the wharf CLI sends it (librdkafka's admin API).
        done = subprocess.run([admin_test.WHARF_BIN, "-b", self.broker.bootstrap, "group", "delete",
                               "md-group"], capture_output=True, timeout=TIMEOUT_S)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.wait_for("md-group", lambda md: md is None)  # the tombstone


if __name__ == "__main__":
    unittest.main(verbosity=2)
