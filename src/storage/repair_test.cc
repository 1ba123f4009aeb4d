#include "storage/repair.h"

#include <gtest/gtest.h>

#include "io/memory_file_system.h"
#include "storage/partition.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

constexpr char kData[] = "/data";
constexpr char kDir[] = "/data/topics/t/0";

class RepairTest : public ::testing::Test {
 protected:
  // Six batches in the first segment (and later segments when `segment_bytes` is small), then a
  // flipped byte in the length field of batch 2: recovery refuses the partition.
  void damage_middle_batch(const std::string& segment_bytes = "1073741824") {
    config_ = *TopicConfig::from_map({{"segment.bytes", segment_bytes}});
    auto p = Partition::open(mem_, kDir, config_, clock_);
    ASSERT_TRUE(p.has_value());
    for (int i = 0; i < 6; ++i) {
      positions_.push_back((*p)->size_bytes());
      ASSERT_TRUE((*p)->append(test::deterministic_batch(5, i)).has_value());
    }
    p->reset();
    mem_.crash();
    log_ = io::join_path(kDir, segment_file_name(Offset(0), ".log"));
    auto f = mem_.open(log_, io::OpenMode::kReadWrite);
    std::array<std::byte, 1> b{std::byte{0x11}};
    ASSERT_TRUE(
        (*f)->write_at(FilePosition(positions_[2] + batch_layout::kLength + 3), b).has_value());
    ASSERT_TRUE((*f)->sync().has_value());
    ASSERT_FALSE(Partition::open(mem_, kDir, config_, clock_).has_value());
  }

  io::MemoryFileSystem mem_;
  ManualClock clock_;
  TopicConfig config_;
  std::vector<std::uint64_t> positions_;
  std::string log_;
};

TEST_F(RepairTest, CutAtTheNamedPositionKeepsTheIntactBatchesAndTheCutBytes) {
  damage_middle_batch();
  const std::uint64_t size = *(*mem_.open(log_, io::OpenMode::kReadOnly))->size();
  auto plan = plan_repair(mem_, kData, log_, positions_[2]);
  ASSERT_TRUE(plan.has_value()) << plan.error().to_string();
  EXPECT_EQ(plan->batches_kept, 2);
  EXPECT_EQ(plan->cut_bytes, size - positions_[2]);
  EXPECT_GT(plan->log_end_after, Offset(1));
  ASSERT_TRUE(apply_repair(mem_, *plan).has_value());

  auto p = Partition::open(mem_, kDir, config_, clock_);
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  EXPECT_EQ((*p)->log_end_offset(), plan->log_end_after);
  const std::string side = "/data/repair/t/0/" + segment_file_name(Offset(0), ".log") + ".cut-at-" +
                           std::to_string(positions_[2]);
  auto kept = mem_.durable_contents(side);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->size(), size - positions_[2]);
}

TEST_F(RepairTest, RefusesAPositionThatIsNotABatchBoundaryOrPastDamage) {
  damage_middle_batch();
  EXPECT_FALSE(plan_repair(mem_, kData, log_, positions_[1] + 3).has_value());
  EXPECT_FALSE(plan_repair(mem_, kData, log_, positions_[4]).has_value())
      << "batch 2 before it is damaged";
  EXPECT_FALSE(plan_repair(mem_, kData, "/elsewhere/00000000000000000000.log", 0).has_value());
  EXPECT_TRUE(plan_repair(mem_, kData, log_, positions_[1]).has_value());
}

TEST_F(RepairTest, LaterSegmentsAreMovedAsideWhole) {
  damage_middle_batch("4096");
  auto plan = plan_repair(mem_, kData, log_, positions_[2]);
  ASSERT_TRUE(plan.has_value()) << plan.error().to_string();
  ASSERT_TRUE(apply_repair(mem_, *plan).has_value());
  auto p = Partition::open(mem_, kDir, config_, clock_);
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  EXPECT_EQ((*p)->log_end_offset(), plan->log_end_after);
}

}  // namespace
}  // namespace wharf::storage
