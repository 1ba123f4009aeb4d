// The load generator: an open loop at a target rate (orders are scheduled at fixed times and
// sent whether or not earlier ones were answered), each order's latency measured from its
// scheduled time, so a stall shows as the latency of everything that waited behind it (no
// coordinated omission).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <stop_token>
#include <string>

#include <wharf/result.h>

#include "histogram.h"

namespace wharf::checkout {

struct LoadOptions {
  std::string target;    // HOST:PORT of the checkout service
  double rate = 10'000;  // orders per second
  std::chrono::duration<double> duration{60};
  double poison_rate = 0.0001;  // share of orders no consumer can handle
  // Connections at most; orders due while all are busy wait in the generator (and their wait
  // counts in their latency).
  std::size_t connections_max = 1024;
  // After the last order is scheduled, how long to wait for the outstanding ones.
  std::chrono::seconds drain{30};
};

struct LoadStats {
  std::atomic<std::uint64_t> offered{0};   // scheduled so far
  std::atomic<std::uint64_t> accepted{0};  // answered 201
  // Accepted poison orders: each must end as a dead letter in every group, never an effect.
  std::atomic<std::uint64_t> poison_accepted{0};
  std::atomic<std::uint64_t> rejected{0};    // answered otherwise, or the connection failed
  std::atomic<std::uint64_t> unfinished{0};  // still outstanding when the drain time ran out
  std::atomic<bool> scheduling_done{false};
  // The first order's scheduled time and the last answer's time (system clock, µs): the span
  // over which the service actually took the load, which outlasts the schedule when it lags.
  std::atomic<std::int64_t> first_scheduled_us{0};
  std::atomic<std::int64_t> last_answer_us{0};
  LatencyHistogram accept;  // scheduled -> answered, µs (accepted orders)
  std::mutex mu;
  std::string first_error;
};

// Runs the load; returns when every order was answered or the drain time ran out, or soon after
// `stop`. Errors only for a bad target; failed orders are counted in `stats`.
Status run_load(const LoadOptions& options, LoadStats& stats, std::stop_token stop);

}  // namespace wharf::checkout
