// The event store and projections on SQLite and on a real PostgreSQL server (started once for
// the binary): stream versions and optimistic concurrency, positions in commit order, aggregates
// from snapshots equal to a full replay, upcasting on read, publishing through the outbox, and
// projections whose checkpoint commits with the read model.
#include "wharf/event_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "base/admin_routes.h"
#include "base/metrics.h"
#include "tests/support/postgres_environment.h"
#include "wharf/outbox.h"
#include "wharf/sql/open.h"
#include "wharf/transport.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

auto* const g_postgres = test::register_postgres_environment();

struct PointsEarned {
  std::string customer;
  std::int64_t points = 0;
};
WHARF_EVENT(PointsEarned, "loyalty.PointsEarned", 2, customer, points);
// Version 1 counted points in tens.
WHARF_UPCAST("loyalty.PointsEarned", 1, [](json& e) {
  e["points"] = e["tens"].get<std::int64_t>() * 10;
  e.erase("tens");
});

struct Ledger {
  std::int64_t balance = 0;
  std::int64_t entries = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Ledger, balance, entries);

Status apply(Ledger& l, const StoredEvent& e) {
  WHARF_ASSIGN_OR_RETURN(auto ev, decode_event<PointsEarned>(e.message));
  l.balance += ev.points;
  ++l.entries;
  return ok();
}

Message earned(std::int64_t points, const std::string& customer = "c1") {
  return make_message(PointsEarned{customer, points});
}

class EventStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto url = test::fresh_database_url(GetParam(), *g_postgres, "events", &dir_);
    ASSERT_TRUE(url) << url.error().to_string();
    url_ = *url;
    auto db = sql::open(url_);
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = std::move(*db);
    auto store = EventStore::open(*db_);
    ASSERT_TRUE(store) << store.error().to_string();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::int64_t count(const std::string& query) {
    std::int64_t n = -1;
    EXPECT_TRUE(db_->transaction([&](sql::Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(auto rows, tx.query(query));
      WHARF_ASSIGN_OR_RETURN(n, rows.scalar<std::int64_t>());
      return ok();
    }));
    return n;
  }

  std::string dir_, url_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<EventStore> store_;
};

TEST_P(EventStoreTest, StreamsHaveVersionsAndReadBothWays) {
  auto r = store_->append("loyalty-c1", kNoStream, {earned(1), earned(2), earned(3)});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->version, 3);
  auto forward = store_->read_stream("loyalty-c1");
  ASSERT_TRUE(forward);
  ASSERT_EQ(forward->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*forward)[i].version, i + 1);
    EXPECT_EQ((*forward)[i].stream, "loyalty-c1");
    EXPECT_EQ(decode_event<PointsEarned>((*forward)[i].message)->points, i + 1);
  }
  EXPECT_LT((*forward)[0].position, (*forward)[2].position);
  auto backward = store_->read_stream("loyalty-c1", 0, 2, ReadDirection::kBackward);
  ASSERT_TRUE(backward);
  ASSERT_EQ(backward->size(), 2u);
  EXPECT_EQ((*backward)[0].version, 3);
  EXPECT_EQ((*backward)[1].version, 2);
  auto from2 = store_->read_stream("loyalty-c1", 2);
  ASSERT_EQ(from2->size(), 2u);
  EXPECT_EQ(from2->front().version, 2);
  EXPECT_EQ(*store_->stream_version("loyalty-c1"), 3);
  EXPECT_EQ(*store_->stream_version("loyalty-none"), 0);
  EXPECT_TRUE(store_->read_stream("loyalty-none")->empty());
}

TEST_P(EventStoreTest, ExpectedVersionIsEnforcedAsARetryableConflict) {
  ASSERT_TRUE(store_->append("s-1", kNoStream, {earned(1)}));
  auto again = store_->append("s-1", kNoStream, {earned(1)});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(is_retryable(again.error().code()));
  auto stale = store_->append("s-1", 5, {earned(1)});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kConflict);
  auto missing = store_->append("s-2", 1, {earned(1)});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kConflict);
  auto right = store_->append("s-1", 1, {earned(1)});
  ASSERT_TRUE(right) << right.error().to_string();
  EXPECT_EQ(right->version, 2);
  auto any = store_->append("s-1", kAnyVersion, {earned(1)});
  ASSERT_TRUE(any);
  EXPECT_EQ(any->version, 3);
  EXPECT_EQ(count("SELECT count(*) FROM wharf_events"), 3) << "a refused append wrote events";
}

