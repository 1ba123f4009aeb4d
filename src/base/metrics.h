// Process-wide metrics in the Prometheus data model: counters, gauges and fixed-bucket
// histograms, each a family with labels. Updating a metric is lock-free (atomics) once the
// caller holds the child (look it up once, keep the reference; children are never freed);
// looking a child up by labels takes the family's mutex. Collectors registered with
// add_collector() produce values computed at scrape time (partition sizes, group lag).
// render_prometheus() writes the text exposition format 0.0.4. Thread-safe throughout.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace wharf::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound (Prometheus "le" semantics), then the total count and sum.
  std::vector<std::uint64_t> cumulative() const;
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds: 50 µs .. 10 s.
const std::vector<double>& latency_buckets();

template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {}
  T& with(const Labels& labels);
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  // Snapshot of (labels, child) pairs for rendering.
  std::vector<std::pair<Labels, const T*>> children() const;

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<T>> children_;
};

// A value computed at scrape time.
struct Sample {
  std::string name;
  Labels labels;
  double value;
};
struct CollectedFamily {
  std::string name, help, type;  // type: "gauge" or "counter"
  std::vector<Sample> samples;
};
using Collector = std::function<std::vector<CollectedFamily>()>;

class Registry {
 public:
  Family<Counter>& counter(const std::string& name, const std::string& help);
  Family<Gauge>& gauge(const std::string& name, const std::string& help);
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& bounds = latency_buckets());
  // Returns an id for remove_collector().
  std::uint64_t add_collector(Collector c);
  void remove_collector(std::uint64_t id);
  std::string render_prometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family<Counter>>> counters_;
  std::map<std::string, std::unique_ptr<Family<Gauge>>> gauges_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>> histograms_;
  std::map<std::uint64_t, Collector> collectors_;
  std::uint64_t next_collector_ = 1;
};

// The process-wide registry the broker exposes at /metrics.
Registry& registry();

}  // namespace wharf::metrics
