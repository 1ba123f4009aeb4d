// The librdkafka client shared by the CLI's Kafka commands (`wharf topic`, `produce`, `consume`,
// `group`) and the pattern library's Kafka transport: a handle configured from plain options
// (bootstrap servers, a timeout, librdkafka properties), a reachability check that gives up after
// the timeout with a one-line reason, and blocking wrappers around the Admin API, metadata and
// offset look-ups that return plain C++ values. It speaks only the Kafka protocol, so it works
// against any Kafka-compatible cluster, not only `wharf serve`.
//
// The free functions below take a raw handle, so a caller that owns its own handle (the
// transport's idempotent producer) uses the same look-ups; Client's methods call them.
//
// Ownership and threads: a Client owns its rd_kafka_t and is used from one thread at a time.
// librdkafka's own threads call the log and error callbacks, which touch only a mutex-guarded
// "last connection error" and stderr. Durability is the broker's business: nothing here writes
// locally. librdkafka's header stays out of this one (STYLE.md); the .cc files that need the
// raw handle include <librdkafka/rdkafka.h> themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/ids.h"
#include "base/result.h"

struct rd_kafka_s;
struct rd_kafka_conf_s;
struct rd_kafka_topic_s;

namespace wharf::kafka::client {

// One librdkafka property and where it came from: `origin` prefixes its error, as in
// "-X no.such=1: No such configuration property" (origin "-X ").
struct Property {
  std::string key;
  std::string value;
  std::string origin;
};

// A configuration object with `properties` set in order (a later one wins), or the first
// property librdkafka refuses: kInvalidArgument "<origin><key>=<value>: <librdkafka's reason>".
// The caller owns the object (rd_kafka_new takes it over; otherwise rd_kafka_conf_destroy).
[[nodiscard]] Result<rd_kafka_conf_s*> make_conf(const std::vector<Property>& properties);

// The ErrorCode of a librdkafka error (an rd_kafka_resp_err_t): timeouts, unavailable brokers
// and coordinators, rebalance conflicts, unknown topics and groups, full queues, shutdown; any
// other error is kInternal.
ErrorCode classify(int rd_kafka_err);

// "<context>: <detail>" (librdkafka's text of the error when `detail` is null or empty) with
// the code from classify; just the text when `context` is empty.
Error kafka_error(int rd_kafka_err, std::string_view context, const char* detail = nullptr);

// "10 s", "1.5 s": a timeout as the error messages print it.
std::string format_timeout(std::chrono::milliseconds timeout);

// How a Client connects; nothing here reads flags or the environment.
struct Options {
  std::string bootstrap;                        // bootstrap.servers, HOST:PORT[,...]
  std::chrono::milliseconds timeout{10'000};    // for connecting and for each request
  std::vector<Property> properties;             // librdkafka properties, set last: they win
  std::string bootstrap_origin = "bootstrap ";  // prefixes a refused bootstrap.servers
  bool verbose = false;                         // print librdkafka's log lines to stderr
};

struct TopicPartition {
  std::string topic;
  PartitionId partition;
  auto operator<=>(const TopicPartition&) const = default;
};

struct PartitionMetadata {
  PartitionId id;
  std::int32_t leader = -1;
  std::vector<std::int32_t> replicas;
  std::vector<std::int32_t> isrs;
  std::string error;  // empty when fine
};

struct TopicMetadata {
  std::string name;
  std::vector<PartitionMetadata> partitions;  // sorted by id
  std::string error;                          // e.g. leader not available; empty when fine
  // Kafka's internal topics (__consumer_offsets, __transaction_state) and, by convention, any
  // other name starting with "__": librdkafka 2.0.2 does not expose Metadata's is_internal flag.
  bool internal() const { return name.starts_with("__"); }
};

struct BrokerMetadata {
  std::int32_t id = -1;
  std::string host;
  int port = 0;
};

struct ClusterMetadata {
  std::vector<BrokerMetadata> brokers;
  std::vector<TopicMetadata> topics;  // sorted by name; topics reported as unknown are left out
  const TopicMetadata* find(std::string_view topic) const;
};

struct Watermarks {
  Offset low;   // log start offset
  Offset high;  // high watermark
};

struct ConfigEntry {
  std::string name;
  std::optional<std::string> value;  // null for sensitive entries
  std::string source;                // librdkafka's name: DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG, ...
  bool is_default = false;
  bool read_only = false;
  bool sensitive = false;
  // A per-topic override (what AlterConfigs replaces as a set).
  bool is_topic_override() const;
};

struct GroupMember {
  std::string member_id;
  std::string client_id;
  std::string client_host;
  std::string assignment;  // raw member assignment bytes (the consumer protocol's encoding)
};

struct GroupInfo {
  std::string group;
  std::string state;          // as the coordinator reports it: Empty, Stable, Dead, ...
  std::string protocol_type;  // "consumer" for consumer groups, "" for offsets-only groups
  std::string protocol;       // the assignor: range, roundrobin, cooperative-sticky, ...
  std::int32_t coordinator = -1;
  std::string coordinator_address;
  std::vector<GroupMember> members;
  std::string error;  // empty when fine
};

// The outcome of one item of a batched admin request: its name and an error, empty on success.
struct ItemResult {
  std::string name;
  std::string error;
};

// What committed_offsets does with a partition whose offset the coordinator could not fetch.
enum class PartitionErrors {
  kSkip,  // leave it out, as for a partition without a committed offset
  kFail,  // fail the whole call with that partition's error
};

// Look-ups on any handle (producer or consumer). Each waits at most `timeout_ms`.
//
// All topics; never triggers auto-creation (asking for one topic by name would make a broker
// with auto-creation, Wharf's default and Kafka's, create it). `what` starts the error message.
[[nodiscard]] Result<ClusterMetadata> metadata(rd_kafka_s* rk, int timeout_ms,
                                               std::string_view what = "metadata request failed");
[[nodiscard]] Result<Watermarks> watermarks(rd_kafka_s* rk, int timeout_ms,
                                            const std::string& topic, PartitionId partition);
// CreateTopics, waiting until the controller has the topic. replication_factor -1 is the
// broker's default. kAlreadyExists "topic 'x' already exists" when it does.
[[nodiscard]] Status create_topic(rd_kafka_s* rk, int timeout_ms, const std::string& name,
                                  int partitions, int replication_factor,
                                  const std::vector<std::pair<std::string, std::string>>& configs);
// OffsetFetch: the group's committed offset for each of `partitions` that has one. The
// partitions are always listed: librdkafka 2.0.2 encodes the "all partitions" form (a null
// list) with three stray bytes on flexible versions and as an empty list on older ones.
[[nodiscard]] Result<std::map<TopicPartition, Offset>> committed_offsets(
    rd_kafka_s* rk, int timeout_ms, const std::string& group,
    const std::vector<TopicPartition>& partitions,
    PartitionErrors partition_errors = PartitionErrors::kSkip);

// A producer's topic handles, one per topic name, made on first use and kept until this object
// goes. Produce through them (RD_KAFKA_V_RKT) rather than by name: rd_kafka_producev with
// RD_KAFKA_V_TOPIC creates an unknown topic without asking for its leader, so the first message
// to each topic waits for librdkafka's once-a-second topic scan (librdkafka before 2.10.1, #5032;
// Debian 12 has 2.0.2). rd_kafka_topic_new asks at once. Thread-safe. Clear it, and let go of
// every handle it gave, before destroying `rk` (rd_kafka_destroy waits for the topics' last
// references).
class TopicHandles {
 public:
  // How many topics' handles are kept: one per name an application publishes to. Past it, a
  // topic gets a handle for each call, given back when the caller lets go (librdkafka knows the
  // topic by then unless it is new, so only a new topic's first message may wait the scan).
  static constexpr std::size_t kKeptMax = 10'000;

