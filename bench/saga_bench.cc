// Completed 3-step sagas per second, on SQLite and PostgreSQL, against a raw SQL floor measured
// in the same run (docs/benchmarks.md, "Sagas").
//
//   wharf_saga_bench [--sagas N] [--window N] [--batch N] [--raw-sagas N] [--dir DIR]
//                    [--only sqlite|postgresql]
//
// --dir puts the SQLite file elsewhere (/dev/shm: fdatasync costs nothing there, which shows
// what the CPU alone allows).
//
// For each store (a SQLite file with the library's settings, WAL + synchronous=FULL; and a
// PostgreSQL server this program starts with initdb, as the tests do):
// - raw: the floor. Per saga, the four write transactions a 3-step orchestration needs at the
//   least (start, then one per reply), each writing what a minimal state machine writes: an
//   INSERT (start) or UPDATE of a state row plus one INSERT of a log row. One thread,
//   --raw-sagas of them (0: skipped).
// - saga: the real thing, in one process. The main thread starts sagas (SagaCoordinator::start,
//   up to --batch per transaction, as a consumer starting them in its inbox transaction would)
//   keeping at most --window unfinished; the outbox relay runs in its own thread (OutboxRelay,
//   background; on PostgreSQL woken by LISTEN/NOTIFY) and publishes the commands to the memory
//   transport; a participant thread answers each command with a success reply; a coordinator
//   thread polls the replies and applies each poll's with SagaCoordinator::handle_batch (what
//   attach() registers on a Router), or with --batch 1 each with handle(); run_timers runs in
//   another thread. Every step has a 30 s deadline, so every transition also arms and clears a
//   timer row. Latency is from the start to the apply of the last step's reply. At the end
//   every instance must be completed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/stores.h"
#include "wharf/outbox.h"
#include "wharf/saga.h"
#include "wharf/saga_ops.h"
#include "wharf/sql/open.h"
#include "wharf/transport.h"

namespace {

using namespace wharf;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

struct Args {
  std::int64_t sagas = 20'000;
  std::int64_t window = 1024;
  // Up to this many sagas started per transaction, and replies applied with handle_batch (as
  // attach() does); 1: one transaction per start and per reply (handle()).
  std::int64_t batch = 128;
  std::int64_t raw_sagas = 2'000;  // 0: no floor (for counting the library's syscalls alone)
  std::string only;
  std::string dir;  // where the SQLite file goes; empty: the temporary directory
};

double since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

SagaAction action(const std::string& topic, const std::string& type) {
  return SagaAction{.topic = topic,
                    .command = [type](const json& data) -> Result<Message> {
                      Message m;
                      m.type = type;
                      m.payload = data.dump();
                      return m;
                    },
                    .reply_topic = "bench.replies",
                    .success = {type + ".ok"},
                    .failure = {type + ".failed"},
                    .deadline = 30s};
}

SagaDefinition order_saga() {
  return {.name = "order",
          .version = 1,
          .steps = {{.name = "reserve",
                     .action = action("inventory.commands", "Reserve"),
                     .compensation = action("inventory.commands", "Release"),
                     .on_success = {}},
                    {.name = "charge",
                     .action = action("payments.commands", "Charge"),
                     .compensation = action("payments.commands", "Refund"),
                     .on_success = {}},
                    {.name = "ship",
                     .action = action("shipping.commands", "Ship"),
                     .compensation = std::nullopt,
                     .on_success = {}}}};
}

