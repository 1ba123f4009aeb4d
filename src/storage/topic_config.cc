#include "storage/topic_config.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
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

constexpr std::int64_t kLongMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kIntMax = std::numeric_limits<std::int32_t>::max();

// A Kafka topic config Wharf stores without applying: its type, Kafka's default (3.9), and for
// integers the range Kafka's validator allows.
struct StoredConfig {
  std::string_view name;
  ConfigValueType type;
  std::string_view default_value;
  std::int64_t lo = 0;
  std::int64_t hi = 0;
};

using T = ConfigValueType;
constexpr std::array kStoredConfigs = {
    StoredConfig{"compression.gzip.level", T::kInt, "-1", -1, 9},
    StoredConfig{"compression.lz4.level", T::kInt, "9", 1, 17},
    StoredConfig{"compression.type", T::kString, "producer"},
    StoredConfig{"compression.zstd.level", T::kInt, "3", -131072, 22},
    StoredConfig{"delete.retention.ms", T::kLong, "86400000", 0, kLongMax},
    StoredConfig{"file.delete.delay.ms", T::kLong, "60000", 0, kLongMax},
    StoredConfig{"flush.messages", T::kLong, "9223372036854775807", 1, kLongMax},
    StoredConfig{"flush.ms", T::kLong, "9223372036854775807", 0, kLongMax},
    StoredConfig{"follower.replication.throttled.replicas", T::kList, ""},
    StoredConfig{"leader.replication.throttled.replicas", T::kList, ""},
    StoredConfig{"local.retention.bytes", T::kLong, "-2", -2, kLongMax},
    StoredConfig{"local.retention.ms", T::kLong, "-2", -2, kLongMax},
    StoredConfig{"max.compaction.lag.ms", T::kLong, "9223372036854775807", 1, kLongMax},
    StoredConfig{"message.downconversion.enable", T::kBoolean, "true"},
    StoredConfig{"message.format.version", T::kString, "3.0-IV1"},
    StoredConfig{"message.timestamp.after.max.ms", T::kLong, "9223372036854775807", 0, kLongMax},
    StoredConfig{"message.timestamp.before.max.ms", T::kLong, "9223372036854775807", 0, kLongMax},
    StoredConfig{"message.timestamp.difference.max.ms", T::kLong, "9223372036854775807", 0,
                 kLongMax},
    StoredConfig{"min.cleanable.dirty.ratio", T::kDouble, "0.5"},
    StoredConfig{"min.compaction.lag.ms", T::kLong, "0", 0, kLongMax},
    StoredConfig{"min.insync.replicas", T::kInt, "1", 1, kIntMax},
    StoredConfig{"preallocate", T::kBoolean, "false"},
    StoredConfig{"remote.log.copy.disable", T::kBoolean, "false"},
    StoredConfig{"remote.log.delete.on.disable", T::kBoolean, "false"},
    StoredConfig{"remote.storage.enable", T::kBoolean, "false"},
    StoredConfig{"segment.index.bytes", T::kInt, "10485760", 4, kIntMax},
    StoredConfig{"segment.jitter.ms", T::kLong, "0", 0, kLongMax},
    StoredConfig{"unclean.leader.election.enable", T::kBoolean, "false"},
};

