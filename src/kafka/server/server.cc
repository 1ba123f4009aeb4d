#include "kafka/server/server.h"

#include <algorithm>
#include <chrono>
#include <future>

#include "base/clock.h"
#include "base/log.h"
#include "base/text.h"
#include "kafka/protocol/generated/api_versions.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/writer.h"
#include "kafka/server/server_impl.h"

namespace wharf::kafka {

using asio::ip::tcp;
namespace p = protocol;

namespace {
// After a failed accept (no descriptors left) the loop waits this long before trying again;
// failures are logged at most once per interval.
constexpr std::chrono::milliseconds kAcceptBackoff{100};
constexpr std::chrono::seconds kAcceptFailureLogInterval{10};
}  // namespace

struct KafkaServer::Impl::Connection {
  Connection(tcp::socket s, std::chrono::steady_clock::time_point now, WriteStrand w)
      : socket(std::move(s)), writes(std::move(w)), last_activity(now), frame_started(now) {}
  tcp::socket socket;
  ConnectionWrites writes;  // this connection's produce writes, in request order
  // The next Fetch's read, started early (none when fetch_read_ahead_bytes_max is 0).
  std::shared_ptr<FetchReadAhead> read_ahead;
  std::string peer;
  std::string host;  // "/ip", as Kafka reports client hosts
  // Last time bytes moved in either direction (or a request finished).
  std::chrono::steady_clock::time_point last_activity;
  // When the current frame's first byte arrived (or its memory was granted).
  std::chrono::steady_clock::time_point frame_started;
  bool reading_frame = false;       // a frame has started arriving but is not complete
  bool waiting_for_memory = false;  // its size is known; waiting for the request-memory budget
  bool handling = false;            // a request is being handled
  bool writing = false;             // a response is being written
  // Responses not yet written, in request order. Only produces waiting for their sync let the
  // reader go on to the next request (pipelining); any other response is written before the
  // next request is read, as before.
  struct Pending {
    RequestContext ctx;
    HandlerResult result;
    std::chrono::steady_clock::time_point started;
  };
  std::deque<Pending> queue;
  std::size_t immediate_queued = 0;           // entries of `queue` without a deferred result
  asio::steady_timer* writer_wait = nullptr;  // the writer, waiting for an entry
  asio::steady_timer* reader_wait = nullptr;  // the reader, waiting for room in the queue
  bool reader_done = false;                   // no more entries will be queued
  bool writer_done = false;
  bool busy() const { return handling || !queue.empty(); }
  void wake_writer() {
    if (writer_wait != nullptr) writer_wait->cancel();
  }
  void wake_reader() {
    if (reader_wait != nullptr) reader_wait->cancel();
  }
  std::size_t request_bytes_reserved = 0;  // this connection's share of the budget
  bool closed = false;
  void close() {
    if (closed) return;
    closed = true;
    asio::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }
};

KafkaServer::Impl::ApiMetrics& KafkaServer::Impl::api_metrics(std::int16_t api_key) {
  auto it = api_metrics_.find(api_key);
  if (it != api_metrics_.end()) return it->second;
  const auto* info = p::find_api(api_key);
  const metrics::Labels labels = {
      {"api", info ? std::string(info->name) : std::to_string(api_key)}};
  auto& reg = metrics::registry();
  ApiMetrics m{&reg.counter("wharf_requests_total", "Kafka requests handled, by API.").with(labels),
               &reg.histogram("wharf_request_duration_seconds",
                              "Time from a request's arrival to its response, by API.")
                    .with(labels)};
  return api_metrics_.emplace(api_key, m).first->second;
}

KafkaServer::Impl::Impl(ServerConfig config, storage::LogManager& log,
                        ProducerIdAllocator& producer_ids, const Clock& clock)
    : config_(std::move(config)),
      log_(log),
      producer_ids_(producer_ids),
      clock_(clock),
      storage_pool_(static_cast<std::size_t>(std::max(1, config_.storage_threads))) {
  // One request of the largest allowed size must always fit the budget.
  config_.request_memory_bytes_max =
      std::max(config_.request_memory_bytes_max, config_.request_bytes_max);
}

Status KafkaServer::Impl::start() {
  // Committed offsets are loaded before the first connection is accepted.
  group::CoordinatorConfig group_config;
  group_config.initial_rebalance_delay = config_.group_initial_rebalance_delay;
  coordinator_ = std::make_unique<group::Coordinator>(group_config, clock_);
  WHARF_ASSIGN_OR_RETURN(offsets_log_,
                         group::OffsetsLog::open(log_, config_.offsets_topic_partitions, clock_));
  std::size_t loaded = 0;
  WHARF_RETURN_IF_ERROR(offsets_log_->load([&](const group::OffsetRecord& r) {
    coordinator_->load(r);
    ++loaded;
  }));
  if (loaded > 0) WHARF_LOG_INFO("loaded {} committed-offset records", loaded);
  hc_ = std::make_unique<HandlerContext>(config_, log_, producer_ids_, clock_, io_, storage_pool_,
                                         *coordinator_, *offsets_log_, fetch_waiters_,
                                         append_errors_, stopping_, bound_port_);
  if (config_.fetch_read_ahead_bytes_max > 0) {
    read_ahead_budget_ = std::make_shared<ReadAheadBudget>(config_.fetch_read_ahead_bytes_max);
  }

  asio::error_code ec;
  auto address = asio::ip::make_address(config_.listen_host, ec);
  if (ec)
    return fail(ErrorCode::kInvalidArgument, "listen address '{}': {}", config_.listen_host,
                ec.message());
  tcp::endpoint endpoint(address, config_.listen_port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ErrorCode::kIoError, "cannot listen on {}:{}: {}", config_.listen_host,
                config_.listen_port, ec.message());
  }
  bound_port_ = acceptor_.local_endpoint().port();
  serving_ = true;
  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, group_ticker(), asio::detached);
  asio::co_spawn(io_, group_metadata_writer(), asio::detached);
  network_thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      WHARF_LOG_ERROR("network thread stopped by an exception: {}", e.what());
    }
  });
  return ok();
}

