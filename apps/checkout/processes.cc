#include "processes.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include <wharf/wharf.h>

#include "common.h"
#include "consumers.h"
#include "http.h"
#include "load.h"
#include "order_store.h"
#include "report.h"

namespace wharf::checkout {
namespace {

namespace fs = std::filesystem;

int failed(const char* what, const Error& e) {
  std::fprintf(stderr, "wharf-checkout %s: %s\n", what, e.to_string().c_str());
  return 1;
}

Result<Bus> kafka_bus(const std::string& bootstrap,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  if (bootstrap.empty()) return fail(ErrorCode::kInvalidArgument, "--bootstrap is required");
  KafkaOptions o;
  o.bootstrap = bootstrap;
  o.timeout = timeout;
  return Bus::open(o);
}

Result<nlohmann::json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::kNotFound, "cannot read {}", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidArgument, "{}: {}", path.string(), e.what());
  }
}

fs::path stats_path(const std::string& data_dir, const std::string& group) {
  return fs::path(data_dir) / (group + ".stats.json");
}

}  // namespace

int run_service(const ServiceSettings& s) {
  raise_fd_limit();
  auto bus = kafka_bus(s.bootstrap);
  if (!bus) return failed("service", bus.error());
  if (auto st = (*bus)->ensure_topic(kOrdersTopic, kOrdersPartitions); !st)
    return failed("service", st.error());
  std::error_code ec;
  fs::create_directories(s.data_dir, ec);
  auto store = OrderStore::open((fs::path(s.data_dir) / "checkout.db").string(), true);
  if (!store) return failed("service", store.error());
  OutboxRelayOptions ro;
  ro.name = "checkout";
  ro.batch_max = 5000;
  auto relay = std::make_unique<OutboxRelay>((*store)->db(), *bus, ro);
  auto service = CheckoutService::start(**store, {.listen = s.listen});
  if (!service) return failed("service", service.error());
  std::printf("checkout service at http://%s/orders\nready\n", (*service)->address().c_str());
  std::fflush(stdout);
  std::stop_token stop = stop_on_signal();
  while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Stop serving, then commit what is queued (its completions go to the stopped, still
  // existing I/O context), and only then count.
  (*service)->stop();
  (*store)->stop();
  // What was committed, for the report's exactness check (orders whose acknowledgement never
  // reached the client count too: they are in the outbox all the same).
  auto committed = (*store)->committed();
  if (!committed) return failed("service", committed.error());
  nlohmann::json stats{{"orders", committed->orders}, {"poison", committed->poison}};
  if (auto st = write_file_atomically(fs::path(s.data_dir) / "service.stats.json", stats.dump());
      !st)
    return failed("service", st.error());
  const auto status = relay->status();
  std::printf(
      "checkout service: stopping with %lld events still in the outbox (they are "
      "published when it starts again)\n",
      static_cast<long long>(status.pending_rows));
  relay.reset();
  store->reset();
  (void)(*bus)->close();
  return 0;
}

int run_consumer(const ConsumerSettings& s) {
  auto bus = kafka_bus(s.bootstrap);
  if (!bus) return failed("consumer", bus.error());
  if (auto st = (*bus)->ensure_topic(kOrdersTopic, kOrdersPartitions); !st)
    return failed("consumer", st.error());
  std::vector<GroupSpec> groups = default_groups();
  GroupSpec spec;
  for (const auto& g : groups) {
    if (g.name == s.group) spec = g;
  }
  if (spec.name.empty())
    return failed("consumer",
                  make_error(ErrorCode::kInvalidArgument, "no consumer group '{}'", s.group));
  spec.work.fail_rate = s.fail_rate;
  if (!s.latency.empty()) {
    auto d = parse_duration(s.latency);
    if (!d) return failed("consumer", d.error());
    spec.work.latency = *d;
  }
  std::error_code ec;
  fs::create_directories(s.data_dir, ec);
  // A restarted process carries on from what the last one saved (up to a second old).
  const fs::path path = stats_path(s.data_dir, s.group);
  std::uint64_t base_handled = 0, base_retries = 0, base_dead = 0, base_duplicates = 0;
  std::int64_t restarts = 0;
  GroupStats stats;
  stats.name = s.group;
  if (fs::exists(path)) {
    auto saved = read_json(path);
    if (!saved) return failed("consumer", saved.error());
    try {
      base_handled = saved->at("handled").get<std::uint64_t>();
      base_retries = saved->at("retries").get<std::uint64_t>();
      base_dead = saved->at("dead_letters").get<std::uint64_t>();
      base_duplicates = saved->at("duplicates").get<std::uint64_t>();
      restarts = saved->at("restarts").get<std::int64_t>() + 1;
      if (auto st = add_histogram_json(saved->at("e2e"), stats.e2e); !st)
        return failed("consumer", st.error());
    } catch (const std::exception& e) {
      return failed("consumer",
                    make_error(ErrorCode::kInvalidArgument, "{}: {}", path.string(), e.what()));
    }
  }
  auto group = ConsumerGroup::start(*bus, spec, s.data_dir, stats);
  if (!group) return failed("consumer", group.error());
  auto save = [&](std::int64_t effects, const std::string& ledger = "unchecked") {
    nlohmann::json j{{"group", s.group},
                     {"handled", base_handled + stats.handled.load()},
                     {"retries", base_retries + stats.retries.load()},
                     {"dead_letters", base_dead + stats.dead_letters.load()},
                     {"duplicates", base_duplicates + (*group)->duplicates()},
                     {"restarts", restarts},
                     {"effects", effects},
                     {"ledger", ledger},
                     {"e2e", histogram_json(stats.e2e.snapshot())}};
    if (auto st = write_file_atomically(path, j.dump()); !st)
      std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
  };
  std::printf("consumer group %s running%s\n", s.group.c_str(),
              restarts > 0 ? " (restarted; counters carried on)" : "");
  std::fflush(stdout);
  std::stop_token stop = stop_on_signal();
  auto next_save = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (std::chrono::steady_clock::now() >= next_save) {
      save(-1);
      next_save += std::chrono::seconds(1);
    }
  }
  Status st = (*group)->stop();
  auto effects = (*group)->effects();
  // The ledger (loyalty) is checked after the stop, once the order-history view caught up.
  auto ledger = st ? (*group)->check_ledger() : Result<std::string>(std::string("not checked"));
  save(effects ? *effects : -1, !ledger           ? ledger.error().to_string()
                                : ledger->empty() ? "ok"
                                                  : *ledger);
  if (!st) return failed("consumer", st.error());
  return effects ? 0 : failed("consumer", effects.error());
}

