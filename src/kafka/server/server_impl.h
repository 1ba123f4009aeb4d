// Internals of KafkaServer: connections, the request loop and dispatch through the API table
// (handlers.h). Handlers see only their HandlerContext (handler_context.h), which the Impl owns.
// Includes Asio; never include it from a widely used header. Everything here runs on the single
// network thread unless it says otherwise.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "base/metrics.h"
#include "kafka/group/coordinator.h"
#include "kafka/group/offsets_log.h"
#include "kafka/protocol/reader.h"
#include "kafka/server/fetch_read_ahead.h"
#include "kafka/server/handler_context.h"
#include "kafka/server/handlers.h"
#include "kafka/server/producer_ids.h"
#include "kafka/server/server.h"
#include "storage/log_manager.h"

namespace wharf::kafka {

class KafkaServer::Impl {
 public:
  Impl(ServerConfig config, storage::LogManager& log, ProducerIdAllocator& producer_ids,
       const Clock& clock);

  Status start();
  void stop();
  void wait();

  // Finds the request's API in the table (handlers.h) and runs its handler.
  asio::awaitable<HandlerResult> dispatch(const RequestContext& ctx, protocol::Reader& body);

  // Group metrics with each partition's high watermark, for the admin API (network thread).
  std::vector<group::GroupMetrics> group_metrics() const { return coordinator_->metrics(); }

  const ServerConfig& config() const { return config_; }
  bool serving() const { return serving_.load(); }
  std::vector<group::GroupMetrics> group_metrics_blocking();
  std::uint16_t bound_port() const { return bound_port_.load(); }

  const AppendErrorReporter& append_errors_view() const { return append_errors_; }

 private:
  struct Connection;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Connection> conn);
  // Writes the connection's queued responses in request order, each once it is ready.
  asio::awaitable<void> write_responses(std::shared_ptr<Connection> conn);
  // Forgets the responses still queued, giving back the request memory they hold.
  void drop_queued_responses(Connection& conn);
  // Size, header and body (gathered, in slices); false if the write failed.
  asio::awaitable<bool> write_response(Connection& conn, const RequestContext& ctx,
                                       const HandlerResult& result);
  asio::awaitable<void> watchdog(std::shared_ptr<Connection> conn);
  // The request-memory budget (ServerConfig::request_memory_bytes_max): false if the
  // connection closed or the server stopped while waiting.
  asio::awaitable<bool> reserve_request_bytes(Connection& conn, std::size_t bytes);
  void release_request_bytes(Connection& conn);
  // Gives back `bytes` of the budget taken over by a deferred produce (network thread).
  void release_request_bytes(std::size_t bytes);
  asio::awaitable<void> group_ticker();
  // Appends the coordinator's group metadata records (members, assignments) to
  // __consumer_offsets, a few times a second; a failed append is logged and tried again later.
  asio::awaitable<void> group_metadata_writer();
  // Auto-creates missing topics (Metadata with auto-creation on); blocking.
  void finish_stop();

  ServerConfig config_;
  storage::LogManager& log_;
  ProducerIdAllocator& producer_ids_;
  const Clock& clock_;
  // Declared before io_ so that it is destroyed after it: stop() joins the pool's threads, but
  // connections still held by coroutine frames that ~io_context destroys own strands on it.
  asio::thread_pool storage_pool_;
  asio::io_context io_{1};
  asio::ip::tcp::acceptor acceptor_{io_};
  std::atomic<std::uint16_t> bound_port_{0};
  std::atomic<bool> serving_{false};
  std::set<std::shared_ptr<Connection>> connections_;
  std::uint64_t accept_failures_ = 0;  // since the last log line
  std::chrono::steady_clock::time_point accept_failure_logged_{};
  std::size_t request_bytes_reserved_ = 0;        // sum of the connections' shares
  std::set<asio::steady_timer*> memory_waiters_;  // connections waiting for a share
  FetchWaiters fetch_waiters_;
  // Shared with each connection's read-ahead, which a storage task can keep past the server.
  std::shared_ptr<ReadAheadBudget> read_ahead_budget_;
  AppendErrorReporter append_errors_;
  std::unique_ptr<group::Coordinator> coordinator_;
  // Per-API request metrics, looked up once per API key (network thread only).
  struct ApiMetrics {
    metrics::Counter* requests;
    metrics::Histogram* latency;
  };
  std::map<std::int16_t, ApiMetrics> api_metrics_;
  ApiMetrics& api_metrics(std::int16_t api_key);
  metrics::Gauge& connections_gauge_ =
      metrics::registry().gauge("wharf_connections", "Open Kafka-protocol connections.").with({});
  metrics::Counter& connections_accepted_ =
      metrics::registry()
          .counter("wharf_connections_accepted_total", "Kafka-protocol connections accepted.")
          .with({});
  metrics::Counter& connections_refused_ =
      metrics::registry()
          .counter("wharf_connections_refused_total",
                   "Connections closed at accept because connections.max was reached.")
          .with({});
  metrics::Counter& accept_errors_ =
      metrics::registry()
          .counter("wharf_accept_errors_total",
                   "Failed accepts (e.g. out of file descriptors); each is followed by a back-off.")
          .with({});
  metrics::Gauge& request_memory_gauge_ =
      metrics::registry()
          .gauge("wharf_request_memory_bytes",
                 "Bytes of requests being read or handled, against queued.max.request.bytes.")
          .with({});
  metrics::Counter& requests_malformed_ =
      metrics::registry()
          .counter("wharf_requests_malformed_total",
                   "Requests that closed their connection: bad size, header, version or body.")
          .with({});
  std::unique_ptr<group::OffsetsLog> offsets_log_;
  // What the handlers see; built by start() once the coordinator and offsets log are open.
  std::unique_ptr<HandlerContext> hc_;
  bool stopping_ = false;
  std::thread network_thread_;
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::condition_variable stopped_cv_;
  std::once_flag stop_once_;
};

}  // namespace wharf::kafka
