// The Kafka-protocol server: accepts connections, reads size-prefixed requests, answers them in
// request order, and turns each API into calls on the storage engine.
//
// Threads: one network thread runs every connection as a C++20 coroutine (Asio); storage work
// (appends that wait for fsync, reads, topic admin) runs on a bounded pool of storage threads,
// so a slow disk never stalls the network thread. Each connection handles one request at a
// time, as Kafka does (a pipelining client's next requests wait in the socket), so responses
// leave in request order and one producer's batches reach a partition in the order sent.
//
// Durability: a Produce with acks=1 or acks=-1 is answered only once the storage engine says
// its batch is durable under the topic's sync policy; acks=0 gets no response at all.
// Asio is kept out of this header (pimpl) so that including it stays cheap.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "kafka/group/coordinator.h"

namespace wharf::storage {
class LogManager;
}

namespace wharf::kafka {

class ProducerIdAllocator;

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 9092;   // 0: pick a free port (tests)
  std::string advertised_host;        // empty: listen_host (or 127.0.0.1 for 0.0.0.0)
  std::uint16_t advertised_port = 0;  // 0: the bound port
  std::int32_t node_id = 0;
  std::string cluster_id;
  bool auto_create_topics = true;
  std::int32_t default_partitions = 1;
  // Limits (docs/limits.md has the reasons).
  std::size_t request_bytes_max = 100 * 1024 * 1024;
  // Bytes of requests being read or handled, across all connections (Kafka's
  // queued.max.request.bytes); raised to request_bytes_max if smaller.
  std::size_t request_memory_bytes_max = 256 * 1024 * 1024;
  std::size_t connections_max = 4096;
  std::size_t fetch_response_bytes_max = 64 * 1024 * 1024;
  // Bytes read ahead for consumers' next Fetch, across all connections (fetch_read_ahead.h);
  // 0 turns read-ahead off.
  std::size_t fetch_read_ahead_bytes_max = 64 * 1024 * 1024;
  std::chrono::milliseconds fetch_wait_max{30'000};
  std::chrono::milliseconds idle_timeout{10 * 60 * 1000};
  std::chrono::milliseconds request_read_timeout{30'000};
  std::chrono::milliseconds shutdown_grace{10'000};
  int storage_threads = 8;
  // Consumer groups.
  std::chrono::milliseconds group_initial_rebalance_delay{3'000};
  std::int32_t offsets_topic_partitions = 50;  // Kafka's default
};

class KafkaServer {
 public:
  // `clock` decides the group coordinator's session and rebalance timeouts, the timestamps of
  // __consumer_offsets records, Fetch's wait deadline and the connection watchdog's timeouts
  // (the broker passes the one it gives storage). It must outlive the server.
  KafkaServer(ServerConfig config, storage::LogManager& log, ProducerIdAllocator& producer_ids,
              const Clock& clock);
  ~KafkaServer();

  // Binds the listener and starts the network and storage threads.
  [[nodiscard]] Status start();
  // Stops accepting, lets in-flight requests finish (up to shutdown_grace), closes every
  // connection and joins the threads. Idempotent; safe from any thread except the network one.
  void stop();
  // Blocks until stop() has completed.
  void wait();

  std::uint16_t bound_port() const;
  // A snapshot of every consumer group, taken on the network thread. Blocks the caller until it
  // is taken; never call it from the network thread. Empty once the server has stopped.
  std::vector<group::GroupMetrics> group_metrics();
  // True between a successful start() and the beginning of stop().
  bool serving() const;
  // True while appends fail for lack of disk space (until one succeeds again). Any thread.
  bool disk_full() const;
  const ServerConfig& config() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wharf::kafka
