// Partition::advance_log_start (Kafka's DeleteRecords) on the crash-modelling file system: the
// new log start is durable once it returns, a failed write leaves the old one, and reads,
// ListOffsets by time and the segment list all follow it.
#include <gtest/gtest.h>

#include "io/fault_file_system.h"
#include "io/memory_file_system.h"
#include "storage/partition.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

class LogStartTest : public ::testing::Test {
 protected:
  std::unique_ptr<Partition> open() {
    TopicConfig config;
    config.segment_bytes = 4096;  // with 2000-byte values most batches get their own segment
    auto p = Partition::open(fault_, "/data/t/0", config, clock_);
    EXPECT_TRUE(p.has_value()) << p.error().to_string();
    return p ? std::move(*p) : nullptr;
  }
  // Appends `n` batches; returns each one's (base, last) offsets.
  std::vector<std::pair<Offset, Offset>> fill(Partition& p, int n) {
    std::vector<std::pair<Offset, Offset>> out;
    for (int i = 0; i < n; ++i) {
      clock_.advance(std::chrono::milliseconds(1000));
      auto r = p.append(test::deterministic_batch(7, static_cast<std::uint64_t>(i), 2000, 3));
      EXPECT_TRUE(r.has_value()) << r.error().to_string();
      if (r) out.emplace_back(r->base_offset, r->last_offset);
    }
    return out;
  }

  io::MemoryFileSystem mem_;
  io::FaultFileSystem fault_{mem_};
  ManualClock clock_;
};

TEST_F(LogStartTest, AdvancedLogStartSurvivesACrashAndHidesTheRecordsBelowIt) {
  auto p = open();
  auto batches = fill(*p, 8);
  ASSERT_EQ(batches.size(), 8u);
  const std::size_t segments_before = p->segment_count();
  ASSERT_GT(segments_before, 4u);
  // Inside batch 4 when it holds more than one record, else its first offset.
  const Offset target = batches[4].first + (batches[4].second > batches[4].first ? 1 : 0);
  auto moved = p->advance_log_start(target);
  ASSERT_TRUE(moved.has_value()) << moved.error().to_string();
  EXPECT_EQ(*moved, target);
  EXPECT_LT(p->segment_count(), segments_before) << "whole segments below the log start go";

  p.reset();
  mem_.crash();
  fault_.revive();
  p = open();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->log_start_offset(), target);
  auto below = p->read(target - 1, 1 << 20);
  ASSERT_FALSE(below.has_value());
  EXPECT_EQ(below.error().code(), ErrorCode::kOutOfRange);
  auto at = p->read(target, 1 << 20);
  ASSERT_TRUE(at.has_value()) << at.error().to_string();
  EXPECT_EQ(at->log_start_offset, target);
  auto first = parse_header(at->records);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->base_offset, batches[4].first) << "the whole batch holding it";
  // Every record is newer than time 0: the first one left is the log start.
  auto by_time = p->offset_for_timestamp(0);
  ASSERT_TRUE(by_time.has_value()) << by_time.error().to_string();
  ASSERT_TRUE(by_time->has_value());
  EXPECT_EQ((*by_time)->offset, target);
  // Appends answer it too.
  auto appended = p->append(test::deterministic_batch(7, 100));
  ASSERT_TRUE(appended.has_value());
  EXPECT_EQ(appended->log_start_offset, target);
}

TEST_F(LogStartTest, AFailedWriteKeepsTheOldLogStartAndEverySegment) {
  auto p = open();
  auto batches = fill(*p, 6);
  ASSERT_EQ(batches.size(), 6u);
  const std::size_t segments_before = p->segment_count();
  fault_.fail_nth_rename(1);
  auto moved = p->advance_log_start(batches[3].first);
  ASSERT_FALSE(moved.has_value());
  EXPECT_EQ(p->log_start_offset(), Offset(0));
  EXPECT_EQ(p->segment_count(), segments_before);
  p.reset();
  mem_.crash();
  fault_.revive();
  p = open();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->log_start_offset(), Offset(0));
  EXPECT_TRUE(p->read(Offset(0), 1 << 20).has_value());
}

TEST_F(LogStartTest, AnOffsetAboveTheHighWatermarkIsRefusedAndOneBelowTheLogStartChangesNothing) {
  auto p = open();
  auto batches = fill(*p, 3);
  const Offset end = p->high_watermark();
  auto above = p->advance_log_start(end + 1);
  ASSERT_FALSE(above.has_value());
  EXPECT_EQ(above.error().code(), ErrorCode::kOutOfRange);
  ASSERT_TRUE(p->advance_log_start(batches[1].first).has_value());
  auto lower = p->advance_log_start(Offset(0));
  ASSERT_TRUE(lower.has_value());
  EXPECT_EQ(*lower, batches[1].first);
  // Up to the high watermark: nothing readable is left, the log end stays.
  auto all = p->advance_log_start(end);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, end);
  EXPECT_EQ(p->log_end_offset(), end);
  auto read = p->read(end, 1 << 20);
  ASSERT_TRUE(read.has_value());
  EXPECT_TRUE(read->records.empty());
}

}  // namespace
}  // namespace wharf::storage