asio::awaitable<void> KafkaServer::Impl::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      // Out of descriptors (or memory), the pending connection stays queued and accept fails
      // again at once: back off instead of spinning, and log once per interval with a count.
      ++accept_failures_;
      const auto now = clock_.steady_now();
      if (now - accept_failure_logged_ >= kAcceptFailureLogInterval) {
        WHARF_LOG_WARN("accept: {} ({} failure(s) since the last report; retrying every {} ms){}",
                       ec.message(), accept_failures_, kAcceptBackoff.count(),
                       ec == asio::error::no_descriptors
                           ? "; raise the descriptor limit or lower connections.max"
                           : "");
        accept_failure_logged_ = now;
        accept_failures_ = 0;
      }
      accept_errors_.inc();
      asio::steady_timer backoff(io_, kAcceptBackoff);
      (void)co_await backoff.async_wait(use_tuple);
      continue;
    }
    if (connections_.size() >= config_.connections_max) {
      connections_refused_.inc();
      WHARF_LOG_WARN("refusing a connection: {} open, the limit is {}", connections_.size(),
                     config_.connections_max);
      asio::error_code ignore;
      socket.close(ignore);
      continue;
    }
    asio::error_code ignore;
    socket.set_option(tcp::no_delay(true), ignore);
    auto conn = std::make_shared<Connection>(std::move(socket), clock_.steady_now(),
                                             asio::make_strand(storage_pool_));
    if (read_ahead_budget_) {
      conn->read_ahead =
          std::make_shared<FetchReadAhead>(read_ahead_budget_, hc_->storage_runner(), clock_);
    }
    auto remote = conn->socket.remote_endpoint(ignore);
    conn->peer = fmt::format("{}:{}", remote.address().to_string(), remote.port());
    conn->host = "/" + remote.address().to_string();
    connections_.insert(conn);
    connections_accepted_.inc();
    connections_gauge_.set(static_cast<double>(connections_.size()));
    asio::co_spawn(io_, serve(conn), asio::detached);
    asio::co_spawn(io_, watchdog(conn), asio::detached);
  }
}

