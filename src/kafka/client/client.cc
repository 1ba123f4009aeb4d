#include "kafka/client/client.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <tuple>

#include <librdkafka/rdkafka.h>

#include "base/text.h"

namespace wharf::kafka::client {

struct ClientCallbacks {
  bool verbose = false;
  std::mutex mu;
  std::string last_error;  // the latest connection-level error librdkafka reported
};

namespace {

// Keeps the latest connection failure as a short reason: "127.0.0.1:1/bootstrap: Connect to
// ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)" becomes "Connect to
// ipv4#127.0.0.1:1 failed: Connection refused".
void remember_failure(ClientCallbacks* cb, std::string text) {
  if (auto slash = text.find("/bootstrap: "); slash != std::string::npos)
    text = text.substr(slash + 12);
  if (auto after = text.find(" (after "); after != std::string::npos) text.resize(after);
  std::lock_guard lock(cb->mu);
  cb->last_error = std::move(text);
}

// librdkafka's broker threads call this directly; connection failures arrive here first (the
// error callback only runs when the application polls, which a blocked metadata call does not).
void log_callback(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  auto* cb = static_cast<ClientCallbacks*>(rd_kafka_opaque(rk));
  if (cb == nullptr) return;
  if (cb->verbose) std::fprintf(stderr, "%%%d|%s|%s\n", level, facility, message);
  if (std::string_view(facility) == "FAIL") remember_failure(cb, message);
}

void error_callback(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* cb = static_cast<ClientCallbacks*>(opaque);
  if (cb == nullptr) return;
  if (cb->verbose)
    std::fprintf(stderr, "%%ERROR|%s|%s\n",
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
  // "1/1 brokers are down" says less than the connect failure before it; keep that one.
  if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) remember_failure(cb, reason);
}

using EventPtr = std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)>;
using OptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t,
                                         decltype(&rd_kafka_topic_partition_list_destroy)>;

PartitionListPtr new_partition_list(int size) {
  return PartitionListPtr(rd_kafka_topic_partition_list_new(size),
                          &rd_kafka_topic_partition_list_destroy);
}

Error kafka_error(rd_kafka_resp_err_t err, std::string_view context, const char* detail = nullptr) {
  return client::kafka_error(static_cast<int>(err), context, detail);
}

// Sends one admin request with `send` and waits for its result event. Errors of the request as a
// whole (timeout, no controller) come back as an Error; per-item errors stay in the event.
Result<EventPtr> run_admin(
    rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms, std::string_view what,
    const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& send) {
  QueuePtr queue(rd_kafka_queue_new(rk), &rd_kafka_queue_destroy);
  OptionsPtr options(rd_kafka_AdminOptions_new(rk, op), &rd_kafka_AdminOptions_destroy);
  char errstr[256];
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr, sizeof errstr) !=
      0) {
    return fail(ErrorCode::kInternal, "{}: {}", what, errstr);
  }
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
      op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS) {
    // Wait for the change to be in effect on the controller, not just accepted.
    if (rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, errstr,
                                                    sizeof errstr) != 0) {
      return fail(ErrorCode::kInternal, "{}: {}", what, errstr);
    }
  }
  send(options.get(), queue.get());
  // librdkafka enforces the request timeout itself; the extra second only guards against a lost
  // event.
  EventPtr event(rd_kafka_queue_poll(queue.get(), timeout_ms + 1000), &rd_kafka_event_destroy);
  if (!event) {
    return fail(ErrorCode::kTimeout, "{}: no answer within {}", what,
                format_timeout(std::chrono::milliseconds(timeout_ms)));
  }
  if (auto err = rd_kafka_event_error(event.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(kafka_error(err, what, rd_kafka_event_error_string(event.get())));
  }
  return event;
}

