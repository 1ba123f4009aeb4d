// The inbox's cost against raw inserts of the same rows, on SQLite and PostgreSQL, in one run.
//
//   wharf_inbox_bench [--events N] [--batch N] [--single N] [--only sqlite|postgresql] [--json]
//
// For each store (a SQLite file in a temporary directory with the library's settings: WAL,
// synchronous=FULL; and a PostgreSQL server this program starts with initdb, as the tests do):
// - raw: transactions of --batch rows, one INSERT of (message id, payload) per row;
// - inbox batch: Inbox::batch() over --batch messages at a time, the handler inserting the
//   same row (so per message: a savepoint, the inbox record, the row);
// - inbox single: Inbox::middleware(), one transaction per message, for --single messages.
// Prints events/s for each, the batch/raw ratio and the inbox's cost per event.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/postgres_server.h"
#include "wharf/inbox.h"
#include "wharf/sql/open.h"

namespace {

using namespace wharf;
using Clock = std::chrono::steady_clock;

struct Args {
  std::int64_t events = 200'000;
  std::int64_t batch = 500;
  std::int64_t single = 5'000;
  std::string only;  // "sqlite" or "postgresql": one store (for profiling)
  bool json = false;
};

Status setup(sql::Database& db) {
  return db.transaction([](sql::Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(
        tx.exec("CREATE TABLE raw_effects (message_id TEXT PRIMARY KEY, payload TEXT NOT NULL)"));
    WHARF_RETURN_IF_ERROR(
        tx.exec("CREATE TABLE effects (message_id TEXT PRIMARY KEY, payload TEXT NOT NULL)"));
    return ok();
  });
}

std::vector<Message> messages(std::int64_t n) {
  std::vector<Message> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    Message m;
    m.id = new_message_id();
    m.type = "bench.Event";
    m.topic = "bench";
    m.payload = std::string(100, 'x');
    out.push_back(std::move(m));
  }
  return out;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Result3 {
  double raw = 0, batch = 0, single = 0;
};

Result<Result3> run(const std::string& url, const Args& a) {
  WHARF_ASSIGN_OR_RETURN(auto db, sql::open(url));
  WHARF_RETURN_IF_ERROR(setup(*db));
  WHARF_ASSIGN_OR_RETURN(auto inbox, Inbox::open(*db));
  Result3 r;
  const auto ms = messages(a.events);
  // raw
  auto t = Clock::now();
  for (std::int64_t i = 0; i < a.events; i += a.batch) {
    WHARF_RETURN_IF_ERROR(db->transaction([&](sql::Transaction& tx) -> Status {
      for (std::int64_t j = i; j < std::min(a.events, i + a.batch); ++j) {
        const auto& m = ms[static_cast<std::size_t>(j)];
        WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO raw_effects (message_id, payload) VALUES (?, ?)",
                                      m.id, m.payload));
      }
      return ok();
    }));
  }
  r.raw = static_cast<double>(a.events) / seconds_since(t);
  // inbox batch
  auto bus = Bus::open(MemoryOptions{});
  if (!bus) return fail(bus.error());
  BatchHandler batch = inbox->batch([](const Message& m, Context& ctx) -> Status {
    WHARF_RETURN_IF_ERROR(inbox_transaction(ctx).exec(
        "INSERT INTO effects (message_id, payload) VALUES (?, ?)", m.id, m.payload));
    return ok();
  });
  t = Clock::now();
  for (std::int64_t i = 0; i < a.events; i += a.batch) {
    std::vector<const Message*> chunk;
    for (std::int64_t j = i; j < std::min(a.events, i + a.batch); ++j)
      chunk.push_back(&ms[static_cast<std::size_t>(j)]);
    Context ctx(*chunk.front(), *bus, "bench", {});
    for (const Status& s : batch(chunk, ctx)) WHARF_RETURN_IF_ERROR(s);
  }
  r.batch = static_cast<double>(a.events) / seconds_since(t);
  // inbox single
  const auto ones = messages(a.single);
  Handler single = inbox->middleware()([](const Message& m, Context& ctx) -> Status {
    WHARF_RETURN_IF_ERROR(inbox_transaction(ctx).exec(
        "INSERT INTO effects (message_id, payload) VALUES (?, ?)", m.id, m.payload));
    return ok();
  });
  t = Clock::now();
  for (const auto& m : ones) {
    Context ctx(m, *bus, "bench", {});
    WHARF_RETURN_IF_ERROR(single(m, ctx));
  }
  r.single = static_cast<double>(a.single) / seconds_since(t);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--json") {
      a.json = true;
    } else if (i + 1 < argc && k == "--events") {
      a.events = std::stoll(argv[++i]);
    } else if (i + 1 < argc && k == "--batch") {
      a.batch = std::stoll(argv[++i]);
    } else if (i + 1 < argc && k == "--single") {
      a.single = std::stoll(argv[++i]);
    } else if (i + 1 < argc && k == "--only") {
      a.only = argv[++i];
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--events N] [--batch N] [--single N] [--only sqlite|postgresql] [--json]\n",
          argv[0]);
      return 2;
    }
  }
  if (a.events <= 0 || a.batch <= 0 || a.single <= 0) return 2;
  std::string dir = (std::filesystem::temp_directory_path() / "wharf-inbox-bench-XXXXXX").string();
  if (!::mkdtemp(dir.data())) return 1;
  auto pg = test::PostgresServer::start();
  if (!pg) {
    std::fprintf(stderr, "PostgreSQL: %s\n", pg.error().to_string().c_str());
    return 1;
  }
  // The test server runs with fsync=off (it holds test data); the bench wants the real cost.
  auto pg_url = (*pg)->create_database();
  if (!pg_url) return 1;
  struct Store {
    const char* name;
    std::string url;
  };
  int rc = 0;
  for (const Store& s :
       {Store{"sqlite", "sqlite:" + dir + "/bench.db"}, Store{"postgresql", *pg_url}}) {
    if (!a.only.empty() && a.only != s.name) continue;
    std::fprintf(stderr, "%s: %lld events in batches of %lld, %lld one by one...\n", s.name,
                 static_cast<long long>(a.events), static_cast<long long>(a.batch),
                 static_cast<long long>(a.single));
    auto r = run(s.url, a);
    if (!r) {
      std::fprintf(stderr, "%s: %s\n", s.name, r.error().to_string().c_str());
      rc = 1;
      continue;
    }
    const double overhead_us = (1e6 / r->batch) - (1e6 / r->raw);
    if (a.json) {
      std::printf(
          "{\"store\":\"%s\",\"events\":%lld,\"batch\":%lld,\"raw_per_s\":%.0f,\"inbox_batch_per_"
          "s\":%.0f,"
          "\"ratio\":%.3f,\"overhead_us_per_event\":%.2f,\"inbox_single_per_s\":%.0f}\n",
          s.name, static_cast<long long>(a.events), static_cast<long long>(a.batch), r->raw,
          r->batch, r->batch / r->raw, overhead_us, r->single);
    } else {
      std::printf(
          "%-10s raw %.0f/s, inbox batch %.0f/s (%.2f x raw, +%.2f us/event), inbox one "
          "transaction per message %.0f/s\n",
          s.name, r->raw, r->batch, r->batch / r->raw, overhead_us, r->single);
    }
  }
  std::filesystem::remove_all(dir);
  return rc;
}
