// The checkout system's shared vocabulary: the OrderPlaced event, the six consumer groups with
// their work and failure policies, and the counters every part reports into.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <wharf/wharf.h>

#include "histogram.h"

namespace wharf::checkout {

// What checkout publishes once per accepted order (topic "orders", key = order id).
struct OrderPlaced {
  std::string order_id;
  std::string customer_id;
  std::int64_t total_cents = 0;
  std::int32_t items = 0;
  bool poison = false;  // a malformed order no consumer can handle: it must end in a dead letter
};
WHARF_EVENT(OrderPlaced, "checkout.OrderPlaced", 1, order_id, customer_id, total_cents, items,
            poison);

inline constexpr const char* kOrdersTopic = "orders";
inline constexpr std::int32_t kOrdersPartitions = 12;
// When the load generator scheduled the order (system clock, microseconds since the epoch):
// end-to-end latency is measured from it, so time spent queued anywhere counts.
inline constexpr const char* kHeaderScheduledUs = "checkout-scheduled-us";

inline std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A consumer group's simulated work. `latency` is one call to the group's external dependency
// (an e-mail API, a search index): the event-driven consumer makes one such call per batch of
// messages (a bulk call), the synchronous chain one per order. `fail_rate` is the share of
// messages whose first attempt fails with a transient error (retried by the group's policy).
struct WorkSpec {
  std::chrono::microseconds latency{0};
  double fail_rate = 0.001;
};

// A group's retry policy: in-place retries with exponential backoff, then the dead-letter topic
// `orders.<group>.dlq` (poison orders go there at once: their error is not retryable).
struct RetryPolicy {
  std::int32_t attempts_max = 3;
  std::chrono::milliseconds backoff_initial{1};
  std::chrono::milliseconds backoff_max{20};
};

struct GroupSpec {
  std::string name;
  RetryPolicy retry;
  WorkSpec work;
  // The group keeps an event-sourced ledger and the order-history view (loyalty.h).
  bool ledger = false;
};

// The six groups of the reference system, each with its own policy.
std::vector<GroupSpec> default_groups();

// Live counters of one consumer group (or one synchronous step in convoy mode).
struct GroupStats {
  std::string name;
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> retries{0};       // failed attempts that were tried again
  std::atomic<std::uint64_t> dead_letters{0};  // messages sent to the dead-letter topic
  LatencyHistogram e2e;                        // scheduled -> done, µs
  // Highest offset + 1 done per partition of "orders" (lag = end offset - this).
  std::array<std::atomic<std::int64_t>, kOrdersPartitions> done_offsets{};
};

}  // namespace wharf::checkout