// Writers that load, decide and append with the version they loaded: every append either lands
// on the version it expected or is refused; none is lost, none overwrites another.
TEST_P(EventStoreTest, ConcurrentWritersNeverLoseAnAppend) {
  constexpr int kWriters = 4, kEach = 25;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        while (true) {
          auto v = store_->stream_version("hot-1");
          ASSERT_TRUE(v);
          auto r = store_->append("hot-1", *v == 0 ? kNoStream : *v, {earned(1)});
          if (r) break;
          ASSERT_EQ(r.error().code(), ErrorCode::kConflict) << r.error().to_string();
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*store_->stream_version("hot-1"), kWriters * kEach);
  auto events = store_->read_stream("hot-1", 1, 1000);
  ASSERT_EQ(events->size(), static_cast<std::size_t>(kWriters * kEach));
  for (std::size_t i = 0; i < events->size(); ++i)
    EXPECT_EQ((*events)[i].version, static_cast<std::int64_t>(i + 1));
}

TEST_P(EventStoreTest, ReadAllFollowsPositionsAndCategories) {
  ASSERT_TRUE(store_->append("order-1", kAnyVersion, {earned(1)}));
  ASSERT_TRUE(store_->append("loyalty-1", kAnyVersion, {earned(2)}));
  ASSERT_TRUE(store_->append("order-2", kAnyVersion, {earned(3), earned(4)}));
  ASSERT_TRUE(store_->append("orders_x-1", kAnyVersion, {earned(5)}));  // not category "order"
  auto all = store_->read_all(0, 100);
  ASSERT_EQ(all->size(), 5u);
  for (std::size_t i = 1; i < all->size(); ++i)
    EXPECT_LT((*all)[i - 1].position, (*all)[i].position);
  auto orders = store_->read_all(0, 100, "order");
  ASSERT_TRUE(orders) << orders.error().to_string();
  ASSERT_EQ(orders->size(), 3u);
  for (const auto& e : *orders) EXPECT_EQ(e.stream.rfind("order-", 0), 0u) << e.stream;
  auto after = store_->read_all((*all)[1].position, 100);
  EXPECT_EQ(after->size(), 3u);
  EXPECT_EQ(*store_->head_position(), all->back().position);
}

// A reader that follows positions must never skip an event whose transaction committed after a
// later-positioned one: appends are ordered (PostgreSQL: advisory lock; SQLite: one writer).
TEST_P(EventStoreTest, APositionReaderNeverSkipsALateCommit) {
  auto tx = db_->begin();
  ASSERT_TRUE(tx) << tx.error().to_string();
  ASSERT_TRUE(store_->append(**tx, "a-1", kAnyVersion, {earned(1)}));  // not committed yet
  std::atomic<bool> b_done{false};
  std::thread b([&] {
    auto r = store_->append("b-1", kAnyVersion, {earned(2)});
    EXPECT_TRUE(r) << r.error().to_string();
    b_done = true;
  });
  // Give B every chance to commit first if it could (no timing is asserted: only what is read).
  for (int i = 0; i < 50 && !b_done; ++i) std::this_thread::sleep_for(10ms);
  auto first = store_->read_all(0, 100);
  ASSERT_TRUE(first) << first.error().to_string();
  std::set<std::string> seen;
  std::int64_t last = 0;
  for (const auto& e : *first) {
    seen.insert(e.stream);
    last = e.position;
  }
  ASSERT_TRUE((*tx)->commit());
  b.join();
  auto second = store_->read_all(last, 100);
  ASSERT_TRUE(second);
  for (const auto& e : *second) seen.insert(e.stream);
  EXPECT_EQ(seen, (std::set<std::string>{"a-1", "b-1"}))
      << "an event committed late behind a reader's position was skipped";
}

