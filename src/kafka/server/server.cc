#include "kafka/server/server.h"

#include <chrono>
#include <future>

#include "base/clock.h"
#include "base/log.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/writer.h"
#include "kafka/server/server_impl.h"

namespace wharf::kafka {

using asio::ip::tcp;
namespace p = protocol;

namespace {

// Tier A of kafka-protocol.md §1.6, limited to what is implemented. Old minimum versions are
// advertised on purpose: librdkafka 2.0.2 enables compression only if Produce covers v0, and
// the group coordinator lookup and LZ4 only if FindCoordinator covers v0. Produce 0-2 are
// answered with UNSUPPORTED_VERSION, as Kafka 4.0 does.
constexpr AdvertisedApi kAdvertised[] = {
    {0, 0, 7},   // Produce (serves 3-7)
    {1, 4, 11},  // Fetch
    {2, 1, 4},   // ListOffsets
    {3, 0, 8},   // Metadata (never exactly 9: platformatic)
    {8, 0, 7},   // OffsetCommit (v7: group.instance.id)
    {9, 0, 7},   // OffsetFetch (6-7 flexible)
    {10, 0, 2},  // FindCoordinator
    {11, 0, 5},  // JoinGroup (v4: member-id handshake, v5: static membership)
    {12, 0, 3},  // Heartbeat
    {13, 0, 3},  // LeaveGroup (v3: batched members)
    {14, 0, 3},  // SyncGroup
    {15, 0, 4},  // DescribeGroups
    {16, 0, 4},  // ListGroups (v4: states filter)
    {18, 0, 3},  // ApiVersions
    {19, 0, 4},  // CreateTopics
    {20, 0, 3},  // DeleteTopics
    {22, 0, 1},  // InitProducerId
    {32, 0, 3},  // DescribeConfigs
    {33, 0, 1},  // AlterConfigs (topics only; replaces the override set)
    {44, 0, 1},  // IncrementalAlterConfigs (topics only; SET and DELETE)
    {37, 0, 1},  // CreatePartitions
    {42, 0, 1},  // DeleteGroups
    {47, 0, 0},  // OffsetDelete
};

}  // namespace

std::span<const AdvertisedApi> advertised_apis() { return kAdvertised; }

const AdvertisedApi* find_advertised(std::int16_t api_key) {
  for (const auto& a : kAdvertised) {
    if (a.api_key == api_key) return &a;
  }
  return nullptr;
}

void FetchWaiters::remove(const Key& key, asio::steady_timer* timer) {
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return;
  it->second.erase(timer);
  if (it->second.empty()) waiting_.erase(it);
}

void FetchWaiters::notify(const std::string& topic, std::int32_t partition) {
  auto it = waiting_.find({topic, partition});
  if (it == waiting_.end()) return;
  for (auto* timer : it->second) timer->cancel();
}

void FetchWaiters::notify_all() {
  for (auto& [_, timers] : waiting_) {
    for (auto* timer : timers) timer->cancel();
  }
}

struct KafkaServer::Impl::Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::string peer;
  std::string host;  // "/ip", as Kafka reports client hosts
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  bool reading_frame = false;  // a frame has started arriving but is not complete
  bool busy = false;           // a request is being handled
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
  const metrics::Labels labels = {{"api", info ? std::string(info->name) : std::to_string(api_key)}};
  auto& reg = metrics::registry();
  ApiMetrics m{&reg.counter("wharf_requests_total", "Kafka requests handled, by API.").with(labels),
               &reg.histogram("wharf_request_duration_seconds", "Time from a request's arrival to its response, by API.")
                    .with(labels)};
  return api_metrics_.emplace(api_key, m).first->second;
}

KafkaServer::Impl::PartitionTraffic& KafkaServer::Impl::traffic(const std::string& topic, std::int32_t partition) {
  auto key = std::make_pair(topic, partition);
  auto it = traffic_.find(key);
  if (it != traffic_.end()) return it->second;
  const metrics::Labels labels = {{"topic", topic}, {"partition", std::to_string(partition)}};
  auto& reg = metrics::registry();
  PartitionTraffic t{&reg.counter("wharf_partition_bytes_in_total", "Record-batch bytes appended by producers.").with(labels),
                     &reg.counter("wharf_partition_records_in_total", "Records appended by producers.").with(labels),
                     &reg.counter("wharf_partition_bytes_out_total", "Record-batch bytes sent to consumers.").with(labels),
                     &reg.counter("wharf_partition_records_out_total", "Records sent to consumers (whole batches).").with(labels)};
  return traffic_.emplace(key, t).first->second;
}

KafkaServer::Impl::Impl(ServerConfig config, storage::LogManager& log,
                        ProducerIdAllocator& producer_ids)
    : config_(std::move(config)),
      log_(log),
      producer_ids_(producer_ids),
      storage_pool_(static_cast<std::size_t>(std::max(1, config_.storage_threads))) {}

std::string KafkaServer::Impl::advertised_host() const {
  if (!config_.advertised_host.empty()) return config_.advertised_host;
  if (config_.listen_host == "0.0.0.0" || config_.listen_host == "::") return "127.0.0.1";
  return config_.listen_host;
}

