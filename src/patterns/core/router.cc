#include "wharf/router.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "base/check.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/murmur2.h"
#include "wharf/lag.h"

namespace wharf {

Status Context::publish(const std::string& topic, Message message) const {
  const Message& cause = *message_;
  if (message.correlation_id.empty()) {
    message.correlation_id = cause.correlation_id.empty() ? cause.id : cause.correlation_id;
  }
  if (message.causation_id.empty()) message.causation_id = cause.id;
  if (message.traceparent.empty()) message.traceparent = cause.traceparent;
  return bus_->publish(topic, std::move(message));
}

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

struct Lane {
  TopicPartition partition;
  std::deque<Message> queue;  // references stay valid across push_back (std::deque)
  bool busy = false;          // a worker is handling its front messages
  // While busy: how many front messages the worker has finished but not yet taken off the
  // queue (they leave it when its chunk ends). Lets commits move during a long chunk.
  std::atomic<std::size_t> progress{0};
  SteadyTime not_before{};   // redelivery delay after an error
  bool failed = false;       // its front message failed and waits to be handed again
  SteadyTime last_logged{};  // failures are logged once per kFailureLogInterval per lane
};

// A message that keeps failing is logged at its first failure and then at most this often
// (every failure is counted in wharf_handler_messages_total{result="error"}).
constexpr std::chrono::seconds kFailureLogInterval{10};
// How often an idle worker looks at lanes waiting out a redelivery delay (the clock may be a
// test's stepped clock, which no condition variable can wait on).
constexpr std::chrono::milliseconds kDelayCheckInterval{10};

struct PartitionState {
  std::vector<std::unique_ptr<Lane>> lanes;  // key buckets; each queue in offset order
  std::int64_t next_offset = -1;             // highest offset taken + 1
  std::size_t messages = 0;                  // in the lanes' queues
  std::int64_t committed = -1;               // last next-offset committed
  std::size_t bytes = 0;
  bool paused = false;
  bool revoking = false;

  // REQUIRES: the router's mu held. The lowest offset taken and not done (next_offset when
  // everything taken is done): the messages in flight are exactly the lanes' queues.
  std::int64_t commit_point() const {
    std::int64_t point = next_offset;
    for (const auto& lane : lanes) {
      const std::size_t done = lane->busy ? lane->progress.load(std::memory_order_acquire) : 0;
      if (done < lane->queue.size()) point = std::min(point, lane->queue[done].offset);
    }
    return point;
  }
};

struct RouterMetrics {
  explicit RouterMetrics(const std::string& group) {
    auto& r = metrics::registry();
    const metrics::Labels g{{"group", group}};
    handled = &r.counter("wharf_handler_messages_total", "Messages handled by routers, by result")
                   .with({{"group", group}, {"result", "ok"}});
    failed = &r.counter("wharf_handler_messages_total", "Messages handled by routers, by result")
                  .with({{"group", group}, {"result", "error"}});
    latency =
        &r.histogram("wharf_handler_latency_seconds", "Time in a router's handler per message")
             .with(g);
    rebalances = &r.counter("wharf_consumer_rebalances_total",
                            "Partition assignment changes seen by a router")
                      .with(g);
    in_flight =
        &r.gauge("wharf_consumer_in_flight", "Messages taken from the transport, not yet done")
             .with(g);
    paused =
        &r.gauge("wharf_consumer_paused_partitions", "Partitions paused by backpressure").with(g);
  }
  metrics::Counter* handled;
  metrics::Counter* failed;
  metrics::Histogram* latency;
  metrics::Counter* rebalances;
  metrics::Gauge* in_flight;
  metrics::Gauge* paused;
};

}  // namespace

struct Router::Impl {
  Impl(Bus b, RouterOptions o)
      : bus(std::move(b)),
        options(std::move(o)),
        clock(options.clock ? *options.clock : SystemClock::instance()) {
    WHARF_CHECK(!options.group.empty());
    options.concurrency = std::max<std::size_t>(options.concurrency, 1);
    options.key_concurrency = std::max<std::size_t>(options.key_concurrency, 1);
    options.batch_max = std::max<std::size_t>(options.batch_max, 1);
  }

