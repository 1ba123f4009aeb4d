#include "kafka/group/lag.h"

#include <gtest/gtest.h>

#include "kafka/protocol/generated/consumer_protocol.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::group {
namespace {

Bytes assignment_bytes(const std::string& topic, std::vector<std::int32_t> partitions) {
  protocol::ConsumerProtocolAssignment a;
  a.assigned_partitions.push_back({topic, std::move(partitions)});
  Bytes out;
  append_be<std::int16_t>(out, 0);
  protocol::Writer w(out);
  a.encode(w, 0);
  return out;
}

TEST(Lag, PerPartitionLagOwnersAndSkew) {
  GroupMetrics g;
  g.group_id = "g";
  g.protocol_type = "consumer";
  g.member_list.push_back({"m1", std::nullopt, "c", "h", assignment_bytes("orders", {0, 1})});
  g.member_list.push_back({"m2", std::nullopt, "c", "h", assignment_bytes("orders", {2})});
  g.offsets[{"orders", 0}] = CommittedOffset{90, -1, "", 0};
  g.offsets[{"orders", 1}] = CommittedOffset{100, -1, "", 0};
  g.offsets[{"orders", 2}] = CommittedOffset{40, -1, "", 0};
  auto hwm = [](const std::string&, std::int32_t) -> std::optional<std::int64_t> { return 100; };
  LagTracker tracker;
  auto first = tracker.compute({g}, hwm, 1000);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(first[0].partitions.size(), 3u);
  EXPECT_EQ(first[0].partitions[0].lag, 10);
  EXPECT_EQ(first[0].partitions[0].owner, "m1");
  EXPECT_EQ(first[0].partitions[2].lag, 60);
  EXPECT_EQ(first[0].partitions[2].owner, "m2");
  EXPECT_EQ(first[0].total_lag, 70);
  ASSERT_EQ(first[0].topics.size(), 1u);
  EXPECT_EQ(first[0].topics[0].lag_max, 60);
  EXPECT_NEAR(first[0].topics[0].lag_skew, 60.0 / (70.0 / 3), 1e-9);
  // One second later partition 2 moved 30 records and the others none: rate skew 3.
  g.offsets[{"orders", 2}].offset = 70;
  auto second = tracker.compute({g}, hwm, 2000);
  EXPECT_DOUBLE_EQ(second[0].partitions[2].rate, 30.0);
  EXPECT_DOUBLE_EQ(second[0].topics[0].rate_skew, 3.0);
}

TEST(Lag, UncommittedPartitionsHaveUnknownLag) {
  GroupMetrics g;
  g.group_id = "g";
  g.protocol_type = "consumer";
  g.member_list.push_back({"m1", std::nullopt, "c", "h", assignment_bytes("t", {0})});
  LagTracker tracker;
  auto out = tracker.compute({g}, [](const std::string&, std::int32_t) { return std::optional<std::int64_t>(5); }, 0);
  ASSERT_EQ(out[0].partitions.size(), 1u);
  EXPECT_EQ(out[0].partitions[0].lag, -1);
  EXPECT_EQ(out[0].total_lag, 0);
}

}  // namespace
}  // namespace wharf::kafka::group
