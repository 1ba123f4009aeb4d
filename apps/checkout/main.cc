// wharf-checkout: the reference system. One command runs checkout, its six consumer groups and
// the load generator, prints a status line every second and a report at the end.
//
//   wharf-checkout run                          # event-driven, embedded log, 10,000 orders/s, 60 s
//   wharf-checkout run --mode both --slow email=20ms --duration 20
//   wharf-checkout run --bootstrap 127.0.0.1:9092   # the same against a broker
#include <wharf/lag.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common.h"
#include "consumers.h"
#include "fulfilment.h"
#include "http.h"
#include "load.h"
#include "model.h"
#include "order_store.h"
#include "processes.h"
#include "report.h"

namespace fs = std::filesystem;
using namespace wharf;
using namespace wharf::checkout;

namespace {

struct Settings {
  std::string mode = "events";  // events | convoy | both
  double rate = 10'000;
  double duration_s = 60;
  std::string data_dir = "./checkout-data";
  std::string bootstrap;  // empty: the embedded log
  std::string sync_policy = "always";
  std::vector<std::string> slow;     // GROUP=DURATION: that dependency's latency
  std::vector<std::string> latency;  // GROUP=DURATION for the others (default 0)
  double fail_rate = 0.001;
  double poison_rate = 0.0001;
  std::size_t connections = 1024;
  double catch_up_s = 60;  // after the load, how long consumers may take to reach the end
  std::string report_dir;  // default: <data-dir>/report
  std::string log_level = "error";
  bool fulfilment = false;  // events mode: also the fulfilment saga per order
  ParticipantRates rates;
  std::string step_deadline = "5s";
};

struct Lag {
  std::int64_t total = 0;
  double skew = 0;  // largest partition lag / mean partition lag (1 = even)
};

Lag lag_of(const GroupStats& st, const std::map<TopicPartition, std::int64_t>& end) {
  Lag out;
  lag::LagSummary lags;
  for (const auto& [tp, e] : end) {
    if (tp.partition < 0 || tp.partition >= kOrdersPartitions) continue;
    const std::int64_t done = st.done_offsets[static_cast<std::size_t>(tp.partition)].load();
    lags.add(lag::partition_lag(e, done));
  }
  out.total = lags.sum;
  out.skew = lags.skew();
  return out;
}

// One run of one mode. Returns the report; prints a status line every second.
Result<RunReport> run_mode(const Settings& s, const std::string& mode) {
  const fs::path dir = fs::path(s.data_dir) / mode;
  WHARF_RETURN_IF_ERROR(fresh_dir(dir));
  std::vector<GroupSpec> groups = default_groups();
  for (auto& g : groups) g.work.fail_rate = s.fail_rate;
  WHARF_RETURN_IF_ERROR(apply_latencies(s.latency, groups));
  WHARF_RETURN_IF_ERROR(apply_latencies(s.slow, groups));

  std::vector<std::unique_ptr<GroupStats>> stats;
  for (const auto& g : groups) {
    stats.push_back(std::make_unique<GroupStats>());
    stats.back()->name = g.name;
  }

  RunReport report;
  report.mode = mode;
  report.transport = mode == "convoy" ? "http" : (s.bootstrap.empty() ? "embedded" : "kafka");
  report.target_rate = s.rate;
  report.settings["fail rate"] = fmt::format("{}", s.fail_rate);
  report.settings["poison rate"] = fmt::format("{}", s.poison_rate);
  for (const auto& g : groups) {
    if (g.work.latency.count() > 0)
      report.settings[g.name + " latency"] = fmt::format("{} us", g.work.latency.count());
  }

  std::optional<Bus> bus;
  // Declared before the store so that it outlives it: the store's writer completes orders on
  // the service's I/O context (the guard below stops serving first on every return).
  std::unique_ptr<CheckoutService> checkout;
  std::unique_ptr<OrderStore> store;
  std::unique_ptr<OutboxRelay> relay;
  std::vector<std::unique_ptr<ConsumerGroup>> consumers;
  std::unique_ptr<DependencyService> dependencies;
  std::unique_ptr<Participants> participants;
  std::unique_ptr<Fulfilment> fulfilment;
  struct StopServingFirst {
    std::unique_ptr<CheckoutService>& service;
    ~StopServingFirst() {
      if (service) service->stop();
    }
  } stop_serving_first{checkout};

  if (mode == "events") {
    Result<Bus> opened = fail(ErrorCode::kInternal, "unset");
    if (s.bootstrap.empty()) {
      EmbeddedOptions o;
      o.data_dir = (dir / "log").string();
      o.sync_policy = s.sync_policy;
      o.default_partitions = kOrdersPartitions;
      o.broker_settings = {{"group.initial.rebalance.delay.ms", "0"}};
      opened = Bus::open(o);
    } else {
      KafkaOptions o;
      o.bootstrap = s.bootstrap;
      opened = Bus::open(o);
    }
    if (!opened) return fail(opened.error());
    bus = *opened;
    WHARF_RETURN_IF_ERROR((*bus)->ensure_topic(kOrdersTopic, kOrdersPartitions));
    WHARF_ASSIGN_OR_RETURN(store, OrderStore::open((dir / "checkout.db").string(), true));
    OutboxRelayOptions ro;
    ro.name = "checkout";
    ro.batch_max = 5000;
    relay = std::make_unique<OutboxRelay>(store->db(), *bus, ro);
    for (std::size_t i = 0; i < groups.size(); ++i) {
      WHARF_ASSIGN_OR_RETURN(auto c,
                             ConsumerGroup::start(*bus, groups[i], dir.string(), *stats[i]));
      consumers.push_back(std::move(c));
    }
    if (s.fulfilment) {
      WHARF_ASSIGN_OR_RETURN(const auto deadline, parse_duration(s.step_deadline));
      WHARF_ASSIGN_OR_RETURN(participants, Participants::start(*bus, dir.string(), s.rates));
      WHARF_ASSIGN_OR_RETURN(
          fulfilment,
          Fulfilment::start(
              *bus, dir.string(),
              {.deadline = std::chrono::duration_cast<std::chrono::milliseconds>(deadline)}));
      report.settings["fulfilment"] = fmt::format(
          "saga per order; out of stock {}, declined {}, shipment lost {}, step deadline {}",
          s.rates.out_of_stock, s.rates.declined, s.rates.shipment_lost, s.step_deadline);
    }
    WHARF_ASSIGN_OR_RETURN(checkout, CheckoutService::start(*store, {}));
  } else {
    WHARF_ASSIGN_OR_RETURN(store, OrderStore::open((dir / "checkout.db").string(), false));
    std::map<std::string, std::chrono::microseconds> latency;
    for (const auto& g : groups) latency[g.name] = g.work.latency;
    WHARF_ASSIGN_OR_RETURN(dependencies, DependencyService::start("127.0.0.1:0", latency));
    CheckoutServiceOptions co;
    co.dependencies = dependencies->address();
    for (std::size_t i = 0; i < groups.size(); ++i) {
      co.groups.push_back(groups[i].name);
      co.stats.push_back(stats[i].get());
    }
    WHARF_ASSIGN_OR_RETURN(checkout, CheckoutService::start(*store, co));
  }

  std::printf("\n== %s mode: %.0f orders/s for %.0f s; checkout at http://%s/orders ==\n",
              mode.c_str(), s.rate, s.duration_s, checkout->address().c_str());
  std::fflush(stdout);

  LoadOptions lo;
  lo.target = checkout->address();
  lo.rate = s.rate;
  lo.duration = std::chrono::duration<double>(s.duration_s);
  lo.poison_rate = s.poison_rate;
  lo.connections_max = s.connections;
  lo.drain = std::chrono::seconds(30);
  LoadStats load;
  Status load_status = ok();
  std::jthread load_thread([&](std::stop_token st) { load_status = run_load(lo, load, st); });

  // Status line every second, through the load and then until the consumers caught up.
  const auto start = std::chrono::steady_clock::now();
  auto prev_accept = load.accept.snapshot();
  std::vector<LatencyHistogram::Snapshot> prev_e2e;
  for (auto& st : stats) prev_e2e.push_back(st->e2e.snapshot());
  std::uint64_t prev_offered = 0, prev_accepted = 0;
  std::vector<std::int64_t> max_lag(groups.size(), 0);
  std::vector<double> max_skew(groups.size(), 0);
  std::vector<std::int64_t> final_lag(groups.size(), 0);
  bool load_done = false;
  std::optional<std::chrono::steady_clock::time_point> caught_up_deadline;
  for (int second = 1;; ++second) {
    std::this_thread::sleep_until(start + std::chrono::seconds(second));
    load_done = load.scheduling_done.load() &&
                (load.accepted + load.rejected + load.unfinished >= load.offered ||
                 load_thread.get_stop_token().stop_requested());
    SecondSample sample;
    sample.t_s = second;
    const std::uint64_t offered = load.offered.load(), accepted = load.accepted.load();
    sample.offered_per_s = static_cast<double>(offered - prev_offered);
    sample.accepted_per_s = static_cast<double>(accepted - prev_accepted);
    prev_offered = offered;
    prev_accepted = accepted;
    auto now_accept = load.accept.snapshot();
    sample.accept_p99_ms =
        static_cast<double>(now_accept.delta(prev_accept).percentile(99)) / 1000.0;
    prev_accept = now_accept;
    std::map<TopicPartition, std::int64_t> end;
    if (bus) {
      if (auto e = (*bus)->end_offsets(kOrdersTopic)) end = *e;
    }
    std::string groups_line;
    std::uint64_t retries = 0, dead = 0;
    double skew = 0;  // this second's largest, over the groups
    bool all_caught_up = true;
    for (std::size_t i = 0; i < groups.size(); ++i) {
      auto snap = stats[i]->e2e.snapshot();
      sample.e2e_p99_ms[groups[i].name] =
          static_cast<double>(snap.delta(prev_e2e[i]).percentile(99)) / 1000.0;
      prev_e2e[i] = snap;
      std::int64_t lag = 0;
      if (bus) {
        Lag l = lag_of(*stats[i], end);
        lag = l.total;
        max_skew[i] = std::max(max_skew[i], l.skew);
        skew = std::max(skew, l.skew);
      }
      sample.lag[groups[i].name] = lag;
      max_lag[i] = std::max(max_lag[i], lag);
      final_lag[i] = lag;
      if (lag > 0) all_caught_up = false;
      retries += stats[i]->retries.load();
      dead += stats[i]->dead_letters.load();
      groups_line += fmt::format(" {}={}", groups[i].name.substr(0, 3), lag);
    }
    report.series.push_back(sample);
    std::printf(
        "[%3ds] offered %6.0f/s accepted %6.0f/s p99 %7.1f ms | lag%s skew %.1f | retries %llu "
        "dlq %llu\n",
        second, sample.offered_per_s, sample.accepted_per_s, sample.accept_p99_ms,
        groups_line.c_str(), skew, static_cast<unsigned long long>(retries),
        static_cast<unsigned long long>(dead));
    std::fflush(stdout);
    if (load_done) {
      if (!bus) break;
      if (!caught_up_deadline)
        caught_up_deadline =
            std::chrono::steady_clock::now() +
            std::chrono::milliseconds(static_cast<std::int64_t>(s.catch_up_s * 1000));
      // Caught up: every group reached the end offsets, and the outbox is empty.
      const bool outbox_empty = relay && relay->status().pending_rows == 0;
      if ((all_caught_up && outbox_empty) ||
          std::chrono::steady_clock::now() >= *caught_up_deadline)
        break;
    }
  }
  load_thread.join();
  WHARF_RETURN_IF_ERROR(load_status);

  // Stop serving, then commit what is still queued, before anything is counted.
  checkout->stop();
  store->stop();
  for (std::size_t i = 0; i < consumers.size(); ++i) {
    if (Status st = consumers[i]->stop(); !st)
      std::fprintf(stderr, "%s: %s\n", groups[i].name.c_str(), st.error().to_string().c_str());
  }
  // Throughput is over the span the service actually took the load: when it cannot keep up,
  // answers go on after the schedule ended, and the asked duration would flatter it.
  const std::int64_t first = load.first_scheduled_us.load(), last = load.last_answer_us.load();
  report.duration_s =
      std::max(s.duration_s, last > first ? static_cast<double>(last - first) / 1e6 : 0.0);
  report.settings["load phase"] = fmt::format("{} s asked", s.duration_s);
  report.offered = load.offered.load();
  report.accepted = load.accepted.load();
  report.rejected = load.rejected.load() + load.unfinished.load();
  report.accept = load.accept.snapshot();
  if (const auto tx = store->transactions(); tx > 0)
    report.settings["orders per group commit"] =
        fmt::format("{:.1f}", static_cast<double>(report.accepted) / static_cast<double>(tx));
  if (load.unfinished.load() > 0)
    report.note += fmt::format("{} orders were still unanswered when the drain time ran out. ",
                               load.unfinished.load());
  if (!load.first_error.empty()) report.note += "First failed order: " + load.first_error + ". ";
  for (std::size_t i = 0; i < groups.size(); ++i) {
    GroupReport g;
    g.name = groups[i].name;
    g.handled = stats[i]->handled.load();
    g.retries = stats[i]->retries.load();
    g.dead_letters = stats[i]->dead_letters.load();
    g.duplicates = i < consumers.size() ? consumers[i]->duplicates() : 0;
    g.e2e = stats[i]->e2e.snapshot();
    g.max_lag = max_lag[i];
    g.final_lag = final_lag[i];
    g.max_skew = max_skew[i];
    report.groups.push_back(std::move(g));
  }
  // Every order checkout committed took effect exactly once in every group, except the poison
  // ones, which must be dead letters: checked against the stores themselves, not the counters
  // (and not the client's acknowledgements: an order can commit after its client gave up).
  WHARF_ASSIGN_OR_RETURN(const CommittedOrders committed, store->committed());
  report.settings["orders committed"] = std::to_string(committed.orders);
  report.settings["poison orders committed"] = std::to_string(committed.poison);
  if (mode == "events") {
    for (std::size_t i = 0; i < consumers.size(); ++i) {
      auto effects = consumers[i]->effects();
      if (!effects) return fail(effects.error());
      const auto expected = committed.orders - committed.poison;
      if (*effects != expected || report.groups[i].final_lag != 0) {
        report.note += fmt::format("{}: {} effects for {} committed orders less {} poison ones{}. ",
                                   groups[i].name, *effects, committed.orders, committed.poison,
                                   report.groups[i].final_lag ? " (not caught up)" : "");
      }
      // The loyalty group's event-sourced ledger and its order-history view agree with it.
      auto ledger = consumers[i]->check_ledger();
      if (!ledger) return fail(ledger.error());
      if (!ledger->empty()) report.note += groups[i].name + ": " + *ledger;
      if (groups[i].ledger && ledger->empty())
        report.settings["loyalty ledger"] = "equals the order-history view and its effects";
    }
  }
  if (fulfilment) {
    // Every committed order's saga ends completed or compensated, with exactly its effects.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<std::int64_t>(s.catch_up_s * 1000));
    const std::string checkout_db = (dir / "checkout.db").string();
    const std::string saga_db = (dir / "fulfilment.db").string();
    const std::string effects_db = (dir / "participants.db").string();
    Result<FulfilmentCheck> c = fail(ErrorCode::kInternal, "unset");
    for (;;) {
      c = check_fulfilment(checkout_db, saga_db, effects_db);
      if (!c || c->unfinished == 0 || std::chrono::steady_clock::now() >= deadline) break;
      std::printf("[fulfilment] %lld of %lld sagas unfinished\n",
                  static_cast<long long>(c->unfinished), static_cast<long long>(c->orders));
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (Status st = fulfilment->stop(); !st)
      std::fprintf(stderr, "fulfilment: %s\n", st.error().to_string().c_str());
    if (Status st = participants->stop(); !st)
      std::fprintf(stderr, "participants: %s\n", st.error().to_string().c_str());
    if (!c) return fail(c.error());
    std::string causes;
    for (const auto& [cause, count] : c->causes)
      causes += fmt::format("{}{} {}", causes.empty() ? "" : ", ", cause, count);
    report.settings["fulfilment sagas"] =
        fmt::format("{} completed, {} compensated ({}), {} unfinished", c->completed,
                    c->compensated, causes.empty() ? "none" : causes, c->unfinished);
    if (c->unfinished > 0)
      report.note +=
          fmt::format("fulfilment: {} of {} sagas unfinished. ", c->unfinished, c->orders);
    if (!c->problems.empty()) report.note += "fulfilment: " + c->problems;
    fulfilment.reset();
    participants.reset();
  }
  relay.reset();
  consumers.clear();
  store.reset();
  if (bus) (void)(*bus)->close();
  return report;
}

int run(const Settings& s) {
  raise_fd_limit();
  std::vector<std::string> modes;
  if (s.mode == "both")
    modes = {"events", "convoy"};
  else if (s.mode == "events" || s.mode == "convoy")
    modes = {s.mode};
  else {
    std::fprintf(stderr, "--mode must be events, convoy or both\n");
    return 2;
  }
  std::vector<RunReport> reports;
  for (const auto& mode : modes) {
    auto r = run_mode(s, mode);
    if (!r) {
      std::fprintf(stderr, "wharf-checkout: %s mode failed: %s\n", mode.c_str(),
                   r.error().to_string().c_str());
      return 1;
    }
    reports.push_back(std::move(*r));
  }
  const fs::path report_dir =
      s.report_dir.empty() ? fs::path(s.data_dir) / "report" : fs::path(s.report_dir);
  std::error_code ec;
  fs::create_directories(report_dir, ec);
  nlohmann::json all = nlohmann::json::array();
  for (const auto& r : reports) {
    std::printf("\n%s", report_text(r).c_str());
    all.push_back(report_json(r));
  }
  std::ofstream(report_dir / "report.json")
      << all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  std::ofstream(report_dir / "report.html") << report_html(reports);
  std::printf("\nreport: %s/report.json and %s/report.html\n", report_dir.c_str(),
              report_dir.c_str());
  bool clean = true;
  for (const auto& r : reports) clean = clean && r.note.empty();
  return clean ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wharf-checkout: the checkout reference system and its load generator"};
  app.require_subcommand(1);
  Settings s;
  auto* run_cmd = app.add_subcommand(
      "run", "Run checkout, its six consumer groups and the load, then print the report");
  run_cmd
      ->add_option("--mode", s.mode,
                   "events (outbox + consumer groups), convoy (a synchronous "
                   "HTTP chain) or both, one after the other")
      ->capture_default_str();
  run_cmd->add_option("--rate", s.rate, "Orders per second (open loop)")->capture_default_str();
  run_cmd->add_option("--duration", s.duration_s, "Seconds of load")->capture_default_str();
  run_cmd
      ->add_option("--data-dir", s.data_dir,
                   "Scratch directory (emptied at start if wharf-checkout made it)")
      ->capture_default_str();
  run_cmd->add_option("--bootstrap", s.bootstrap,
                      "HOST:PORT of a broker (wharf serve, Kafka); default: the embedded log");
  run_cmd->add_option("--sync-policy", s.sync_policy, "Embedded log: always | interval:MS | none")
      ->capture_default_str();
  run_cmd->add_option("--slow", s.slow,
                      "GROUP=DURATION: that dependency's latency (e.g. email=20ms); repeatable");
  run_cmd->add_option("--latency", s.latency, "GROUP=DURATION for any group; repeatable");
  run_cmd->add_option("--fail-rate", s.fail_rate, "Share of first attempts failing transiently")
      ->capture_default_str();
  run_cmd->add_option("--poison-rate", s.poison_rate, "Share of orders no consumer can handle")
      ->capture_default_str();
  run_cmd->add_option("--connections", s.connections, "Load generator connections at most")
      ->capture_default_str();
  run_cmd
      ->add_option("--catch-up", s.catch_up_s,
                   "Seconds the consumers may take to catch up after the load")
      ->capture_default_str();
  run_cmd->add_option("--report-dir", s.report_dir,
                      "Where report.json and report.html go "
                      "(default: DATA_DIR/report)");
  run_cmd
      ->add_option("--log-level", s.log_level,
                   "The library's and the embedded broker's log level (debug, info, warn, "
                   "error); dead letters and retries are counted in the status line either way")
      ->capture_default_str();

  // The same system as separate processes around a broker (run-processes.sh starts them).
  ServiceSettings service;
  auto* service_cmd = app.add_subcommand(
      "service", "Serve POST /orders with the outbox and its relay (until SIGTERM)");
  service_cmd->add_option("--bootstrap", service.bootstrap, "HOST:PORT of the broker")->required();
  service_cmd->add_option("--listen", service.listen, "HOST:PORT to serve on")
      ->capture_default_str();
  service_cmd->add_option("--data-dir", service.data_dir, "Where checkout.db lives")->required();
  ConsumerSettings consumer;
  auto* consumer_cmd =
      app.add_subcommand("consumer", "Run one consumer group (until SIGTERM), saving its counters");
  consumer_cmd->add_option("--bootstrap", consumer.bootstrap, "HOST:PORT of the broker")
      ->required();
  consumer_cmd
      ->add_option("--group", consumer.group,
                   "inventory, fraud, email, search, analytics or loyalty")
      ->required();
  consumer_cmd
      ->add_option("--data-dir", consumer.data_dir, "Where <group>.db and <group>.stats.json live")
      ->required();
  consumer_cmd->add_option("--latency", consumer.latency,
                           "The group's dependency latency (e.g. 50ms)");
  consumer_cmd->add_option("--fail-rate", consumer.fail_rate, "Share of first attempts failing")
      ->capture_default_str();
  LoadSettings load;
  auto* load_cmd = app.add_subcommand(
      "load", "Drive a checkout service and watch the groups' committed lag; saves load.json");
  load_cmd->add_option("--target", load.target, "HOST:PORT of the checkout service")->required();
  load_cmd->add_option("--bootstrap", load.bootstrap, "HOST:PORT of the broker")->required();
  load_cmd->add_option("--groups", load.groups, "Consumer groups to watch")
      ->delimiter(',')
      ->default_str("inventory,fraud,email,search,analytics,loyalty");
  load_cmd->add_option("--rate", load.rate, "Orders per second")->capture_default_str();
  load_cmd->add_option("--duration", load.duration_s, "Seconds of load")->capture_default_str();
  load_cmd->add_option("--poison-rate", load.poison_rate, "Share of poison orders")
      ->capture_default_str();
  load_cmd->add_option("--connections", load.connections, "Connections at most")
      ->capture_default_str();
  load_cmd
      ->add_option("--catch-up", load.catch_up_s, "Seconds to wait for the groups after the load")
      ->capture_default_str();
  load_cmd->add_option("--out", load.out, "Where load.json goes")->required();
  ReportSettings report;
  auto* report_cmd = app.add_subcommand(
      "report", "Merge load.json and the groups' saved counters into the report");
  report_cmd->add_option("--load", report.load, "load.json")->required();
  report_cmd->add_option("--data-dir", report.data_dir, "Where the groups' stats are")->required();
  report_cmd
      ->add_option("--service-dir", report.service_dir,
                   "The service's --data-dir (what it committed)")
      ->required();
  report_cmd->add_option("--report-dir", report.report_dir, "Where report.json and report.html go")
      ->required();
  std::string history_db;
  bool history_follow = false;
  int history_top = 10;
  auto* history_cmd = app.add_subcommand(
      "history",
      "The order-history view (a projection of the loyalty ledger): bring it up to date, print "
      "the top customers; --follow keeps it live and performs requested rebuilds");
  history_cmd
      ->add_option("--db", history_db,
                   "The loyalty group's store: <data-dir>/events/loyalty.db after `run`, "
                   "<data-dir>/loyalty.db after the separate processes")
      ->required()
      ->check(CLI::ExistingFile);
  history_cmd->add_flag("--follow", history_follow,
                        "Keep following the ledger until SIGTERM (and do what "
                        "`wharf projection rebuild order_history` asks)");
  history_cmd->add_option("--top", history_top, "Customers to print")->capture_default_str();
  run_cmd->add_flag("--fulfilment", s.fulfilment,
                    "Events mode: also run the fulfilment saga for every order (reserve stock, "
                    "charge payment, arrange shipping; compensated on failure) and check it");
  auto add_rates = [](CLI::App* cmd, ParticipantRates& r) {
    cmd->add_option("--out-of-stock-rate", r.out_of_stock, "Share of orders out of stock")
        ->capture_default_str();
    cmd->add_option("--declined-rate", r.declined, "Share of payments declined")
        ->capture_default_str();
    cmd->add_option("--lost-shipment-rate", r.shipment_lost,
                    "Share of shipments never answered (the step's deadline fires)")
        ->capture_default_str();
  };
  add_rates(run_cmd, s.rates);
  run_cmd->add_option("--step-deadline", s.step_deadline, "Each fulfilment step's deadline")
      ->capture_default_str();

  std::string saga_bootstrap, saga_dir, saga_deadline = "5s";
  auto* fulfilment_cmd = app.add_subcommand(
      "fulfilment",
      "Run the fulfilment saga orchestrator (group 'fulfilment' on orders) until SIGTERM");
  fulfilment_cmd->add_option("--bootstrap", saga_bootstrap, "HOST:PORT of the broker")->required();
  fulfilment_cmd->add_option("--data-dir", saga_dir, "Where fulfilment.db lives")->required();
  fulfilment_cmd->add_option("--step-deadline", saga_deadline, "Each step's deadline")
      ->capture_default_str();
  ParticipantRates participant_rates;
  auto* participants_cmd = app.add_subcommand(
      "participants", "Run the stock, payment and shipping services of the saga until SIGTERM");
  participants_cmd->add_option("--bootstrap", saga_bootstrap, "HOST:PORT of the broker")
      ->required();
  participants_cmd->add_option("--data-dir", saga_dir, "Where participants.db lives")->required();
  add_rates(participants_cmd, participant_rates);
  std::string check_checkout_db;
  int check_wait_s = 60;
  auto* check_cmd = app.add_subcommand(
      "fulfilment-check",
      "Wait until every committed order's saga finished, then check each one's effects "
      "(exit 0: all exact, 3: not)");
  check_cmd->add_option("--checkout-db", check_checkout_db, "The service's checkout.db")
      ->required()
      ->check(CLI::ExistingFile);
  check_cmd->add_option("--data-dir", saga_dir, "Where fulfilment.db and participants.db are")
      ->required()
      ->check(CLI::ExistingDirectory);
  check_cmd->add_option("--wait", check_wait_s, "Seconds to wait for unfinished sagas")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Read by the library's logger when it first logs (WHARF_LOG_LEVEL in the environment wins).
  ::setenv("WHARF_LOG_LEVEL", s.log_level.c_str(), /*overwrite=*/0);
  if (*service_cmd) return run_service(service);
  if (*consumer_cmd) return run_consumer(consumer);
  if (*load_cmd) {
    if (load.groups.empty())
      load.groups = {"inventory", "fraud", "email", "search", "analytics", "loyalty"};
    return run_load_process(load);
  }
  if (*report_cmd) return run_report(report);
  if (*history_cmd) return run_history(history_db, history_follow, history_top);
  if (*fulfilment_cmd) {
    auto d = parse_duration(saga_deadline);
    if (!d) {
      std::fprintf(stderr, "--step-deadline: %s\n", d.error().to_string().c_str());
      return 2;
    }
    return run_fulfilment_process(saga_bootstrap, saga_dir,
                                  std::chrono::duration_cast<std::chrono::milliseconds>(*d));
  }
  if (*participants_cmd)
    return run_participants_process(saga_bootstrap, saga_dir, participant_rates);
  if (*check_cmd)
    return run_fulfilment_check(check_checkout_db, saga_dir, std::chrono::seconds(check_wait_s));
  return run(s);
}
