// One Publisher/Subscriber interface over every transport, and the Bus that opens them.
//
//   auto bus = wharf::Bus::open(wharf::EmbeddedOptions{.data_dir = "./data"});   // in-process log
//   auto bus = wharf::Bus::open(wharf::KafkaOptions{.bootstrap = "host:9092"});  // Wharf or any
//   Kafka auto bus = wharf::Bus::open(wharf::MemoryOptions{});                          // unit
//   tests
//
// Each transport is its own library (wharf_patterns_memory, _kafka, _embedded), so librdkafka
// and the broker are link-time choices: Bus::open for a transport you did not link fails to
// link, not at run time.
//
// Contracts every transport keeps (tests/conformance/transport_conformance_test.cc checks them
// on all three):
// - publish() returns once every message is durable (acks=all on Kafka; synced under the
//   embedded log's policy). Messages with the same key land on the same partition (murmur2 as
//   the Java client), in call order. Ids and timestamps are filled when empty.
// - A Subscription is one member of a consumer group: poll() returns messages of its assigned
//   partitions in offset order per partition; commit() stores "next offset to read" per
//   partition; a new member of the group starts from the committed offsets (from the earliest
//   offset where none). Assignment changes are reported to the RebalanceListener from inside
//   poll(), revocations before the partitions are taken away, so the caller can finish and
//   commit. Everything not committed is delivered again to the next owner (at least once).
// - A Subscription is used by one thread at a time (its poller); pause()/resume() and commit()
//   may be called from that thread only. A Transport is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wharf/clock.h"
#include "wharf/message.h"
#include "wharf/result.h"

