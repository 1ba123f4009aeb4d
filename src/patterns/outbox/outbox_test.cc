// Unit tests of the outbox and its relay on SQLite and on a real PostgreSQL (started once per
// binary), publishing into a recording transport. The relay runs pass by pass (run_once) unless
// a test is about its background thread and wake-ups.
#include "wharf/outbox.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/postgres_environment.h"
#include "wharf/sql/postgres.h"
#include "wharf/sql/sqlite.h"

namespace wharf {
namespace {

#define ASSERT_OK(expr)                                                         \
  do {                                                                          \
    auto&& assert_ok_ = (expr);                                                 \
    ASSERT_TRUE(assert_ok_) << #expr << ": " << assert_ok_.error().to_string(); \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(WHARF_CONCAT_(assert_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)              \
  auto tmp = (expr);                                            \
  ASSERT_TRUE(tmp) << #expr << ": " << tmp.error().to_string(); \
  lhs = std::move(*tmp)

struct OrderPlaced {
  std::string order_id;
  std::int64_t total_cents = 0;
};
WHARF_EVENT(OrderPlaced, "checkout.OrderPlaced", 2, order_id, total_cents);

auto* const g_postgres = test::register_postgres_environment();

// Records what was published; fails every publish while `failing` is set.
class RecordingTransport final : public Transport {
 public:
  Status publish(const std::string& topic, std::vector<Message> messages) override {
    if (failing) return fail(ErrorCode::kUnavailable, "broker down (test)");
    std::lock_guard lock(mu);
    for (auto& m : messages) {
      m.topic = topic;
      published.push_back(std::move(m));
    }
    return ok();
  }
  Result<std::unique_ptr<Subscription>> subscribe(SubscribeOptions) override {
    return fail(ErrorCode::kUnsupported, "recording transport");
  }
  Status ensure_topic(const std::string&, std::int32_t) override { return ok(); }
  Result<std::int32_t> partition_count(const std::string&) override { return 1; }
  Result<std::map<TopicPartition, std::int64_t>> end_offsets(const std::string&) override {
    return fail(ErrorCode::kUnsupported, "the recording transport keeps no log");
  }
  Status close() override { return ok(); }
  std::string_view name() const override { return "recording"; }
  std::string kafka_address() const override { return ""; }

  std::vector<Message> snapshot() {
    std::lock_guard lock(mu);
    return published;
  }

  std::atomic<bool> failing{false};
  std::mutex mu;
  std::vector<Message> published;
};

class OutboxTest : public ::testing::TestWithParam<sql::Dialect> {
 protected:
  void SetUp() override {
    if (GetParam() == sql::Dialect::kSqlite) {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "wharf-outbox-XXXXXX").string();
      ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
      dir_ = pattern;
      target_ = dir_ + "/outbox.db";
    } else {
      ASSERT_NE(g_postgres->server(), nullptr)
          << "PostgreSQL is not running: " << g_postgres->error();
      ASSERT_OK_AND_ASSIGN(target_, g_postgres->server()->create_database());
    }
    ASSERT_OK_AND_ASSIGN(db_, open_db());
    ASSERT_OK(migrate_outbox(*db_));
    transport_ = std::make_shared<RecordingTransport>();
  }
  void TearDown() override {
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Result<std::unique_ptr<sql::Database>> open_db() {
    if (GetParam() == sql::Dialect::kSqlite) return sql::open_sqlite(target_);
    return sql::open_postgres(target_, {.connections_max = 16});
  }
  OutboxRelayOptions manual(std::string owner) {
    OutboxRelayOptions o;
    o.background = false;
    o.owner = std::move(owner);
    return o;
  }
  Status write(const std::string& key, std::int64_t n) {
    return db_->transaction([&](sql::Transaction& tx) -> Status {
      return outbox(tx).publish("orders", OrderPlaced{key, n}, {.key = key});
    });
  }
  std::int64_t rows_left() {
    auto tx = db_->begin({.read_only = true});
    if (!tx) return -1;
    auto rows = (*tx)->query("SELECT count(*) FROM wharf_outbox");
    if (!rows) return -1;
    return rows->scalar<std::int64_t>().value_or(-1);
  }

  std::string dir_, target_;
  std::unique_ptr<sql::Database> db_;
  std::shared_ptr<RecordingTransport> transport_;
};

TEST_P(OutboxTest, RelayPublishesCommittedEventsInOrderWithTheirEnvelope) {
  std::string id;
  ASSERT_OK(db_->transaction([&](sql::Transaction& tx) -> Status {
    Message m = make_message(OrderPlaced{"o-1", 500}, "o-1");
    m.aggregate_id = "order/o-1";
    m.causation_id = "cmd-7";
    m.headers = {{"tenant", "acme"}, {"x", ""}};
    WHARF_ASSIGN_OR_RETURN(id, outbox(tx).publish_message("orders", std::move(m)));
    return ok();
  }));
  for (int i = 2; i <= 5; ++i) ASSERT_OK(write("o-" + std::to_string(i % 2), i));

  OutboxRelay relay(*db_, Bus(transport_), manual("a"));
  ASSERT_OK_AND_ASSIGN(std::size_t n, relay.run_once());
  EXPECT_EQ(n, 5u);
  auto got = transport_->snapshot();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].id, id);
  EXPECT_EQ(got[0].topic, "orders");
  EXPECT_EQ(got[0].key, "o-1");
  EXPECT_EQ(got[0].type, "checkout.OrderPlaced");
  EXPECT_EQ(got[0].version, 2);
  EXPECT_EQ(got[0].aggregate_id, "order/o-1");
  EXPECT_EQ(got[0].causation_id, "cmd-7");
  EXPECT_EQ(got[0].correlation_id, id);
  EXPECT_GT(got[0].timestamp_ms, 0);
  EXPECT_EQ(got[0].headers, (Headers{{"tenant", "acme"}, {"x", ""}}));
  ASSERT_OK_AND_ASSIGN(OrderPlaced first, decode_event<OrderPlaced>(got[0]));
  EXPECT_EQ(first.total_cents, 500);
  for (int i = 1; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(OrderPlaced e, decode_event<OrderPlaced>(got[i]));
    EXPECT_EQ(e.total_cents, i + 1);
  }
  // The published rows go in the next pass; nothing is published twice.
  EXPECT_EQ(rows_left(), 5);
  ASSERT_OK_AND_ASSIGN(n, relay.run_once());
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(rows_left(), 0);
  EXPECT_EQ(transport_->snapshot().size(), 5u);
  EXPECT_EQ(relay.status().published, 5u);
}

TEST_P(OutboxTest, RolledBackTransactionLeavesNothingToPublish) {
  auto st = db_->transaction([&](sql::Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(outbox(tx).publish("orders", OrderPlaced{"o-1", 1}, {.key = "o-1"}));
    return fail(ErrorCode::kInvalidArgument, "business rule says no");
  });
  ASSERT_FALSE(st);
  ASSERT_OK(write("o-2", 2));
  OutboxRelay relay(*db_, Bus(transport_), manual("a"));
  ASSERT_OK_AND_ASSIGN(std::size_t n, relay.run_once());
  EXPECT_EQ(n, 1u);
  ASSERT_EQ(transport_->snapshot().size(), 1u);
  EXPECT_EQ(transport_->snapshot()[0].key, "o-2");
}

TEST_P(OutboxTest, FailedPublishKeepsRowsAndTheRetryCarriesTheSameIds) {
  for (int i = 0; i < 3; ++i) ASSERT_OK(write("k", i));
  OutboxRelay relay(*db_, Bus(transport_), manual("a"));
  transport_->failing = true;
  auto failed = relay.run_once();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(rows_left(), 3);
  transport_->failing = false;
  ASSERT_OK_AND_ASSIGN(std::size_t n, relay.run_once());
  EXPECT_EQ(n, 3u);
  // A relay that crashed before deleting: a new one publishes the same ids again.
  OutboxRelay second(*db_, Bus(transport_), manual("a"));
  ASSERT_OK_AND_ASSIGN(n, second.run_once());
  EXPECT_EQ(n, 3u);
  auto got = transport_->snapshot();
  ASSERT_EQ(got.size(), 6u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i].id, got[i + 3].id);
  ASSERT_OK_AND_ASSIGN(n, second.run_once());
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(rows_left(), 0);
}

