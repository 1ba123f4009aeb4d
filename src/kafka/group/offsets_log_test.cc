#include "kafka/group/offsets_log.h"

#include <gtest/gtest.h>

#include "io/memory_file_system.h"

namespace wharf::kafka::group {
namespace {

class OffsetsLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<storage::LogManager> open_log() {
    storage::LogManagerOptions o;
    o.data_dir = "/data";
    o.background = false;
    return std::move(*storage::LogManager::open(mem_, o, clock_));
  }
  std::map<std::tuple<std::string, std::string, std::int32_t>, std::int64_t> replay(OffsetsLog& log) {
    std::map<std::tuple<std::string, std::string, std::int32_t>, std::int64_t> out;
    EXPECT_TRUE(log.load([&](const OffsetRecord& r) {
      auto k = std::make_tuple(r.group, r.topic, r.partition);
      if (r.value) out[k] = r.value->offset;
      else out.erase(k);
    }).has_value());
    return out;
  }
  io::MemoryFileSystem mem_;
  ManualClock clock_;
};

TEST_F(OffsetsLogTest, CommitsSurviveACrashAndTombstonesDelete) {
  {
    auto log = open_log();
    auto offsets = OffsetsLog::open(*log, 5, 1 << 20);
    ASSERT_TRUE(offsets.has_value());
    ASSERT_TRUE((*offsets)->append({{"g1", "orders", 0, CommittedOffset{10, -1, "", 1}},
                                    {"g2", "orders", 1, CommittedOffset{20, -1, "", 1}}})
                    .has_value());
    ASSERT_TRUE((*offsets)->append({{"g1", "orders", 0, CommittedOffset{11, -1, "", 2}},
                                    {"g2", "orders", 1, std::nullopt}})
                    .has_value());
  }
  mem_.crash();  // every append above returned, so it was synced
  auto log = open_log();
  auto offsets = OffsetsLog::open(*log, 5, 1 << 20);
  ASSERT_TRUE(offsets.has_value());
  auto got = replay(**offsets);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ((got[{"g1", "orders", 0}]), 11);
  EXPECT_TRUE(log->topic(std::string(kOffsetsTopic)).has_value());
}

TEST_F(OffsetsLogTest, CompactionBoundsGrowthAndKeepsTheLatestOffsets) {
  auto log = open_log();
  auto offsets = std::move(*OffsetsLog::open(*log, 1, 64 * 1024));
  for (int round = 0; round < 2000; ++round) {
    std::vector<OffsetRecord> batch;
    for (int p = 0; p < 6; ++p) batch.push_back({"g", "orders", p, CommittedOffset{round * 10 + p, -1, "", round}});
    ASSERT_TRUE(offsets->append(batch).has_value());
    ASSERT_TRUE(offsets->compact_if_needed().has_value());
  }
  auto part = *log->partition(std::string(kOffsetsTopic), PartitionId(0));
  EXPECT_LT(part->size_bytes(), 2u * 64 * 1024) << "growth is bounded";
  EXPECT_GT(part->log_start_offset(), Offset(0)) << "old segments were dropped";
  auto got = replay(*offsets);
  ASSERT_EQ(got.size(), 6u);
  for (int p = 0; p < 6; ++p) EXPECT_EQ((got[{"g", "orders", p}]), 1999 * 10 + p);
  // Crash right after compaction: nothing is lost.
  offsets.reset();
  part.reset();
  log.reset();
  mem_.crash();
  auto log2 = open_log();
  auto again = std::move(*OffsetsLog::open(*log2, 1, 64 * 1024));
  EXPECT_EQ(replay(*again), got);
}

}  // namespace
}  // namespace wharf::kafka::group