asio::awaitable<void> KafkaServer::Impl::group_metadata_writer() {
  asio::steady_timer timer(io_);
  // Latest record per group: while appends fail (disk full), what waits stays one per group.
  std::map<std::string, group::GroupMetadataRecord> pending;
  while (!stopping_) {
    timer.expires_after(std::chrono::milliseconds(200));
    (void)co_await timer.async_wait(use_tuple);
    for (auto& r : coordinator_->take_group_metadata()) pending[r.group] = std::move(r);
    if (pending.empty()) continue;
    std::vector<group::GroupMetadataRecord> records;
    for (const auto& [_, r] : pending) records.push_back(r);
    auto persist = [this, &records] { return offsets_log_->append(records); };
    if (Status s = co_await hc_->blocking(persist); !s) {
      WHARF_LOG_WARN("writing group metadata to {} (trying again): {}", group::kOffsetsTopic,
                     s.error().to_string());
      continue;
    }
    pending.clear();
  }
}

asio::awaitable<void> KafkaServer::Impl::group_ticker() {
  // Session and rebalance timeouts are checked at this granularity.
  asio::steady_timer timer(io_);
  while (!stopping_) {
    timer.expires_after(std::chrono::milliseconds(100));
    (void)co_await timer.async_wait(use_tuple);
    coordinator_->tick();
  }
}

asio::awaitable<void> KafkaServer::Impl::watchdog(std::shared_ptr<Connection> conn) {
  asio::steady_timer timer(io_);
  while (!conn->closed) {
    timer.expires_after(std::chrono::seconds(1));
    (void)co_await timer.async_wait(use_tuple);
    if (conn->closed) break;
    if (conn->read_ahead) conn->read_ahead->expire();
    const auto now = clock_.steady_now();
    const auto idle = now - conn->last_activity;
    if (conn->reading_frame && !conn->waiting_for_memory &&
        now - conn->frame_started > config_.request_read_timeout) {
      WHARF_LOG_WARN("{}: closing: a request frame was incomplete for {} ms", conn->peer,
                     config_.request_read_timeout.count());
      conn->close();
    } else if (conn->writing && idle > config_.idle_timeout) {
      // A client that stops reading its responses: no byte could be written for this long.
      WHARF_LOG_WARN("{}: closing: the client read nothing of its response for {} ms", conn->peer,
                     config_.idle_timeout.count());
      conn->close();
    } else if (!conn->busy() && !conn->reading_frame && idle > config_.idle_timeout) {
      WHARF_LOG_INFO("{}: closing idle connection", conn->peer);
      conn->close();
    }
  }
}

asio::awaitable<bool> KafkaServer::Impl::reserve_request_bytes(Connection& conn,
                                                               std::size_t bytes) {
  // REQUIRES: bytes <= the budget (the constructor makes the budget at least the largest
  // request size allowed).
  conn.waiting_for_memory = true;
  while (request_bytes_reserved_ + bytes > config_.request_memory_bytes_max) {
    if (conn.closed || stopping_) {
      conn.waiting_for_memory = false;
      co_return false;
    }
    // Woken early when another connection releases its share; the period is only a backstop.
    asio::steady_timer timer(io_, std::chrono::seconds(1));
    memory_waiters_.insert(&timer);
    (void)co_await timer.async_wait(use_tuple);
    memory_waiters_.erase(&timer);
  }
  conn.waiting_for_memory = false;
  request_bytes_reserved_ += bytes;
  conn.request_bytes_reserved = bytes;
  request_memory_gauge_.set(static_cast<double>(request_bytes_reserved_));
  co_return true;
}

