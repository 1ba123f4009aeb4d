#include "kafka/group/lag.h"

#include <limits>

#include <gtest/gtest.h>

#include "kafka/protocol/generated/consumer_protocol.h"
#include "kafka/protocol/writer.h"
#include "wharf/lag.h"

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
  auto out = tracker.compute(
      {g}, [](const std::string&, std::int32_t) { return std::optional<std::int64_t>(5); }, 0);
  ASSERT_EQ(out[0].partitions.size(), 1u);
  EXPECT_EQ(out[0].partitions[0].lag, -1);
  EXPECT_EQ(out[0].total_lag, 0);
}

// The shared arithmetic (wharf/lag.h) that the broker, the CLI and the library all use.
TEST(LagArithmetic, PartitionLagIsNeverNegativeAndSaturates) {
  EXPECT_EQ(lag::partition_lag(100, 40), 60);
  EXPECT_EQ(lag::partition_lag(100, 100), 0);
  EXPECT_EQ(lag::partition_lag(100, 140), 0);  // a commit read after a stale watermark
  EXPECT_EQ(lag::partition_lag(std::numeric_limits<std::int64_t>::max(), -5),
            std::numeric_limits<std::int64_t>::max());
}

TEST(LagArithmetic, SkewIsLargestOverMeanAndZeroWithoutLag) {
  lag::LagSummary s;
  EXPECT_EQ(s.mean(), 0);
  EXPECT_EQ(s.skew(), 0);
  for (std::int64_t l : {0, 0, 0, 0}) s.add(l);
  EXPECT_EQ(s.skew(), 0);  // no lag anywhere: nothing to compare, not infinite
  lag::LagSummary t;
  for (std::int64_t l : {30, 10, 10, 10}) t.add(l);
  EXPECT_EQ(t.max, 30);
  EXPECT_EQ(t.sum, 60);
  EXPECT_EQ(t.count, 4);
  EXPECT_DOUBLE_EQ(t.mean(), 15);
  EXPECT_DOUBLE_EQ(t.skew(), 2);
  EXPECT_DOUBLE_EQ(lag::skew(6, 2), 3);
  EXPECT_EQ(lag::skew(6, 0), 0);
}

TEST(LagArithmetic, SumSaturatesInsteadOfOverflowing) {
  lag::LagSummary s;
  s.add(std::numeric_limits<std::int64_t>::max() - 1);
  s.add(10);
  EXPECT_EQ(s.sum, std::numeric_limits<std::int64_t>::max());
  s.add(-7);  // nonsense input counts as no lag
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.max, std::numeric_limits<std::int64_t>::max() - 1);
}

}  // namespace
}  // namespace wharf::kafka::group
