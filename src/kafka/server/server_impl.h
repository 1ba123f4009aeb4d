// Internals of KafkaServer shared by server.cc and the handle_*.cc files. Includes Asio; never
// include it from a widely used header. Everything here runs on the single network thread
// unless it says otherwise.
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
#include "kafka/protocol/errors.h"
#include "kafka/protocol/generated/message_headers.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"
#include "kafka/server/producer_ids.h"
#include "kafka/server/server.h"
#include "storage/log_manager.h"

namespace wharf::kafka {

// The handlers name Kafka error codes unqualified.
using protocol::code;
using protocol::KafkaError;
using protocol::to_kafka_error;

// Completion token for co_await that returns (error_code, results...) instead of throwing.
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// What the server advertises in ApiVersions: only what it implements (kafka-protocol.md §1.6).
struct AdvertisedApi {
  std::int16_t api_key;
  std::int16_t min_version;
  std::int16_t max_version;
};
std::span<const AdvertisedApi> advertised_apis();
const AdvertisedApi* find_advertised(std::int16_t api_key);

struct HandlerResult;

// A response that is not ready when its handler returns: a produce whose appends are written
// and wait for their sync. The connection reads its next request meanwhile (pipelining) and
// writes responses in request order. Network thread only.
struct DeferredResult {
  std::size_t outstanding = 0;            // completions still to come
  // Request-memory budget still held for the request's data until its writes are done
  // (moved from the connection's share; see KafkaServer::Impl::release_request_bytes).
  std::size_t reserved_bytes = 0;
  bool writes_done = false;               // the data is written: reserved_bytes can go
  std::function<HandlerResult()> finish;  // builds the response once outstanding is 0
  asio::steady_timer* waiter = nullptr;   // the connection's writer, waiting for it
  bool ready() const { return outstanding == 0; }
  void complete_one() {
    if (--outstanding == 0 && waiter != nullptr) waiter->cancel();
  }
};

struct HandlerResult {
  std::optional<Bytes> body;  // encoded response body; none for acks=0 produce
  bool close = false;         // close the connection after this request (malformed input)
  // Byte strings that belong inside `body` but were left out of it (Writer::gather): each goes
  // at its offset of `body`, in order. `keepalive` owns the memory they point at.
  std::vector<protocol::Writer::External> externals;
  std::shared_ptr<const void> keepalive;
  // Set instead of the fields above when the response comes later (see DeferredResult).
  std::shared_ptr<DeferredResult> deferred;
  // Bytes of the whole body: `body` and the externals.
  std::size_t body_bytes() const {
    std::size_t n = body ? body->size() : 0;
    for (const auto& e : externals) n += e.bytes.size();
    return n;
  }
};

// Runs one connection's produce writes on the storage pool one after another, in request order.
using WriteStrand = asio::strand<asio::thread_pool::executor_type>;

struct RequestContext {
  protocol::RequestHeader header;
  std::string client_host;  // "/ip" as Kafka shows it in DescribeGroups
  WriteStrand* writes = nullptr;  // the connection's; none: writes go to the pool directly
  std::int16_t version() const { return header.request_api_version; }
};

// Parked fetches wait on a timer that the high watermark of one of their partitions passing
// the fetched position cancels early (Partition::watch), or the deadline ends. The server keeps
// them here to wake them all at shutdown. Network thread only.
class FetchWaiters {
 public:
  void add(asio::steady_timer* timer) { waiting_.insert(timer); }
  void remove(asio::steady_timer* timer) { waiting_.erase(timer); }
  void notify_all() {
    for (auto* timer : waiting_) timer->cancel();
  }

 private:
  std::set<asio::steady_timer*> waiting_;
};

// Failed appends: counted, logged at most once per interval with how many were not logged
// (a full disk fails every produce, thousands a minute), and a disk-full state that /readyz
// and the gauge wharf_storage_full show until an append succeeds again. Any thread.
class AppendErrorReporter {
 public:
  static constexpr std::chrono::seconds kLogInterval{10};
  void failed(const std::string& topic, std::int32_t partition, const Error& error);
  void succeeded() {
    if (disk_full_.load(std::memory_order_relaxed)) set_disk_full(false);
  }
  bool disk_full() const { return disk_full_.load(); }

