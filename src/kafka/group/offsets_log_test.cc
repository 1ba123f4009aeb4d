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
  std::map<std::tuple<std::string, std::string, std::int32_t>, std::int64_t> replay(
      OffsetsLog& log) {
    std::map<std::tuple<std::string, std::string, std::int32_t>, std::int64_t> out;
    EXPECT_TRUE(log.load([&](const OffsetRecord& r) {
                     auto k = std::make_tuple(r.group, r.topic, r.partition);
                     if (r.value)
                       out[k] = r.value->offset;
                     else
                       out.erase(k);
                   })
                    .has_value());
    return out;
  }
  io::MemoryFileSystem mem_;
  ManualClock clock_;
};

TEST_F(OffsetsLogTest, CommitsSurviveACrashAndTombstonesDelete) {
  {
    auto log = open_log();
    auto offsets = OffsetsLog::open(*log, 5, clock_);
    ASSERT_TRUE(offsets.has_value());
    ASSERT_TRUE((*offsets)
                    ->append({{"g1", "orders", 0, CommittedOffset{10, -1, "", 1}},
                              {"g2", "orders", 1, CommittedOffset{20, -1, "", 1}}})
                    .has_value());
    ASSERT_TRUE((*offsets)
                    ->append({{"g1", "orders", 0, CommittedOffset{11, -1, "", 2}},
                              {"g2", "orders", 1, std::nullopt}})
                    .has_value());
  }
  mem_.crash();  // every append above returned, so it was synced
  auto log = open_log();
  auto offsets = OffsetsLog::open(*log, 5, clock_);
  ASSERT_TRUE(offsets.has_value());
  auto got = replay(**offsets);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ((got[{"g1", "orders", 0}]), 11);
  EXPECT_TRUE(log->topic(std::string(kOffsetsTopic)).has_value());
}

// The topic is compacted by the storage engine's log cleaner (cleanup.policy=compact): growth is
// bounded and the latest offsets survive the cleaner and a crash after it.
TEST_F(OffsetsLogTest, TheLogCleanerBoundsGrowthAndKeepsTheLatestOffsets) {
  auto log = open_log();
  auto offsets = std::move(*OffsetsLog::open(*log, 1, clock_));
  const std::string topic(kOffsetsTopic);
  ASSERT_EQ(log->topic(topic)->overrides.at("cleanup.policy"), "compact");
  // Small segments, so that the test's few hundred KiB roll many of them.
  ASSERT_TRUE(log->alter_config(
      topic,
      {{"sync.policy", "always"}, {"cleanup.policy", "compact"}, {"segment.bytes", "16384"}}));
  for (int round = 0; round < 2000; ++round) {
    std::vector<OffsetRecord> batch;
    for (int p = 0; p < 6; ++p)
      batch.push_back({"g", "orders", p, CommittedOffset{round * 10 + p, -1, "", round}});
    ASSERT_TRUE(offsets->append(batch).has_value());
    if (round % 200 == 199) log->run_cleaner();
  }
  log->run_cleaner();
  auto part = *log->partition(topic, PartitionId(0));
  EXPECT_LT(part->size_bytes(), 200u * 1024) << "growth is bounded (unbounded: about 1 MiB)";
  auto got = replay(*offsets);
  ASSERT_EQ(got.size(), 6u);
  for (int p = 0; p < 6; ++p) EXPECT_EQ((got[{"g", "orders", p}]), 1999 * 10 + p);
  // Crash right after cleaning: nothing is lost.
  offsets.reset();
  part.reset();
  log.reset();
  mem_.crash();
  auto log2 = open_log();
  auto again = std::move(*OffsetsLog::open(*log2, 1, clock_));
  EXPECT_EQ(replay(*again), got);
}

// A topic written by a version that compacted it itself (no cleanup.policy) becomes compacted.
TEST_F(OffsetsLogTest, AnOlderOffsetsTopicBecomesCompacted) {
  {
    auto log = open_log();
    ASSERT_TRUE(log->create_topic(std::string(kOffsetsTopic), 2, {{"sync.policy", "always"}}));
  }
  auto log = open_log();
  auto offsets = OffsetsLog::open(*log, 2, clock_);
  ASSERT_TRUE(offsets);
  EXPECT_EQ(log->topic(std::string(kOffsetsTopic))->overrides.at("cleanup.policy"), "compact");
  EXPECT_EQ((*offsets)->partitions(), 2) << "the existing partition count is kept";
}