  Bus bus;
  RouterOptions options;
  const Clock& clock;
  std::vector<Middleware> middleware;
  struct Route {
    std::map<std::string, Handler> by_type;  // "*" = fallback
    BatchHandler batch;
  };
  std::map<std::string, Route> routes;         // by topic; handlers wrapped at run()
  std::map<std::string, std::string> aliases;  // topic -> topic whose route handles it

  const Route* route_of(const std::string& topic) const {
    if (auto it = routes.find(topic); it != routes.end()) return &it->second;
    if (auto a = aliases.find(topic); a != aliases.end()) {
      if (auto it = routes.find(a->second); it != routes.end()) return &it->second;
    }
    return nullptr;
  }
  std::unique_ptr<RouterMetrics> metrics;

  // --- Shared state, guarded by mu ---
  mutable std::mutex mu;
  std::condition_variable work_cv;   // workers wait for a ready lane
  std::condition_variable drain_cv;  // the poller waits for lanes to finish
  std::map<TopicPartition, PartitionState> partitions;
  std::size_t in_flight = 0;
  std::size_t in_flight_bytes = 0;
  bool workers_stop = false;
  bool stopping = false;  // no more polling: failed lanes are not handed again
  std::size_t lane_cursor = 0;
  RouterStats stats;
  std::stop_token stop;

  void wrap_handlers() {
    for (auto& [topic, route] : routes) {
      for (auto& [type, handler] : route.by_type) {
        for (auto it = middleware.rbegin(); it != middleware.rend(); ++it)
          handler = (*it)(std::move(handler));
      }
    }
  }

  // REQUIRES: mu held. A lane with work that no worker holds and whose delay has passed.
  Lane* next_ready_lane(SteadyTime now, SteadyTime* earliest) {
    std::vector<Lane*> all;
    for (auto& [tp, ps] : partitions) {
      for (auto& lane : ps.lanes) all.push_back(lane.get());
    }
    if (all.empty()) return nullptr;
    for (std::size_t i = 0; i < all.size(); ++i) {
      Lane* lane = all[(lane_cursor + i) % all.size()];
      if (lane->busy || lane->queue.empty()) continue;
      if (stopping && lane->failed) continue;
      if (lane->not_before > now) {
        *earliest = std::min(*earliest, lane->not_before);
        continue;
      }
      lane_cursor = (lane_cursor + i + 1) % all.size();
      return lane;
    }
    return nullptr;
  }

  Status call(const Handler& handler, const Message& m, Context& ctx) {
    try {
      return handler(m, ctx);
    } catch (const std::exception& e) {
      return fail(ErrorCode::kInternal, "handler threw on {}/{}/{}: {}", m.topic, m.partition,
                  m.offset, e.what());
    } catch (...) {
      return fail(ErrorCode::kInternal, "handler threw a non-exception on {}/{}/{}", m.topic,
                  m.partition, m.offset);
    }
  }

  struct Outcome {
    std::size_t done = 0;
    std::optional<Error> error;
    std::optional<std::chrono::milliseconds> deferred;  // the error is "not due yet"
  };