std::vector<ItemResult> topic_results(const rd_kafka_topic_result_t** results, size_t count) {
  std::vector<ItemResult> out;
  for (size_t i = 0; i < count; ++i) {
    ItemResult r{rd_kafka_topic_result_name(results[i]), {}};
    if (auto err = rd_kafka_topic_result_error(results[i]); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* detail = rd_kafka_topic_result_error_string(results[i]);
      r.error = (detail != nullptr && *detail != '\0') ? detail : rd_kafka_err2str(err);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<rd_kafka_conf_t*> make_conf(const std::vector<Property>& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& p : properties) {
    if (rd_kafka_conf_set(conf, p.key.c_str(), p.value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return fail(ErrorCode::kInvalidArgument, "{}{}={}: {}", p.origin, p.key, p.value, errstr);
    }
  }
  return conf;
}

ErrorCode classify(int rd_kafka_err) {
  switch (static_cast<rd_kafka_resp_err_t>(rd_kafka_err)) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return ErrorCode::kTimeout;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
      return ErrorCode::kUnavailable;
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
      return ErrorCode::kConflict;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return ErrorCode::kMessageTooLarge;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
      return ErrorCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return ErrorCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
      return ErrorCode::kUnsupported;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return ErrorCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR__DESTROY:
      return ErrorCode::kShuttingDown;
    default:
      return ErrorCode::kInternal;
  }
}

Error kafka_error(int rd_kafka_err, std::string_view context, const char* detail) {
  const auto err = static_cast<rd_kafka_resp_err_t>(rd_kafka_err);
  const std::string text = (detail != nullptr && *detail != '\0')
                               ? std::string(detail)
                               : std::string(rd_kafka_err2str(err));
  return Error(classify(rd_kafka_err),
               context.empty() ? text : fmt::format("{}: {}", context, text));
}

std::string format_timeout(std::chrono::milliseconds timeout) {
  const double t = static_cast<double>(timeout.count()) / 1000;
  if (t == std::floor(t)) return fmt::format("{} s", static_cast<long long>(t));
  return fmt::format("{:g} s", t);
}

const TopicMetadata* ClusterMetadata::find(std::string_view topic) const {
  for (const auto& t : topics) {
    if (t.name == topic) return &t;
  }
  return nullptr;
}

bool ConfigEntry::is_topic_override() const {
  if (source == "DYNAMIC_TOPIC_CONFIG") return true;
  // DescribeConfigs v0 has no source, only is_default.
  return source == "UNKNOWN_CONFIG" && !is_default && !read_only;
}

Result<ClusterMetadata> metadata(rd_kafka_t* rk, int timeout_ms, std::string_view what) {
  const rd_kafka_metadata_t* md = nullptr;
  if (auto err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(kafka_error(err, what));
  }
  ClusterMetadata out;
  for (int i = 0; i < md->broker_cnt; ++i) {
    out.brokers.push_back(
        BrokerMetadata{md->brokers[i].id, md->brokers[i].host, md->brokers[i].port});
  }
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
    TopicMetadata topic;
    topic.name = t.topic;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) topic.error = rd_kafka_err2str(t.err);
    for (int j = 0; j < t.partition_cnt; ++j) {
      const auto& p = t.partitions[j];
      PartitionMetadata pm;
      pm.id = PartitionId(p.id);
      pm.leader = p.leader;
      pm.replicas.assign(p.replicas, p.replicas + p.replica_cnt);
      pm.isrs.assign(p.isrs, p.isrs + p.isr_cnt);
      if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) pm.error = rd_kafka_err2str(p.err);
      topic.partitions.push_back(std::move(pm));
    }
    std::sort(topic.partitions.begin(), topic.partitions.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    out.topics.push_back(std::move(topic));
  }
  rd_kafka_metadata_destroy(md);
  std::sort(out.topics.begin(), out.topics.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::sort(out.brokers.begin(), out.brokers.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

Result<Watermarks> watermarks(rd_kafka_t* rk, int timeout_ms, const std::string& topic,
                              PartitionId partition) {
  int64_t low = -1, high = -1;
  auto err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition.value(), &low, &high,
                                              timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(kafka_error(err, fmt::format("watermarks of {}[{}]", topic, partition)));
  }
  return Watermarks{Offset(low), Offset(high)};
}

Result<TopicHandles::Handle> TopicHandles::get(const std::string& topic) {
  std::lock_guard lock(mu_);
  if (auto it = handles_.find(topic); it != handles_.end()) return it->second;
  if (topic.find('\0') != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "topic name '{}' contains a NUL byte", excerpt(topic));
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
  if (rkt == nullptr) {
    return fail(ErrorCode::kInvalidArgument, "topic '{}': {}", excerpt(topic),
                rd_kafka_err2str(rd_kafka_last_error()));
  }
  Handle handle(rkt, &rd_kafka_topic_destroy);
  if (handles_.size() < kept_max_) handles_.emplace(topic, handle);
  return handle;
}

void TopicHandles::clear() {
  std::lock_guard lock(mu_);
  handles_.clear();
}

std::size_t TopicHandles::kept() const {
  std::lock_guard lock(mu_);
  return handles_.size();
}

Status create_topic(rd_kafka_t* rk, int timeout_ms, const std::string& name, int partitions,
                    int replication_factor,
                    const std::vector<std::pair<std::string, std::string>>& configs) {
  char errstr[512];
  std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)> topic(
      rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor, errstr, sizeof errstr),
      &rd_kafka_NewTopic_destroy);
  if (!topic) return fail(ErrorCode::kInvalidArgument, "{}", errstr);
  for (const auto& [k, v] : configs) {
    if (rd_kafka_NewTopic_set_config(topic.get(), k.c_str(), v.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail(ErrorCode::kInvalidArgument, "--config {}={}: rejected by the client", k, v);
    }
  }
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  WHARF_ASSIGN_OR_RETURN(auto event, run_admin(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms,
                                               "CreateTopics", [&](auto* options, auto* queue) {
                                                 rd_kafka_CreateTopics(rk, topics, 1, options,
                                                                       queue);
                                               }));
  size_t count = 0;
  const auto** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    if (auto err = rd_kafka_topic_result_error(results[i]); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        return fail(ErrorCode::kAlreadyExists, "topic '{}' already exists", name);
      }
      return fail(kafka_error(err, fmt::format("topic '{}'", name),
                              rd_kafka_topic_result_error_string(results[i])));
    }
  }
  return ok();
}