namespace {

// One look at the groups' progress: end offsets and each group's committed offsets.
struct Probe {
  std::uint64_t accepted_before = 0;        // orders accepted when the look began
  std::int64_t published = -1;              // -1: the broker did not answer
  std::map<std::string, std::int64_t> lag;  // -1: unknown
  std::map<std::string, double> skew;
  std::chrono::steady_clock::time_point at;
};

Probe probe_groups(Bus& bus, const std::vector<std::string>& groups, std::uint64_t accepted) {
  Probe p;
  p.accepted_before = accepted;
  std::map<TopicPartition, std::int64_t> end;
  if (auto e = bus->end_offsets(kOrdersTopic)) {
    end = *e;
    p.published = 0;
    for (auto& [tp, o] : end) p.published += o;
  }
  for (const auto& g : groups) {
    p.lag[g] = -1;
    if (end.empty()) continue;
    auto committed = bus->committed_offsets(g, kOrdersTopic);
    if (!committed) continue;
    std::int64_t lag = 0, mx = 0;
    for (auto& [tp, e] : end) {
      auto it = committed->find(tp);
      const std::int64_t l =
          std::max<std::int64_t>(0, e - (it == committed->end() ? 0 : it->second));
      lag += l;
      mx = std::max(mx, l);
    }
    p.lag[g] = lag;
    if (lag > 0)
      p.skew[g] =
          static_cast<double>(mx) * static_cast<double>(end.size()) / static_cast<double>(lag);
  }
  p.at = std::chrono::steady_clock::now();
  return p;
}

}  // namespace