void KafkaServer::Impl::release_request_bytes(Connection& conn) {
  release_request_bytes(std::exchange(conn.request_bytes_reserved, 0));
}

void KafkaServer::Impl::release_request_bytes(std::size_t bytes) {
  if (bytes == 0) return;
  request_bytes_reserved_ -= bytes;
  request_memory_gauge_.set(static_cast<double>(request_bytes_reserved_));
  for (auto* timer : memory_waiters_) timer->cancel();
}

namespace {

// A frame's buffer starts at this size and doubles as bytes arrive, so memory follows what a
// client has sent, not what it declared.
constexpr std::size_t kFrameFirstReadBytes = 64 * 1024;
// A response is written in slices of this size; each written slice counts as progress.
constexpr std::size_t kResponseSliceBytes = 1024 * 1024;
// Requests one connection may have in flight while their produces wait for a sync: the
// pipelining depth. Kafka clients send up to 5 (idempotent) or more; past this the connection
// is read no further until the oldest response is written.
constexpr std::size_t kPipelineDepthMax = 64;

}  // namespace

asio::awaitable<void> KafkaServer::Impl::serve(std::shared_ptr<Connection> conn) {
  asio::co_spawn(io_, write_responses(conn), asio::detached);
  Bytes frame;
  try {
    while (!conn->closed && !stopping_) {
      std::array<std::byte, 4> size_bytes;
      // The first byte of the size starts the partial-request clock: a client that sends 3 of
      // the 4 bytes is cut off like one that stops half-way through a body.
      auto [ec, n] = co_await conn->socket.async_read_some(asio::buffer(size_bytes), use_tuple);
      if (ec) break;
      conn->last_activity = clock_.steady_now();
      conn->frame_started = conn->last_activity;
      conn->reading_frame = true;
      if (n < size_bytes.size()) {
        std::tie(ec, n) = co_await asio::async_read(
            conn->socket, asio::buffer(size_bytes.data() + n, size_bytes.size() - n), use_tuple);
        if (ec) break;
      }
      const std::int32_t size = load_be<std::int32_t>(size_bytes, 0);
      // Kafka's socket.request.max.bytes applies from the first request: many clients (old
      // sarama, tools) never send ApiVersions. The smallest request header is 10 bytes (v1 with
      // a null client id). The size is checked before anything is allocated for it; memory is
      // bounded by the shared budget below, not per connection.
      const std::size_t limit = config_.request_bytes_max;
      if (size < 10 || static_cast<std::size_t>(size) > limit) {
        WHARF_LOG_WARN("{}: closing: request size {} outside [10, {}]", conn->peer, size, limit);
        break;
      }
      // Requests being read share one memory budget (queued.max.request.bytes): a connection
      // waits for its share before reading the body, so N connections declaring large frames
      // cannot take N times the frame size.
      if (!co_await reserve_request_bytes(*conn, static_cast<std::size_t>(size))) break;
      conn->frame_started = clock_.steady_now();
      frame.clear();
      bool read_failed = false;
      while (frame.size() < static_cast<std::size_t>(size)) {
        const std::size_t have = frame.size();
        const std::size_t next =
            std::min(static_cast<std::size_t>(size), std::max(kFrameFirstReadBytes, 2 * have));
        frame.resize(next);
        std::tie(ec, n) = co_await asio::async_read(
            conn->socket, asio::buffer(frame.data() + have, next - have), use_tuple);
        if (ec) {
          read_failed = true;
          break;
        }
        conn->last_activity = clock_.steady_now();
      }
      if (read_failed) break;
      conn->reading_frame = false;
      conn->handling = true;
      conn->last_activity = clock_.steady_now();

      p::Reader reader(frame);
      auto header = p::decode_request_header(reader);
      if (!header) {
        WHARF_LOG_WARN("{}: closing: bad request header: {}", conn->peer, header.error().message());
        break;
      }
      RequestContext ctx{std::move(*header), conn->host, &conn->writes, conn->read_ahead.get()};
      const auto started = std::chrono::steady_clock::now();
      HandlerResult result = co_await dispatch(ctx, reader);
      // The request is handled: its frame no longer counts against the budget, and a large
      // buffer is not kept for the next request. A produce whose data still waits for its
      // write keeps its share until then.
      if (frame.capacity() > kFrameFirstReadBytes) Bytes().swap(frame);
      if (result.deferred) {
        result.deferred->reserved_bytes = std::exchange(conn->request_bytes_reserved, 0);
      }
      release_request_bytes(*conn);
      conn->handling = false;
      const bool close = result.close;
      if (!result.deferred) ++conn->immediate_queued;
      conn->queue.push_back({std::move(ctx), std::move(result), started});
      conn->wake_writer();
      if (close) break;
      // Read ahead only while every queued response is a produce waiting for its sync.
      while (!conn->closed && !conn->queue.empty() &&
             (conn->immediate_queued > 0 || conn->queue.size() >= kPipelineDepthMax)) {
        asio::steady_timer wait(io_, asio::steady_timer::time_point::max());
        conn->reader_wait = &wait;
        (void)co_await wait.async_wait(use_tuple);
        conn->reader_wait = nullptr;
      }
    }
  } catch (const std::exception& e) {
    WHARF_LOG_ERROR("{}: connection ended by an exception: {}", conn->peer, e.what());
  }
  release_request_bytes(*conn);
  conn->handling = false;
  // The writer finishes what is queued (a shutdown or a malformed request ends the reading,
  // not the responses already due), then the connection closes.
  conn->reader_done = true;
  conn->wake_writer();
  while (!conn->writer_done) {
    asio::steady_timer wait(io_, asio::steady_timer::time_point::max());
    conn->reader_wait = &wait;
    (void)co_await wait.async_wait(use_tuple);
    conn->reader_wait = nullptr;
  }
  // The writer may have ended (a failed write) while this reader still handled a request:
  // what that request queued is never written.
  drop_queued_responses(*conn);
  conn->close();
  connections_.erase(conn);
  connections_gauge_.set(static_cast<double>(connections_.size()));
  if (stopping_ && connections_.empty()) finish_stop();
}