Result<std::map<TopicPartition, Offset>> committed_offsets(
    rd_kafka_t* rk, int timeout_ms, const std::string& group,
    const std::vector<TopicPartition>& partitions, PartitionErrors partition_errors) {
  std::map<TopicPartition, Offset> out;
  if (partitions.empty()) return out;
  auto list = new_partition_list(static_cast<int>(partitions.size()));
  for (const auto& tp : partitions)
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition.value());
  rd_kafka_ListConsumerGroupOffsets_t* request =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), list.get());
  auto event = run_admin(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout_ms, "OffsetFetch",
                         [&](auto* options, auto* queue) {
                           rd_kafka_ListConsumerGroupOffsets(rk, &request, 1, options, queue);
                         });
  rd_kafka_ListConsumerGroupOffsets_destroy(request);  // the call keeps a copy
  if (!event) return fail(event.error());
  const std::string what = fmt::format("offsets of group '{}'", group);
  size_t count = 0;
  const auto** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(event->get()), &count);
  if (count != 1) return fail(ErrorCode::kInternal, "{}: {} group results", what, count);
  if (const auto* error = rd_kafka_group_result_error(groups[0]); error != nullptr) {
    return fail(kafka_error(rd_kafka_error_code(error), what, rd_kafka_error_string(error)));
  }
  const auto* results = rd_kafka_group_result_partitions(groups[0]);
  for (int j = 0; results != nullptr && j < results->cnt; ++j) {
    const auto& e = results->elems[j];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (partition_errors == PartitionErrors::kFail) {
        return fail(kafka_error(e.err, fmt::format("{}, {}[{}]", what, e.topic, e.partition)));
      }
      continue;
    }
    if (e.offset < 0) continue;
    out[TopicPartition{e.topic, PartitionId(e.partition)}] = Offset(e.offset);
  }
  return out;
}

Client::Client(rd_kafka_t* rk, std::unique_ptr<ClientCallbacks> callbacks, int timeout_ms)
    : rk_(rk), callbacks_(std::move(callbacks)), timeout_ms_(timeout_ms) {}

Client::~Client() { rd_kafka_destroy(rk_); }