// Group metadata records share the partitions and the cleaner keeps the latest of each group;
// a deleted group keeps only its tombstone (until delete.retention.ms).
TEST_F(OffsetsLogTest, TheCleanerKeepsTheLatestGroupMetadataOfEachGroup) {
  auto log = open_log();
  auto offsets = std::move(*OffsetsLog::open(*log, 1, clock_));
  const std::string topic(kOffsetsTopic);
  ASSERT_TRUE(log->alter_config(
      topic,
      {{"sync.policy", "always"}, {"cleanup.policy", "compact"}, {"segment.bytes", "4096"}}));
  auto metadata = [](int generation) {
    GroupMetadata md{"consumer", generation, "range", "m-1", generation, {}};
    md.members.push_back(GroupMember{"m-1", std::nullopt, "c", "/127.0.0.1", 1, 2, {}, {}});
    return md;
  };
  for (int generation = 1; generation <= 100; ++generation) {
    ASSERT_TRUE(offsets->append(std::vector<GroupMetadataRecord>{
        {"kept", metadata(generation)}, {"deleted", metadata(generation)}}));
  }
  ASSERT_TRUE(offsets->append(std::vector<GroupMetadataRecord>{{"deleted", std::nullopt}}));
  ASSERT_TRUE(offsets->append({{"kept", "orders", 0, CommittedOffset{5, -1, "", 1}}}));
  auto part = *log->partition(topic, PartitionId(0));
  ASSERT_TRUE(part->roll());  // the cleaner never touches the active segment
  log->run_cleaner();
  std::map<std::string, std::vector<std::optional<GroupMetadata>>> seen;
  Offset at = part->log_start_offset();
  while (at < part->high_watermark()) {
    auto read = part->read(at, 1 << 20);
    ASSERT_TRUE(read);
    if (read->records.empty()) break;
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
        if (*d) seen[(*d)->group].push_back((*d)->value);
      }
      pos += h->total_bytes();
      at = h->next_offset();
    }
  }
  ASSERT_EQ(seen["kept"].size(), 1u) << "only the latest metadata of the group is left";
  ASSERT_TRUE(seen["kept"][0].has_value());
  EXPECT_EQ(seen["kept"][0]->generation, 100);
  ASSERT_EQ(seen["deleted"].size(), 1u) << "only the tombstone is left";
  EXPECT_FALSE(seen["deleted"][0].has_value());
  auto got = replay(*offsets);
  EXPECT_EQ((got[{"kept", "orders", 0}]), 5);
}

// The metadata of many groups handed over at once goes out in batches of bounded size (one batch
// of everything could pass the topic's batch limit and fail every later append with it).
TEST_F(OffsetsLogTest, ManyGroupsMetadataIsSplitIntoBoundedBatches) {
  auto log = open_log();
  auto offsets = std::move(*OffsetsLog::open(*log, 1, clock_));
  std::vector<GroupMetadataRecord> records;
  for (int g = 0; g < 300; ++g) {
    GroupMetadata md{"consumer", 1, "range", "m", 0, {}};
    md.members.push_back(GroupMember{"m", std::nullopt, "c", "h", 1, 2, Bytes(4096), {}});
    records.push_back({"group-" + std::to_string(g), std::move(md)});
  }
  ASSERT_TRUE(offsets->append(records));  // about 1.2 MiB in all
  auto part = *log->partition(std::string(kOffsetsTopic), PartitionId(0));
  int batches = 0, groups = 0;
  for (Offset at = part->log_start_offset(); at < part->high_watermark();) {
    auto read = part->read(at, 4 << 20);
    ASSERT_TRUE(read);
    auto h = storage::parse_header(ByteView(read->records));
    ASSERT_TRUE(h);
    EXPECT_LE(h->total_bytes(), 1024u * 1024) << "a batch within max.message.bytes";
    auto recs = storage::read_records(ByteView(read->records).first(h->total_bytes()));
    ASSERT_TRUE(recs);
    groups += static_cast<int>(recs->size());
    ++batches;
    at = h->next_offset();
  }
  EXPECT_EQ(groups, 300);
  EXPECT_GT(batches, 1);
}

}  // namespace
}  // namespace wharf::kafka::group