int run_load_process(const LoadSettings& s) {
  raise_fd_limit();
  // Lag queries answer within a second or show "?". They run on their own thread, so the
  // status line and the per-second series keep wall-clock time while the broker is away (the
  // stop-broker drill): a second's sample is always that second's orders.
  auto bus = kafka_bus(s.bootstrap, std::chrono::seconds(1));
  if (!bus) return failed("load", bus.error());
  LoadOptions lo;
  lo.target = s.target;
  lo.rate = s.rate;
  lo.duration = std::chrono::duration<double>(s.duration_s);
  lo.poison_rate = s.poison_rate;
  lo.connections_max = s.connections;
  LoadStats load;
  Status load_status = ok();
  std::jthread load_thread([&](std::stop_token st) { load_status = run_load(lo, load, st); });

  std::mutex probe_mu;
  std::optional<Probe> latest;
  std::jthread prober([&](std::stop_token st) {
    while (!st.stop_requested()) {
      Probe p = probe_groups(*bus, s.groups, load.accepted.load());
      {
        std::lock_guard lock(probe_mu);
        latest = std::move(p);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  });

  nlohmann::json series = nlohmann::json::array();
  std::map<std::string, std::int64_t> max_lag, final_lag;
  std::map<std::string, double> max_skew;
  const auto start = std::chrono::steady_clock::now();
  auto prev_accept = load.accept.snapshot();
  std::uint64_t prev_offered = 0, prev_accepted = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  auto prev_tick = start;
  for (int second = 1;; ++second) {
    std::this_thread::sleep_until(start + std::chrono::seconds(second));
    const auto now = std::chrono::steady_clock::now();
    // A late tick (a stalled machine) is still labelled with the second it ends in.
    const int t_s =
        static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(now - start).count());
    second = std::max(second, t_s);
    const double span_s = std::max(1e-3, std::chrono::duration<double>(now - prev_tick).count());
    prev_tick = now;
    const std::uint64_t offered = load.offered.load(), accepted = load.accepted.load();
    auto snap = load.accept.snapshot();
    const double p99 = static_cast<double>(snap.delta(prev_accept).percentile(99)) / 1000.0;
    prev_accept = snap;
    std::optional<Probe> p;
    {
      std::lock_guard lock(probe_mu);
      p = latest;
    }
    // A look older than two seconds is not this second's: its lag shows as unknown.
    const bool fresh = p && now - p->at < std::chrono::seconds(2);
    nlohmann::json lag_json = nlohmann::json::object();
    std::string line;
    double second_skew = 0;  // this second's largest, over the groups
    bool caught_up = fresh && p->published >= 0 &&
                     static_cast<std::uint64_t>(p->published) >= accepted &&
                     p->accepted_before == accepted;
    for (const auto& g : s.groups) {
      const std::int64_t lag = fresh ? p->lag.at(g) : -1;
      if (lag >= 0) {
        max_lag[g] = std::max(max_lag[g], lag);
        final_lag[g] = lag;
        if (auto it = p->skew.find(g); it != p->skew.end()) {
          max_skew[g] = std::max(max_skew[g], it->second);
          second_skew = std::max(second_skew, it->second);
        }
      }
      if (lag != 0) caught_up = false;
      lag_json[g] = lag;
      line +=
          fmt::format(" {}={}", g.substr(0, 3), lag < 0 ? std::string("?") : std::to_string(lag));
    }
    const double offered_per_s = static_cast<double>(offered - prev_offered) / span_s;
    const double accepted_per_s = static_cast<double>(accepted - prev_accepted) / span_s;
    series.push_back({{"t_s", second},
                      {"offered_per_s", offered_per_s},
                      {"accepted_per_s", accepted_per_s},
                      {"accept_p99_ms", p99},
                      {"lag", lag_json}});
    std::printf(
        "[%3ds] offered %6.0f/s accepted %6.0f/s p99 %7.1f ms | published %lld | committed lag%s "
        "skew %.1f\n",
        second, offered_per_s, accepted_per_s, p99,
        static_cast<long long>(fresh ? p->published : -1), line.c_str(), second_skew);
    std::fflush(stdout);
    prev_offered = offered;
    prev_accepted = accepted;
    const bool load_done = load.scheduling_done.load() &&
                           load.accepted + load.rejected + load.unfinished >= load.offered;
    if (load_done) {
      if (!deadline)
        deadline = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<std::int64_t>(s.catch_up_s * 1000));
      if (caught_up || std::chrono::steady_clock::now() >= *deadline) break;
    }
  }
  prober.request_stop();
  prober.join();
  load_thread.join();
  if (!load_status) return failed("load", load_status.error());
  const std::int64_t first = load.first_scheduled_us.load(), last = load.last_answer_us.load();
  nlohmann::json out{
      {"target_rate", s.rate},
      {"duration_s",
       std::max(s.duration_s, last > first ? static_cast<double>(last - first) / 1e6 : 0.0)},
      {"asked_duration_s", s.duration_s},
      {"offered", load.offered.load()},
      {"accepted", load.accepted.load()},
      {"poison_accepted", load.poison_accepted.load()},
      {"rejected", load.rejected.load()},
      {"unfinished", load.unfinished.load()},
      {"first_error", load.first_error},
      {"accept", histogram_json(load.accept.snapshot())},
      {"series", series},
      {"max_lag", max_lag},
      {"final_lag", final_lag},
      {"max_skew", max_skew}};
  if (auto st = write_file_atomically(
          s.out, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      !st)
    return failed("load", st.error());
  (void)(*bus)->close();
  return 0;
}

int run_report(const ReportSettings& s) {
  auto load = read_json(s.load);
  if (!load) return failed("report", load.error());
  RunReport r;
  r.mode = "events";
  r.transport = "kafka (separate processes)";
  LatencyHistogram accept;
  std::vector<std::string> names;
  try {
    r.target_rate = load->at("target_rate").get<double>();
    r.duration_s = load->at("duration_s").get<double>();
    r.offered = load->at("offered").get<std::uint64_t>();
    r.accepted = load->at("accepted").get<std::uint64_t>();
    r.rejected =
        load->at("rejected").get<std::uint64_t>() + load->at("unfinished").get<std::uint64_t>();
    r.settings["load phase"] =
        fmt::format("{} s asked", load->at("asked_duration_s").get<double>());
    if (auto st = add_histogram_json(load->at("accept"), accept); !st)
      return failed("report", st.error());
    for (const auto& x : load->at("series")) {
      SecondSample sample;
      sample.t_s = x.at("t_s").get<double>();
      sample.offered_per_s = x.at("offered_per_s").get<double>();
      sample.accepted_per_s = x.at("accepted_per_s").get<double>();
      sample.accept_p99_ms = x.at("accept_p99_ms").get<double>();
      for (auto& [g, lag] : x.at("lag").items()) sample.lag[g] = lag.get<std::int64_t>();
      r.series.push_back(std::move(sample));
    }
    for (auto& [g, v] : load->at("max_lag").items()) names.push_back(g);
    const std::string first_error = load->at("first_error").get<std::string>();
    if (!first_error.empty()) r.note += "First failed order: " + first_error + ". ";
  } catch (const std::exception& e) {
    return failed("report", make_error(ErrorCode::kInvalidArgument, "{}: {}", s.load, e.what()));
  }
  r.accept = accept.snapshot();
  bool exact = true;
  std::int64_t orders = 0, poison = 0;
  {
    auto service = read_json(fs::path(s.service_dir) / "service.stats.json");
    if (!service) return failed("report", service.error());
    try {
      orders = service->at("orders").get<std::int64_t>();
      poison = service->at("poison").get<std::int64_t>();
    } catch (const std::exception& e) {
      return failed("report",
                    make_error(ErrorCode::kInvalidArgument, "service stats: {}", e.what()));
    }
  }
  r.settings["orders committed"] = std::to_string(orders);
  r.settings["poison orders committed"] = std::to_string(poison);
  for (const auto& name : default_groups()) {
    auto stats = read_json(stats_path(s.data_dir, name.name));
    if (!stats) {
      r.note += fmt::format("{}: no stats ({}). ", name.name, stats.error().to_string());
      exact = false;
      continue;
    }
    GroupReport g;
    g.name = name.name;
    LatencyHistogram e2e;
    std::int64_t effects = -1, restarts = 0;
    std::string ledger;
    try {
      g.handled = stats->at("handled").get<std::uint64_t>();
      g.retries = stats->at("retries").get<std::uint64_t>();
      g.dead_letters = stats->at("dead_letters").get<std::uint64_t>();
      g.duplicates = stats->at("duplicates").get<std::uint64_t>();
      effects = stats->at("effects").get<std::int64_t>();
      ledger = stats->value("ledger", std::string("unchecked"));
      restarts = stats->at("restarts").get<std::int64_t>();
      if (auto st = add_histogram_json(stats->at("e2e"), e2e); !st)
        return failed("report", st.error());
      g.max_lag = load->at("max_lag").value(g.name, std::int64_t{-1});
      g.final_lag = load->at("final_lag").value(g.name, std::int64_t{-1});
      g.max_skew = load->at("max_skew").value(g.name, 0.0);
    } catch (const std::exception& e) {
      return failed("report",
                    make_error(ErrorCode::kInvalidArgument, "{} stats: {}", name.name, e.what()));
    }
    g.e2e = e2e.snapshot();
    if (restarts > 0) r.settings[g.name + " restarts"] = std::to_string(restarts);
    // Checked against the group's store, not its counters (which a killed process can leave up
    // to a second behind): one effect per order checkout committed but the poison ones.
    const auto expected = orders - poison;
    if (effects != expected || g.final_lag != 0) {
      exact = false;
      r.note +=
          fmt::format("{}: {} effects for {} committed orders less {} poison ones{}. ", g.name,
                      effects, orders, poison, g.final_lag != 0 ? " (not caught up)" : "");
    }
    if (name.ledger) {
      // The last process of the group checked its event-sourced ledger against the view.
      if (ledger != "ok") {
        exact = false;
        r.note += fmt::format("{} ledger: {}. ", g.name, ledger);
      } else {
        r.settings["loyalty ledger"] = "equals the order-history view and its effects";
      }
    }
    r.groups.push_back(std::move(g));
  }
  std::printf("%s", report_text(r).c_str());
  std::error_code ec;
  fs::create_directories(s.report_dir, ec);
  nlohmann::json all = nlohmann::json::array({report_json(r)});
  (void)write_file_atomically(
      fs::path(s.report_dir) / "report.json",
      all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  (void)write_file_atomically(fs::path(s.report_dir) / "report.html", report_html({r}));
  std::printf("\nreport: %s/report.json and %s/report.html\n", s.report_dir.c_str(),
              s.report_dir.c_str());
  return exact ? 0 : 3;
}

}  // namespace wharf::checkout