TEST_P(EventStoreTest, AggregateFromSnapshotEqualsFullReplay) {
  for (int i = 1; i <= 250; ++i)
    ASSERT_TRUE(store_->append("loyalty-c9", kAnyVersion, {earned(i)}));
  auto full = load_aggregate<Ledger>(*store_, "loyalty-c9", apply);
  ASSERT_TRUE(full) << full.error().to_string();
  EXPECT_EQ(full->state.balance, 250 * 251 / 2);
  EXPECT_EQ(full->version, 250);
  EXPECT_FALSE(full->from_snapshot);
  // A load that replays 100 or more events saves a snapshot; the next load starts from it.
  auto snapped = load_aggregate<Ledger>(*store_, "loyalty-c9", apply, {.snapshot_every = 100});
  ASSERT_TRUE(snapped);
  for (int i = 251; i <= 260; ++i)
    ASSERT_TRUE(store_->append("loyalty-c9", kAnyVersion, {earned(i)}));
  auto fast = load_aggregate<Ledger>(*store_, "loyalty-c9", apply, {.snapshot_every = 100});
  ASSERT_TRUE(fast);
  EXPECT_TRUE(fast->from_snapshot);
  EXPECT_EQ(fast->replayed, 10);
  auto replay = load_aggregate<Ledger>(*store_, "loyalty-c9", apply,
                                       {.snapshot_schema_version = 2});  // ignores the snapshot
  ASSERT_TRUE(replay);
  EXPECT_FALSE(replay->from_snapshot);
  EXPECT_EQ(replay->replayed, 260);
  EXPECT_EQ(fast->state.balance, replay->state.balance);
  EXPECT_EQ(fast->state.entries, replay->state.entries);
  EXPECT_EQ(fast->version, replay->version);
}

