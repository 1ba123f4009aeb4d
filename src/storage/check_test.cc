#include "storage/check.h"

#include <gtest/gtest.h>

#include "io/memory_file_system.h"
#include "storage/log_manager.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogManagerOptions o;
    o.data_dir = "/data";
    o.background = false;
    auto m = LogManager::open(mem_, o, clock_);
    ASSERT_TRUE(m.has_value());
    ASSERT_TRUE((*m)->create_topic("t", 2, {{"segment.bytes", "4096"}}).has_value());
    auto p = *(*m)->partition("t", PartitionId(1));
    for (int i = 0; i < 30; ++i)
      ASSERT_TRUE(p->append(test::deterministic_batch(1, i, 300, 1)).has_value());
    ASSERT_TRUE((*m)->close().has_value());
  }
  void flip(const std::string& path, std::uint64_t pos) {
    auto f = mem_.open(path, io::OpenMode::kReadWrite);
    std::array<std::byte, 1> b;
    ASSERT_TRUE((*f)->read_at(FilePosition(pos), b).has_value());
    b[0] ^= std::byte{0x20};
    ASSERT_TRUE((*f)->write_at(FilePosition(pos), b).has_value());
  }
  io::MemoryFileSystem mem_;
  ManualClock clock_;
};

TEST_F(CheckTest, CleanDataDirectoryHasNoProblems) {
  auto r = check_data_dir(mem_, "/data");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->problems.empty()) << r->problems[0].file << ": " << r->problems[0].what;
  EXPECT_EQ(r->topics, 1);
  EXPECT_EQ(r->partitions, 2);
  EXPECT_EQ(r->batches, 30);
  EXPECT_GT(r->segments, 3);
}

TEST_F(CheckTest, ReportsABadCrcWithFileAndPosition) {
  const std::string log = "/data/topics/t/1/00000000000000000000.log";
  auto first = parse_header(*io::read_file(mem_, log, kBatchBytesHardMax));
  flip(log, first->total_bytes() + 100);
  auto r = check_data_dir(mem_, "/data");
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->problems.size(), 1u);
  EXPECT_EQ(r->problems[0].file, log);
  EXPECT_EQ(r->problems[0].position, first->total_bytes());
  EXPECT_NE(r->problems[0].what.find("CRC"), std::string::npos);
}

TEST_F(CheckTest, ReportsBadIndexesSnapshotsMetadataAndOrphans) {
  flip("/data/topics/t/1/00000000000000000000.index", 7);
  auto names = *mem_.list_dir("/data/topics/t/1");
  for (const auto& n : names) {
    if (n.ends_with(".snapshot")) {
      flip(io::join_path("/data/topics/t/1", n), 20);
      break;
    }
  }
  ASSERT_TRUE(mem_.open("/data/topics/t/1/00000000000000099999.timeindex", io::OpenMode::kTruncate)
                  .has_value());
  auto r = check_data_dir(mem_, "/data");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->problems.size(), 3u);
  ASSERT_TRUE(
      io::write_file_atomic(mem_, "/data/topics/t/topic.json", as_bytes("{not json")).has_value());
  r = check_data_dir(mem_, "/data");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->problems.size(), 1u);
  EXPECT_EQ(r->problems[0].file, "/data/topics/t/topic.json");
}

}  // namespace
}  // namespace wharf::storage