const StoredConfig* find_stored(std::string_view name) {
  for (const auto& c : kStoredConfigs) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "" or "*" or "partition:broker,..." as Kafka's ThrottledReplicaListValidator.
bool is_throttled_replica_list(std::string_view s) {
  s = trim(s);
  if (s.empty() || s == "*") return true;
  while (true) {
    const auto comma = s.find(',');
    const std::string_view entry = trim(s.substr(0, comma));
    const auto colon = entry.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == entry.size()) return false;
    const auto digits = [](std::string_view d) {
      return std::all_of(d.begin(), d.end(),
                         [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
    };
    if (!digits(entry.substr(0, colon)) || !digits(entry.substr(colon + 1))) return false;
    if (comma == std::string_view::npos) return true;
    s = s.substr(comma + 1);
  }
}

// "3.0", "2.8-IV1", "0.10.2": the shape of Kafka's MetadataVersion strings.
bool is_message_format_version(std::string_view s) {
  const auto dash = s.find('-');
  const std::string_view version = s.substr(0, dash);
  if (dash != std::string_view::npos) {
    const std::string_view iv = s.substr(dash + 1);
    if (iv.size() < 3 || !iv.starts_with("IV") ||
        !std::all_of(iv.begin() + 2, iv.end(),
                     [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
      return false;
    }
  }
  int parts = 0;
  std::size_t start = 0;
  while (true) {
    const auto dot = version.find('.', start);
    const std::string_view part = version.substr(start, dot - start);
    if (part.empty() || !std::all_of(part.begin(), part.end(), [](char ch) {
          return std::isdigit(static_cast<unsigned char>(ch));
        })) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts >= 2 && parts <= 3;
}

// Checks `value` as Kafka checks the config's type and range; returns the value to store.
Result<std::string> parse_stored(const StoredConfig& c, const std::string& value) {
  const std::string key(c.name);
  switch (c.type) {
    case ConfigValueType::kInt:
    case ConfigValueType::kLong: {
      const std::string trimmed(trim(value));
      WHARF_ASSIGN_OR_RETURN(std::int64_t v, parse_int(key, trimmed, c.lo, c.hi));
      if (key == "compression.gzip.level" && v == 0) {
        return fail(ErrorCode::kInvalidArgument, "{}: 0 is not -1 or in [1, 9]", key);
      }
      return std::to_string(v);
    }
    case ConfigValueType::kBoolean: {
      std::string lower(trim(value));
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (lower != "true" && lower != "false") {
        return fail(ErrorCode::kInvalidArgument, "{}: '{}' is not true or false", key,
                    excerpt(value));
      }
      return lower;
    }
    case ConfigValueType::kDouble: {
      const std::string trimmed(trim(value));
      char* end = nullptr;
      const double v = trimmed.empty() ? -1 : std::strtod(trimmed.c_str(), &end);
      if (trimmed.empty() || end != trimmed.c_str() + trimmed.size()) {
        return fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a number", key, excerpt(value));
      }
      if (!(v >= 0 && v <= 1)) {  // min.cleanable.dirty.ratio, the only double
        return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [0, 1]", key, trimmed);
      }
      return trimmed;
    }
    case ConfigValueType::kList:
      if (!is_throttled_replica_list(value)) {
        return fail(ErrorCode::kInvalidArgument,
                    "{}: '{}' is not '*' or a list of partition:broker pairs", key, excerpt(value));
      }
      return std::string(trim(value));
    case ConfigValueType::kString:
      if (key == "compression.type") {
        static constexpr std::array<std::string_view, 6> kCodecs = {
            "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"};
        if (std::find(kCodecs.begin(), kCodecs.end(), value) == kCodecs.end()) {
          return fail(ErrorCode::kInvalidArgument,
                      "compression.type: '{}' is not one of producer, uncompressed, gzip, "
                      "snappy, lz4, zstd",
                      excerpt(value));
        }
      } else if (key == "message.format.version" && !is_message_format_version(value)) {
        return fail(ErrorCode::kInvalidArgument, "message.format.version: '{}' is not a version",
                    excerpt(value));
      }
      return value;
  }
  return fail(ErrorCode::kInvalidArgument, "{}: unknown type", key);
}

}  // namespace

std::optional<ConfigValueType> topic_config_type(std::string_view name) {
  if (name == "cleanup.policy") return ConfigValueType::kList;
  if (name == "message.timestamp.type" || name == "sync.policy") return ConfigValueType::kString;
  if (name == "segment.bytes" || name == "max.message.bytes" || name == "index.interval.bytes")
    return ConfigValueType::kInt;
  if (name == "segment.ms" || name == "retention.ms" || name == "retention.bytes")
    return ConfigValueType::kLong;
  if (const auto* c = find_stored(name)) return c->type;
  return std::nullopt;
}

std::map<std::string, std::string> stored_topic_config_defaults() {
  std::map<std::string, std::string> out;
  for (const auto& c : kStoredConfigs) out.emplace(c.name, c.default_value);
  return out;
}

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
      // A list as Kafka's: "delete", "compact", "compact,delete" (any order, spaces allowed).
      bool compact = false, del = false;
      std::string_view rest = value;
      while (true) {
        const auto comma = rest.find(',');
        const std::string_view item = trim(rest.substr(0, comma));
        if (item == "compact") {
          compact = true;
        } else if (item == "delete") {
          del = true;
        } else {
          return fail(ErrorCode::kInvalidArgument,
                      "cleanup.policy: '{}' is not delete, compact or compact,delete",
                      excerpt(value));
        }
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
      }
      c.cleanup_compact = compact;
      c.cleanup_delete = del;
    } else if (key == "sync.policy") {
      WHARF_ASSIGN_OR_RETURN(c.sync, SyncPolicy::parse(value));
    } else if (const auto* stored = find_stored(key)) {
      WHARF_ASSIGN_OR_RETURN(c.stored[key], parse_stored(*stored, value));
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
  std::map<std::string, std::string> out = stored;
  out.merge(std::map<std::string, std::string>{
      {"segment.bytes", std::to_string(segment_bytes)},
      {"segment.ms", std::to_string(segment_ms)},
      {"retention.bytes", std::to_string(retention_bytes)},
      {"retention.ms", std::to_string(retention_ms)},
      {"max.message.bytes", std::to_string(max_message_bytes)},
      {"index.interval.bytes", std::to_string(index_interval_bytes)},
      {"message.timestamp.type", log_append_time ? "LogAppendTime" : "CreateTime"},
      {"cleanup.policy", cleanup_policy()},
      {"sync.policy", sync.to_string()},
  });
  return out;
}

std::string TopicConfig::cleanup_policy() const {
  if (cleanup_compact && cleanup_delete) return "compact,delete";
  return cleanup_compact ? "compact" : "delete";
}

namespace {
// A stored integer config; its value was range-checked when it was set.
std::int64_t stored_long(const std::map<std::string, std::string>& stored, std::string_view name) {
  const auto it = stored.find(std::string(name));
  const std::string_view text =
      it != stored.end() ? std::string_view(it->second) : find_stored(name)->default_value;
  std::int64_t out = 0;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return out;
}
}  // namespace

std::int64_t TopicConfig::delete_retention_ms() const {
  return stored_long(stored, "delete.retention.ms");
}
std::int64_t TopicConfig::min_compaction_lag_ms() const {
  return stored_long(stored, "min.compaction.lag.ms");
}
Recompression TopicConfig::recompression() const {
  const auto it = stored.find("compression.type");
  const std::string_view type = it != stored.end() ? std::string_view(it->second) : "producer";
  Recompression out;
  if (type == "uncompressed") {
    out.target = Compression::kNone;
  } else if (type == "gzip") {
    out.target = Compression::kGzip;
    out.level = static_cast<int>(stored_long(stored, "compression.gzip.level"));
  } else if (type == "snappy") {
    out.target = Compression::kSnappy;
  } else if (type == "lz4") {
    out.target = Compression::kLz4;
    out.level = static_cast<int>(stored_long(stored, "compression.lz4.level"));
  } else if (type == "zstd") {
    out.target = Compression::kZstd;
    out.level = static_cast<int>(stored_long(stored, "compression.zstd.level"));
  }
  return out;
}

double TopicConfig::min_cleanable_dirty_ratio() const {
  const auto it = stored.find("min.cleanable.dirty.ratio");
  if (it == stored.end()) return 0.5;
  return std::strtod(it->second.c_str(), nullptr);
}

}  // namespace wharf::storage