asio::awaitable<void> KafkaServer::Impl::write_responses(std::shared_ptr<Connection> conn) {
  try {
    for (;;) {
      if (conn->queue.empty()) {
        if (conn->reader_done || conn->closed) break;
        // Shutting down and nothing left to answer: end the reader's wait for a request.
        if (stopping_ && !conn->handling) {
          conn->close();
          break;
        }
      } else if (auto& head = conn->queue.front();
                 !head.result.deferred || head.result.deferred->ready()) {
        const bool deferred = head.result.deferred != nullptr;
        if (deferred) {
          release_request_bytes(std::exchange(head.result.deferred->reserved_bytes, 0));
          head.result = head.result.deferred->take_result();
        }
        auto& am = api_metrics(head.ctx.header.request_api_key);
        am.requests->inc();
        am.latency->observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - head.started).count());
        if (head.result.close && head.result.malformed) requests_malformed_.inc();
        bool written = true;
        if (head.result.body && !conn->closed) {
          written = co_await write_response(*conn, head.ctx, head.result);
        }
        const bool close = head.result.close || !written;
        if (!deferred) --conn->immediate_queued;
        conn->queue.pop_front();
        conn->last_activity = clock_.steady_now();
        conn->wake_reader();
        if (close) {
          conn->close();
          break;
        }
        continue;
      }
      // Wait for an entry, or for the oldest one to become ready.
      asio::steady_timer wait(io_, asio::steady_timer::time_point::max());
      DeferredResult* head =
          conn->queue.empty() ? nullptr : conn->queue.front().result.deferred.get();
      conn->writer_wait = &wait;
      if (head != nullptr) head->waiter = &wait;
      (void)co_await wait.async_wait(use_tuple);
      conn->writer_wait = nullptr;
      if (head != nullptr) head->waiter = nullptr;  // still the head: only this loop pops
    }
  } catch (const std::exception& e) {
    WHARF_LOG_ERROR("{}: connection ended by an exception: {}", conn->peer, e.what());
    conn->close();
  }
  drop_queued_responses(*conn);
  conn->writer_done = true;
  conn->wake_reader();
}

