// The event store against raw inserts of the same rows, on SQLite and PostgreSQL, in one run
// (issue 15's targets; docs/benchmarks.md, "Event store").
//
//   wharf_eventstore_bench [--events N] [--batch N] [--loads N] [--only sqlite|postgresql]
//
// For each store (a SQLite file with the library's settings, WAL + synchronous=FULL; and a
// PostgreSQL server this program starts with initdb, as the tests do):
// - raw: transactions of --batch rows into a table shaped like wharf_events (same columns,
//   same unique indexes), the floor an event store can be measured against;
// - append: EventStore::append of --batch events to one stream per call (kAnyVersion);
// - load: load_aggregate of a 1,000-event stream from a snapshot plus 10 later events, --loads
//   times: p50/p99;
// - projection: Projection::run_once over every event, inserting one read-model row per event;
//   then Projection::rebuild of the same into a new generation beside it, to the swap.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/stores.h"
#include "wharf/event_store.h"
#include "wharf/sql/open.h"

namespace {

using namespace wharf;
using Clock = std::chrono::steady_clock;

struct Args {
  std::int64_t events = 200'000;
  std::int64_t batch = 500;
  std::int64_t loads = 1'000;
  std::string only;
};

struct Counter {
  std::int64_t n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Counter, n);

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

Message event(std::int64_t i) {
  Message m;
  m.type = "bench.Happened";
  m.payload = "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(80, 'x') + "\"}";
  return m;
}

Status run(const std::string& name, const std::string& url, const Args& a) {
  WHARF_ASSIGN_OR_RETURN(auto db, sql::open(url));
  WHARF_ASSIGN_OR_RETURN(auto store, EventStore::open(*db));
  const bool pg = db->dialect() == sql::Dialect::kPostgres;
  WHARF_RETURN_IF_ERROR(db->transaction([&](sql::Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(
        tx.exec(std::string("CREATE TABLE raw_events (position ") + (pg ? "BIGSERIAL" : "INTEGER") +
                " PRIMARY KEY, stream TEXT NOT NULL, version BIGINT NOT NULL, event_id TEXT NOT "
                "NULL UNIQUE, type TEXT NOT NULL, schema_version INTEGER NOT NULL, metadata TEXT "
                "NOT NULL, payload " +
                (pg ? "BYTEA" : "BLOB") +
                " NOT NULL, recorded_at_ms BIGINT NOT NULL, UNIQUE (stream, version))")
            .map([](auto) {}));
    return ok();
  }));
  const std::int64_t calls = a.events / a.batch;

  auto t = Clock::now();
  for (std::int64_t c = 0; c < calls; ++c) {
    WHARF_RETURN_IF_ERROR(db->transaction([&](sql::Transaction& tx) -> Status {
      for (std::int64_t i = 0; i < a.batch; ++i) {
        Message m = event(i);
        const sql::Blob payload(m.payload.begin(), m.payload.end());
        WHARF_RETURN_IF_ERROR(
            tx.exec("INSERT INTO raw_events(stream, version, event_id, type, schema_version, "
                    "metadata, payload, recorded_at_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                    "raw-" + std::to_string(c), i + 1, new_message_id(), m.type, 1, "{}", payload,
                    std::int64_t{0})
                .map([](auto) {}));
      }
      return ok();
    }));
  }
  const double raw = static_cast<double>(calls * a.batch) / since(t);

  t = Clock::now();
  for (std::int64_t c = 0; c < calls; ++c) {
    std::vector<Message> batch;
    batch.reserve(static_cast<std::size_t>(a.batch));
    for (std::int64_t i = 0; i < a.batch; ++i) batch.push_back(event(i));
    WHARF_RETURN_IF_ERROR(
        store->append("bench-" + std::to_string(c), kAnyVersion, std::move(batch)).map([](auto) {
        }));
  }
  const double append = static_cast<double>(calls * a.batch) / since(t);

  // Aggregate loads: 1,000 events, a snapshot, 10 more.
  for (int i = 0; i < 1000; i += 100) {
    std::vector<Message> b;
    for (int j = 0; j < 100; ++j) b.push_back(event(i + j));
    WHARF_RETURN_IF_ERROR(store->append("agg-1", kAnyVersion, std::move(b)).map([](auto) {}));
  }
  auto apply = [](Counter& c, const StoredEvent&) -> Status {
    ++c.n;
    return ok();
  };
  WHARF_RETURN_IF_ERROR(
      load_aggregate<Counter>(*store, "agg-1", apply, {.snapshot_every = 1}).map([](auto) {}));
  std::vector<Message> later;
  for (int j = 0; j < 10; ++j) later.push_back(event(j));
  WHARF_RETURN_IF_ERROR(store->append("agg-1", kAnyVersion, std::move(later)).map([](auto) {}));
  std::vector<double> load_us;
  for (std::int64_t i = 0; i < a.loads; ++i) {
    const auto s = Clock::now();
    WHARF_ASSIGN_OR_RETURN(auto loaded, load_aggregate<Counter>(*store, "agg-1", apply));
    load_us.push_back(since(s) * 1e6);
    if (loaded.state.n != 1010 || !loaded.from_snapshot)
      return fail(ErrorCode::kInternal, "aggregate loaded {} events", loaded.state.n);
  }
  std::sort(load_us.begin(), load_us.end());
  auto pct = [&](double p) { return load_us[static_cast<std::size_t>(p * (load_us.size() - 1))]; };

  // The read model: one row per event, in a table the projection owns (a view on its live
  // generation), first built by catching up from position 0, then rebuilt beside itself.
  ProjectionOptions po{.name = "bench", .catch_up = {.batch_max = 1000}};
  po.tables = {{"read_model"}, [](ProjectionContext& ctx) -> Status {
                 return ctx.tx
                     .exec("CREATE TABLE " + ctx.table("read_model") +
                           " (position BIGINT PRIMARY KEY, stream TEXT NOT NULL)")
                     .map([](auto) {});
               }};
  Projection projection(
      *store, *db, po, [](ProjectionContext& ctx, const StoredEvent& e) -> Status {
        return ctx.tx
            .exec("INSERT INTO " + ctx.table("read_model") + "(position, stream) VALUES(?, ?)",
                  e.position, e.stream)
            .map([](auto) {});
      });
  t = Clock::now();
  WHARF_ASSIGN_OR_RETURN(std::int64_t head, projection.run_once());
  const double catch_up_s = since(t);
  WHARF_ASSIGN_OR_RETURN(std::int64_t head_position, store->head_position());
  if (head != head_position) return fail(ErrorCode::kInternal, "projection stopped at {}", head);
  t = Clock::now();
  WHARF_ASSIGN_OR_RETURN(auto rebuilt, projection.rebuild(std::stop_token{}, {.batch_max = 1000}));
  const double rebuild_s = since(t);
  if (rebuilt.position != head_position || rebuilt.generation != 2)
    return fail(ErrorCode::kInternal, "rebuild ended at {} (generation {})", rebuilt.position,
                rebuilt.generation);

  std::printf(
      "%-10s raw %9.0f rows/s | append %9.0f events/s (%.2fx raw) | load p50 %.0f us p99 %.0f "
      "us | projection %9.0f events/s | rebuild %9.0f events/s\n",
      name.c_str(), raw, append, append / raw, pct(0.5), pct(0.99),
      static_cast<double>(head) / catch_up_s, static_cast<double>(rebuilt.events) / rebuild_s);
  return ok();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 < argc && k == "--events")
      a.events = std::stoll(argv[++i]);
    else if (i + 1 < argc && k == "--batch")
      a.batch = std::max<std::int64_t>(1, std::stoll(argv[++i]));
    else if (i + 1 < argc && k == "--loads")
      a.loads = std::max<std::int64_t>(1, std::stoll(argv[++i]));
    else if (i + 1 < argc && k == "--only")
      a.only = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--events N] [--batch N] [--loads N] [--only sqlite|postgresql]\n",
                   argv[0]);
      return 2;
    }
  }
  std::printf("event store: %lld events in appends of %lld, %lld aggregate loads\n",
              static_cast<long long>(a.events), static_cast<long long>(a.batch),
              static_cast<long long>(a.loads));
  const int rc = wharf::bench::for_each_store(
      a.only, "", "wharf-es-bench", "es.db",
      [&](const std::string& name, const std::string& url) { return run(name, url, a); });
  return rc;
}