Result<double> raw_floor(sql::Database& db, std::int64_t sagas) {
  WHARF_RETURN_IF_ERROR(db.transaction([&](sql::Transaction& tx) -> Status {
    return tx.exec_script(
        std::string("CREATE TABLE raw_state (id TEXT PRIMARY KEY, step BIGINT NOT NULL, data TEXT "
                    "NOT NULL, updated_at_ms BIGINT NOT NULL);"
                    "CREATE TABLE raw_log (id TEXT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT "
                    "NULL, PRIMARY KEY (id, seq))"));
  }));
  const auto t = Steady::now();
  for (std::int64_t s = 0; s < sagas; ++s) {
    const std::string id = new_message_id();
    WHARF_RETURN_IF_ERROR(db.transaction([&](sql::Transaction& tx) -> Status {
      WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO raw_state VALUES (?, 0, ?, 0)", id,
                                    "{\"order_id\":\"" + id + "\"}"));
      return tx.exec("INSERT INTO raw_log VALUES (?, 0, 'started')", id).map([](auto) {});
    }));
    for (std::int64_t step = 1; step <= 3; ++step) {
      WHARF_RETURN_IF_ERROR(db.transaction([&](sql::Transaction& tx) -> Status {
        WHARF_RETURN_IF_ERROR(
            tx.exec("UPDATE raw_state SET step = ?, updated_at_ms = ? WHERE id = ?", step,
                    std::int64_t{1}, id));
        return tx.exec("INSERT INTO raw_log VALUES (?, ?, 'step')", id, step).map([](auto) {});
      }));
    }
  }
  return static_cast<double>(sagas) / since(t);
}