Result<std::unique_ptr<Client>> Client::connect(
    const Options& options, ClientKind kind,
    const std::vector<std::pair<std::string, std::string>>& config,
    const std::function<void(rd_kafka_conf_t*)>& configure) {
  const int timeout_ms = std::max<int>(1, static_cast<int>(options.timeout.count()));
  std::vector<Property> settings = {
      {"bootstrap.servers", options.bootstrap, options.bootstrap_origin},
      {"client.id", "wharf", ""},
      {"log.connection.close", "false", ""},
  };
  if (kind == ClientKind::kAdmin) settings.push_back({"allow.auto.create.topics", "false", ""});
  for (const auto& [k, v] : config) settings.push_back({k, v, ""});
  settings.insert(settings.end(), options.properties.begin(), options.properties.end());
  WHARF_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, make_conf(settings));
  auto callbacks = std::make_unique<ClientCallbacks>();
  callbacks->verbose = options.verbose;
  rd_kafka_conf_set_opaque(conf, callbacks.get());
  rd_kafka_conf_set_log_cb(conf, &log_callback);
  rd_kafka_conf_set_error_cb(conf, &error_callback);
  if (configure) configure(conf);
  char errstr[512];
  rd_kafka_t* rk =
      rd_kafka_new(kind == ClientKind::kConsumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf,
                   errstr, sizeof errstr);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only when it succeeds
    return fail(ErrorCode::kInvalidArgument, "cannot create the Kafka client: {}", errstr);
  }
  std::unique_ptr<Client> client(new Client(rk, std::move(callbacks), timeout_ms));

  // One metadata round trip proves a broker answers; librdkafka otherwise retries forever.
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_metadata_destroy(md);
    return client;
  }
  if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    std::string reason;
    {
      std::lock_guard lock(client->callbacks_->mu);
      reason = client->callbacks_->last_error;
    }
    return fail(ErrorCode::kTimeout, "cannot reach {} within {}{}", options.bootstrap,
                format_timeout(std::chrono::milliseconds(timeout_ms)),
                reason.empty() ? "" : " (" + reason + ")");
  }
  return fail(kafka_error(err, "metadata request failed"));
}

Result<ClusterMetadata> Client::metadata() { return client::metadata(rk_, timeout_ms_); }

Result<TopicMetadata> Client::topic(std::string_view name) {
  WHARF_ASSIGN_OR_RETURN(auto md, metadata());
  const auto* t = md.find(name);
  if (t == nullptr) return fail(ErrorCode::kNotFound, "topic '{}' does not exist", name);
  return *t;
}

Result<Watermarks> Client::watermarks(const std::string& topic, PartitionId partition) {
  return client::watermarks(rk_, timeout_ms_, topic, partition);
}

Status Client::create_topic(const std::string& name, int partitions, int replication_factor,
                            const std::vector<std::pair<std::string, std::string>>& configs) {
  return client::create_topic(rk_, timeout_ms_, name, partitions, replication_factor, configs);
}

Result<std::map<TopicPartition, Offset>> Client::committed_offsets(
    const std::string& group, const std::vector<TopicPartition>& partitions) {
  return client::committed_offsets(rk_, timeout_ms_, group, partitions, PartitionErrors::kSkip);
}

Result<std::map<PartitionId, std::optional<Offset>>> Client::offsets_for_time(
    const std::string& topic, const std::vector<PartitionId>& partitions,
    std::int64_t timestamp_ms) {
  std::map<PartitionId, std::optional<Offset>> out;
  if (partitions.empty()) return out;
  auto list = new_partition_list(static_cast<int>(partitions.size()));
  for (auto p : partitions)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p.value())->offset = timestamp_ms;
  if (auto err = rd_kafka_offsets_for_times(rk_, list.get(), timeout_ms_);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(
        kafka_error(err, fmt::format("offsets of {} at timestamp {}", topic, timestamp_ms)));
  }
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail(kafka_error(e.err, fmt::format("offset of {}[{}] at timestamp {}", topic,
                                                 e.partition, timestamp_ms)));
    }
    out[PartitionId(e.partition)] =
        e.offset >= 0 ? std::optional<Offset>(Offset(e.offset)) : std::nullopt;
  }
  return out;
}

Result<std::vector<ItemResult>> Client::delete_topics(const std::vector<std::string>& names) {
  std::vector<rd_kafka_DeleteTopic_t*> topics;
  for (const auto& n : names) topics.push_back(rd_kafka_DeleteTopic_new(n.c_str()));
  auto event = run_admin(rk_, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms_, "DeleteTopics",
                         [&](auto* options, auto* queue) {
                           rd_kafka_DeleteTopics(rk_, topics.data(), topics.size(), options, queue);
                         });
  rd_kafka_DeleteTopic_destroy_array(topics.data(), topics.size());
  if (!event) return fail(event.error());
  size_t count = 0;
  const auto** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event->get()), &count);
  return topic_results(results, count);
}

