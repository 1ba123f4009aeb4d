// The Router: one consumer group's handlers, middleware and delivery loop.
//
//   wharf::Router inventory{bus, {.group = "inventory", .concurrency = 4}};
//   inventory.use(wharf::timeout(2s));
//   inventory.on<OrderPlaced>("orders", [](const OrderPlaced& e, wharf::Context& ctx) {
//     return reserve(e.order_id);
//   });
//   inventory.run(stop_token);   // blocks; drains in-flight work and commits on stop
//
// Delivery: one poller thread reads from the Subscription and hands messages to lanes; a lane
// is a partition (or, with key_concurrency > 1, one of that many key buckets of a partition),
// handled in offset order by one of `concurrency` worker threads at a time. So each partition
// (each key) is in order and partitions run in parallel. A message is done when its handler
// returns ok (or when no handler is registered for its type and unknown types are acked). The
// committed offset of a partition is the lowest offset not yet done: nothing is committed
// before it is handled, whatever order lanes finish in. Commits happen every commit_interval,
// on revocation and on stop.
//
// A handler's error that reaches the Router (after whatever retry and dead-letter middleware
// decided) is never skipped: the message's lane stops, the failure is logged and counted, and
// the message is handed to the handler again after redelivery_delay (the other lanes keep
// flowing). Retry, parking and dead letters are middleware that turn failures into decisions.
//
// Backpressure: the poller stops taking from a partition (pauses it) when its lanes hold
// partition_in_flight_max messages or partition_in_flight_bytes_max bytes, and pauses
// everything while in_flight_max messages or in_flight_bytes_max bytes are in flight in total;
// partitions resume when they drain to half. The poller never takes more messages than
// in_flight_max leaves room for, so that bound holds exactly; the byte bounds can be passed by
// at most one poll's worth (a message's size is known only once it is read).
//
// Time: redelivery delays run on options.clock (a test may pass a ManualClock and step it).
//
// Metrics (the process registry, served by the admin API's /metrics): wharf_consumer_lag,
// wharf_consumer_partition_lag_skew, wharf_consumer_rebalances_total,
// wharf_handler_latency_seconds, wharf_handler_messages_total{result},
// wharf_consumer_in_flight, wharf_consumer_paused_partitions; all labelled by group.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "wharf/event.h"
#include "wharf/message.h"
#include "wharf/result.h"
#include "wharf/transport.h"

namespace wharf {

class Context;

using Handler = std::function<Status(const Message&, Context&)>;
using Middleware = std::function<Handler(Handler)>;
// A batch handler sees consecutive messages of one lane and returns one Status per message,
// in order. A message whose Status is ok is done; the first error stops the lane there (later
// messages of the batch are handed again, in a new batch, after the failed one is done).
using BatchHandler =
    std::function<std::vector<Status>(const std::vector<const Message*>&, Context&)>;

// What a handler knows about the message it handles and the router that called it.
class Context {
 public:
  Context(const Message& message, const Bus& bus, std::string group, std::stop_token stop)
      : message_(&message), bus_(&bus), group_(std::move(group)), stop_(stop) {}

  const Message& message() const { return *message_; }
  const std::string& group() const { return group_; }
  // Requested when the router is stopping: long handlers should give up early.
  std::stop_token stop_token() const { return stop_; }
  const Bus& bus() const { return *bus_; }

  // Publishes a message caused by the one being handled: correlation id carried over,
  // causation id = this message's id, traceparent carried over unless set.
  [[nodiscard]] Status publish(const std::string& topic, Message message) const;
  template <typename T>
  requires detail::HasEventInfo<T>
  [[nodiscard]] Status publish(const std::string& topic, const T& event,
                               std::string key = {}) const {
    return publish(topic, make_message(event, std::move(key)));
  }

  // A slot for middleware to hand things to handlers (the inbox's SQL transaction, a span).
  // `T` is looked up by type; nullptr when no middleware set one.
  template <typename T>
  T* get() const {
    for (const auto& [type, ptr] : extensions_) {
      if (type == type_key<T>()) return static_cast<T*>(ptr);
    }
    return nullptr;
  }
  template <typename T>
  void set(T* value) {
    for (auto& [type, ptr] : extensions_) {
      if (type == type_key<T>()) {
        ptr = value;
        return;
      }
    }
    extensions_.emplace_back(type_key<T>(), value);
  }
  void set_message(const Message& message) { message_ = &message; }