void KafkaServer::Impl::drop_queued_responses(Connection& conn) {
  // Responses never written (the connection closed): their deferred results may still complete
  // from storage threads, and must not wake a timer that is gone; the request memory they
  // still hold goes back to the budget.
  for (auto& pending : conn.queue) {
    if (!pending.result.deferred) continue;
    pending.result.deferred->waiter = nullptr;
    release_request_bytes(std::exchange(pending.result.deferred->reserved_bytes, 0));
  }
  conn.queue.clear();
  conn.immediate_queued = 0;
}

asio::awaitable<bool> KafkaServer::Impl::write_response(Connection& conn, const RequestContext& ctx,
                                                        const HandlerResult& result) {
  // Size and header in a small buffer, then the body and the byte strings left out of it
  // (a Fetch body's record sets, up to 64 MiB) from where they are: no copy. Written in
  // gathered slices of about 1 MiB so that progress is seen; a client that reads nothing
  // for the idle timeout is cut off by the watchdog.
  Bytes head(4);
  p::Writer w(head);
  p::encode_response_header(w, ctx.header.request_api_key, ctx.version(),
                            ctx.header.correlation_id);
  store_be<std::int32_t>(head, 0, static_cast<std::int32_t>(head.size() - 4 + result.body_bytes()));
  conn.writing = true;
  std::vector<asio::const_buffer> pieces;
  pieces.reserve(2 + 2 * result.externals.size());
  pieces.push_back(asio::buffer(head));
  const Bytes& body = *result.body;
  std::size_t from = 0;
  for (const auto& e : result.externals) {
    if (e.at > from) pieces.push_back(asio::buffer(body.data() + from, e.at - from));
    pieces.push_back(asio::buffer(e.bytes.data(), e.bytes.size()));
    from = e.at;
  }
  if (body.size() > from) pieces.push_back(asio::buffer(body.data() + from, body.size() - from));
  std::error_code wec;
  std::size_t next = 0, offset = 0;  // the first piece not fully written, and its progress
  std::vector<asio::const_buffer> slice;
  while (!wec && next < pieces.size()) {
    slice.clear();
    std::size_t slice_bytes = 0;
    for (std::size_t i = next; i < pieces.size() && slice_bytes < kResponseSliceBytes; ++i) {
      asio::const_buffer b = pieces[i] + (i == next ? offset : 0);
      if (b.size() > kResponseSliceBytes - slice_bytes)
        b = asio::buffer(b.data(), kResponseSliceBytes - slice_bytes);
      slice.push_back(b);
      slice_bytes += b.size();
    }
    std::size_t wn = 0;
    std::tie(wec, wn) = co_await asio::async_write(conn.socket, slice, use_tuple);
    conn.last_activity = clock_.steady_now();
    offset += wn;
    while (next < pieces.size() && offset >= pieces[next].size()) {
      offset -= pieces[next].size();
      ++next;
    }
  }
  conn.writing = false;
  co_return !wec;
}