  // Handles up to `chunk` front messages of `lane`, outside the lock; returns how many are done
  // and the first error.
  Outcome handle(Lane& lane, std::size_t chunk) {
    std::vector<const Message*> batch;
    {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < lane.queue.size() && i < chunk; ++i)
        batch.push_back(&lane.queue[i]);
    }
    const Route* route = route_of(lane.partition.topic);
    Context ctx(*batch.front(), bus, options.group, stop);
    if (route && route->batch) {
      const auto started = clock.steady_now();
      std::vector<Status> results;
      try {
        results = route->batch(batch, ctx);
      } catch (const std::exception& e) {
        results.assign(1, fail(ErrorCode::kInternal, "batch handler threw: {}", e.what()));
      }
      metrics->latency->observe(
          std::chrono::duration<double>(clock.steady_now() - started).count() /
          static_cast<double>(batch.size()));
      std::size_t done = 0;
      for (; done < batch.size(); ++done) {
        if (done >= results.size()) {
          return {done, make_error(ErrorCode::kInternal,
                                   "batch handler returned {} results for {} messages",
                                   results.size(), batch.size())};
        }
        if (!results[done]) return {done, results[done].error(), ctx.deferred()};
      }
      return {done, std::nullopt, std::nullopt};
    }
    std::size_t done = 0;
    for (const Message* m : batch) {
      const Handler* handler = nullptr;
      if (route) {
        if (auto h = route->by_type.find(m->type); h != route->by_type.end()) {
          handler = &h->second;
        } else if (auto any = route->by_type.find("*"); any != route->by_type.end()) {
          handler = &any->second;
        }
      }
      if (!handler) {
        if (!options.ack_unknown_types) {
          return {done, make_error(ErrorCode::kNotFound,
                                   "no handler for type '{}' on topic {} in group {}", m->type,
                                   m->topic, options.group)};
        }
        std::lock_guard lock(mu);
        ++stats.unknown;
        ++done;
        lane.progress.store(done, std::memory_order_release);
        continue;
      }
      ctx.set_message(*m);
      ctx.clear_deferral();
      const auto started = clock.steady_now();
      Status s = call(*handler, *m, ctx);
      if (!s) return {done, std::move(s).error(), ctx.deferred()};
      metrics->latency->observe(
          std::chrono::duration<double>(clock.steady_now() - started).count());
      ++done;
      lane.progress.store(done, std::memory_order_release);
    }
    return {done, std::nullopt, std::nullopt};
  }

  void worker_loop() {
    const std::size_t chunk = std::max<std::size_t>(options.batch_max, 1);
    std::unique_lock lock(mu);
    while (true) {
      SteadyTime earliest = SteadyTime::max();
      Lane* lane = next_ready_lane(clock.steady_now(), &earliest);
      if (!lane) {
        if (workers_stop) return;
        if (earliest == SteadyTime::max()) {
          work_cv.wait(lock);
        } else {
          // Redelivery delays are measured on the injected clock, which a test may step: look
          // again at least every kDelayCheckInterval rather than sleeping until `earliest`.
          const auto left = earliest - clock.steady_now();
          work_cv.wait_for(
              lock, std::min<std::chrono::steady_clock::duration>(left, kDelayCheckInterval));
        }
        continue;
      }
      lane->busy = true;
      lock.unlock();
      auto [done, error, deferred] = handle(*lane, chunk);
      lock.lock();
      PartitionState& ps = partitions.at(lane->partition);
      for (std::size_t i = 0; i < done; ++i) {
        const Message& m = lane->queue.front();
        --ps.messages;
        ps.bytes -= m.size_bytes();
        in_flight_bytes -= m.size_bytes();
        --in_flight;
        lane->queue.pop_front();
      }
      stats.handled += done;
      metrics->handled->inc(done);
      if (error && deferred) {
        // Not due yet: wait without calling it a failure.
        lane->failed = true;
        lane->not_before = clock.steady_now() + *deferred;
      } else if (error) {
        ++stats.failed;
        metrics->failed->inc();
        const Message& m = lane->queue.front();
        const auto now = clock.steady_now();
        if (done > 0 || !lane->failed || now - lane->last_logged >= kFailureLogInterval) {
          lane->last_logged = now;
          log(LogLevel::kWarn, "router {}: {}/{}/{} ({} {}) failed, handing it again in {} ms: {}",
              options.group, m.topic, m.partition, m.offset, m.type, m.id,
              options.redelivery_delay.count(), error->to_string());
        }
        lane->failed = true;
        lane->not_before = now + options.redelivery_delay;
      } else {
        lane->failed = false;
      }
      lane->busy = false;
      lane->progress.store(0, std::memory_order_relaxed);
      metrics->in_flight->set(static_cast<double>(in_flight));
      drain_cv.notify_all();
      work_cv.notify_all();
    }
  }

  // REQUIRES: mu held.
  PartitionState& partition_state(const TopicPartition& tp) {
    auto [it, inserted] = partitions.try_emplace(tp);
    if (inserted) {
      for (std::size_t i = 0; i < options.key_concurrency; ++i) {
        auto lane = std::make_unique<Lane>();
        lane->partition = tp;
        it->second.lanes.push_back(std::move(lane));
      }
    }
    return it->second;
  }

  void dispatch(std::vector<Message> messages) {
    std::lock_guard lock(mu);
    for (auto& m : messages) {
      TopicPartition tp{m.topic, m.partition};
      PartitionState& ps = partition_state(tp);
      if (ps.revoking) continue;                // delivered again to the next owner
      if (m.offset < ps.next_offset) continue;  // redelivered after a seek; already taken
      std::size_t bucket = 0;
      if (options.key_concurrency > 1 && !m.key.empty()) {
        bucket = (murmur2(as_bytes(m.key)) & 0x7fffffffu) % options.key_concurrency;
      }
      ps.next_offset = m.offset + 1;
      ++ps.messages;
      ps.bytes += m.size_bytes();
      in_flight_bytes += m.size_bytes();
      ++in_flight;
      ps.lanes[bucket]->queue.push_back(std::move(m));
    }
    stats.in_flight_max_seen = std::max(stats.in_flight_max_seen, in_flight);
    metrics->in_flight->set(static_cast<double>(in_flight));
    work_cv.notify_all();
  }

  // Pauses full partitions and resumes drained ones. Poller thread.
  void apply_backpressure(Subscription& sub) {
    std::vector<TopicPartition> to_pause, to_resume;
    {
      std::lock_guard lock(mu);
      const bool total_full =
          in_flight >= options.in_flight_max || in_flight_bytes >= options.in_flight_bytes_max;
      const bool total_low = in_flight <= options.in_flight_max / 2 &&
                             in_flight_bytes <= options.in_flight_bytes_max / 2;
      for (auto& [tp, ps] : partitions) {
        const std::size_t count = ps.messages;
        const bool partition_full = count >= options.partition_in_flight_max ||
                                    ps.bytes >= options.partition_in_flight_bytes_max;
        const bool partition_low = count <= options.partition_in_flight_max / 2 &&
                                   ps.bytes <= options.partition_in_flight_bytes_max / 2;
        if (!ps.paused && (total_full || partition_full)) {
          ps.paused = true;
          to_pause.push_back(tp);
        } else if (ps.paused && total_low && partition_low) {
          ps.paused = false;
          to_resume.push_back(tp);
        }
      }
      std::size_t paused = 0;
      for (auto& [tp, ps] : partitions) paused += ps.paused ? 1 : 0;
      stats.paused_partitions = paused;
      metrics->paused->set(static_cast<double>(paused));
    }
    if (!to_pause.empty()) sub.pause(to_pause);
    if (!to_resume.empty()) sub.resume(to_resume);
  }

  // Commits every partition whose commit point moved (or only `only`). Poller thread.
  Status commit(Subscription& sub, const std::vector<TopicPartition>* only = nullptr) {
    std::map<TopicPartition, std::int64_t> offsets;
    {
      std::lock_guard lock(mu);
      for (auto& [tp, ps] : partitions) {
        if (only && std::find(only->begin(), only->end(), tp) == only->end()) continue;
        const std::int64_t point = ps.commit_point();
        if (point > ps.committed) offsets[tp] = point;
      }
    }
    if (offsets.empty()) return ok();
    Status s = sub.commit(offsets);
    if (!s) return s;
    {
      std::lock_guard lock(mu);
      ++stats.commits;
      for (auto& [tp, off] : offsets) {
        if (auto it = partitions.find(tp); it != partitions.end()) it->second.committed = off;
      }
    }
    if (options.on_commit) options.on_commit(offsets);
    return ok();
  }

  // Waits until the partitions (all when null) have nothing in flight but failed messages and
  // no worker holds their lanes, or the drain timeout passes. Poller thread.
  bool drain(const std::vector<TopicPartition>* only) {
    std::unique_lock lock(mu);
    auto idle = [&] {
      for (auto& [tp, ps] : partitions) {
        if (only && std::find(only->begin(), only->end(), tp) == only->end()) continue;
        for (auto& lane : ps.lanes) {
          if (lane->busy) return false;
          // A lane blocked on a failed message is as done as it will get: on stop and on
          // revocation its messages stay uncommitted and come again to the next owner.
          if (!lane->queue.empty() && !lane->failed) return false;
        }
      }
      return true;
    };
    return drain_cv.wait_for(lock, options.drain_timeout, idle);
  }

  void on_revoked(Subscription& sub, const std::vector<TopicPartition>& revoked) {
    {
      std::lock_guard lock(mu);
      ++stats.rebalances;
      metrics->rebalances->inc();
      for (const auto& tp : revoked) {
        if (auto it = partitions.find(tp); it != partitions.end()) it->second.revoking = true;
      }
    }
    if (!drain(&revoked)) {
      log(LogLevel::kWarn,
          "router {}: revoked partitions did not drain in {} ms; their unfinished messages go to "
          "the next owner",
          options.group, options.drain_timeout.count());
    }
    if (Status s = commit(sub, &revoked); !s) {
      log(LogLevel::kWarn,
          "router {}: commit on revocation failed (the next owner sees those messages again): {}",
          options.group, s.error().to_string());
    }
    std::unique_lock lock(mu);
    // A worker may still hold a lane of an undrained partition: wait for it to let go.
    drain_cv.wait(lock, [&] {
      for (const auto& tp : revoked) {
        auto it = partitions.find(tp);
        if (it == partitions.end()) continue;
        for (auto& lane : it->second.lanes) {
          if (lane->busy) return false;
        }
      }
      return true;
    });
    for (const auto& tp : revoked) {
      auto it = partitions.find(tp);
      if (it == partitions.end()) continue;
      for (auto& lane : it->second.lanes) {
        for (const auto& m : lane->queue) in_flight_bytes -= m.size_bytes();
        in_flight -= lane->queue.size();
      }
      partitions.erase(it);
    }
  }

  void on_assigned(const std::vector<TopicPartition>& assigned) {
    std::lock_guard lock(mu);
    ++stats.rebalances;
    metrics->rebalances->inc();
    for (const auto& tp : assigned) {
      auto& ps = partition_state(tp);
      ps.revoking = false;
    }
  }

  void update_lag(Subscription& sub) {
    std::map<std::string, lag::LagSummary> topics;
    auto& lag_family = metrics::registry().gauge(
        "wharf_consumer_lag", "Messages behind the high watermark, per partition");
    std::lock_guard lock(mu);
    for (auto& [tp, ps] : partitions) {
      auto hwm = sub.high_watermark(tp);
      if (!hwm) continue;
      const std::int64_t from = ps.commit_point() >= 0 ? ps.commit_point() : ps.committed;
      if (from < 0) continue;
      const std::int64_t behind = lag::partition_lag(*hwm, from);
      lag_family
          .with({{"group", options.group},
                 {"topic", tp.topic},
                 {"partition", std::to_string(tp.partition)}})
          .set(static_cast<double>(behind));
      topics[tp.topic].add(behind);
    }
    auto& skew_family =
        metrics::registry().gauge("wharf_consumer_partition_lag_skew",
                                  "Largest partition lag over the mean partition lag (1 = even)");
    for (auto& [topic, t] : topics) {
      skew_family.with({{"group", options.group}, {"topic", topic}}).set(t.skew());
    }
  }
};