 private:
  void set_disk_full(bool full);
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_logged_{};
  std::chrono::steady_clock::time_point last_state_logged_{};
  std::uint64_t not_logged_ = 0;
  std::atomic<bool> disk_full_{false};
  metrics::Counter& errors_ =
      metrics::registry()
          .counter("wharf_append_errors_total",
                   "Produce appends that failed in storage (bad batches excluded).")
          .with({});
  metrics::Gauge& full_ =
      metrics::registry()
          .gauge("wharf_storage_full",
                 "1 while appends fail for lack of disk space (until one succeeds again).")
          .with({});
};

// Broker configs changed at run time (AlterConfigs and IncrementalAlterConfigs on the BROKER
// resource). Handlers run on storage threads, hence the mutex. Not persisted: a restart goes back
// to the values the broker was started with.
struct DynamicBrokerConfigs {
  std::mutex mu;
  std::string startup_log_level;         // what log.level was before the first change
  std::optional<std::string> log_level;  // set dynamically; none = the startup level
};

class KafkaServer::Impl {
 public:
  Impl(ServerConfig config, storage::LogManager& log, ProducerIdAllocator& producer_ids,
       const Clock& clock);

  Status start();
  void stop();
  void wait();

  // Runs `f` on a storage thread and resumes on the network thread with its result. `f` and
  // the result live in this coroutine's frame, which stays suspended until the work is done.
  // `f` is taken by reference and must be a named local of the caller: g++ 12 destroys
  // temporaries with destructors inside a co_await expression twice (GCC bug 101367).
  template <typename F>
  asio::awaitable<std::invoke_result_t<F>> blocking(F& f) {
    using R = std::invoke_result_t<F>;
    std::optional<R> result;
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
        [this, &f, &result](auto handler) {
          asio::post(storage_pool_, [&f, &result, h = std::move(handler)]() mutable {
            result.emplace(f());
            auto ex = asio::get_associated_executor(h);
            asio::post(ex, std::move(h));
          });
        },
        asio::use_awaitable);
    co_return std::move(*result);
  }
  // Where partitions run the syncs that pipelined produces wait for: the storage pool.
  storage::TaskRunner sync_runner() {
    return [this](std::function<void()> task) { asio::post(storage_pool_, std::move(task)); };
  }
  // Runs `f` on the network thread (from any thread).
  template <typename F>
  void post_to_network(F&& f) {
    asio::post(io_, std::forward<F>(f));
  }
  // Runs f(0) .. f(n-1) concurrently on storage threads; resumes when all have returned.
  asio::awaitable<void> parallel(
      std::size_t n, const std::function<void(std::size_t)>& f);  // f: a named local (see blocking)

