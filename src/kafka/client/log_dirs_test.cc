#include "kafka/client/log_dirs.h"

#include <limits>

#include <gtest/gtest.h>

namespace wharf::kafka::client {
namespace {

TEST(LogDirsTest, SizesOfOnePartitionInSeveralDirectoriesAddUp) {
  std::map<std::int32_t, std::int64_t> sizes;
  ASSERT_TRUE(add_partition_size(sizes, 0, 100).has_value());
  ASSERT_TRUE(add_partition_size(sizes, 0, 23).has_value());
  ASSERT_TRUE(add_partition_size(sizes, 1, 0).has_value());
  EXPECT_EQ(sizes.at(0), 123);
  EXPECT_EQ(sizes.at(1), 0);
}

TEST(LogDirsTest, ASumThatWouldOverflowIsRefusedAndLeavesTheTotalAlone) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  std::map<std::int32_t, std::int64_t> sizes;
  ASSERT_TRUE(add_partition_size(sizes, 3, kMax - 5).has_value());
  auto s = add_partition_size(sizes, 3, 6);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("partition 3"), std::string::npos) << s.error().message();
  EXPECT_EQ(sizes.at(3), kMax - 5);
  EXPECT_TRUE(add_partition_size(sizes, 3, 5).has_value());
  EXPECT_EQ(sizes.at(3), kMax);
}

TEST(LogDirsTest, ANegativeSizeIsRefused) {
  std::map<std::int32_t, std::int64_t> sizes;
  EXPECT_FALSE(add_partition_size(sizes, 0, -1).has_value());
  EXPECT_TRUE(sizes.empty());
}

}  // namespace
}  // namespace wharf::kafka::client