asio::awaitable<HandlerResult> KafkaServer::Impl::dispatch(const RequestContext& ctx,
                                                           p::Reader& body) {
  const auto key = ctx.header.request_api_key;
  const auto version = ctx.version();
  const AdvertisedApi* api = find_advertised(key);
  if (api == nullptr) {
    WHARF_LOG_WARN("closing: unsupported API key {} (client {})", key,
                   excerpt(ctx.header.client_id.value_or("")));
    co_return HandlerResult{std::nullopt, true};
  }
  // ApiVersions is answered whatever its version (KIP-511): its handler says what it knows.
  if (key == p::ApiVersionsRequest::kApiKey) co_return co_await api->handler(*hc_, ctx, body);
  if (version < api->min_version || version > api->max_version) {
    // Kafka and Redpanda close the connection; the client picked a version we never offered.
    WHARF_LOG_WARN("closing: API {} version {} is outside the advertised {}..{}", key, version,
                   api->min_version, api->max_version);
    co_return HandlerResult{std::nullopt, true};
  }
  co_return co_await api->handler(*hc_, ctx, body);
}

void KafkaServer::Impl::stop() {
  std::call_once(stop_once_, [this] {
    serving_ = false;
    if (!network_thread_.joinable()) {
      std::lock_guard lock(stop_mu_);
      stopped_ = true;
      stopped_cv_.notify_all();
      return;
    }
    asio::post(io_, [this] {
      stopping_ = true;
      asio::error_code ignore;
      acceptor_.close(ignore);
      fetch_waiters_.notify_all();  // parked fetches answer now with what they have
      for (auto* timer : memory_waiters_) timer->cancel();
      if (coordinator_) coordinator_->abort_parked(code(KafkaError::kCoordinatorNotAvailable));
      // Idle connections are closed at once; busy ones finish their request first (serve()
      // checks stopping_ after each response).
      for (const auto& c : connections_) {
        if (!c->busy()) c->close();
      }
      if (connections_.empty()) finish_stop();
    });
    // A hard bound on the drain: stragglers are closed after the grace period.
    auto grace = std::make_shared<asio::steady_timer>(io_, config_.shutdown_grace);
    grace->async_wait([this, grace](const asio::error_code&) {
      for (const auto& c : connections_) c->close();
      finish_stop();
    });
    network_thread_.join();
    storage_pool_.join();
    // What partitions still keep (watches of fetches the drain cut off, a sync runner) no
    // longer reaches these threads.
    if (hc_) hc_->posts->close();
    std::lock_guard lock(stop_mu_);
    stopped_ = true;
    stopped_cv_.notify_all();
  });
}

void KafkaServer::Impl::finish_stop() { io_.stop(); }

void KafkaServer::Impl::wait() {
  std::unique_lock lock(stop_mu_);
  stopped_cv_.wait(lock, [this] { return stopped_; });
}

KafkaServer::KafkaServer(ServerConfig config, storage::LogManager& log,
                         ProducerIdAllocator& producer_ids, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(config), log, producer_ids, clock)) {}
KafkaServer::~KafkaServer() { stop(); }
Status KafkaServer::start() { return impl_->start(); }
void KafkaServer::stop() { impl_->stop(); }
void KafkaServer::wait() { impl_->wait(); }
std::uint16_t KafkaServer::bound_port() const { return impl_->bound_port(); }
bool KafkaServer::serving() const { return impl_->serving(); }
bool KafkaServer::disk_full() const { return impl_->append_errors_view().disk_full(); }

std::vector<group::GroupMetrics> KafkaServer::group_metrics() {
  return impl_->group_metrics_blocking();
}

std::vector<group::GroupMetrics> KafkaServer::Impl::group_metrics_blocking() {
  if (!serving()) return {};
  auto promise = std::make_shared<std::promise<std::vector<group::GroupMetrics>>>();
  auto future = promise->get_future();
  asio::post(io_, [this, promise] {
    promise->set_value(coordinator_ ? coordinator_->metrics() : std::vector<group::GroupMetrics>{});
  });
  // The network thread may be stopping: never wait forever.
  if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return {};
  return future.get();
}
const ServerConfig& KafkaServer::config() const { return impl_->config(); }

}  // namespace wharf::kafka