std::int32_t KafkaServer::Impl::advertised_port() const {
  return config_.advertised_port != 0 ? config_.advertised_port : bound_port_.load();
}

Status KafkaServer::Impl::start() {
  // Committed offsets are loaded before the first connection is accepted.
  group::CoordinatorConfig group_config;
  group_config.initial_rebalance_delay = config_.group_initial_rebalance_delay;
  coordinator_ = std::make_unique<group::Coordinator>(group_config, SystemClock::instance());
  WHARF_ASSIGN_OR_RETURN(offsets_log_, group::OffsetsLog::open(log_, config_.offsets_topic_partitions,
                                                               config_.offsets_compact_bytes));
  std::size_t loaded = 0;
  WHARF_RETURN_IF_ERROR(offsets_log_->load([&](const group::OffsetRecord& r) {
    coordinator_->load(r);
    ++loaded;
  }));
  if (loaded > 0) WHARF_LOG_INFO("loaded {} committed-offset records", loaded);

  asio::error_code ec;
  auto address = asio::ip::make_address(config_.listen_host, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, "listen address '{}': {}", config_.listen_host, ec.message());
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
      WHARF_LOG_WARN("accept: {}", ec.message());
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
    auto conn = std::make_shared<Connection>(std::move(socket));
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
    const auto idle = std::chrono::steady_clock::now() - conn->last_activity;
    if (conn->reading_frame && idle > config_.request_read_timeout) {
      WHARF_LOG_WARN("{}: closing: a request frame was incomplete for {} ms", conn->peer,
                     config_.request_read_timeout.count());
      conn->close();
    } else if (!conn->busy && !conn->reading_frame && idle > config_.idle_timeout) {
      WHARF_LOG_INFO("{}: closing idle connection", conn->peer);
      conn->close();
    }
  }
}

asio::awaitable<void> KafkaServer::Impl::serve(std::shared_ptr<Connection> conn) {
  bool api_versions_seen = false;
  Bytes frame;
  try {
    while (!conn->closed && !stopping_) {
      std::array<std::byte, 4> size_bytes;
      auto [ec, n] = co_await asio::async_read(conn->socket, asio::buffer(size_bytes),
                                               use_tuple);
      if (ec) break;
      conn->last_activity = std::chrono::steady_clock::now();
      conn->reading_frame = true;
      const std::int32_t size = load_be<std::int32_t>(size_bytes, 0);
      const std::size_t limit = api_versions_seen ? config_.request_bytes_max
                                                  : config_.request_bytes_max_before_api_versions;
      // The smallest request header is 10 bytes (v1 with a null client id). The size is checked
      // before anything is allocated for it.
      if (size < 10 || static_cast<std::size_t>(size) > limit) {
        WHARF_LOG_WARN("{}: closing: request size {} outside [10, {}]", conn->peer, size, limit);
        break;
      }
      frame.resize(static_cast<std::size_t>(size));
      std::tie(ec, n) = co_await asio::async_read(conn->socket, asio::buffer(frame),
                                                  use_tuple);
      if (ec) break;
      conn->reading_frame = false;
      conn->busy = true;
      conn->last_activity = std::chrono::steady_clock::now();

      p::Reader reader(frame);
      auto header = p::decode_request_header(reader);
      if (!header) {
        WHARF_LOG_WARN("{}: closing: bad request header: {}", conn->peer, header.error().message());
        break;
      }
      RequestContext ctx{std::move(*header), conn->host};
      const auto started = std::chrono::steady_clock::now();
      HandlerResult result = co_await dispatch(ctx, reader, api_versions_seen);
      auto& am = api_metrics(ctx.header.request_api_key);
      am.requests->inc();
      am.latency->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (result.close) requests_malformed_.inc();
      if (result.body) {
        // Size and header in a small buffer, the body as it is: one gathered write, no copy of
        // the body (a Fetch body is up to 64 MiB of record bytes).
        Bytes head(4);
        p::Writer w(head);
        p::encode_response_header(w, ctx.header.request_api_key, ctx.version(), ctx.header.correlation_id);
        store_be<std::int32_t>(head, 0, static_cast<std::int32_t>(head.size() - 4 + result.body->size()));
        const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(*result.body)};
        auto [wec, wn] = co_await asio::async_write(conn->socket, buffers, use_tuple);
        if (wec) break;
      }
      conn->busy = false;
      conn->last_activity = std::chrono::steady_clock::now();
      if (result.close) break;
    }
  } catch (const std::exception& e) {
    WHARF_LOG_ERROR("{}: connection ended by an exception: {}", conn->peer, e.what());
  }
  conn->close();
  connections_.erase(conn);
  connections_gauge_.set(static_cast<double>(connections_.size()));
  if (stopping_ && connections_.empty()) finish_stop();
}

