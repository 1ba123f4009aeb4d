// Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
// AlterConfigs and IncrementalAlterConfigs. Each topic change is durable (LogManager writes topic
// metadata atomically) before it is answered; the broker's dynamic configs (log.level) live in
// memory only.
#include <cctype>

#include "kafka/group/offsets_codec.h"
#include "kafka/protocol/generated/alter_configs.h"
#include "kafka/protocol/generated/create_partitions.h"
#include "kafka/protocol/generated/create_topics.h"
#include "kafka/protocol/generated/delete_topics.h"
#include "kafka/protocol/generated/describe_configs.h"
#include "kafka/protocol/generated/incremental_alter_configs.h"
#include "kafka/server/handler_util.h"
#include "storage/limits.h"
#include "storage/topic_config.h"

namespace wharf::kafka {
namespace p = protocol;

namespace {

// The error for a failed create, with the more precise codes Kafka uses for bad arguments.
KafkaError create_error(const Error& e) {
  if (e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kUnsupported) {
    return KafkaError::kInvalidConfig;
  }
  return to_kafka_error(e);
}

bool replicas_are_only(const std::vector<std::int32_t>& ids, std::int32_t node) {
  return ids.size() == 1 && ids[0] == node;
}

// Kafka requires a manual assignment to name partitions 0..n-1, each once.
template <typename Assignment>
bool partitions_are_0_to_n(const std::vector<Assignment>& assignments) {
  std::vector<bool> seen(assignments.size(), false);
  for (const auto& a : assignments) {
    if (a.partition_index < 0 || static_cast<std::size_t>(a.partition_index) >= seen.size() ||
        seen[static_cast<std::size_t>(a.partition_index)]) {
      return false;
    }
    seen[static_cast<std::size_t>(a.partition_index)] = true;
  }
  return true;
}

}  // namespace

asio::awaitable<HandlerResult> handle_create_topics(HandlerContext& hc, const RequestContext& ctx,
                                                    p::Reader& body) {
  auto req = decode_body<p::CreateTopicsRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::int32_t node = hc.config.node_id;
  const std::int32_t default_partitions = hc.config.default_partitions;
  auto work = [&hc, req = std::move(*req), node, default_partitions] {
    p::CreateTopicsResponse out;
    for (const auto& t : req.topics) {
      p::CreateTopicsResponse::CreatableTopicResult r;
      r.name = t.name;
      r.error_message = std::nullopt;
      auto reject = [&](KafkaError e, std::string message) {
        r.error_code = code(e);
        r.error_message = std::move(message);
      };
      std::int32_t partitions = t.num_partitions;
      std::map<std::string, std::string> configs;
      for (const auto& c : t.configs) {
        if (c.value) configs[c.name] = *c.value;
      }
      if (auto s = storage::validate_topic_name(t.name); !s) {
        reject(KafkaError::kInvalidTopicException, s.error().message());
      } else if (t.replication_factor == 0 || t.replication_factor < -1) {
        // As Kafka: only -1 (the default) or a positive factor.
        reject(KafkaError::kInvalidReplicationFactor,
               fmt::format("replication factor {} must be larger than 0, or -1 for the default",
                           t.replication_factor));
      } else if (t.replication_factor > 1) {
        // One node: exactly what a 1-broker Kafka says.
        reject(KafkaError::kInvalidReplicationFactor,
               fmt::format("replication factor {} is larger than the 1 broker available",
                           t.replication_factor));
      } else if (!t.assignments.empty() &&
                 std::any_of(t.assignments.begin(), t.assignments.end(), [&](const auto& a) {
                   return !replicas_are_only(a.broker_ids, node);
                 })) {
        reject(KafkaError::kInvalidReplicaAssignment,
               fmt::format("every replica must be broker {}", node));
      } else if (!partitions_are_0_to_n(t.assignments)) {
        reject(KafkaError::kInvalidReplicaAssignment,
               "assigned partitions must be 0..n-1, each once");
      } else {
        if (!t.assignments.empty()) partitions = static_cast<std::int32_t>(t.assignments.size());
        if (partitions == -1) partitions = default_partitions;  // kafkajs sends -1 at every version
        if (partitions <= 0 || partitions > storage::kPartitionsPerTopicMax) {
          reject(KafkaError::kInvalidPartitions,
                 fmt::format("partition count {} is outside [1, {}]", partitions,
                             storage::kPartitionsPerTopicMax));
        } else if (hc.log.topic(t.name)) {
          reject(KafkaError::kTopicAlreadyExists,
                 fmt::format("topic '{}' already exists", excerpt(t.name)));
        } else if (req.validate_only) {
          auto parsed = storage::TopicConfig::from_map(configs, hc.log.options().defaults);
          if (!parsed) reject(KafkaError::kInvalidConfig, parsed.error().message());
        } else {
          auto created = hc.log.create_topic(t.name, partitions, configs);
          if (!created)
            reject(create_error(created.error()), created.error().message());
          else
            WHARF_LOG_INFO("created topic {} with {} partition(s)", t.name, partitions);
        }
      }
      out.topics.push_back(std::move(r));
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_delete_topics(HandlerContext& hc, const RequestContext& ctx,
                                                    p::Reader& body) {
  auto req = decode_body<p::DeleteTopicsRequest>(ctx, body);
  if (!req) co_return close_connection();
  auto work = [&hc, names = req->topic_names] {
    p::DeleteTopicsResponse out;
    for (const auto& name : names) {
      if (name == group::kOffsetsTopic) {
        out.responses.push_back({name, code(KafkaError::kInvalidTopicException)});
        continue;
      }
      auto s = hc.log.delete_topic(name);
      if (s) WHARF_LOG_INFO("deleted topic {}", name);
      out.responses.push_back({name, s ? std::int16_t{0} : code(to_kafka_error(s.error()))});
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_create_partitions(HandlerContext& hc,
                                                        const RequestContext& ctx,
                                                        p::Reader& body) {
  auto req = decode_body<p::CreatePartitionsRequest>(ctx, body);
  if (!req) co_return close_connection();
  auto work = [&hc, req = std::move(*req)] {
    p::CreatePartitionsResponse out;
    for (const auto& t : req.topics) {
      p::CreatePartitionsResponse::CreatePartitionsTopicResult r;
      r.name = t.name;
      auto info = hc.log.topic(t.name);
      if (t.name == group::kOffsetsTopic) {
        r.error_code = code(KafkaError::kInvalidTopicException);
        r.error_message = "the partition count of an internal topic cannot change";
      } else if (!info) {
        r.error_code = code(KafkaError::kUnknownTopicOrPartition);
        r.error_message = fmt::format("topic '{}' does not exist", excerpt(t.name));
      } else if (t.count <= info->partitions || t.count > storage::kPartitionsPerTopicMax) {
        r.error_code = code(KafkaError::kInvalidPartitions);
        r.error_message = fmt::format(
            "topic '{}' has {} partitions; the new count {} must be larger (at most {})",
            excerpt(t.name), info->partitions, t.count, storage::kPartitionsPerTopicMax);
      } else if (!req.validate_only) {
        auto s = hc.log.add_partitions(t.name, t.count);
        if (!s) {
          r.error_code = code(to_kafka_error(s.error()));
          r.error_message = s.error().message();
        } else {
          WHARF_LOG_INFO("topic {} now has {} partitions", t.name, t.count);
        }
      }
      out.results.push_back(std::move(r));
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

namespace {

// Kafka's ConfigResource types.
constexpr std::int8_t kResourceTopic = 2, kResourceBroker = 4;

// Kafka's ConfigEntry types (DescribeConfigs v3+).
constexpr std::int8_t kTypeBoolean = 1, kTypeString = 2, kTypeInt = 3, kTypeLong = 5,
                      kTypeDouble = 6, kTypeList = 7;
// Config sources (v1+).
constexpr std::int8_t kSourceDynamicTopic = 1, kSourceDynamicBroker = 2, kSourceStaticBroker = 4,
                      kSourceDefault = 5;

// The one broker config that changes at run time: the log level (Wharf's own name; values as
// WHARF_LOG_LEVEL). Every other broker config is read-only: set it at start-up (--set).
constexpr std::string_view kLogLevelConfig = "log.level";
constexpr std::pair<LogLevel, std::string_view> kLogLevels[] = {
    {LogLevel::kTrace, "trace"}, {LogLevel::kDebug, "debug"}, {LogLevel::kInfo, "info"},
    {LogLevel::kWarn, "warn"},   {LogLevel::kError, "error"}, {LogLevel::kOff, "off"}};

std::optional<LogLevel> parse_log_level(std::string_view value) {
  for (const auto& [level, name] : kLogLevels) {
    if (value.size() == name.size() &&
        std::equal(value.begin(), value.end(), name.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
      return level;
  }
  return std::nullopt;
}

// The level now in force, by its name.
std::string current_log_level() {
  for (const auto& [level, name] : kLogLevels) {
    if (level != LogLevel::kOff && log_enabled(level)) return std::string(name);
  }
  return "off";
}

std::int8_t config_type(const std::string& name) {
  if (name == "auto.create.topics.enable") return kTypeBoolean;
  if (name == kLogLevelConfig) return kTypeString;
  if (name == "num.partitions" || name == "message.max.bytes" ||
      name == "socket.request.max.bytes" || name == "log.segment.bytes")
    return kTypeInt;
  if (name == "log.retention.ms" || name == "log.retention.bytes") return kTypeLong;
  const auto type = storage::topic_config_type(name);
  if (!type) return kTypeString;  // broker-only names such as sync.policy
  switch (*type) {
    case storage::ConfigValueType::kBoolean:
      return kTypeBoolean;
    case storage::ConfigValueType::kString:
      return kTypeString;
    case storage::ConfigValueType::kInt:
      return kTypeInt;
    case storage::ConfigValueType::kLong:
      return kTypeLong;
    case storage::ConfigValueType::kDouble:
      return kTypeDouble;
    case storage::ConfigValueType::kList:
      return kTypeList;
  }
  return kTypeString;
}

}  // namespace

asio::awaitable<HandlerResult> handle_describe_configs(HandlerContext& hc,
                                                       const RequestContext& ctx, p::Reader& body) {
  auto req = decode_body<p::DescribeConfigsRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::int16_t v = ctx.version();
  const std::string node = std::to_string(hc.config.node_id);
  std::map<std::string, std::string> broker_configs = {
      {"auto.create.topics.enable", hc.config.auto_create_topics ? "true" : "false"},
      {"num.partitions", std::to_string(hc.config.default_partitions)},
      {"message.max.bytes", std::to_string(hc.log.options().defaults.max_message_bytes)},
      {"socket.request.max.bytes", std::to_string(hc.config.request_bytes_max)},
      {"log.segment.bytes", std::to_string(hc.log.options().defaults.segment_bytes)},
      {"log.retention.ms", std::to_string(hc.log.options().defaults.retention_ms)},
      {"log.retention.bytes", std::to_string(hc.log.options().defaults.retention_bytes)},
      {"sync.policy", hc.log.options().defaults.sync.to_string()},
  };
  {
    auto& dynamic = hc.dynamic_broker_configs;
    std::lock_guard lock(dynamic.mu);
    broker_configs[std::string(kLogLevelConfig)] = current_log_level();
  }
  auto work = [&hc, req = std::move(*req), v, node, broker_configs] {
    p::DescribeConfigsResponse out;
    for (const auto& res : req.resources) {
      p::DescribeConfigsResponse::DescribeConfigsResult r;
      r.resource_type = res.resource_type;
      r.resource_name = res.resource_name;
      r.error_message = std::nullopt;
      auto wanted = [&](const std::string& name) {
        if (!res.configuration_keys) return true;
        const auto& keys = *res.configuration_keys;
        return keys.empty() || std::find(keys.begin(), keys.end(), name) != keys.end();
      };
      auto add = [&](const std::string& name, const std::string& value, bool is_default,
                     std::int8_t source) {
        if (!wanted(name)) return;
        p::DescribeConfigsResponse::DescribeConfigsResourceResult c;
        c.name = name;
        c.value = value;
        c.read_only = source == kSourceStaticBroker && name != kLogLevelConfig;
        c.is_default = is_default;
        c.config_source = source;
        c.is_sensitive = false;
        c.config_type = config_type(name);
        c.documentation = std::nullopt;
        if (v >= 1 && req.include_synonyms) c.synonyms.push_back({name, value, source});
        r.configs.push_back(std::move(c));
      };
      if (res.resource_type == 2) {  // TOPIC
        auto info = hc.log.topic(res.resource_name);
        if (!info) {
          r.error_code = code(KafkaError::kUnknownTopicOrPartition);
          r.error_message = fmt::format("topic '{}' does not exist", excerpt(res.resource_name));
        } else {
          for (const auto& [name, value] : info->config.to_map()) {
            const bool overridden = info->overrides.contains(name);
            add(name, value, !overridden, overridden ? kSourceDynamicTopic : kSourceDefault);
          }
        }
      } else if (res.resource_type == 4) {  // BROKER
        if (!res.resource_name.empty() && res.resource_name != node) {
          r.error_code = code(KafkaError::kInvalidRequest);
          r.error_message =
              fmt::format("this is broker {}, not '{}'", node, excerpt(res.resource_name));
        } else {
          bool log_level_dynamic = false;
          {
            auto& dynamic = hc.dynamic_broker_configs;
            std::lock_guard lock(dynamic.mu);
            log_level_dynamic = dynamic.log_level.has_value();
          }
          for (const auto& [name, value] : broker_configs) {
            const bool dynamic = name == kLogLevelConfig && log_level_dynamic;
            add(name, value, false, dynamic ? kSourceDynamicBroker : kSourceStaticBroker);
          }
        }
      } else {
        r.error_code = code(KafkaError::kInvalidRequest);
        r.error_message = fmt::format("resource type {} is not supported", res.resource_type);
      }
      out.results.push_back(std::move(r));
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, v);
}

namespace {

// Applies one resource's change to a topic: `apply` edits the override map; the result is
// validated against the allow-list of topic configs before anything is written.
template <typename Edit>
std::pair<std::int16_t, std::optional<std::string>> alter_topic(storage::LogManager& log,
                                                                std::int8_t type,
                                                                const std::string& name,
                                                                bool validate_only, Edit&& edit) {
  if (type != kResourceTopic) {
    return {code(KafkaError::kInvalidRequest),
            fmt::format("resource type {} cannot be altered (only topics and the broker)", type)};
  }
  if (name == group::kOffsetsTopic)
    return {code(KafkaError::kInvalidTopicException), "internal topic"};
  auto info = log.topic(name);
  if (!info)
    return {code(KafkaError::kUnknownTopicOrPartition),
            fmt::format("topic '{}' does not exist", excerpt(name))};
  std::map<std::string, std::string> overrides = info->overrides;
  if (auto err = edit(overrides)) return {code(KafkaError::kInvalidRequest), *err};
  auto parsed = storage::TopicConfig::from_map(overrides, log.options().defaults);
  if (!parsed) return {code(KafkaError::kInvalidConfig), parsed.error().message()};
  storage::TopicInfo altered = *info;
  altered.overrides = overrides;
  if (auto text = storage::LogManager::topic_meta_text(altered); !text) {
    return {code(KafkaError::kInvalidConfig), text.error().message()};
  }
  if (validate_only) return {0, std::nullopt};
  auto status = log.alter_config(name, overrides);
  if (!status) return {code(create_error(status.error())), status.error().message()};
  WHARF_LOG_INFO("altered configs of topic {}", name);
  return {0, std::nullopt};
}

// The BROKER resource: `edit` changes the map of dynamic broker configs; only log.level may be
// in it. `read_only_names` are the broker configs DescribeConfigs shows as read-only.
template <typename Edit>
std::pair<std::int16_t, std::optional<std::string>> alter_broker(DynamicBrokerConfigs& dynamic,
                                                                 const std::string& node,
                                                                 const std::string& name,
                                                                 bool validate_only, Edit&& edit) {
  if (!name.empty() && name != node) {
    return {code(KafkaError::kInvalidRequest),
            fmt::format("this is broker {}, not '{}'", node, excerpt(name))};
  }
  std::lock_guard lock(dynamic.mu);
  std::map<std::string, std::string> configs;
  if (dynamic.log_level) configs[std::string(kLogLevelConfig)] = *dynamic.log_level;
  if (auto err = edit(configs)) return {code(KafkaError::kInvalidRequest), *err};
  std::optional<LogLevel> level;
  for (const auto& [key, value] : configs) {
    if (key != kLogLevelConfig) {
      return {code(KafkaError::kInvalidConfig),
              fmt::format("broker config '{}' cannot change at run time (only {} can); set it at "
                          "start-up with --set",
                          excerpt(key), kLogLevelConfig)};
    }
    level = parse_log_level(value);
    if (!level) {
      return {code(KafkaError::kInvalidConfig),
              fmt::format("{} '{}' is not one of trace, debug, info, warn, error, off",
                          kLogLevelConfig, excerpt(value))};
    }
  }
  if (validate_only) return {0, std::nullopt};
  if (!dynamic.log_level) dynamic.startup_log_level = current_log_level();
  if (level) {
    set_log_level(*level);
    dynamic.log_level = configs[std::string(kLogLevelConfig)];
  } else if (dynamic.log_level) {
    set_log_level(*parse_log_level(dynamic.startup_log_level));
    dynamic.log_level.reset();
  }
  // Logged at warn so that the line shows whatever the new level.
  WHARF_LOG_WARN("broker config {} is now {}", kLogLevelConfig, current_log_level());
  return {0, std::nullopt};
}

}  // namespace

asio::awaitable<HandlerResult> handle_alter_configs(HandlerContext& hc, const RequestContext& ctx,
                                                    p::Reader& body) {
  auto req = decode_body<p::AlterConfigsRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::string node = std::to_string(hc.config.node_id);
  auto work = [&hc, req = std::move(*req), node] {
    p::AlterConfigsResponse out;
    for (const auto& res : req.resources) {
      // Non-incremental: the given set replaces every override of the topic (or every dynamic
      // config of the broker).
      auto replace = [&](std::map<std::string, std::string>& o) -> std::optional<std::string> {
        o.clear();
        for (const auto& c : res.configs) {
          if (c.value) o[c.name] = *c.value;
        }
        return std::nullopt;
      };
      auto [err, message] = res.resource_type == kResourceBroker
                                ? alter_broker(hc.dynamic_broker_configs, node, res.resource_name,
                                               req.validate_only, replace)
                                : alter_topic(hc.log, res.resource_type, res.resource_name,
                                              req.validate_only, replace);
      out.responses.push_back({err, message, res.resource_type, res.resource_name});
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_incremental_alter_configs(HandlerContext& hc,
                                                                const RequestContext& ctx,
                                                                p::Reader& body) {
  auto req = decode_body<p::IncrementalAlterConfigsRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::string node = std::to_string(hc.config.node_id);
  auto work = [&hc, req = std::move(*req), node] {
    p::IncrementalAlterConfigsResponse out;
    for (const auto& res : req.resources) {
      auto edit = [&](std::map<std::string, std::string>& o) -> std::optional<std::string> {
        for (const auto& c : res.configs) {
          switch (c.config_operation) {
            case 0:  // SET
              if (!c.value) return fmt::format("SET {} needs a value", excerpt(c.name));
              o[c.name] = *c.value;
              break;
            case 1:  // DELETE: back to the default
              o.erase(c.name);
              break;
            default:  // APPEND, SUBTRACT: only for list configs, and Wharf has none
              return fmt::format("operation {} is not supported for {}", c.config_operation,
                                 excerpt(c.name));
          }
        }
        return std::nullopt;
      };
      auto [err, message] =
          res.resource_type == kResourceBroker
              ? alter_broker(hc.dynamic_broker_configs, node, res.resource_name, req.validate_only,
                             edit)
              : alter_topic(hc.log, res.resource_type, res.resource_name, req.validate_only, edit);
      out.responses.push_back({err, message, res.resource_type, res.resource_name});
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

}  // namespace wharf::kafka
