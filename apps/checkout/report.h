// The checkout load run's report: what the load generator measured (RunReport) and three ways to
// show it: a terminal table, JSON with every number, and one self-contained HTML page with inline
// SVG charts (no scripts, no network) that can compare several runs, e.g. events vs convoy.
//
// Plain data and pure functions: the load generator fills a RunReport on its own thread once the
// run is over, and the functions may be called from any thread. Nothing here writes files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "checkout/histogram.h"

namespace wharf::checkout {

struct SecondSample {         // one per second of the run
  double t_s = 0;             // seconds since start
  double offered_per_s = 0;   // orders the generator scheduled
  double accepted_per_s = 0;  // orders acknowledged by the order service
  double accept_p99_ms = 0;
  std::map<std::string, std::int64_t> lag;   // per consumer group, messages behind
  std::map<std::string, double> e2e_p99_ms;  // per group, order scheduled -> handled by that group
};

struct GroupReport {
  std::string name;
  std::uint64_t handled = 0, retries = 0, dead_letters = 0, duplicates = 0;
  LatencyHistogram::Snapshot e2e;  // order scheduled time -> this group done, µs
  std::int64_t max_lag = 0;
  std::int64_t final_lag = 0;
  double max_skew = 0;  // largest partition lag / mean partition lag seen
};

struct RunReport {
  std::string mode;        // "events" or "convoy"
  std::string transport;   // "embedded" or "kafka"
  double target_rate = 0;  // orders/s asked for
  double duration_s = 0;   // first order scheduled to last answered (>= the load phase)
  std::uint64_t offered = 0, accepted = 0, rejected = 0;  // rejected = non-2xx or transport error
  LatencyHistogram::Snapshot accept;  // scheduled time -> response, µs (no coordinated omission)
  std::vector<GroupReport> groups;
  std::vector<SecondSample> series;
  std::map<std::string, std::string> settings;  // free-form: slow dependency, failure rate, etc.
  std::string note;                             // free text shown under the title
};

// Plain-text summary for a terminal: the run's settings, throughput and accept latency, then one
// aligned row per consumer group.
std::string report_text(const RunReport& run);

// Every field of `run`; latencies as count, mean_ms and p50/p95/p99/p999/max _ms. Strings are
// copied as given: dump() with error_handler_t::replace if they may hold invalid UTF-8.
nlohmann::json report_json(const RunReport& run);

// One self-contained HTML page: per run its settings, the tables of report_text() and four SVG
// charts over time; with two or more runs, a comparison table first. Every string is escaped.
std::string report_html(const std::vector<RunReport>& runs);

}  // namespace wharf::checkout