asio::awaitable<HandlerResult> KafkaServer::Impl::dispatch(const RequestContext& ctx,
                                                           p::Reader& body,
                                                           bool& api_versions_seen) {
  const auto key = ctx.header.request_api_key;
  const auto version = ctx.version();
  const AdvertisedApi* api = find_advertised(key);
  if (api == nullptr) {
    WHARF_LOG_WARN("closing: unsupported API key {} (client {})", key,
                   ctx.header.client_id.value_or(""));
    co_return HandlerResult{std::nullopt, true};
  }
  if (key == 18) {
    api_versions_seen = true;
    co_return co_await handle_api_versions(ctx, body);
  }
  if (version < api->min_version || version > api->max_version) {
    // Kafka and Redpanda close the connection; the client picked a version we never offered.
    WHARF_LOG_WARN("closing: API {} version {} is outside the advertised {}..{}", key, version,
                   api->min_version, api->max_version);
    co_return HandlerResult{std::nullopt, true};
  }
  switch (key) {
    case 0: co_return co_await handle_produce(ctx, body);
    case 1: co_return co_await handle_fetch(ctx, body);
    case 2: co_return co_await handle_list_offsets(ctx, body);
    case 3: co_return co_await handle_metadata(ctx, body);
    case 8: co_return co_await handle_offset_commit(ctx, body);
    case 9: co_return co_await handle_offset_fetch(ctx, body);
    case 10: co_return co_await handle_find_coordinator(ctx, body);
    case 11: co_return co_await handle_join_group(ctx, body);
    case 12: co_return co_await handle_heartbeat(ctx, body);
    case 13: co_return co_await handle_leave_group(ctx, body);
    case 14: co_return co_await handle_sync_group(ctx, body);
    case 15: co_return co_await handle_describe_groups(ctx, body);
    case 16: co_return co_await handle_list_groups(ctx, body);
    case 42: co_return co_await handle_delete_groups(ctx, body);
    case 47: co_return co_await handle_offset_delete(ctx, body);
    case 19: co_return co_await handle_create_topics(ctx, body);
    case 20: co_return co_await handle_delete_topics(ctx, body);
    case 22: co_return co_await handle_init_producer_id(ctx, body);
    case 32: co_return co_await handle_describe_configs(ctx, body);
    case 33: co_return co_await handle_alter_configs(ctx, body);
    case 44: co_return co_await handle_incremental_alter_configs(ctx, body);
    case 37: co_return co_await handle_create_partitions(ctx, body);
    default: break;
  }
  co_return HandlerResult{std::nullopt, true};
}

asio::awaitable<void> KafkaServer::Impl::parallel(std::size_t n, const std::function<void(std::size_t)>& f) {
  if (n == 0) co_return;
  struct State {
    std::atomic<std::size_t> left;
    const std::function<void(std::size_t)>* f;  // lives in the suspended caller's frame
  };
  // State lives in this coroutine's frame, which stays suspended until the last task has
  // decremented `left` (its last use of State) and posted the resumption. The lambda below is
  // a temporary inside co_await, so it must capture nothing with a destructor: g++ 12 destroys
  // such temporaries twice (GCC bug 101367); a captured shared_ptr lost a reference that way
  // and State was freed while storage threads still used it (ASan: heap-use-after-free).
  State local_state;
  local_state.left = n;
  local_state.f = &f;
  State* state = &local_state;
  auto& pool = storage_pool_;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [state, n, &pool](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        for (std::size_t i = 0; i < n; ++i) {
          asio::post(pool, [state, shared, i] {
            (*state->f)(i);
            if (--state->left == 0) {
              auto h = std::move(*shared);
              auto ex = asio::get_associated_executor(h);
              asio::post(ex, std::move(h));
            }
          });
        }
      },
      asio::use_awaitable);
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
      if (coordinator_) coordinator_->abort_parked(code(KafkaError::kCoordinatorNotAvailable));
      // Idle connections are closed at once; busy ones finish their request first (serve()
      // checks stopping_ after each response).
      for (const auto& c : connections_) {
        if (!c->busy) c->close();
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
                         ProducerIdAllocator& producer_ids)
    : impl_(std::make_unique<Impl>(std::move(config), log, producer_ids)) {}
KafkaServer::~KafkaServer() { stop(); }
Status KafkaServer::start() { return impl_->start(); }
void KafkaServer::stop() { impl_->stop(); }
void KafkaServer::wait() { impl_->wait(); }
std::uint16_t KafkaServer::bound_port() const { return impl_->bound_port(); }
bool KafkaServer::serving() const { return impl_->serving(); }

std::vector<group::GroupMetrics> KafkaServer::group_metrics() { return impl_->group_metrics_blocking(); }

std::vector<group::GroupMetrics> KafkaServer::Impl::group_metrics_blocking() {
  if (!serving()) return {};
  auto promise = std::make_shared<std::promise<std::vector<group::GroupMetrics>>>();
  auto future = promise->get_future();
  asio::post(io_, [this, promise] { promise->set_value(coordinator_ ? coordinator_->metrics() : std::vector<group::GroupMetrics>{}); });
  // The network thread may be stopping: never wait forever.
  if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return {};
  return future.get();
}
const ServerConfig& KafkaServer::config() const { return impl_->config(); }

}  // namespace wharf::kafka
