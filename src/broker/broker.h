// The broker: wiring of config, storage and the Kafka server, in start-up and shutdown order.
//
// Start: open the data directory (cluster id, producer-id allocator), open and recover every
// partition, then listen. Stop: stop accepting and drain in-flight requests (KafkaServer::stop),
// then close the log cleanly (sync, snapshots, clean-shutdown markers). The caller's thread
// runs start()/stop(); the server owns its network and storage threads.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "admin/admin_api.h"
#include "admin/http_server.h"
#include "base/clock.h"
#include "base/result.h"
#include "io/file_system.h"
#include "kafka/server/producer_ids.h"
#include "kafka/server/server.h"
#include "storage/log_manager.h"

namespace wharf::broker {

struct BrokerConfig {
  std::string data_dir = "./wharf-data";
  kafka::ServerConfig server;
  std::string admin_listen;  // HOST:PORT of the admin HTTP API; empty: off
  storage::TopicConfig topic_defaults;
  storage::CleanerOptions cleaner;  // log.cleaner.io.max.bytes.per.second, .dedupe.buffer.size
  std::chrono::milliseconds cleaner_backoff{std::chrono::seconds(15)};  // log.cleaner.backoff.ms
};

// "host:port" -> (host, port); port 0 allowed.
[[nodiscard]] Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text);

// Applies `key=value` settings (a config file's lines or --set flags) to `config`. Keys:
// data.dir, listen, advertise, admin, sync.policy, auto.create.topics.enable, num.partitions,
// socket.request.max.bytes, message.max.bytes, log.segment.bytes, log.segment.ms,
// log.retention.ms, log.retention.bytes, connections.max, group.initial.rebalance.delay.ms,
// offsets.topic.num.partitions, log.cleaner.io.max.bytes.per.second,
// log.cleaner.dedupe.buffer.size, log.cleaner.backoff.ms.
[[nodiscard]] Status apply_setting(BrokerConfig& config, const std::string& key,
                                   const std::string& value);
// A config file holds a few dozen short lines; anything larger (a wrong path such as /dev/zero,
// a log file) is refused before it can fill memory.
inline constexpr std::size_t kConfigFileBytesMax = 1 << 20;
// Reads a properties file (key=value lines, '#' comments) and applies each setting. Errors:
// kNotFound if it cannot be opened, kInvalidArgument for a file over kConfigFileBytesMax or a
// bad line (named by its number).
[[nodiscard]] Status apply_config_file(BrokerConfig& config, const std::string& path);

class Broker {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Broker>> start(BrokerConfig config,
                                                             io::FileSystem& fs,
                                                             const Clock& clock);
  ~Broker();
  // Graceful shutdown; idempotent. Returns the log's close status.
  [[nodiscard]] Status stop();

  std::uint16_t kafka_port() const { return server_->bound_port(); }
  // 0 when the admin API is off.
  std::uint16_t admin_port() const { return http_ ? http_->bound_port() : 0; }
  const BrokerConfig& config() const { return config_; }
  const std::string& cluster_id() const { return config_.server.cluster_id; }
  storage::LogManager& log() { return *log_; }

 private:
  explicit Broker(BrokerConfig config) : config_(std::move(config)) {}
  BrokerConfig config_;
  std::unique_ptr<storage::LogManager> log_;
  std::unique_ptr<kafka::ProducerIdAllocator> producer_ids_;
  std::unique_ptr<kafka::KafkaServer> server_;
  std::unique_ptr<admin::AdminApi> admin_;
  std::unique_ptr<admin::HttpServer> http_;
  bool stopped_ = false;
};

}  // namespace wharf::broker