TEST_P(OutboxTest, OneLeaderPerNameAndTheStandbyTakesOverOnReleaseOrExpiry) {
  ManualClock clock;
  OutboxRelayOptions oa = manual("a"), ob = manual("b");
  oa.clock = ob.clock = &clock;
  OutboxRelay a(*db_, Bus(transport_), oa);
  OutboxRelay b(*db_, Bus(transport_), ob);
  ASSERT_OK(write("k", 1));
  ASSERT_OK_AND_ASSIGN(std::size_t n, a.run_once());
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(a.status().leader);
  ASSERT_OK_AND_ASSIGN(n, a.run_once());  // deletes what it published
  EXPECT_EQ(n, 0u);
  ASSERT_OK(write("k", 2));
  ASSERT_OK_AND_ASSIGN(n, b.run_once());
  EXPECT_EQ(n, 0u);
  EXPECT_FALSE(b.status().leader);
  // The leader goes silent: after the lease runs out, the standby takes over.
  clock.advance(oa.lease_duration + std::chrono::milliseconds(1));
  ASSERT_OK_AND_ASSIGN(n, b.run_once());
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(b.status().leader);
  ASSERT_OK_AND_ASSIGN(n, a.run_once());  // the former leader learns it lost the lease
  EXPECT_EQ(n, 0u);
  EXPECT_FALSE(a.status().leader);
  // A clean release hands over at once.
  ASSERT_OK(b.release());
  ASSERT_OK(write("k", 3));
  ASSERT_OK_AND_ASSIGN(n, a.run_once());
  EXPECT_EQ(n, 1u);
  auto got = transport_->snapshot();
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(OrderPlaced e, decode_event<OrderPlaced>(got[i]));
    EXPECT_EQ(e.total_cents, i + 1);
  }
}

