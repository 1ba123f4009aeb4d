// What a request handler may use of the Kafka server: HandlerContext, the narrow view that the
// handlers (free functions, handlers.h) receive instead of the whole server, and the types they
// share with it (the request and its result, parked fetches, append errors, dynamic broker
// configs). KafkaServer::Impl owns the context and the state it points at; both outlive every
// request. Network thread unless a member says otherwise. Includes Asio; never include it from
// a widely used header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "base/clock.h"
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

struct HandlerResult;
class FetchReadAhead;

// A response that is not ready when its handler returns: a produce whose batches wait for
// their write and sync. The connection reads its next request meanwhile (pipelining) and
// writes responses in request order. Network thread only.
struct DeferredResult {
  std::size_t outstanding = 0;            // completions still to come
  std::function<HandlerResult()> finish;  // builds the response once outstanding is 0
  asio::steady_timer* waiter = nullptr;   // the connection's writer, waiting for it
  // The request-memory budget the request still holds (its batches live until written):
  // handed over by the connection, given back when the response is taken from its queue.
  std::size_t reserved_bytes = 0;
  bool ready() const { return outstanding == 0; }
  // Builds the response and lets go of `finish` (and what it holds). Once, when ready().
  HandlerResult take_result();
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
  // With `close`: whether the request was malformed (wharf_requests_malformed_total). Not for
  // an acks=0 produce that failed, which closes the connection so that the producer notices.
  bool malformed = true;
  // Bytes of the whole body: `body` and the externals.
  std::size_t body_bytes() const {
    std::size_t n = body ? body->size() : 0;
    for (const auto& e : externals) n += e.bytes.size();
    return n;
  }
};

inline HandlerResult DeferredResult::take_result() {
  auto f = std::move(finish);
  finish = nullptr;
  return f();
}

// Runs one connection's produce writes on the storage pool one after another, in request order.
using WriteStrand = asio::strand<asio::thread_pool::executor_type>;

// One connection's produce writes. A produce is written on the network thread only while none of
// the connection's writes is queued on the strand, so they stay in request order.
struct ConnectionWrites {
  explicit ConnectionWrites(WriteStrand s) : strand(std::move(s)) {}
  WriteStrand strand;
  // Writes posted to `strand` and not finished; network thread only. Shared with each write's
  // completion, which may run after the connection is gone.
  std::shared_ptr<std::size_t> queued = std::make_shared<std::size_t>(0);
};

// A produce request whose batches total at most this many bytes may be written on the network
// thread (handle_produce.cc): small enough that validating and copying it into the page cache
// (tens of microseconds) does not hold up the thread's other connections. Larger ones, and any
// that would wait for a lock or start a segment, are written on a storage thread.
inline constexpr std::size_t kProduceInlineBytesMax = 64 * 1024;
// And at most this many batches (partitions), each a lookup, a validation and a write.
inline constexpr std::size_t kProduceInlineBatchesMax = 16;

// wharf_produce_batches_written_inline_total (docs/metrics.md).
inline metrics::Counter& produce_written_inline() {
  static metrics::Counter& c =
      metrics::registry()
          .counter("wharf_produce_batches_written_inline_total",
                   "Produced batches written on the network thread, without a storage-thread "
                   "hop.")
          .with({});
  return c;
}

struct RequestContext {
  protocol::RequestHeader header;
  std::string client_host;               // "/ip" as Kafka shows it in DescribeGroups
  ConnectionWrites* writes = nullptr;    // the connection's; none: writes go to the pool directly
  FetchReadAhead* read_ahead = nullptr;  // the connection's; none: Fetch reads when asked
  std::int16_t version() const { return header.request_api_version; }
};

// Parked fetches wait on a timer that the high watermark of one of their partitions passing
// the fetched position cancels early (Partition::watch), or the deadline ends. The server keeps
// them here to wake them all at shutdown. Network thread only.
class FetchWaiters {
 public:
  // The gauge is the process's: several servers in one process (tests) add to it.
  void add(asio::steady_timer* timer) {
    if (waiting_.insert(timer).second) parked_.add(1);
  }
  void remove(asio::steady_timer* timer) {
    if (waiting_.erase(timer) > 0) parked_.add(-1);
  }
  // Fetches whose frames a stopped io_context destroyed never removed themselves.
  ~FetchWaiters() { parked_.add(-static_cast<double>(waiting_.size())); }
  // wharf_fetches_parked, the process's gauge (docs/metrics.md).
  static metrics::Gauge& parked_gauge() {
    static metrics::Gauge& g =
        metrics::registry()
            .gauge("wharf_fetches_parked", "Fetch requests waiting for data (long poll).")
            .with({});
    return g;
  }
  FetchWaiters() = default;
  FetchWaiters(const FetchWaiters&) = delete;
  FetchWaiters& operator=(const FetchWaiters&) = delete;
  void notify_all() {
    for (auto* timer : waiting_) timer->cancel();
  }