  explicit TopicHandles(rd_kafka_s* rk, std::size_t kept_max = kKeptMax)
      : rk_(rk), kept_max_(kept_max) {}
  TopicHandles(const TopicHandles&) = delete;
  TopicHandles& operator=(const TopicHandles&) = delete;

  using Handle = std::shared_ptr<rd_kafka_topic_s>;  // destroys the handle when the last goes
  // The handle for `topic`. kInvalidArgument for a name with a NUL byte (librdkafka would cut
  // it there and use another topic) or one librdkafka refuses (longer than 512 bytes).
  [[nodiscard]] Result<Handle> get(const std::string& topic);
  // Lets go of every kept handle (each is destroyed once no caller holds it either).
  void clear();
  std::size_t kept() const;

 private:
  rd_kafka_s* rk_;
  std::size_t kept_max_;
  mutable std::mutex mu_;
  std::map<std::string, Handle, std::less<>> handles_;
};

enum class ClientKind {
  kAdmin,     // producer-type handle that never asks the broker to auto-create topics
  kProducer,  // producer: auto-creation allowed, as every Kafka producer
  kConsumer,  // consumer (group.id must come in `config` for subscribe/commit)
};

struct ClientCallbacks;  // state shared with librdkafka's log and error callbacks

class Client {
 public:
  // Creates the handle and waits at most the timeout for cluster metadata. `config` entries are
  // set before options.properties (which win); `configure` may set callbacks on the
  // configuration object just before the handle is created.
  // Fails "cannot reach HOST:PORT within N s (reason)" when no broker answers in time.
  [[nodiscard]] static Result<std::unique_ptr<Client>> connect(
      const Options& options, ClientKind kind,
      const std::vector<std::pair<std::string, std::string>>& config = {},
      const std::function<void(rd_kafka_conf_s*)>& configure = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  rd_kafka_s* handle() const { return rk_; }
  int timeout_ms() const { return timeout_ms_; }

  // All topics; never triggers auto-creation.
  [[nodiscard]] Result<ClusterMetadata> metadata();
  // One topic from the full metadata; kNotFound "topic 'x' does not exist" if absent.
  [[nodiscard]] Result<TopicMetadata> topic(std::string_view name);

  [[nodiscard]] Result<Watermarks> watermarks(const std::string& topic, PartitionId partition);
  // The first offset whose timestamp is >= timestamp_ms for each partition; nullopt where no
  // such record exists yet.
  [[nodiscard]] Result<std::map<PartitionId, std::optional<Offset>>> offsets_for_time(
      const std::string& topic, const std::vector<PartitionId>& partitions,
      std::int64_t timestamp_ms);

  // Admin API (blocking; each waits at most the timeout).
  [[nodiscard]] Status create_topic(
      const std::string& name, int partitions, int replication_factor,
      const std::vector<std::pair<std::string, std::string>>& configs);
  [[nodiscard]] Result<std::vector<ItemResult>> delete_topics(
      const std::vector<std::string>& names);
  [[nodiscard]] Status create_partitions(const std::string& topic, int total_partitions);
  [[nodiscard]] Result<std::vector<ConfigEntry>> describe_topic_configs(const std::string& topic);
  // AlterConfigs (not incremental): `configs` becomes the topic's complete override set.
  [[nodiscard]] Status alter_topic_configs(const std::string& topic,
                                           const std::map<std::string, std::string>& configs);

  // Groups: the legacy ListGroups + DescribeGroups walk over every broker (rd_kafka_list_groups),
  // which returns raw member assignments and works for any protocol type. `group` restricts it to
  // one group; an unknown group gives an empty list.
  [[nodiscard]] Result<std::vector<GroupInfo>> list_groups(const std::optional<std::string>& group);
  // committed_offsets above on this handle; partitions without an offset are left out.
  [[nodiscard]] Result<std::map<TopicPartition, Offset>> committed_offsets(
      const std::string& group, const std::vector<TopicPartition>& partitions);
  // OffsetCommit with generation -1 (AlterConsumerGroupOffsets); the group must have no members.
  [[nodiscard]] Result<std::vector<ItemResult>> alter_group_offsets(
      const std::string& group, const std::map<TopicPartition, Offset>& offsets);
  [[nodiscard]] Result<std::vector<ItemResult>> delete_groups(
      const std::vector<std::string>& groups);

 private:
  Client(rd_kafka_s* rk, std::unique_ptr<ClientCallbacks> callbacks, int timeout_ms);

  rd_kafka_s* rk_;  // destroyed by ~Client before callbacks_, which its threads may still call
  std::unique_ptr<ClientCallbacks> callbacks_;
  int timeout_ms_;
};

}  // namespace wharf::kafka::client
