#include "storage/topic_config.h"

#include <gtest/gtest.h>

namespace wharf::storage {
namespace {

TEST(TopicConfig, OverridesApplyAndRoundTripThroughTheMap) {
  auto c = TopicConfig::from_map({{"segment.bytes", "1048576"},
                                  {"retention.ms", "-1"},
                                  {"sync.policy", "interval:50"},
                                  {"message.timestamp.type", "LogAppendTime"}});
  ASSERT_TRUE(c.has_value()) << c.error().to_string();
  EXPECT_EQ(c->segment_bytes, 1048576u);
  EXPECT_EQ(c->retention_ms, -1);
  EXPECT_EQ(c->sync.kind, SyncPolicy::Kind::kInterval);
  EXPECT_EQ(c->sync.interval.count(), 50);
  EXPECT_TRUE(c->log_append_time);
  auto again = TopicConfig::from_map(c->to_map());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *c);
}

TEST(TopicConfig, BadValuesNameTheKey) {
  auto bad = TopicConfig::from_map({{"segment.bytes", "12"}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("segment.bytes"), std::string::npos);
  EXPECT_FALSE(TopicConfig::from_map({{"segment.ms", "abc"}}).has_value());
  EXPECT_FALSE(TopicConfig::from_map({{"no.such.key", "1"}}).has_value());
  EXPECT_FALSE(TopicConfig::from_map({{"sync.policy", "sometimes"}}).has_value());
  EXPECT_FALSE(TopicConfig::from_map({{"sync.policy", "interval:0"}}).has_value());
  EXPECT_EQ(TopicConfig::from_map({{"cleanup.policy", "compact"}}).error().code(),
            ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace wharf::storage