 private:
  std::set<asio::steady_timer*> waiting_;
  metrics::Gauge& parked_ = parked_gauge();
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

// Per-partition traffic counters (wharf_partition_*_total), looked up once per partition.
struct PartitionTraffic {
  metrics::Counter* bytes_in;
  metrics::Counter* records_in;
  metrics::Counter* bytes_out;
  metrics::Counter* records_out;
};

// The server's two thread pools, for what partitions keep and call later (watch callbacks,
// durable callbacks, the sync runner): those may outlive this server (an embedder that
// destroys the server before closing the log), so they hold this rather than the server, and
// after close() (KafkaServer::stop(), once its threads are joined) their posts are dropped.
// Any thread.
class ThreadPosts {
 public:
  ThreadPosts(asio::io_context& io, asio::thread_pool& pool) : io_(&io), pool_(&pool) {}
  // Runs `f` on the network thread; false (and `f` dropped) once closed.
  template <typename F>
  bool to_network(F&& f) {
    std::lock_guard lock(mu_);
    if (io_ == nullptr) return false;
    asio::post(*io_, std::forward<F>(f));
    return true;
  }
  // Runs `task` on a storage thread; false (and `task` dropped) once closed.
  bool to_storage(std::function<void()> task) {
    std::lock_guard lock(mu_);
    if (pool_ == nullptr) return false;
    asio::post(*pool_, std::move(task));
    return true;
  }
  void close() {
    std::lock_guard lock(mu_);
    io_ = nullptr;
    pool_ = nullptr;
  }

 private:
  std::mutex mu_;
  asio::io_context* io_;
  asio::thread_pool* pool_;
};

// Everything a handler may touch. Built by KafkaServer::Impl::start() once the coordinator and
// the offsets log are open, before the first connection is accepted.
class HandlerContext {
 public:
  HandlerContext(const ServerConfig& config, storage::LogManager& log,
                 ProducerIdAllocator& producer_ids, const Clock& clock, asio::io_context& io,
                 asio::thread_pool& storage_pool, group::Coordinator& coordinator,
                 group::OffsetsLog& offsets_log, FetchWaiters& fetch_waiters,
                 AppendErrorReporter& append_errors, const bool& stopping,
                 const std::atomic<std::uint16_t>& bound_port)
      : config(config),
        log(log),
        producer_ids(producer_ids),
        clock(clock),
        io(io),
        coordinator(coordinator),
        offsets_log(offsets_log),
        fetch_waiters(fetch_waiters),
        append_errors(append_errors),
        stopping(stopping),
        posts(std::make_shared<ThreadPosts>(io, storage_pool)),
        storage_pool_(storage_pool),
        bound_port_(bound_port) {}
  HandlerContext(const HandlerContext&) = delete;
  HandlerContext& operator=(const HandlerContext&) = delete;

  const ServerConfig& config;
  storage::LogManager& log;           // any thread
  ProducerIdAllocator& producer_ids;  // any thread
  const Clock& clock;
  asio::io_context& io;             // the network thread's, for timers
  group::Coordinator& coordinator;  // network thread only
  group::OffsetsLog& offsets_log;   // appends block: call them through blocking()
  FetchWaiters& fetch_waiters;
  AppendErrorReporter& append_errors;           // any thread
  DynamicBrokerConfigs dynamic_broker_configs;  // any thread (its mutex)
  const bool& stopping;  // the server is stopping: parked requests answer with what they have
  // For callbacks that partitions keep: capture this (a copy), never the context itself.
  const std::shared_ptr<ThreadPosts> posts;

  // Where clients reach this broker (Metadata, FindCoordinator, DescribeCluster).
  std::string advertised_host() const;
  std::int32_t advertised_port() const;
  // The partition's traffic counters, created on first use.
  PartitionTraffic& traffic(const std::string& topic, std::int32_t partition);

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
  // Runs `task` on a storage thread, without waiting for it.
  void post_to_storage(std::function<void()> task) { asio::post(storage_pool_, std::move(task)); }
  // Runs tasks on the storage pool for what outlives a request: the syncs that pipelined
  // produces wait for (kept by partitions) and connections' Fetch read-aheads. Refuses them
  // once the server has stopped (`posts`).
  storage::TaskRunner storage_runner() {
    return
        [posts = posts](std::function<void()> task) { return posts->to_storage(std::move(task)); };
  }
  // Runs `f` on the network thread (from any thread).
  template <typename F>
  void post_to_network(F&& f) {
    asio::post(io, std::forward<F>(f));
  }
  // Runs f(0) .. f(n-1) concurrently on storage threads; resumes when all have returned.
  asio::awaitable<void> parallel(
      std::size_t n, const std::function<void(std::size_t)>& f);  // f: a named local (see blocking)

 private:
  asio::thread_pool& storage_pool_;
  const std::atomic<std::uint16_t>& bound_port_;
  std::map<std::pair<std::string, std::int32_t>, PartitionTraffic> traffic_;
};

}  // namespace wharf::kafka