Status Client::create_partitions(const std::string& topic, int total_partitions) {
  char errstr[512];
  std::unique_ptr<rd_kafka_NewPartitions_t, decltype(&rd_kafka_NewPartitions_destroy)> np(
      rd_kafka_NewPartitions_new(topic.c_str(), static_cast<size_t>(total_partitions), errstr,
                                 sizeof errstr),
      &rd_kafka_NewPartitions_destroy);
  if (!np) return fail(ErrorCode::kInvalidArgument, "{}", errstr);
  rd_kafka_NewPartitions_t* list[] = {np.get()};
  WHARF_ASSIGN_OR_RETURN(auto event, run_admin(rk_, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout_ms_,
                                               "CreatePartitions", [&](auto* options, auto* queue) {
                                                 rd_kafka_CreatePartitions(rk_, list, 1, options,
                                                                           queue);
                                               }));
  size_t count = 0;
  const auto** results = rd_kafka_CreatePartitions_result_topics(
      rd_kafka_event_CreatePartitions_result(event.get()), &count);
  for (const auto& r : topic_results(results, count)) {
    if (!r.error.empty())
      return fail(ErrorCode::kInvalidArgument, "topic '{}': {}", r.name, r.error);
  }
  return ok();
}

Result<std::vector<ConfigEntry>> Client::describe_topic_configs(const std::string& topic) {
  std::unique_ptr<rd_kafka_ConfigResource_t, decltype(&rd_kafka_ConfigResource_destroy)> resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()),
      &rd_kafka_ConfigResource_destroy);
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  WHARF_ASSIGN_OR_RETURN(auto event, run_admin(rk_, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms_,
                                               "DescribeConfigs", [&](auto* options, auto* queue) {
                                                 rd_kafka_DescribeConfigs(rk_, resources, 1,
                                                                          options, queue);
                                               }));
  size_t count = 0;
  const auto** results = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(event.get()), &count);
  std::vector<ConfigEntry> out;
  for (size_t i = 0; i < count; ++i) {
    if (auto err = rd_kafka_ConfigResource_error(results[i]); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return fail(ErrorCode::kNotFound, "topic '{}' does not exist", topic);
      return fail(kafka_error(err, fmt::format("configs of topic '{}'", topic),
                              rd_kafka_ConfigResource_error_string(results[i])));
    }
    size_t n = 0;
    const auto** entries = rd_kafka_ConfigResource_configs(results[i], &n);
    for (size_t j = 0; j < n; ++j) {
      ConfigEntry e;
      e.name = rd_kafka_ConfigEntry_name(entries[j]);
      if (const char* v = rd_kafka_ConfigEntry_value(entries[j]); v != nullptr) e.value = v;
      e.source = rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(entries[j]));
      e.is_default = rd_kafka_ConfigEntry_is_default(entries[j]) != 0;
      e.read_only = rd_kafka_ConfigEntry_is_read_only(entries[j]) != 0;
      e.sensitive = rd_kafka_ConfigEntry_is_sensitive(entries[j]) != 0;
      out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Status Client::alter_topic_configs(const std::string& topic,
                                   const std::map<std::string, std::string>& configs) {
  std::unique_ptr<rd_kafka_ConfigResource_t, decltype(&rd_kafka_ConfigResource_destroy)> resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()),
      &rd_kafka_ConfigResource_destroy);
  for (const auto& [k, v] : configs) {
    if (rd_kafka_ConfigResource_set_config(resource.get(), k.c_str(), v.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail(ErrorCode::kInvalidArgument, "--config {}={}: rejected by the client", k, v);
    }
  }
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  WHARF_ASSIGN_OR_RETURN(auto event, run_admin(rk_, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, timeout_ms_,
                                               "AlterConfigs", [&](auto* options, auto* queue) {
                                                 rd_kafka_AlterConfigs(rk_, resources, 1, options,
                                                                       queue);
                                               }));
  size_t count = 0;
  const auto** results = rd_kafka_AlterConfigs_result_resources(
      rd_kafka_event_AlterConfigs_result(event.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    if (auto err = rd_kafka_ConfigResource_error(results[i]); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail(kafka_error(err, fmt::format("topic '{}'", topic),
                              rd_kafka_ConfigResource_error_string(results[i])));
    }
  }
  return ok();
}

Result<std::vector<GroupInfo>> Client::list_groups(const std::optional<std::string>& group) {
  const rd_kafka_group_list* list = nullptr;
  auto err = rd_kafka_list_groups(rk_, group ? group->c_str() : nullptr, &list, timeout_ms_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__PARTIAL) {
    return fail(kafka_error(err, "listing groups"));
  }
  std::unique_ptr<const rd_kafka_group_list, decltype(&rd_kafka_group_list_destroy)> owned(
      list, &rd_kafka_group_list_destroy);
  if (err == RD_KAFKA_RESP_ERR__PARTIAL) {
    return fail(ErrorCode::kTimeout, "listing groups: not every broker answered within {}",
                format_timeout(std::chrono::milliseconds(timeout_ms_)));
  }
  std::vector<GroupInfo> out;
  for (int i = 0; i < list->group_cnt; ++i) {
    const auto& g = list->groups[i];
    GroupInfo info;
    info.group = g.group;
    info.state = g.state != nullptr ? g.state : "";
    info.protocol_type = g.protocol_type != nullptr ? g.protocol_type : "";
    info.protocol = g.protocol != nullptr ? g.protocol : "";
    info.coordinator = g.broker.id;
    info.coordinator_address =
        fmt::format("{}:{}", g.broker.host != nullptr ? g.broker.host : "", g.broker.port);
    if (g.err != RD_KAFKA_RESP_ERR_NO_ERROR) info.error = rd_kafka_err2str(g.err);
    for (int j = 0; j < g.member_cnt; ++j) {
      const auto& m = g.members[j];
      GroupMember member;
      member.member_id = m.member_id != nullptr ? m.member_id : "";
      member.client_id = m.client_id != nullptr ? m.client_id : "";
      member.client_host = m.client_host != nullptr ? m.client_host : "";
      if (m.member_assignment != nullptr && m.member_assignment_size > 0) {
        member.assignment.assign(static_cast<const char*>(m.member_assignment),
                                 static_cast<size_t>(m.member_assignment_size));
      }
      info.members.push_back(std::move(member));
    }
    std::sort(info.members.begin(), info.members.end(), [](const auto& a, const auto& b) {
      return std::tie(a.client_id, a.member_id) < std::tie(b.client_id, b.member_id);
    });
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.group < b.group; });
  return out;
}