Status run(const std::string& name, const std::string& url, const Args& a) {
  WHARF_ASSIGN_OR_RETURN(auto db, sql::open(url));
  double raw = 0;
  if (a.raw_sagas > 0) {
    WHARF_ASSIGN_OR_RETURN(raw, raw_floor(*db, a.raw_sagas));
  }

  WHARF_ASSIGN_OR_RETURN(auto sagas, SagaCoordinator::open(*db));
  WHARF_RETURN_IF_ERROR(sagas->add(order_saga()));
  WHARF_ASSIGN_OR_RETURN(Bus bus, Bus::open(MemoryOptions{.default_partitions = 1}));
  WHARF_ASSIGN_OR_RETURN(
      auto commands,
      bus->subscribe({.group = "participants",
                      .topics = {"inventory.commands", "payments.commands", "shipping.commands"}}));
  WHARF_ASSIGN_OR_RETURN(auto replies,
                         bus->subscribe({.group = "sagas", .topics = {"bench.replies"}}));

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Steady::time_point> started_at;
  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<std::size_t>(a.sagas));
  std::int64_t completed = 0;
  std::atomic<bool> failed{false};
  std::string failure;
  auto fail_with = [&](const Error& e) {
    std::lock_guard lock(mu);
    if (!failed.exchange(true)) failure = e.to_string();
    cv.notify_all();
  };

  std::stop_source stop;
  std::jthread participant([&](std::stop_token st) {
    while (!st.stop_requested()) {
      auto cs = commands->poll(1000, 20ms);
      if (!cs) return fail_with(cs.error());
      for (const auto& c : *cs) {
        Message reply;
        reply.type = c.type + ".ok";
        reply.correlation_id = c.correlation_id;
        reply.causation_id = c.id;
        if (auto s = bus.publish("bench.replies", std::move(reply)); !s)
          return fail_with(s.error());
      }
    }
  });
  std::jthread coordinator([&](std::stop_token st) {
    while (!st.stop_requested()) {
      auto rs = replies->poll(1000, 20ms);
      if (!rs) return fail_with(rs.error());
      if (a.batch > 1 && !rs->empty()) {
        std::vector<const Message*> batch;
        for (const auto& r : *rs) batch.push_back(&r);
        for (const auto& s : sagas->handle_batch(batch)) {
          if (!s) return fail_with(s.error());
        }
      }
      for (const auto& r : *rs) {
        if (a.batch <= 1) {
          if (auto s = sagas->handle(r); !s) return fail_with(s.error());
        }
        if (r.type != "Ship.ok") continue;
        std::lock_guard lock(mu);
        auto it = started_at.find(r.correlation_id);
        if (it == started_at.end()) continue;
        latency_ms.push_back(
            std::chrono::duration<double, std::milli>(Steady::now() - it->second).count());
        started_at.erase(it);
        ++completed;
        cv.notify_all();
      }
    }
  });
  std::jthread timers([&](std::stop_token st) { (void)sagas->run_timers(st); });
  // On PostgreSQL the relay wakes on LISTEN/NOTIFY (delivered at commit), as a service there
  // would run it; on SQLite on the in-process signal.
  OutboxRelayOptions ro{.name = "bench", .batch_max = 1000};
  if (db->dialect() == sql::Dialect::kPostgres) ro.wakeup = postgres_outbox_listener(url);
  OutboxRelay relay(*db, bus, ro);

  const auto t = Steady::now();
  for (std::int64_t i = 0; i < a.sagas && !failed;) {
    std::int64_t n = 0;  // sagas this transaction starts: what the window and the batch allow
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return failed || i - completed < a.window; });
      n = std::min({a.window - (i - completed), a.batch, a.sagas - i});
    }
    std::vector<std::string> ids;
    for (std::int64_t k = 0; k < n; ++k) ids.push_back(new_message_id());
    const auto s = Steady::now();
    {
      std::lock_guard lock(mu);
      for (const auto& id : ids) started_at[id] = s;
    }
    Status started = db->transaction([&](sql::Transaction& tx) -> Status {
      for (const auto& id : ids) {
        WHARF_RETURN_IF_ERROR(sagas->start(tx, "order", json{{"order_id", id}}, id));
      }
      return ok();
    });
    if (!started) fail_with(started.error());
    i += n;
  }
  {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, 120s, [&] { return failed || completed == a.sagas; })) {
      failed = true;
      failure = fmt::format("{} of {} sagas completed after 120 s", completed, a.sagas);
    }
  }
  const double elapsed = since(t);
  participant.request_stop();
  coordinator.request_stop();
  timers.request_stop();
  participant.join();
  coordinator.join();
  timers.join();
  if (failed) return fail(ErrorCode::kInternal, "{}", failure);

  WHARF_ASSIGN_OR_RETURN(auto counts, count_sagas(*db));
  if (counts.size() != 1 || counts[0].state != "completed" || counts[0].count != a.sagas)
    return fail(ErrorCode::kInternal, "not every saga completed");
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double p) {
    return latency_ms[static_cast<std::size_t>(p * static_cast<double>(latency_ms.size() - 1))];
  };
  const double rate = static_cast<double>(a.sagas) / elapsed;
  std::printf(
      "%-10s raw %7.0f sagas/s (4 commits each) | saga %7.0f sagas/s (%.2fx raw) | start->done "
      "p50 %.1f ms p99 %.1f ms | %lld sagas, window %lld, batch %lld, %.1f s\n",
      name.c_str(), raw, rate, raw > 0 ? rate / raw : 0.0, pct(0.5), pct(0.99),
      static_cast<long long>(a.sagas), static_cast<long long>(a.window),
      static_cast<long long>(a.batch), elapsed);
  std::fflush(stdout);
  return ok();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 < argc && k == "--sagas")
      a.sagas = std::max<std::int64_t>(1, std::stoll(argv[++i]));
    else if (i + 1 < argc && k == "--window")
      a.window = std::max<std::int64_t>(1, std::stoll(argv[++i]));
    else if (i + 1 < argc && k == "--batch")
      a.batch = std::max<std::int64_t>(1, std::stoll(argv[++i]));
    else if (i + 1 < argc && k == "--raw-sagas")
      a.raw_sagas = std::max<std::int64_t>(0, std::stoll(argv[++i]));
    else if (i + 1 < argc && k == "--dir")
      a.dir = argv[++i];
    else if (i + 1 < argc && k == "--only")
      a.only = argv[++i];
    else {
      std::fprintf(
          stderr,
          "usage: %s [--sagas N] [--window N] [--batch N] [--raw-sagas N] [--dir DIR] [--only "
          "sqlite|postgresql]\n",
          argv[0]);
      return 2;
    }
  }
  const int rc = wharf::bench::for_each_store(
      a.only, a.dir, "wharf-saga-bench", "sagas.db",
      [&](const std::string& name, const std::string& url) { return run(name, url, a); });
  return rc;
}