TEST_P(OutboxTest, BatchesAreBoundedAndTheTableDrains) {
  for (int i = 0; i < 25; ++i) ASSERT_OK(write("k" + std::to_string(i % 3), i));
  OutboxRelayOptions o = manual("a");
  o.batch_max = 10;
  OutboxRelay relay(*db_, Bus(transport_), o);
  std::vector<std::size_t> passes;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(std::size_t n, relay.run_once());
    if (n == 0) break;
    passes.push_back(n);
  }
  EXPECT_EQ(passes, (std::vector<std::size_t>{10, 10, 5}));
  EXPECT_EQ(rows_left(), 0);
}

TEST_P(OutboxTest, BackgroundRelayWakesOnCommitWithoutPolling) {
  OutboxRelayOptions o;
  o.poll_interval = std::chrono::hours(1);  // only a wake-up can make it look
  if (GetParam() == sql::Dialect::kPostgres) o.wakeup = postgres_outbox_listener(target_);
  OutboxRelay relay(*db_, Bus(transport_), o);
  // Let the relay reach its idle wait first (it is leader once status says so).
  for (int i = 0; i < 3000 && !relay.status().leader; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(relay.status().leader);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_OK(write("k", 42));
  for (int i = 0; i < 3000 && transport_->snapshot().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(transport_->snapshot().size(), 1u);
}

// Writers on several threads, random keys, some rollbacks, the relay in the background: every
// committed event exactly once (no failures injected), per key in commit order.
TEST_P(OutboxTest, ConcurrentWritersEveryCommittedEventOnceInPerKeyOrder) {
  const char* env = std::getenv("WHARF_TEST_SEED");
  const std::uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("WHARF_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed));
  OutboxRelayOptions o;
  o.batch_max = 50;
  o.poll_interval = std::chrono::milliseconds(20);
  if (GetParam() == sql::Dialect::kPostgres) o.wakeup = postgres_outbox_listener(target_);
  OutboxRelay relay(*db_, Bus(transport_), o);
  constexpr int kThreads = 4, kTxPerThread = 60, kKeys = 5;
  std::mutex mu;
  std::map<std::string, std::vector<std::int64_t>> committed;  // key -> values in commit order
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      for (int i = 0; i < kTxPerThread; ++i) {
        const std::string key = "k" + std::to_string(rng() % kKeys);
        const std::int64_t value = t * 1000 + i;
        const bool roll_back = rng() % 5 == 0;
        // Commit and record under one mutex, so `committed` holds each key's values in commit
        // order (the inserts still interleave freely, which is what the relay must survive).
        auto tx = db_->begin();
        ASSERT_TRUE(tx) << tx.error().to_string();
        ASSERT_OK(outbox(**tx).publish("orders", OrderPlaced{key, value}, {.key = key}));
        if (roll_back) {
          ASSERT_OK((*tx)->rollback());
          continue;
        }
        std::lock_guard lock(mu);
        ASSERT_OK((*tx)->commit());
        committed[key].push_back(value);
      }
    });
  }
  for (auto& w : writers) w.join();
  std::size_t total = 0;
  for (const auto& [k, v] : committed) total += v.size();
  for (int i = 0; i < 6000 && transport_->snapshot().size() < total; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  relay.stop();
  auto got = transport_->snapshot();
  ASSERT_EQ(got.size(), total) << "seed " << seed;
  std::map<std::string, std::vector<std::int64_t>> seen;
  std::set<std::string> ids;
  for (const Message& m : got) {
    ASSERT_OK_AND_ASSIGN(OrderPlaced e, decode_event<OrderPlaced>(m));
    seen[m.key].push_back(e.total_cents);
    EXPECT_TRUE(ids.insert(m.id).second) << "duplicate id " << m.id;
  }
  EXPECT_EQ(seen, committed) << "seed " << seed;
}

INSTANTIATE_TEST_SUITE_P(Backends, OutboxTest,
                         ::testing::Values(sql::Dialect::kSqlite, sql::Dialect::kPostgres),
                         [](const auto& info) {
                           return std::string(info.param == sql::Dialect::kSqlite ? "Sqlite"
                                                                                  : "Postgres");
                         });

// PostgreSQL gap safety: transaction A takes id 1 and stays open; B takes id 2 and commits; the
// relay publishes B. When A commits, its lower id is published by the next pass, not skipped.
// Same key: B waits for A inside publish() and gets the higher id, so per-key order holds.
class PostgresGapTest : public OutboxTest {};

TEST_P(PostgresGapTest, LateCommitWithLowerIdIsPublishedNotSkipped) {
  OutboxRelay relay(*db_, Bus(transport_), manual("a"));
  ASSERT_OK_AND_ASSIGN(auto a, db_->begin());
  ASSERT_OK(outbox(*a).publish("orders", OrderPlaced{"a", 1}, {.key = "a"}));
  ASSERT_OK(write("b", 2));
  ASSERT_OK_AND_ASSIGN(std::size_t n, relay.run_once());
  EXPECT_EQ(n, 1u);
  ASSERT_OK_AND_ASSIGN(n, relay.run_once());
  EXPECT_EQ(n, 0u);  // A is still open: delayed, not lost
  ASSERT_OK(a->commit());
  ASSERT_OK_AND_ASSIGN(n, relay.run_once());
  EXPECT_EQ(n, 1u);
  auto got = transport_->snapshot();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "b");
  EXPECT_EQ(got[1].key, "a");
}