  // Handlers: decode the body, do the work, encode the response body.
  asio::awaitable<HandlerResult> dispatch(const RequestContext& ctx, protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_api_versions(const RequestContext& ctx,
                                                     protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_metadata(const RequestContext& ctx, protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_produce(const RequestContext& ctx, protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_fetch(const RequestContext& ctx, protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_list_offsets(const RequestContext& ctx,
                                                     protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_init_producer_id(const RequestContext& ctx,
                                                         protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_find_coordinator(const RequestContext& ctx,
                                                         protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_create_topics(const RequestContext& ctx,
                                                      protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_delete_topics(const RequestContext& ctx,
                                                      protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_create_partitions(const RequestContext& ctx,
                                                          protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_describe_configs(const RequestContext& ctx,
                                                         protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_alter_configs(const RequestContext& ctx,
                                                      protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_incremental_alter_configs(const RequestContext& ctx,
                                                                  protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_join_group(const RequestContext& ctx,
                                                   protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_sync_group(const RequestContext& ctx,
                                                   protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_heartbeat(const RequestContext& ctx,
                                                  protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_leave_group(const RequestContext& ctx,
                                                    protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_offset_commit(const RequestContext& ctx,
                                                      protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_offset_fetch(const RequestContext& ctx,
                                                     protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_describe_groups(const RequestContext& ctx,
                                                        protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_list_groups(const RequestContext& ctx,
                                                    protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_delete_groups(const RequestContext& ctx,
                                                      protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_offset_delete(const RequestContext& ctx,
                                                      protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_delete_records(const RequestContext& ctx,
                                                       protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_describe_log_dirs(const RequestContext& ctx,
                                                          protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_describe_cluster(const RequestContext& ctx,
                                                         protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_offset_for_leader_epoch(const RequestContext& ctx,
                                                                protocol::Reader& body);
  asio::awaitable<HandlerResult> handle_describe_producers(const RequestContext& ctx,
                                                           protocol::Reader& body);

  // Group metrics with each partition's high watermark, for the admin API (network thread).
  std::vector<group::GroupMetrics> group_metrics() const { return coordinator_->metrics(); }

  const ServerConfig& config() const { return config_; }
  bool serving() const { return serving_.load(); }
  std::vector<group::GroupMetrics> group_metrics_blocking();
  std::uint16_t bound_port() const { return bound_port_.load(); }
  std::string advertised_host() const;
  std::int32_t advertised_port() const;

  storage::LogManager& log() { return log_; }
  AppendErrorReporter& append_errors() { return append_errors_; }
  const AppendErrorReporter& append_errors_view() const { return append_errors_; }

 private:
  struct Connection;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Connection> conn);
  // Writes the connection's queued responses in request order, each once it is ready.
  asio::awaitable<void> write_responses(std::shared_ptr<Connection> conn);
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

 public:
  // A deferred produce's writes are done: the budget its request held is released now if the
  // connection handed it over already, else the connection keeps none for it (network thread).
  void writes_done(DeferredResult& deferred) {
    deferred.writes_done = true;
    release_request_bytes(std::exchange(deferred.reserved_bytes, 0));
  }

 private:
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
  asio::io_context io_{1};
  asio::thread_pool storage_pool_;
  asio::ip::tcp::acceptor acceptor_{io_};
  std::atomic<std::uint16_t> bound_port_{0};
  std::atomic<bool> serving_{false};
  std::set<std::shared_ptr<Connection>> connections_;
  std::uint64_t accept_failures_ = 0;  // since the last log line
  std::chrono::steady_clock::time_point accept_failure_logged_{};
  std::size_t request_bytes_reserved_ = 0;        // sum of the connections' shares
  std::set<asio::steady_timer*> memory_waiters_;  // connections waiting for a share
  FetchWaiters fetch_waiters_;
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
  struct PartitionTraffic {
    metrics::Counter* bytes_in;
    metrics::Counter* records_in;
    metrics::Counter* bytes_out;
    metrics::Counter* records_out;
  };
  std::map<std::pair<std::string, std::int32_t>, PartitionTraffic> traffic_;

 public:
  PartitionTraffic& traffic(const std::string& topic, std::int32_t partition);

 private:
  std::unique_ptr<group::OffsetsLog> offsets_log_;
  bool stopping_ = false;
  std::thread network_thread_;
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::condition_variable stopped_cv_;
  std::once_flag stop_once_;

  friend class FetchWaitersAccess;

 public:
  FetchWaiters& fetch_waiters() { return fetch_waiters_; }
  bool stopping() const { return stopping_; }
  DynamicBrokerConfigs& dynamic_broker_configs() { return dynamic_broker_configs_; }

 private:
  DynamicBrokerConfigs dynamic_broker_configs_;
};

}  // namespace wharf::kafka