namespace wharf {

struct RebalanceListener {
  std::function<void(const std::vector<TopicPartition>&)> on_revoked;
  std::function<void(const std::vector<TopicPartition>&)> on_assigned;
};

struct SubscribeOptions {
  std::string group;                // consumer group id; required
  std::vector<std::string> topics;  // required
  std::string client_id = "wharf";
  RebalanceListener listener;
  // Where a partition with no committed offset starts.
  bool from_beginning = true;
};

class Subscription {
 public:
  virtual ~Subscription() = default;
  // Up to `max_messages` messages from the assigned, unpaused partitions; waits at most
  // `timeout` for the first one. An empty vector means nothing arrived in time.
  [[nodiscard]] virtual Result<std::vector<Message>> poll(std::size_t max_messages,
                                                          std::chrono::milliseconds timeout) = 0;
  // Stores, for each partition, the offset of the next message to read (last handled + 1).
  // Synchronous: durable in the group's offset store when it returns.
  [[nodiscard]] virtual Status commit(
      const std::map<TopicPartition, std::int64_t>& next_offsets) = 0;
  virtual void pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual void resume(const std::vector<TopicPartition>& partitions) = 0;
  virtual std::vector<TopicPartition> assignment() const = 0;
  // The partition's high watermark as last seen (for lag); nullopt when not known yet.
  virtual std::optional<std::int64_t> high_watermark(const TopicPartition& partition) const = 0;
  // Leaves the group (the partitions move to the other members at once). Idempotent.
  virtual void close() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  [[nodiscard]] virtual Status publish(const std::string& topic, std::vector<Message> messages) = 0;
  [[nodiscard]] virtual Result<std::unique_ptr<Subscription>> subscribe(
      SubscribeOptions options) = 0;
  // Creates the topic with `partitions` partitions; fine if it exists (its count is kept).
  [[nodiscard]] virtual Status ensure_topic(const std::string& topic, std::int32_t partitions) = 0;
  [[nodiscard]] virtual Result<std::int32_t> partition_count(const std::string& topic) = 0;
  // The offset the next message of each partition of `topic` will get (its high watermark),
  // asked of the log now: what a reader must reach to have read everything published so far.
  [[nodiscard]] virtual Result<std::map<TopicPartition, std::int64_t>> end_offsets(
      const std::string& topic) = 0;
  // A consumer group's committed offsets on `topic` (partitions without one are left out), and
  // storing offsets for a group without joining it (Kafka's "simple" commit, generation -1;
  // the group must have no active members). Tools use them for cursors (wharf dlq purge).
  // Transports that keep no groups answer kUnsupported.
  [[nodiscard]] virtual Result<std::map<TopicPartition, std::int64_t>> committed_offsets(
      const std::string& group, const std::string& topic) {
    (void)group;
    (void)topic;
    return fail(ErrorCode::kUnsupported, "{} keeps no consumer-group offsets", name());
  }
  [[nodiscard]] virtual Status commit_offsets(
      const std::string& group, const std::map<TopicPartition, std::int64_t>& offsets) {
    (void)group;
    (void)offsets;
    return fail(ErrorCode::kUnsupported, "{} keeps no consumer-group offsets", name());
  }
  // Stops background work and releases resources; later calls fail with kShuttingDown.
  virtual Status close() = 0;
  // "memory", "kafka" or "embedded".
  virtual std::string_view name() const = 0;
  // HOST:PORT where Kafka clients reach the same topics ("" for the memory transport): the
  // bootstrap of KafkaOptions, the loopback listener of EmbeddedOptions.
  virtual std::string kafka_address() const = 0;
};

// --- Options of each transport -------------------------------------------------------------

struct MemoryOptions {
  const Clock* clock = nullptr;         // nullptr: the system clock
  std::int32_t default_partitions = 4;  // for topics first named by publish or subscribe
};

struct KafkaOptions {
  std::string bootstrap = "127.0.0.1:9092";  // or $WHARF_BOOTSTRAP when empty
  std::string client_id = "wharf";
  // librdkafka properties applied last (they win): {"linger.ms", "1"}, {"security.protocol", ...}
  std::vector<std::pair<std::string, std::string>> properties;
  std::int32_t default_partitions = 12;       // for ensure_topic-less first use
  std::chrono::milliseconds timeout{30'000};  // publish, commit and admin calls
};

struct EmbeddedOptions {
  std::string data_dir = "./wharf-data";
  // Where other processes (kcat, wharf, other services) attach while this program runs;
  // "127.0.0.1:0" picks a free port (see Transport::kafka_address()).
  std::string listen = "127.0.0.1:0";
  std::string sync_policy = "always";  // always | interval:MS | none
  // HOST:PORT of the admin HTTP API in this process (/metrics with the library's metrics,
  // /healthz, /v1/topics, /v1/groups, /v1/dead-letters, /v1/parked-keys); empty: off.
  std::string admin;
  std::int32_t default_partitions = 12;
  std::vector<std::pair<std::string, std::string>> properties;  // as KafkaOptions::properties
  // Broker settings as `wharf serve --config` takes them: {"group.initial.rebalance.delay.ms",
  // "0"}, {"log.retention.ms", "86400000"} (docs/broker.md lists them).
  std::vector<std::pair<std::string, std::string>> broker_settings;
};

// A handle on one transport, cheap to copy (shared ownership).
class Bus {
 public:
  [[nodiscard]] static Result<Bus> open(const MemoryOptions& options);
  [[nodiscard]] static Result<Bus> open(const KafkaOptions& options);
  [[nodiscard]] static Result<Bus> open(const EmbeddedOptions& options);
  explicit Bus(std::shared_ptr<Transport> transport) : transport_(std::move(transport)) {}

  Transport& transport() const { return *transport_; }
  Transport* operator->() const { return transport_.get(); }
  std::shared_ptr<Transport> shared() const { return transport_; }

  [[nodiscard]] Status publish(const std::string& topic, Message message) const {
    std::vector<Message> one;
    one.push_back(std::move(message));
    return transport_->publish(topic, std::move(one));
  }

 private:
  std::shared_ptr<Transport> transport_;
};

}  // namespace wharf
