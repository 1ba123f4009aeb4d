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

// Group metadata records share the partitions and survive compaction: the latest per group is
// copied forward, a deleted group's (tombstone) is dropped, and offsets are unaffected.
TEST_F(OffsetsLogTest, CompactionKeepsTheLatestGroupMetadataOfEachGroup) {
  auto log = open_log();
  auto offsets = std::move(*OffsetsLog::open(*log, 1, 64 * 1024));
  auto metadata = [](int generation) {
    GroupMetadata md{"consumer", generation, "range", "m-1", generation, {}};
    md.members.push_back(GroupMember{"m-1", std::nullopt, "c", "/127.0.0.1", 1, 2, {}, {}});
    return md;
  };
  ASSERT_TRUE(offsets->append(std::vector<GroupMetadataRecord>{{"kept", metadata(1)},
                                                               {"deleted", metadata(1)}}));
  ASSERT_TRUE(offsets->append(std::vector<GroupMetadataRecord>{{"kept", metadata(2)},
                                                               {"deleted", std::nullopt}}));
  ASSERT_TRUE(offsets->append({{"kept", "orders", 0, CommittedOffset{5, -1, "", 1}}}));
  ASSERT_TRUE(offsets->compact(0));
  auto part = *log->partition(std::string(kOffsetsTopic), PartitionId(0));
  std::map<std::string, std::optional<GroupMetadata>> seen;
  Offset at = part->log_start_offset();
  auto read = part->read(at, 1 << 20);
  ASSERT_TRUE(read);
  std::size_t pos = 0;
  while (pos < read->records.size()) {
    auto h = storage::parse_header(ByteView(read->records).subspan(pos));
    ASSERT_TRUE(h);
    auto records = storage::read_records(ByteView(read->records).subspan(pos, h->total_bytes()));
    ASSERT_TRUE(records);
    for (const auto& rec : *records) {
      std::optional<ByteView> value;
      if (rec.value) value = ByteView(*rec.value);
      auto d = decode_group_metadata_record(*rec.key, value);
      ASSERT_TRUE(d);
      if (*d) seen[(*d)->group] = (*d)->value;
    }
    pos += h->total_bytes();
  }
  ASSERT_EQ(seen.size(), 1u) << "the deleted group's metadata is gone";
  ASSERT_TRUE(seen["kept"].has_value());
  EXPECT_EQ(seen["kept"]->generation, 2) << "the latest is kept";
  auto got = replay(*offsets);
  EXPECT_EQ((got[{"kept", "orders", 0}]), 5);
}

}  // namespace
}  // namespace wharf::kafka::group