Result<std::vector<ItemResult>> Client::alter_group_offsets(
    const std::string& group, const std::map<TopicPartition, Offset>& offsets) {
  auto list = new_partition_list(static_cast<int>(offsets.size()));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition.value())->offset =
        offset.value();
  }
  rd_kafka_AlterConsumerGroupOffsets_t* request =
      rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), list.get());
  auto event = run_admin(rk_, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeout_ms_,
                         "OffsetCommit", [&](auto* options, auto* queue) {
                           rd_kafka_AlterConsumerGroupOffsets(rk_, &request, 1, options, queue);
                         });
  rd_kafka_AlterConsumerGroupOffsets_destroy(request);
  if (!event) return fail(event.error());
  size_t count = 0;
  const auto** groups = rd_kafka_AlterConsumerGroupOffsets_result_groups(
      rd_kafka_event_AlterConsumerGroupOffsets_result(event->get()), &count);
  std::vector<ItemResult> out;
  for (size_t i = 0; i < count; ++i) {
    if (const auto* error = rd_kafka_group_result_error(groups[i]); error != nullptr) {
      return fail(kafka_error(rd_kafka_error_code(error), fmt::format("group '{}'", group),
                              rd_kafka_error_string(error)));
    }
    const auto* partitions = rd_kafka_group_result_partitions(groups[i]);
    for (int j = 0; partitions != nullptr && j < partitions->cnt; ++j) {
      const auto& e = partitions->elems[j];
      out.push_back(ItemResult{fmt::format("{}[{}]", e.topic, e.partition),
                               e.err != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(e.err) : ""});
    }
  }
  return out;
}

Result<std::vector<ItemResult>> Client::delete_groups(const std::vector<std::string>& names) {
  std::vector<rd_kafka_DeleteGroup_t*> groups;
  for (const auto& n : names) groups.push_back(rd_kafka_DeleteGroup_new(n.c_str()));
  auto event = run_admin(rk_, RD_KAFKA_ADMIN_OP_DELETEGROUPS, timeout_ms_, "DeleteGroups",
                         [&](auto* options, auto* queue) {
                           rd_kafka_DeleteGroups(rk_, groups.data(), groups.size(), options, queue);
                         });
  rd_kafka_DeleteGroup_destroy_array(groups.data(), groups.size());
  if (!event) return fail(event.error());
  size_t count = 0;
  const auto** results =
      rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(event->get()), &count);
  std::vector<ItemResult> out;
  for (size_t i = 0; i < count; ++i) {
    ItemResult r{rd_kafka_group_result_name(results[i]), {}};
    if (const auto* error = rd_kafka_group_result_error(results[i]); error != nullptr) {
      r.error = rd_kafka_error_string(error);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace wharf::kafka::client
