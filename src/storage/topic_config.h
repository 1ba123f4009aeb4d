// Per-topic settings of the log engine, under Kafka's own config names where Kafka has one.
// A plain value type; the LogManager persists it with the topic's metadata.
//
//   segment.bytes           roll the active segment at this size        (default 1 GiB)
//   segment.ms              roll the active segment at this age          (default 7 days)
//   retention.bytes         per-partition size above which old segments go (default -1: none)
//   retention.ms            age above which old segments go              (default 7 days)
//   max.message.bytes       largest batch accepted                        (default 1048588)
//   index.interval.bytes    bytes between sparse index entries            (default 4096)
//   message.timestamp.type  CreateTime | LogAppendTime                    (default CreateTime)
//   cleanup.policy          delete | compact | compact,delete            (default delete)
//   delete.retention.ms, min.compaction.lag.ms, min.cleanable.dirty.ratio: applied by the log
//                           cleaner on compacted topics (kept in `stored`, read through the
//                           accessors below)
//   sync.policy             always | interval:<ms> | none                 (default always)
//   compression.type, compression.gzip.level, compression.lz4.level, compression.zstd.level:
//                           applied on produce: a batch of another codec is stored recompressed
//                           (kept in `stored`, read through recompression())
//
// Every other Kafka topic config (min.insync.replicas, flush.ms, ...) is
// accepted, type-checked as Kafka checks it, stored and reported, but changes nothing in the
// log: `stored` holds them, each at its Kafka default unless set (see docs/broker.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "storage/compression.h"

namespace wharf::storage {

struct SyncPolicy {
  enum class Kind { kAlways, kInterval, kNone };
  Kind kind = Kind::kAlways;
  std::chrono::milliseconds interval{0};

  // "always", "interval:<ms>" (1..3600000) or "none".
  [[nodiscard]] static Result<SyncPolicy> parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const SyncPolicy&) const = default;
};

// The value types of Kafka's ConfigDef, which DescribeConfigs v3+ reports.
enum class ConfigValueType { kBoolean, kString, kInt, kLong, kDouble, kList };

// The type of a topic config Wharf accepts, or nullopt for a name Kafka does not know either.
[[nodiscard]] std::optional<ConfigValueType> topic_config_type(std::string_view name);

// The stored-only topic configs at their Kafka defaults.
std::map<std::string, std::string> stored_topic_config_defaults();

struct TopicConfig {
  std::uint64_t segment_bytes = 1024ull * 1024 * 1024;
  std::int64_t segment_ms = 7LL * 24 * 3600 * 1000;
  std::int64_t retention_bytes = -1;
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  std::size_t max_message_bytes = 1'048'588;
  std::uint32_t index_interval_bytes = 4096;
  bool log_append_time = false;
  SyncPolicy sync;
  // cleanup.policy: `compact` keeps the latest record per key (log_cleaner.h); `delete` applies
  // retention.ms and retention.bytes. Both may be set.
  bool cleanup_compact = false;
  bool cleanup_delete = true;
  // Kafka topic configs Wharf keeps and reports without applying, name -> value.
  std::map<std::string, std::string> stored = stored_topic_config_defaults();

  // Applies `overrides` (Kafka names above) on top of `base`; unknown names and bad values are
  // kInvalidArgument naming the key.
  [[nodiscard]] static Result<TopicConfig> from_map(
      const std::map<std::string, std::string>& overrides, const TopicConfig& base);
  [[nodiscard]] static Result<TopicConfig> from_map(
      const std::map<std::string, std::string>& overrides);
  std::map<std::string, std::string> to_map() const;
  std::string cleanup_policy() const;

  // The compaction settings, parsed from `stored` (validated when they were set).
  std::int64_t delete_retention_ms() const;
  std::int64_t min_compaction_lag_ms() const;
  double min_cleanable_dirty_ratio() const;
  // compression.type and the level of its codec, parsed from `stored`.
  Recompression recompression() const;

  bool operator==(const TopicConfig&) const = default;
};

}  // namespace wharf::storage
