#include "storage/topic_config.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

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
  EXPECT_EQ(TopicConfig::from_map({{"cleanup.policy", "compact,shred"}}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(TopicConfig::from_map({{"cleanup.policy", ""}}).has_value());
}

TEST(TopicConfig, CleanupPolicyIsAListOfCompactAndDelete) {
  auto c = TopicConfig::from_map({{"cleanup.policy", "compact"},
                                  {"delete.retention.ms", "1000"},
                                  {"min.compaction.lag.ms", "5"},
                                  {"min.cleanable.dirty.ratio", "0.1"}});
  ASSERT_TRUE(c.has_value()) << c.error().to_string();
  EXPECT_TRUE(c->cleanup_compact);
  EXPECT_FALSE(c->cleanup_delete);
  EXPECT_EQ(c->to_map().at("cleanup.policy"), "compact");
  EXPECT_EQ(c->delete_retention_ms(), 1000);
  EXPECT_EQ(c->min_compaction_lag_ms(), 5);
  EXPECT_DOUBLE_EQ(c->min_cleanable_dirty_ratio(), 0.1);
  auto both = TopicConfig::from_map({{"cleanup.policy", " delete , compact"}});
  ASSERT_TRUE(both.has_value());
  EXPECT_TRUE(both->cleanup_compact && both->cleanup_delete);
  EXPECT_EQ(both->to_map().at("cleanup.policy"), "compact,delete");
  auto again = TopicConfig::from_map(both->to_map());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *both);
  const TopicConfig plain;
  EXPECT_FALSE(plain.cleanup_compact);
  EXPECT_EQ(plain.delete_retention_ms(), 86'400'000);
  EXPECT_DOUBLE_EQ(plain.min_cleanable_dirty_ratio(), 0.5);
}

TEST(TopicConfig, StoredOnlyKafkaConfigsAreCheckedKeptAndReportedWithTheirDefaults) {
  auto c = TopicConfig::from_map({{"compression.type", "zstd"},
                                  {"min.insync.replicas", " 2 "},
                                  {"unclean.leader.election.enable", "TRUE"},
                                  {"min.cleanable.dirty.ratio", "0.25"},
                                  {"leader.replication.throttled.replicas", "0:0,1:0"},
                                  {"message.format.version", "2.8-IV1"}});
  ASSERT_TRUE(c.has_value()) << c.error().to_string();
  auto map = c->to_map();
  EXPECT_EQ(map["compression.type"], "zstd");
  EXPECT_EQ(map["min.insync.replicas"], "2");
  EXPECT_EQ(map["unclean.leader.election.enable"], "true");
  EXPECT_EQ(map["min.cleanable.dirty.ratio"], "0.25");
  EXPECT_EQ(map["leader.replication.throttled.replicas"], "0:0,1:0");
  EXPECT_EQ(map["message.format.version"], "2.8-IV1");
  // Unset ones are reported at Kafka's defaults, beside the applied configs.
  EXPECT_EQ(map["flush.ms"], "9223372036854775807");
  EXPECT_EQ(map["local.retention.ms"], "-2");
  EXPECT_EQ(map["segment.index.bytes"], "10485760");
  EXPECT_EQ(map["segment.bytes"], "1073741824");
  auto again = TopicConfig::from_map(map);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(*again, *c);
  EXPECT_EQ(topic_config_type("preallocate"), ConfigValueType::kBoolean);
  EXPECT_EQ(topic_config_type("segment.bytes"), ConfigValueType::kInt);
  EXPECT_EQ(topic_config_type("no.such.key"), std::nullopt);
}

TEST(TopicConfig, StoredOnlyConfigsRefuseValuesKafkaRefuses) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"compression.type", "brotli"},
           {"min.insync.replicas", "0"},
           {"min.insync.replicas", "two"},
           {"min.insync.replicas", "2147483648"},
           {"flush.messages", "0"},
           {"delete.retention.ms", "1.5"},
           {"preallocate", "yes"},
           {"min.cleanable.dirty.ratio", "1.5"},
           {"min.cleanable.dirty.ratio", "half"},
           {"compression.gzip.level", "0"},
           {"local.retention.ms", "-3"},
           {"follower.replication.throttled.replicas", "0-0"},
           {"message.format.version", "latest"}}) {
    auto bad = TopicConfig::from_map({{key, value}});
    ASSERT_FALSE(bad.has_value()) << key << "=" << value;
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_NE(bad.error().message().find(key), std::string::npos) << bad.error().message();
  }
}

TEST(TopicConfig, CompressionTypeAndLevelsGiveTheRecompression) {
  EXPECT_FALSE(TopicConfig{}.recompression().target.has_value());  // producer
  auto plain = TopicConfig::from_map({{"compression.type", "uncompressed"}});
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->recompression().target, Compression::kNone);
  auto zstd = TopicConfig::from_map({{"compression.type", "zstd"}});
  EXPECT_EQ(zstd->recompression().target, Compression::kZstd);
  EXPECT_EQ(zstd->recompression().level, 3);  // Kafka's default
  auto gzip =
      TopicConfig::from_map({{"compression.type", "gzip"}, {"compression.gzip.level", "9"}});
  EXPECT_EQ(gzip->recompression().target, Compression::kGzip);
  EXPECT_EQ(gzip->recompression().level, 9);
  auto lz4 = TopicConfig::from_map({{"compression.type", "lz4"}});
  EXPECT_EQ(lz4->recompression().level, 9);
  auto snappy = TopicConfig::from_map({{"compression.type", "snappy"}});
  EXPECT_EQ(snappy->recompression().target, Compression::kSnappy);
  EXPECT_FALSE(snappy->recompression().level.has_value());
}

}  // namespace
}  // namespace wharf::storage