// A read returns at most kEventStoreReadMax events whatever it asks for, and an aggregate load
// asking for larger batches still reads the whole stream.
TEST_P(EventStoreTest, ReadsAreBoundedAndLoadsStillReadEverything) {
  const std::int64_t total = static_cast<std::int64_t>(kEventStoreReadMax) + 50;
  for (std::int64_t done = 0; done < total;) {
    std::vector<Message> batch;
    for (int i = 0; i < 1000 && done < total; ++i, ++done) batch.push_back(earned(1));
    ASSERT_TRUE(store_->append("big-1", kAnyVersion, std::move(batch)));
  }
  auto all = store_->read_all(0, std::numeric_limits<std::size_t>::max());
  ASSERT_TRUE(all) << all.error().to_string();
  EXPECT_EQ(all->size(), kEventStoreReadMax);
  auto loaded = load_aggregate<Ledger>(*store_, "big-1", apply, {.read_batch = 50'000});
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  EXPECT_EQ(loaded->version, total);
  EXPECT_EQ(loaded->state.balance, total);
}

TEST_P(EventStoreTest, OldEventsAreUpcastOnRead) {
  Message v1;
  v1.type = "loyalty.PointsEarned";
  v1.version = 1;
  v1.payload = R"({"customer":"c1","tens":7})";
  ASSERT_TRUE(store_->append("loyalty-old", kNoStream, {v1, earned(5)}));
  auto loaded = load_aggregate<Ledger>(*store_, "loyalty-old", apply);
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  EXPECT_EQ(loaded->state.balance, 75);
  auto events = store_->read_stream("loyalty-old");
  EXPECT_EQ((*events)[0].message.version, 1) << "the stored event keeps its schema version";
}

TEST_P(EventStoreTest, AppendedEventsArePublishedThroughTheOutbox) {
  auto r = store_->append("loyalty-c5", kNoStream, {earned(10, "c5"), earned(20, "c5")},
                          {.publish_topic = "loyalty"});
  ASSERT_TRUE(r);
  auto refused =
      store_->append("loyalty-c5", kNoStream, {earned(30, "c5")}, {.publish_topic = "loyalty"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(count("SELECT count(*) FROM wharf_outbox"), 2) << "a refused append left outbox rows";
  auto bus = Bus::open(MemoryOptions{.default_partitions = 1});
  ASSERT_TRUE(bus);
  {
    OutboxRelay relay(*db_, *bus, {.poll_interval = 10ms});
    for (int i = 0; i < 500 && relay.status().published < 2; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(relay.status().published, 2u);
  }
  auto sub = (*bus)->subscribe({.group = "g", .topics = {"loyalty"}});
  ASSERT_TRUE(sub);
  auto got = (*sub)->poll(10, 1s);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  auto stored = store_->read_stream("loyalty-c5");
  EXPECT_EQ((*got)[0].id, (*stored)[0].message.id) << "published with the event's own id";
  EXPECT_EQ((*got)[0].key, "loyalty-c5");
  EXPECT_EQ(decode_event<PointsEarned>((*got)[1])->points, 20);
}

TEST_P(EventStoreTest, DeletedStreamsReadEmptyAndTruncationHidesOldVersions) {
  ASSERT_TRUE(store_->append("t-1", kNoStream, {earned(1), earned(2), earned(3)}));
  ASSERT_TRUE(store_->truncate_before("t-1", 3));
  auto rest = store_->read_stream("t-1");
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front().version, 3);
  ASSERT_TRUE(store_->delete_stream("t-1"));
  EXPECT_TRUE(store_->read_stream("t-1")->empty());
  EXPECT_EQ(*store_->stream_version("t-1"), 0);
  EXPECT_EQ(store_->delete_stream("t-none").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(count("SELECT count(*) FROM wharf_events WHERE stream = 't-1'"), 3)
      << "a soft delete keeps the history";
}

// An append larger than one INSERT statement's chunk (500 rows) keeps versions contiguous and
// positions increasing, and reports the last position.
TEST_P(EventStoreTest, ALargeAppendSpansStatementsAndStaysContiguous) {
  std::vector<Message> many;
  for (int i = 0; i < 1201; ++i) many.push_back(earned(i));
  auto r = store_->append("big-1", kNoStream, std::move(many));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->version, 1201);
  EXPECT_EQ(r->last_position, *store_->head_position());
  std::int64_t version = 0, position = 0;
  for (std::int64_t from = 1; from <= 1201;) {
    auto got = store_->read_stream("big-1", from, 1000);
    ASSERT_TRUE(got && !got->empty());
    for (const auto& e : *got) {
      EXPECT_EQ(e.version, ++version);
      EXPECT_GT(e.position, position);
      position = e.position;
      EXPECT_EQ(decode_event<PointsEarned>(e.message)->points, version - 1);
    }
    from = version + 1;
  }
  EXPECT_EQ(version, 1201);
  // A duplicate event id anywhere in a later chunk refuses the whole append.
  std::vector<Message> again;
  for (int i = 0; i < 600; ++i) again.push_back(earned(i));
  again[3].id = "same-id";
  again[550].id = "same-id";
  auto dup = store_->append("big-1", 1201, std::move(again));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(*store_->stream_version("big-1"), 1201) << "all or nothing";
}

// The checkpoint commits with the read model: a batch that fails leaves both as they were, and
// the next run applies every event exactly once.
TEST_P(EventStoreTest, ProjectionCheckpointNeverDriftsFromTheReadModel) {
  ASSERT_TRUE(db_->transaction([](sql::Transaction& tx) -> Status {
    return tx.exec("CREATE TABLE balances (customer TEXT PRIMARY KEY, points BIGINT NOT NULL)")
        .map([](auto) {});
  }));
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(store_->append("loyalty-c" + std::to_string(i % 3), kAnyVersion,
                               {earned(i, "c" + std::to_string(i % 3))}));
  std::atomic<bool> failing{true};
  auto handler = [&](sql::Transaction& tx, const StoredEvent& e) -> Status {
    WHARF_ASSIGN_OR_RETURN(auto ev, decode_event<PointsEarned>(e.message));
    // The 17th event fails until the fault is cleared (after the read model was written for
    // the 16 before it, so the failed batch has something to roll back).
    if (ev.points == 16 && failing) return fail(ErrorCode::kInvalidArgument, "simulated failure");
    WHARF_ASSIGN_OR_RETURN(
        auto n, tx.exec("UPDATE balances SET points = points + ? WHERE customer = ?", ev.points,
                        ev.customer));
    if (n == 0) {
      WHARF_RETURN_IF_ERROR(
          tx.exec("INSERT INTO balances(customer, points) VALUES(?, ?)", ev.customer, ev.points)
              .map([](auto) {}));
    }
    return ok();
  };
  Projection projection(*store_, *db_, {.name = "balances", .catch_up = {.batch_max = 10}},
                        handler);
  auto first = projection.run_once();
  ASSERT_FALSE(first) << "the 17th event fails";
  EXPECT_EQ(*projection.checkpoint(), (*store_->read_all(0, 100))[9].position)
      << "only the first batch of 10 committed";
  EXPECT_EQ(count("SELECT COALESCE(SUM(points), 0) FROM balances"), 45) << "0+1+...+9";
  EXPECT_EQ(*projection.lag(), 20);
  failing = false;
  auto second = projection.run_once();
  ASSERT_TRUE(second) << second.error().to_string();
  EXPECT_EQ(*second, *store_->head_position());
  EXPECT_EQ(count("SELECT SUM(points) FROM balances"), 29 * 30 / 2) << "each event applied once";
  EXPECT_EQ(*projection.lag(), 0);
}

TEST_P(EventStoreTest, CatchUpHandsHistoryThenLiveEventsInOrder) {
  ASSERT_TRUE(store_->append("live-1", kAnyVersion, {earned(1), earned(2)}));
  std::mutex mu;
  std::vector<std::int64_t> points;
  std::stop_source stop;
  std::thread t([&] {
    auto r = catch_up(*store_, 0,
                      [&](const std::vector<StoredEvent>& batch) -> Status {
                        std::lock_guard lock(mu);
                        for (const auto& e : batch)
                          points.push_back(decode_event<PointsEarned>(e.message)->points);
                        return ok();
                      },
                      stop.get_token(), {.poll_interval = 5ms});
    EXPECT_TRUE(r);
  });
  for (int i = 3; i <= 20; ++i) ASSERT_TRUE(store_->append("live-1", kAnyVersion, {earned(i)}));
  auto size = [&] {
    std::lock_guard lock(mu);
    return points.size();
  };
  for (int i = 0; i < 1000 && size() < 20; ++i) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  t.join();
  ASSERT_EQ(points.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(points[i], i + 1);
}

// --- Projections with tables: rebuilds beside the live copy, runners, status ----------------

// A projection of points per customer into one table, "<logical>" (a view on the live copy).
ProjectionTables totals_tables(const std::string& logical) {
  return {
      {logical}, [logical](ProjectionContext& ctx) -> Status {
        const std::string t = ctx.table(logical);
        WHARF_RETURN_IF_ERROR(
            ctx.tx
                .exec("CREATE TABLE " + t +
                      " (customer TEXT PRIMARY KEY, points BIGINT NOT NULL, entries BIGINT "
                      "NOT NULL)")
                .map([](auto) {}));
        return ctx.tx.exec("CREATE INDEX " + t + "_by_points ON " + t + "(points)").map([](auto) {
        });
      }};
}

ProjectionTableHandler totals_handler(const std::string& logical,
                                      std::chrono::microseconds per_event = {}) {
  return [logical, per_event](ProjectionContext& ctx, const StoredEvent& e) -> Status {
    if (per_event.count() > 0) std::this_thread::sleep_for(per_event);
    WHARF_ASSIGN_OR_RETURN(auto ev, decode_event<PointsEarned>(e.message));
    const std::string t = ctx.table(logical);
    WHARF_ASSIGN_OR_RETURN(
        auto n,
        ctx.tx.exec(
            "UPDATE " + t + " SET points = points + ?, entries = entries + 1 WHERE customer = ?",
            ev.points, ev.customer));
    if (n == 0) {
      WHARF_RETURN_IF_ERROR(
          ctx.tx
              .exec("INSERT INTO " + t + "(customer, points, entries) VALUES(?, ?, 1)", ev.customer,
                    ev.points)
              .map([](auto) {}));
    }
    return ok();
  };
}

Status append_many(EventStore& store, int from, int n) {
  for (int i = from; i < from + n; i += 100) {
    std::vector<Message> batch;
    for (int j = i; j < std::min(from + n, i + 100); ++j)
      batch.push_back(earned(j % 7 + 1, "c" + std::to_string(j % 13)));
    WHARF_RETURN_IF_ERROR(
        store.append("loyalty-bulk", kAnyVersion, std::move(batch)).map([](auto) {}));
  }
  return ok();
}

using TotalsRows = std::vector<std::tuple<std::string, std::int64_t, std::int64_t>>;
Result<TotalsRows> read_totals(sql::Database& db, const std::string& table) {
  TotalsRows out;
  WHARF_RETURN_IF_ERROR(db.transaction(
      [&](sql::Transaction& tx) -> Status {
        out.clear();
        WHARF_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT customer, points, entries FROM " +
                                                   table + " ORDER BY customer"));
        for (const auto& r : rows) {
          WHARF_ASSIGN_OR_RETURN(auto c, r.get<std::string>(0));
          WHARF_ASSIGN_OR_RETURN(auto p, r.get<std::int64_t>(1));
          WHARF_ASSIGN_OR_RETURN(auto e, r.get<std::int64_t>(2));
          out.emplace_back(c, p, e);
        }
        return ok();
      },
      {.read_only = true}));
  return out;
}

bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit = 60s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// The rebuild replays into generation 2 while the live copy serves readers and the runner keeps
// applying new events; after the swap the view shows generation 2, which ends equal to a
// projection built from scratch, and generation 1 is gone.
TEST_P(EventStoreTest, RebuildUnderLiveWritesEndsEqualToAFromScratchBuild) {
  ASSERT_TRUE(append_many(*store_, 0, 3000));
  ProjectionOptions o{.name = "totals", .catch_up = {.batch_max = 200, .poll_interval = 5ms}};
  o.tables = totals_tables("totals");
  Projection live(*store_, *db_, o, totals_handler("totals"));
  std::stop_source stop;
  std::thread runner([&] { EXPECT_TRUE(live.run(stop.get_token())); });
  ASSERT_TRUE(wait_for([&] { return live.lag().value_or(1) == 0; }));

  std::atomic<bool> writing{true};
  std::atomic<int> written{0}, reads{0}, read_failures{0};
  std::thread writer([&] {
    for (int i = 3000; writing && i < 100'000; ++i) {
      EXPECT_TRUE(append_many(*store_, i, 1));
      ++written;
      std::this_thread::sleep_for(1ms);
    }
  });
  std::thread reader([&] {
    while (writing) {
      auto rows = read_totals(*db_, "totals");
      (rows && !rows->empty() ? reads : read_failures)++;
      std::this_thread::sleep_for(2ms);
    }
  });
  std::vector<RebuildProgress> progress;
  auto report = live.rebuild(
      stop.get_token(),
      {.on_progress = [&](const RebuildProgress& p) { progress.push_back(p); }, .batch_max = 100});
  writing = false;
  writer.join();
  reader.join();
  ASSERT_TRUE(report) << report.error().to_string();
  EXPECT_EQ(report->generation, 2);
  EXPECT_GE(report->events, 3000);
  EXPECT_GT(written.load(), 0) << "events were written during the rebuild";
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(read_failures.load(), 0) << "readers saw the table at every moment";
  ASSERT_FALSE(progress.empty());
  EXPECT_TRUE(progress.back().swapped);
  EXPECT_GE(progress.front().eta_s, 0) << "progress carries an ETA";

  ASSERT_TRUE(wait_for([&] { return live.lag().value_or(1) == 0; }));
  stop.request_stop();
  runner.join();

  ProjectionOptions so{.name = "totals_scratch"};
  so.tables = totals_tables("totals_scratch");
  Projection scratch(*store_, *db_, so, totals_handler("totals_scratch"));
  ASSERT_TRUE(scratch.run_once());
  auto rebuilt = read_totals(*db_, "totals");
  auto expected = read_totals(*db_, "totals_scratch");
  ASSERT_TRUE(rebuilt && expected);
  EXPECT_EQ(*rebuilt, *expected);
  std::int64_t entries = 0;
  for (const auto& r : *rebuilt) entries += std::get<2>(r);
  EXPECT_EQ(entries, 3000 + written.load()) << "every event applied exactly once";
  EXPECT_EQ(count("SELECT count(*) FROM totals_g2"), static_cast<std::int64_t>(rebuilt->size()));
  EXPECT_FALSE(db_->transaction([](sql::Transaction& tx) -> Status {
    return tx.query("SELECT count(*) FROM totals_g1").map([](auto) {});
  })) << "the old copy was dropped";
  auto status = projection_status(*db_, *store_);
  ASSERT_TRUE(status);
  auto it = std::find_if(status->begin(), status->end(),
                         [](const ProjectionStatus& s) { return s.name == "totals"; });
  ASSERT_NE(it, status->end());
  EXPECT_EQ(it->generation, 2);
  EXPECT_GT(it->rebuilt_ms, 0);
  EXPECT_GE(it->last_replay_events, 3000);
  EXPECT_TRUE(it->rebuild_state.empty());
}

// A rebuild stopped halfway keeps its progress; the next one resumes there and swaps.
TEST_P(EventStoreTest, AStoppedRebuildResumesWhereItStopped) {
  ASSERT_TRUE(append_many(*store_, 0, 1000));
  ProjectionOptions o{.name = "totals"};
  o.tables = totals_tables("totals");
  Projection p(*store_, *db_, o, totals_handler("totals"));
  ASSERT_TRUE(p.run_once());
  std::stop_source stop;
  auto first = p.rebuild(stop.get_token(), {.on_progress =
                                                [&](const RebuildProgress& pr) {
                                                  if (pr.position > 0) stop.request_stop();
                                                },
                                            .batch_max = 100});
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code(), ErrorCode::kShuttingDown);
  auto status = projection_status(*db_, *store_);
  ASSERT_TRUE(status && status->size() == 1);
  EXPECT_EQ(status->front().rebuild_state, "running");
  EXPECT_EQ(status->front().rebuild_events, 100);
  EXPECT_EQ(status->front().generation, 1) << "the live copy is untouched";

  std::vector<std::int64_t> events_here;
  auto second = p.rebuild(
      std::stop_token{},
      {.on_progress = [&](const RebuildProgress& pr) { events_here.push_back(pr.events); },
       .batch_max = 100});
  ASSERT_TRUE(second) << second.error().to_string();
  EXPECT_EQ(second->events, 1000) << "100 before the stop, 900 after";
  ASSERT_FALSE(events_here.empty());
  EXPECT_EQ(events_here.back(), 900) << "the second rebuild replayed only the rest";
  auto rows = read_totals(*db_, "totals");
  ASSERT_TRUE(rows);
  std::int64_t entries = 0;
  for (const auto& r : *rows) entries += std::get<2>(r);
  EXPECT_EQ(entries, 1000);
}

// Two runners of one projection (two processes, or a deploy overlapping): the checkpoint row
// is compared under its lock, so every event is applied once.
TEST_P(EventStoreTest, TwoRunnersOfOneProjectionApplyEachEventOnce) {
  ProjectionOptions o{.name = "totals", .catch_up = {.batch_max = 50, .poll_interval = 1ms}};
  o.tables = totals_tables("totals");
  Projection a(*store_, *db_, o, totals_handler("totals"));
  Projection b(*store_, *db_, o, totals_handler("totals"));
  ASSERT_TRUE(a.checkpoint());  // creates the tables once, before both start
  std::stop_source stop;
  std::thread ta([&] { EXPECT_TRUE(a.run(stop.get_token())); });
  std::thread tb([&] { EXPECT_TRUE(b.run(stop.get_token())); });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(append_many(*store_, i * 100, 100));
  EXPECT_TRUE(wait_for([&] { return a.lag().value_or(1) == 0; }));
  stop.request_stop();
  ta.join();
  tb.join();
  EXPECT_EQ(count("SELECT SUM(entries) FROM totals"), 2000);
}

// `wharf projection rebuild` asks; the process running the projection does it. Its status,
// metrics and admin endpoint show it.
TEST_P(EventStoreTest, ARequestedRebuildIsDoneByTheRunnerAndShownEverywhere) {
  ASSERT_TRUE(append_many(*store_, 0, 500));
  EXPECT_EQ(request_projection_rebuild(*db_, "totals").error().code(), ErrorCode::kNotFound);
  ProjectionOptions o{
      .name = "totals", .catch_up = {.poll_interval = 5ms}, .rebuild_check_interval = 10ms};
  o.tables = totals_tables("totals");
  Projection p(*store_, *db_, o, totals_handler("totals"));
  std::stop_source stop;
  std::thread runner([&] { EXPECT_TRUE(p.run(stop.get_token())); });
  ASSERT_TRUE(wait_for([&] { return p.lag().value_or(1) == 0; }));
  const std::string metrics_text = metrics::registry().render_prometheus();
  EXPECT_NE(metrics_text.find("wharf_projection_lag{projection=\"totals\"} 0"), std::string::npos)
      << metrics_text;
  auto route = admin_routes::find("/v1/projections");
  ASSERT_TRUE(route) << "a running projection registers its admin endpoint";
  auto body = (*route)();
  ASSERT_TRUE(body);
  auto json = nlohmann::json::parse(*body);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["name"], "totals");
  EXPECT_EQ(json[0]["position"], *store_->head_position());

  ASSERT_TRUE(request_projection_rebuild(*db_, "totals"));
  auto generation = [&]() -> std::int64_t {
    auto s = projection_status(*db_, *store_);
    return s && !s->empty() ? s->front().generation : -1;
  };
  EXPECT_TRUE(wait_for([&] { return generation() == 2; }));
  stop.request_stop();
  runner.join();
  auto s = projection_status(*db_, *store_);
  ASSERT_TRUE(s && s->size() == 1);
  EXPECT_EQ(s->front().last_replay_events, 500);
  EXPECT_NE(metrics::registry().render_prometheus().find(
                "wharf_projection_replay_seconds{projection=\"totals\"}"),
            std::string::npos);
}

// SIGKILL of the process running a projection, at seeded moments, again and again: the read
// model ends with every event applied exactly once (a row per applied event; no key, so a
// double apply would show as a duplicate).
TEST_P(EventStoreTest, SigkillDuringProjectionNeitherSkipsNorDoubleApplies) {
  constexpr int kEvents = 3000;
  ASSERT_TRUE(append_many(*store_, 0, kEvents));
  const char* seed_env = std::getenv("WHARF_TEST_SEED");
  const unsigned seed = seed_env ? static_cast<unsigned>(std::strtoul(seed_env, nullptr, 10))
                                 : std::random_device{}();
  std::printf("WHARF_TEST_SEED=%u\n", seed);
  std::mt19937 rng(seed);
  ProjectionOptions o{.name = "applied", .catch_up = {.batch_max = 25}};
  o.tables = {{"applied"}, [](ProjectionContext& ctx) -> Status {
                return ctx.tx
                    .exec("CREATE TABLE " + ctx.table("applied") + " (position BIGINT NOT NULL)")
                    .map([](auto) {});
              }};
  auto handler = [](ProjectionContext& ctx, const StoredEvent& e) -> Status {
    std::this_thread::sleep_for(100us);  // so that kills land mid-stream
    return ctx.tx.exec("INSERT INTO " + ctx.table("applied") + "(position) VALUES(?)", e.position)
        .map([](auto) {});
  };
  const std::string url = url_;
  for (int round = 0; round < 6; ++round) {
    // No thread of this test runs here, so the child may use the SQL clients after fork().
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto db = sql::open(url);
      if (!db) ::_exit(3);
      auto store = EventStore::open(**db);
      if (!store) ::_exit(4);
      Projection p(**store, **db, o, handler);
      (void)p.run(std::stop_token{});
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 250));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended by itself: " << status;
  }
  const std::int64_t before_last = count("SELECT count(*) FROM applied");
  std::printf("applied before the last run: %lld of %d\n", static_cast<long long>(before_last),
              kEvents);
  Projection last(*store_, *db_, o, handler);
  ASSERT_TRUE(last.run_once());
  EXPECT_EQ(count("SELECT count(*) FROM applied"), kEvents);
  EXPECT_EQ(count("SELECT count(DISTINCT position) FROM applied"), kEvents)
      << "an event was applied twice";
  EXPECT_EQ(*last.checkpoint(), *store_->head_position());
}

INSTANTIATE_TEST_SUITE_P(Stores, EventStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wharf