  // Asks the router to hand the current message again after `delay` instead of treating the
  // error the handler returns as a failure (not logged, not counted): for messages that are
  // not due yet (retry topics). The lane waits; other lanes keep flowing.
  void defer(std::chrono::milliseconds delay) { deferred_ = delay; }
  std::optional<std::chrono::milliseconds> deferred() const { return deferred_; }
  void clear_deferral() { deferred_.reset(); }

 private:
  template <typename T>
  static const void* type_key() {
    static const char key = 0;
    return &key;
  }
  const Message* message_;
  const Bus* bus_;
  std::string group_;
  std::stop_token stop_;
  std::vector<std::pair<const void*, void*>> extensions_;
  std::optional<std::chrono::milliseconds> deferred_;
};

struct RouterOptions {
  std::string group;                   // required
  std::size_t concurrency = 1;         // worker threads; lanes in parallel
  std::size_t key_concurrency = 1;     // lanes per partition (by key hash); 1 = partition order
  std::size_t poll_batch_max = 1000;   // messages per poll
  std::size_t batch_max = 500;         // messages per batch-handler call
  std::size_t in_flight_max = 20'000;  // messages, all partitions
  std::size_t in_flight_bytes_max = 64 << 20;            // bytes, all partitions
  std::size_t partition_in_flight_max = 5'000;           // messages, one partition
  std::size_t partition_in_flight_bytes_max = 16 << 20;  // bytes, one partition
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds redelivery_delay{1000};  // after an error that reached the router
  std::chrono::milliseconds drain_timeout{30'000};   // on stop and on revocation
  bool ack_unknown_types = true;  // a message no handler takes is done (else: an error)
  std::string client_id = "wharf";
  const Clock* clock = nullptr;  // nullptr: the system clock
  // Called on the poller thread after the transport acknowledged a commit, with the next
  // offsets it stored (for audit logs and crash tests). It must not block.
  std::function<void(const std::map<TopicPartition, std::int64_t>&)> on_commit;
};

struct RouterStats {
  std::uint64_t handled = 0;  // messages done
  std::uint64_t failed = 0;   // handler errors that reached the router
  std::uint64_t unknown = 0;  // messages no handler took
  std::uint64_t rebalances = 0;
  std::uint64_t commits = 0;
  std::size_t in_flight = 0;
  std::size_t in_flight_max_seen = 0;
  std::size_t paused_partitions = 0;
  std::size_t assigned_partitions = 0;  // owned now: assigned, or delivering, and not revoked
};

class Router {
 public:
  Router(Bus bus, RouterOptions options);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Middleware wraps every handler registered after *and before* it, outermost first:
  // use(a); use(b) gives a(b(handler)). Only before run().
  void use(Middleware middleware);

  // Handles messages of `topic` whose type is `type` ("*" for any type not otherwise taken).
  void on_message(const std::string& topic, const std::string& type, Handler handler);
  // A typed handler: the message is decoded (and upcast) to T; a message that cannot be
  // decoded is an error of its class (kUnsupported, kInvalidArgument) handed to middleware.
  template <typename T, typename F>
  requires detail::HasEventInfo<T>
  void on(const std::string& topic, F handler) {
    on_message(topic, std::string(event_info<T>().type),
               [h = std::move(handler)](const Message& m, Context& ctx) -> Status {
                 auto event = decode_event<T>(m);
                 if (!event) return fail(std::move(event).error());
                 return h(*event, ctx);
               });
  }
  // A batch handler for every message of `topic` (types are the handler's business). A topic
  // has either per-message handlers or one batch handler. Middleware does not wrap batch
  // handlers (they see several messages at once); the inbox has its own batch mode.
  void on_batch(const std::string& topic, BatchHandler handler);
  // Messages of `from_topic` are handled by the handlers of `to_topic` (retry topics use it).
  void route(const std::string& from_topic, const std::string& to_topic);

  const Bus& bus() const;

  // Subscribes and delivers until `stop` is requested or the subscription fails; then stops
  // polling, waits (at most drain_timeout) for in-flight messages, commits and leaves the
  // group. Returns the first subscription error, if any.
  [[nodiscard]] Status run(std::stop_token stop);

  RouterStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A stop token that is requested on SIGINT or SIGTERM (installs the handlers once).
std::stop_token stop_on_signal();

}  // namespace wharf
