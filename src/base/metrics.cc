#include "base/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "base/text.h"

namespace wharf::metrics {

void Gauge::add(double d) {
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double v) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                               0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                               0.5,     1,      2.5,     5,      10};
  return kBuckets;
}

template <typename T>
T& Family<T>::with(const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = children_[labels];
  if (!slot) {
    if constexpr (std::is_same_v<T, Histogram>)
      slot = std::make_unique<T>(bounds_);
    else
      slot = std::make_unique<T>();
  }
  return *slot;
}

template <typename T>
std::vector<std::pair<Labels, const T*>> Family<T>::children() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<Labels, const T*>> out;
  for (const auto& [labels, child] : children_) out.emplace_back(labels, child.get());
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

namespace {

std::string escape_label(const std::string& raw) {
  // Label values come from clients too (group and topic names): the exposition format must be
  // UTF-8, so one bad name is shown with U+FFFD rather than breaking the scrape.
  const std::string v = to_valid_utf8(raw);
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string render_labels(const Labels& labels, const std::string& extra_key = "",
                          const std::string& extra_value = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    out += fmt::format("{}=\"{}\"", k, escape_label(v));
    first = false;
  }
  if (!extra_key.empty()) {
    if (!first) out += ",";
    out += fmt::format("{}=\"{}\"", extra_key, extra_value);
  }
  return out + "}";
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

}  // namespace

Family<Counter>& Registry::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = counters_[name];
  if (!f) f = std::make_unique<Family<Counter>>(name, help);
  return *f;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = gauges_[name];
  if (!f) f = std::make_unique<Family<Gauge>>(name, help);
  return *f;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       const std::vector<double>& bounds) {
  std::lock_guard lock(mu_);
  auto& f = histograms_[name];
  if (!f) f = std::make_unique<Family<Histogram>>(name, help, bounds);
  return *f;
}

std::uint64_t Registry::add_collector(Collector c) {
  std::lock_guard lock(mu_);
  const auto id = next_collector_++;
  collectors_[id] = std::move(c);
  return id;
}

void Registry::remove_collector(std::uint64_t id) {
  std::lock_guard lock(mu_);
  collectors_.erase(id);
}

std::string Registry::render_prometheus() const {
  std::vector<Collector> collectors;
  std::string out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : counters_) {
      out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, f->help(), name);
      for (const auto& [labels, c] : f->children())
        out += fmt::format("{}{} {}\n", name, render_labels(labels), c->value());
    }
    for (const auto& [name, f] : gauges_) {
      out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, f->help(), name);
      for (const auto& [labels, g] : f->children())
        out += fmt::format("{}{} {}\n", name, render_labels(labels), number(g->value()));
    }
    for (const auto& [name, f] : histograms_) {
      out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, f->help(), name);
      for (const auto& [labels, h] : f->children()) {
        const auto cum = h->cumulative();
        for (std::size_t i = 0; i < h->bounds().size(); ++i) {
          out += fmt::format("{}_bucket{} {}\n", name,
                             render_labels(labels, "le", number(h->bounds()[i])), cum[i]);
        }
        out +=
            fmt::format("{}_bucket{} {}\n", name, render_labels(labels, "le", "+Inf"), cum.back());
        out += fmt::format("{}_sum{} {}\n", name, render_labels(labels), number(h->sum()));
        out += fmt::format("{}_count{} {}\n", name, render_labels(labels), h->count());
      }
    }
    for (const auto& [_, c] : collectors_) collectors.push_back(c);
  }
  // Collectors run outside the lock: they may take other locks (partitions, the coordinator).
  std::map<std::string, CollectedFamily> merged;
  for (const auto& c : collectors) {
    for (auto& fam : c()) {
      auto& m = merged[fam.name];
      if (m.name.empty()) {
        m.name = fam.name;
        m.help = fam.help;
        m.type = fam.type;
      }
      for (auto& s : fam.samples) m.samples.push_back(std::move(s));
    }
  }
  for (const auto& [name, fam] : merged) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, fam.help, name, fam.type);
    for (const auto& s : fam.samples)
      out += fmt::format("{}{} {}\n", s.name, render_labels(s.labels), number(s.value));
  }
  return out;
}

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace wharf::metrics