TEST_P(PostgresGapTest, SameKeyWriterWaitsSoIdOrderIsCommitOrder) {
  ASSERT_OK_AND_ASSIGN(auto a, db_->begin());
  ASSERT_OK(outbox(*a).publish("orders", OrderPlaced{"k", 1}, {.key = "k"}));
  std::atomic<bool> b_done{false};
  std::thread b([&] {
    EXPECT_TRUE(write("k", 2));
    b_done = true;
  });
  // B is seen waiting for A's key lock in pg_locks (no sleeps: the lock table says so).
  std::int64_t waiting = 0;
  for (int i = 0; i < 3000 && waiting == 0; ++i) {
    auto tx = db_->begin({.read_only = true});
    ASSERT_TRUE(tx);
    auto rows =
        (*tx)->query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
    ASSERT_TRUE(rows);
    waiting = rows->scalar<std::int64_t>().value_or(0);
    if (waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(waiting, 1);
  EXPECT_FALSE(b_done.load());
  ASSERT_OK(a->commit());
  b.join();
  OutboxRelay relay(*db_, Bus(transport_), manual("a"));
  ASSERT_OK_AND_ASSIGN(std::size_t n, relay.run_once());
  EXPECT_EQ(n, 2u);
  auto got = transport_->snapshot();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_OK_AND_ASSIGN(OrderPlaced first, decode_event<OrderPlaced>(got[0]));
  EXPECT_EQ(first.total_cents, 1);
}

INSTANTIATE_TEST_SUITE_P(Postgres, PostgresGapTest, ::testing::Values(sql::Dialect::kPostgres),
                         [](const auto&) { return std::string("Postgres"); });

}  // namespace
}  // namespace wharf