Router::Router(Bus bus, RouterOptions options)
    : impl_(std::make_unique<Impl>(std::move(bus), std::move(options))) {}
Router::~Router() = default;

void Router::use(Middleware middleware) { impl_->middleware.push_back(std::move(middleware)); }

void Router::on_message(const std::string& topic, const std::string& type, Handler handler) {
  auto& route = impl_->routes[topic];
  WHARF_CHECK(!route.batch);  // a topic has per-message handlers or one batch handler
  route.by_type[type] = std::move(handler);
}

void Router::route(const std::string& from_topic, const std::string& to_topic) {
  impl_->aliases[from_topic] = to_topic;
}

const Bus& Router::bus() const { return impl_->bus; }

void Router::on_batch(const std::string& topic, BatchHandler handler) {
  auto& route = impl_->routes[topic];
  WHARF_CHECK(route.by_type.empty());
  route.batch = std::move(handler);
}

RouterStats Router::stats() const {
  std::lock_guard lock(impl_->mu);
  RouterStats s = impl_->stats;
  s.in_flight = impl_->in_flight;
  for (const auto& [tp, ps] : impl_->partitions) s.assigned_partitions += ps.revoking ? 0 : 1;
  return s;
}

Status Router::run(std::stop_token stop) {
  Impl& d = *impl_;
  if (d.routes.empty())
    return fail(ErrorCode::kInvalidArgument, "router {}: no handlers registered", d.options.group);
  d.stop = stop;
  d.metrics = std::make_unique<RouterMetrics>(d.options.group);
  d.wrap_handlers();

  Subscription* sub_ptr = nullptr;
  SubscribeOptions so;
  so.group = d.options.group;
  so.client_id = d.options.client_id;
  for (auto& [topic, route] : d.routes) so.topics.push_back(topic);
  for (auto& [from, to] : d.aliases) {
    if (!d.routes.contains(from)) so.topics.push_back(from);
  }
  so.listener.on_revoked = [&](const std::vector<TopicPartition>& parts) {
    if (sub_ptr) d.on_revoked(*sub_ptr, parts);
  };
  so.listener.on_assigned = [&](const std::vector<TopicPartition>& parts) { d.on_assigned(parts); };
  WHARF_ASSIGN_OR_RETURN(auto sub, d.bus->subscribe(std::move(so)));
  sub_ptr = sub.get();

  {
    std::lock_guard lock(d.mu);
    d.workers_stop = false;
  }
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < d.options.concurrency; ++i)
    workers.emplace_back([&d] { d.worker_loop(); });

  Status result = ok();
  auto last_commit = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    // Take no more than the in-flight bound leaves room for, so the bound holds exactly.
    std::size_t room = 0;
    {
      std::unique_lock lock(d.mu);
      room = d.options.in_flight_max > d.in_flight ? d.options.in_flight_max - d.in_flight : 0;
      if (room == 0) {
        d.drain_cv.wait_for(lock, std::chrono::milliseconds(100));
        room = d.options.in_flight_max > d.in_flight ? d.options.in_flight_max - d.in_flight : 0;
      }
    }
    // With no room, poll for nothing: it still serves the group (heartbeats, rebalances).
    // While partitions are paused, poll briefly so that they resume as soon as they drain.
    // An idle poll never outlasts the next commit: commit_interval holds while workers run.
    const auto until_commit = std::chrono::ceil<std::chrono::milliseconds>(
        last_commit + d.options.commit_interval - std::chrono::steady_clock::now());
    std::chrono::milliseconds wait =
        std::clamp(until_commit, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
    {
      std::lock_guard lock(d.mu);
      if (room == 0) {
        wait = std::chrono::milliseconds(0);
      } else if (d.stats.paused_partitions > 0) {
        wait = std::min(wait, std::chrono::milliseconds(2));
      }
    }
    auto polled = sub->poll(std::min(room, d.options.poll_batch_max), wait);
    if (!polled) {
      if (polled.error().code() == ErrorCode::kShuttingDown) break;
      if (is_retryable(polled.error().code())) {
        log(LogLevel::kWarn, "router {}: poll failed, trying again: {}", d.options.group,
            polled.error().to_string());
        continue;
      }
      result = fail(std::move(polled).error());
      break;
    }
    if (!polled->empty()) d.dispatch(std::move(*polled));
    d.apply_backpressure(*sub);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_commit >= d.options.commit_interval) {
      last_commit = now;
      if (Status s = d.commit(*sub); !s) {
        log(LogLevel::kWarn, "router {}: commit failed (will try again): {}", d.options.group,
            s.error().to_string());
      }
      d.update_lag(*sub);
    }
  }

  // Graceful stop: no more polling; finish what is in flight, commit it, leave the group.
  {
    std::lock_guard lock(d.mu);
    d.stopping = true;
  }
  d.work_cv.notify_all();
  if (!d.drain(nullptr)) {
    log(LogLevel::kWarn,
        "router {}: in-flight messages did not finish in {} ms; they will be delivered again",
        d.options.group, d.options.drain_timeout.count());
  }
  {
    std::lock_guard lock(d.mu);
    d.workers_stop = true;
  }
  d.work_cv.notify_all();
  for (auto& t : workers) t.join();
  if (Status s = d.commit(*sub); !s && result) result = s;
  d.update_lag(*sub);
  sub->close();
  return result;
}

namespace {
std::atomic<bool> g_signalled{false};
extern "C" void wharf_on_stop_signal(int) { g_signalled.store(true); }
}  // namespace

std::stop_token stop_on_signal() {
  static std::stop_source source;
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = wharf_on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // request_stop() is not async-signal-safe; a watcher thread makes the call.
    std::thread([] {
      while (!g_signalled.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      source.request_stop();
    }).detach();
  });
  return source.get_token();
}

}  // namespace wharf
