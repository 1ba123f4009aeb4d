#include "storage/topic_config.h"

#include <charconv>
#include <limits>

#include "base/text.h"
#include "storage/limits.h"
#include "storage/record_batch.h"

namespace wharf::storage {
namespace {

Result<std::int64_t> parse_int(const std::string& key, const std::string& value, std::int64_t lo,
                               std::int64_t hi) {
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || ptr != value.data() + value.size()) {
    return fail(ErrorCode::kInvalidArgument, "{}: '{}' is not an integer", key, excerpt(value));
  }
  if (out < lo || out > hi) {
    return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [{}, {}]", key, out, lo, hi);
  }
  return out;
}

}  // namespace

Result<SyncPolicy> SyncPolicy::parse(std::string_view text) {
  if (text == "always") return SyncPolicy{Kind::kAlways, {}};
  if (text == "none") return SyncPolicy{Kind::kNone, {}};
  constexpr std::string_view kPrefix = "interval:";
  if (text.starts_with(kPrefix)) {
    WHARF_ASSIGN_OR_RETURN(
        std::int64_t ms,
        parse_int("sync.policy", std::string(text.substr(kPrefix.size())), 1, 3'600'000));
    return SyncPolicy{Kind::kInterval, std::chrono::milliseconds(ms)};
  }
  return fail(ErrorCode::kInvalidArgument,
              "sync.policy: '{}' is not one of always, interval:<ms>, none", excerpt(text));
}

std::string SyncPolicy::to_string() const {
  switch (kind) {
    case Kind::kAlways:
      return "always";
    case Kind::kInterval:
      return fmt::format("interval:{}", interval.count());
    case Kind::kNone:
      return "none";
  }
  return "always";
}

Result<TopicConfig> TopicConfig::from_map(const std::map<std::string, std::string>& overrides,
                                          const TopicConfig& base) {
  TopicConfig c = base;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  for (const auto& [key, value] : overrides) {
    if (key == "segment.bytes") {
      WHARF_ASSIGN_OR_RETURN(auto v, parse_int(key, value, kSegmentBytesMin, kSegmentBytesMax));
      c.segment_bytes = static_cast<std::uint64_t>(v);
    } else if (key == "segment.ms") {
      WHARF_ASSIGN_OR_RETURN(c.segment_ms, parse_int(key, value, 1, kMax));
    } else if (key == "retention.bytes") {
      WHARF_ASSIGN_OR_RETURN(c.retention_bytes, parse_int(key, value, -1, kMax));
    } else if (key == "retention.ms") {
      WHARF_ASSIGN_OR_RETURN(c.retention_ms, parse_int(key, value, -1, kMax));
    } else if (key == "max.message.bytes") {
      WHARF_ASSIGN_OR_RETURN(auto v, parse_int(key, value, batch_layout::kHeaderBytes,
                                               static_cast<std::int64_t>(kBatchBytesHardMax)));
      c.max_message_bytes = static_cast<std::size_t>(v);
    } else if (key == "index.interval.bytes") {
      WHARF_ASSIGN_OR_RETURN(auto v, parse_int(key, value, 0, 1 << 30));
      c.index_interval_bytes = static_cast<std::uint32_t>(v);
    } else if (key == "message.timestamp.type") {
      if (value != "CreateTime" && value != "LogAppendTime") {
        return fail(ErrorCode::kInvalidArgument,
                    "message.timestamp.type: '{}' is not CreateTime or LogAppendTime",
                    excerpt(value));
      }
      c.log_append_time = value == "LogAppendTime";
    } else if (key == "cleanup.policy") {
      if (value != "delete") {
        return fail(ErrorCode::kUnsupported,
                    "cleanup.policy: '{}' is not supported yet (only 'delete')", excerpt(value));
      }
    } else if (key == "sync.policy") {
      WHARF_ASSIGN_OR_RETURN(c.sync, SyncPolicy::parse(value));
    } else {
      return fail(ErrorCode::kInvalidArgument, "unknown topic config '{}'", excerpt(key));
    }
  }
  return c;
}

Result<TopicConfig> TopicConfig::from_map(const std::map<std::string, std::string>& overrides) {
  return from_map(overrides, TopicConfig{});
}

std::map<std::string, std::string> TopicConfig::to_map() const {
  return {
      {"segment.bytes", std::to_string(segment_bytes)},
      {"segment.ms", std::to_string(segment_ms)},
      {"retention.bytes", std::to_string(retention_bytes)},
      {"retention.ms", std::to_string(retention_ms)},
      {"max.message.bytes", std::to_string(max_message_bytes)},
      {"index.interval.bytes", std::to_string(index_interval_bytes)},
      {"message.timestamp.type", log_append_time ? "LogAppendTime" : "CreateTime"},
      {"cleanup.policy", "delete"},
      {"sync.policy", sync.to_string()},
  };
}

}  // namespace wharf::storage
