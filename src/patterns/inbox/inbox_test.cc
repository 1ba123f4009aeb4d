// The inbox on SQLite and on a real PostgreSQL server (started once for the binary): duplicates
// have their effect once, a failing handler records nothing, a batch with one failing message
// commits the others, and cleanup keeps the table bounded.
#include "wharf/inbox.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/postgres_environment.h"
#include "wharf/sql/open.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

auto* const g_postgres = test::register_postgres_environment();

class InboxTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto url = test::fresh_database_url(GetParam(), *g_postgres, "inbox", &dir_);
    ASSERT_TRUE(url) << url.error().to_string();
    auto db = sql::open(*url);
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->transaction([](sql::Transaction& tx) -> Status {
      WHARF_RETURN_IF_ERROR(
          tx.exec("CREATE TABLE effects (message_id TEXT NOT NULL, payload TEXT NOT NULL)"));
      return ok();
    }));
    auto inbox = Inbox::open(*db_, {.retention = 1h, .cleanup_batch_rows = 10, .clock = &clock_});
    ASSERT_TRUE(inbox) << inbox.error().to_string();
    inbox_ = std::move(*inbox);
    bus_ = *Bus::open(MemoryOptions{.default_partitions = 1});
  }
  void TearDown() override {
    inbox_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::int64_t count(const std::string& where = "1=1") {
    std::int64_t n = -1;
    EXPECT_TRUE(db_->transaction([&](sql::Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT COUNT(*) FROM effects WHERE " + where));
      WHARF_ASSIGN_OR_RETURN(n, rows.scalar<std::int64_t>());
      return ok();
    }));
    return n;
  }

  // The handler's side effect, written through the inbox's transaction.
  static Status record_effect(const Message& m, Context& ctx) {
    WHARF_RETURN_IF_ERROR(inbox_transaction(ctx).exec(
        "INSERT INTO effects (message_id, payload) VALUES (?, ?)", m.id, m.payload));
    return ok();
  }

  template <typename Done>
  void run_until(Router& router, Done done) {
    std::stop_source stop;
    std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
    for (int i = 0; i < 4000 && !done(); ++i) std::this_thread::sleep_for(5ms);
    stop.request_stop();
    t.join();
  }

  ManualClock clock_;
  std::string dir_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<Inbox> inbox_;
  std::optional<Bus> bus_;
};

TEST_P(InboxTest, AMessageDeliveredThreeTimesHasItsEffectOnce) {
  Message m;
  m.id = new_message_id();
  m.type = "t";
  m.payload = "order-1";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(bus_->publish("orders", m));  // same id, three records
  Message other = m;
  other.id = new_message_id();
  ASSERT_TRUE(bus_->publish("orders", other));
  std::atomic<int> calls{0};
  Router router(*bus_, {.group = "inventory"});
  router.use(inbox_->middleware());
  router.on_message("orders", "t", [&](const Message& msg, Context& ctx) -> Status {
    ++calls;
    return record_effect(msg, ctx);
  });
  run_until(router, [&] { return router.stats().handled >= 4; });
  EXPECT_EQ(calls.load(), 2) << "the handler ran for duplicates";
  EXPECT_EQ(count(), 2);
  EXPECT_EQ(count("message_id = '" + m.id + "'"), 1);
  EXPECT_EQ(inbox_->duplicates(), 2u);
  EXPECT_TRUE(inbox_->processed("inventory", m.id).value_or(false));
  EXPECT_FALSE(inbox_->processed("email", m.id).value_or(true))
      << "another group has not processed it";
}

TEST_P(InboxTest, AFailingHandlerRecordsNothingAndItsWritesRollBack) {
  Message m;
  m.type = "t";
  m.payload = "x";
  ASSERT_TRUE(bus_->publish("orders", m));
  std::atomic<int> calls{0};
  std::string id;
  Router router(*bus_, {.group = "g", .redelivery_delay = 1ms, .drain_timeout = 100ms});
  router.use(inbox_->middleware());
  router.on_message("orders", "t", [&](const Message& msg, Context& ctx) -> Status {
    id = msg.id;
    WHARF_RETURN_IF_ERROR(record_effect(msg, ctx));  // written, then the handler fails
    ++calls;
    return fail(ErrorCode::kUnavailable, "downstream down");
  });
  run_until(router, [&] { return calls.load() >= 3; });
  EXPECT_GE(calls.load(), 3) << "the failed message is handed again";
  EXPECT_EQ(count(), 0) << "a failed handler's writes committed";
  EXPECT_FALSE(inbox_->processed("g", id).value_or(true))
      << "a failed handler left an inbox record";
}

TEST_P(InboxTest, ABatchWithOneFailingMessageCommitsTheOthers) {
  std::vector<Message> batch;
  for (int i = 0; i < 10; ++i) {
    Message m;
    m.type = "t";
    m.payload = std::to_string(i);
    batch.push_back(std::move(m));
  }
  ASSERT_TRUE((*bus_)->publish("orders", std::move(batch)));
  std::atomic<int> failures_left{2};  // fails on the fast path and on the savepoint path
  std::atomic<int> calls{0};
  Router router(*bus_, {.group = "g", .batch_max = 10, .redelivery_delay = 1ms});
  router.on_batch("orders", inbox_->batch([&](const Message& m, Context& ctx) -> Status {
    ++calls;
    WHARF_RETURN_IF_ERROR(record_effect(m, ctx));
    if (m.payload == "4" && failures_left.fetch_sub(1) > 0)
      return fail(ErrorCode::kConflict, "4 fails twice");
    return ok();
  }));
  run_until(router, [&] { return count() >= 10; });
  EXPECT_EQ(count(), 10);
  EXPECT_EQ(count("payload = '4'"), 1)
      << "the failed message's write was not rolled back to its savepoint";
  // First batch, fast path: 0..4 run, 4 fails, all rolled back. Savepoint path: 0..9 run, 4
  // fails again and only its savepoint is rolled back; the others commit. Then 4..9 come again:
  // 4 runs (and works), 5..9 are skipped as duplicates.
  EXPECT_EQ(calls.load(), 5 + 10 + 1);
  EXPECT_EQ(inbox_->duplicates(), 5u);
}

TEST_P(InboxTest, CleanupDeletesOnlyExpiredIdsInBoundedBatches) {
  std::vector<Message> batch;
  for (int i = 0; i < 25; ++i) {
    Message m;
    m.type = "t";
    m.payload = std::to_string(i);
    batch.push_back(std::move(m));
  }
  ASSERT_TRUE((*bus_)->publish("orders", std::move(batch)));
  Router router(*bus_, {.group = "g"});
  router.use(inbox_->middleware());
  router.on_message("orders", "t", record_effect);
  run_until(router, [&] { return router.stats().handled >= 25; });
  EXPECT_EQ(inbox_->cleanup().value_or(-1), 0) << "nothing is old yet";
  clock_.advance(61min);
  EXPECT_EQ(inbox_->cleanup().value_or(-1), 10);
  EXPECT_EQ(inbox_->cleanup().value_or(-1), 10);
  EXPECT_EQ(inbox_->cleanup().value_or(-1), 5);
  EXPECT_EQ(inbox_->cleanup().value_or(-1), 0);
  EXPECT_EQ(count(), 25) << "cleanup touches only the inbox";
}

INSTANTIATE_TEST_SUITE_P(Stores, InboxTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wharf
