// The Kafka client shared by `wharf topic`, `produce`, `consume` and `group`: a librdkafka handle
// configured from the global --bootstrap and the per-command client options (--timeout, -X,
// --verbose), a reachability check that gives up after the timeout with a one-line reason, and
// blocking wrappers around the Admin API, metadata and offset look-ups that return plain C++
// values. It speaks only the Kafka protocol, so every command works against any Kafka-compatible
// cluster, not only `wharf serve`.
//
// Ownership and threads: a Client owns its rd_kafka_t and is used from the main thread only.
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
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/ids.h"
#include "base/result.h"

struct rd_kafka_s;
struct rd_kafka_conf_s;

namespace CLI {
class App;
}

namespace wharf::cli {

// Options every client command accepts (added by add_client_options).
struct ClientOptions {
  double timeout_s = 0;                 // --timeout; 0 = not given (then WHARF_TIMEOUT, else 10)
  std::vector<std::string> properties;  // -X key=value, librdkafka properties; they win
  bool verbose = false;                 // print librdkafka's log lines
};
ClientOptions& client_options();

// Adds --timeout, -X/--property and -v/--verbose to `cmd`, and lets options it does not know
// fall through to its parents, so `wharf topic list -b HOST:PORT` works.
void add_client_options(CLI::App* cmd);

// The timeout in seconds: --timeout, else $WHARF_TIMEOUT, else 10. WHARF_TIMEOUT is read here
// rather than through CLI11's envname because CLI11 2.1 applies the environment to the options
// of every subcommand, unused ones included, and all of them share ClientOptions.
[[nodiscard]] Result<double> effective_timeout_s();

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
  std::string assignment;  // raw member assignment bytes; decode with consumer_protocol.h
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

enum class ClientKind {
  kAdmin,     // producer-type handle that never asks the broker to auto-create topics
  kProducer,  // producer: auto-creation allowed, as every Kafka producer
  kConsumer,  // consumer (group.id must come in `config` for subscribe/commit)
};

struct ClientCallbacks;  // state shared with librdkafka's log and error callbacks

class Client {
 public:
  // Creates the handle and waits at most the timeout for cluster metadata. `config` entries are
  // set before the user's -X properties (which win); `configure` may set callbacks on the
  // configuration object just before the handle is created.
  // Fails "cannot reach HOST:PORT within N s (reason)" when no broker answers in time.
  [[nodiscard]] static Result<std::unique_ptr<Client>> connect(
      ClientKind kind, const std::vector<std::pair<std::string, std::string>>& config = {},
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
      const std::string& topic, const std::vector<PartitionId>& partitions, std::int64_t timestamp_ms);

  // Admin API (blocking; each waits at most the timeout).
  [[nodiscard]] Status create_topic(const std::string& name, int partitions, int replication_factor,
                                    const std::vector<std::pair<std::string, std::string>>& configs);
  [[nodiscard]] Result<std::vector<ItemResult>> delete_topics(const std::vector<std::string>& names);
  [[nodiscard]] Status create_partitions(const std::string& topic, int total_partitions);
  [[nodiscard]] Result<std::vector<ConfigEntry>> describe_topic_configs(const std::string& topic);
  // AlterConfigs (not incremental): `configs` becomes the topic's complete override set.
  [[nodiscard]] Status alter_topic_configs(const std::string& topic, const std::map<std::string, std::string>& configs);

  // Groups: the legacy ListGroups + DescribeGroups walk over every broker (rd_kafka_list_groups),
  // which returns raw member assignments and works for any protocol type. `group` restricts it to
  // one group; an unknown group gives an empty list.
  [[nodiscard]] Result<std::vector<GroupInfo>> list_groups(const std::optional<std::string>& group);
  // OffsetFetch: the group's committed offset for each of `partitions` that has one. The
  // partitions are always listed: librdkafka 2.0.2 encodes the "all partitions" form (a null
  // list) with three stray bytes on flexible versions and as an empty list on older ones.
  [[nodiscard]] Result<std::map<TopicPartition, Offset>> committed_offsets(const std::string& group,
                                                                           const std::vector<TopicPartition>& partitions);
  // OffsetCommit with generation -1 (AlterConsumerGroupOffsets); the group must have no members.
  [[nodiscard]] Result<std::vector<ItemResult>> alter_group_offsets(const std::string& group,
                                                                    const std::map<TopicPartition, Offset>& offsets);
  [[nodiscard]] Result<std::vector<ItemResult>> delete_groups(const std::vector<std::string>& groups);

 private:
  Client(rd_kafka_s* rk, std::unique_ptr<ClientCallbacks> callbacks, int timeout_ms);

  rd_kafka_s* rk_;  // destroyed by ~Client before callbacks_, which its threads may still call
  std::unique_ptr<ClientCallbacks> callbacks_;
  int timeout_ms_;
};

// "10 s", "1.5 s": the timeout as the error messages print it.
std::string format_timeout();

// Prints "wharf <command>: <message>" to stderr and returns 1, the failing exit code.
int report_failure(std::string_view command, const Error& error);

}  // namespace wharf::cli
