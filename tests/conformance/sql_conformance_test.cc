// The SQL store conformance suite: every test runs against SQLite and PostgreSQL (a real server
// this binary starts once; tests/support/postgres_server.h). Backend-only behaviour (SQLite's
// durability settings, PostgreSQL's isolation and reconnects) follows at the end.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/postgres_environment.h"
#include "wharf/sql.h"
#include "wharf/sql/open.h"
#include "wharf/sql/postgres.h"
#include "wharf/sql/sqlite.h"

namespace wharf::sql {
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

// One PostgreSQL server for the whole binary. If it cannot start, every PostgreSQL test fails
// with the reason (SQLite tests still run); nothing is skipped.
auto* const g_postgres = test::register_postgres_environment();

struct TestDbOptions {
  std::size_t connections_max = 4;
  std::chrono::milliseconds acquire_timeout{10000};
  std::chrono::milliseconds busy_timeout{5000};     // SQLite
  Isolation isolation = Isolation::kReadCommitted;  // PostgreSQL
};

// A fresh database per test: a new file in a temporary directory, or a new PostgreSQL database.
class SqlStoreTest : public ::testing::Test {
 protected:
  void start(Dialect dialect) {
    dialect_ = dialect;
    if (dialect == Dialect::kSqlite) {
      std::string pattern = (std::filesystem::temp_directory_path() / "wharf-sql-XXXXXX").string();
      ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
      dir_ = pattern;
      target_ = dir_ + "/test.db";
    } else {
      ASSERT_NE(g_postgres->server(), nullptr)
          << "PostgreSQL is not running: " << g_postgres->error();
      ASSERT_OK_AND_ASSIGN(target_, g_postgres->server()->create_database());
    }
    ASSERT_OK_AND_ASSIGN(db_, open_db({}));
  }
  void TearDown() override {
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Another handle on the same database.
  Result<std::unique_ptr<Database>> open_db(const TestDbOptions& o) {
    if (dialect_ == Dialect::kSqlite) {
      return open_sqlite(target_, {.connections_max = o.connections_max,
                                   .busy_timeout = o.busy_timeout,
                                   .acquire_timeout = o.acquire_timeout});
    }
    return open_postgres(target_, {.connections_max = o.connections_max,
                                   .acquire_timeout = o.acquire_timeout,
                                   .isolation = o.isolation});
  }

  std::string blob_type() const { return dialect_ == Dialect::kSqlite ? "BLOB" : "BYTEA"; }

  Result<std::int64_t> count(std::string_view table) {
    std::int64_t n = -1;
    Status status = db_->transaction([&](Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query(fmt::format("SELECT count(*) FROM {}", table)));
      WHARF_ASSIGN_OR_RETURN(n, rows.scalar<std::int64_t>());
      return ok();
    });
    if (!status) return fail(std::move(status).error());
    return n;
  }

  Status create_table(std::string_view sql) {
    return db_->transaction([&](Transaction& tx) { return tx.exec_script(sql); });
  }

  Dialect dialect_ = Dialect::kSqlite;
  std::string dir_;
  std::string target_;  // file path or URL
  std::unique_ptr<Database> db_;
};

class SqlConformanceTest : public SqlStoreTest, public ::testing::WithParamInterface<Dialect> {
 protected:
  void SetUp() override { start(GetParam()); }
};

TEST_P(SqlConformanceTest, RoundTripsEveryValueType) {
  ASSERT_OK(create_table(fmt::format(
      "CREATE TABLE v(id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, b {})",
      blob_type())));
  Blob every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<std::uint8_t>(i));
  std::string large(1 << 20, 'x');
  for (std::size_t i = 0; i < large.size(); i += 97) large[i] = static_cast<char>('a' + i % 26);
  const std::string utf8 = "grüße, 世界 🚢 'quoted' ? $1";
  Blob large_blob(100 * 1024);
  for (std::size_t i = 0; i < large_blob.size(); ++i)
    large_blob[i] = static_cast<std::uint8_t>(i * 31);

  ASSERT_OK(db_->transaction([&](Transaction& tx) -> Status {
    const char* insert = "INSERT INTO v(id, i, d, t, b) VALUES(?, ?, ?, ?, ?)";
    WHARF_RETURN_IF_ERROR(
        tx.exec(insert, 1, std::numeric_limits<std::int64_t>::min(), -0.5, std::string(), Blob{}));
    WHARF_RETURN_IF_ERROR(
        tx.exec(insert, 2, std::numeric_limits<std::int64_t>::max(), 1e300, utf8, every_byte));
    WHARF_RETURN_IF_ERROR(
        tx.exec(insert, 3, nullptr, std::nullopt, std::optional<std::string>(), Value()));
    WHARF_RETURN_IF_ERROR(tx.exec(insert, 4, 0, 3.25, large, large_blob));
    return ok();
  }));

  ASSERT_OK(db_->transaction([&](Transaction& tx) -> Status {
    auto rows = tx.query("SELECT id, i, d, t, b FROM v ORDER BY id");
    EXPECT_TRUE(rows) << rows.error().to_string();
    if (!rows) return ok();
    EXPECT_EQ(rows->columns(), (std::vector<std::string>{"id", "i", "d", "t", "b"}));
    EXPECT_EQ(rows->size(), 4u);
    if (rows->size() != 4) return ok();
    const Row& r1 = (*rows)[0];
    EXPECT_EQ(*r1.get<std::int64_t>("i"), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(r1[2].type(), Value::Type::kDouble);
    EXPECT_EQ(*r1.get<double>("d"), -0.5);
    EXPECT_EQ(*r1.get<std::string>("t"), "");
    EXPECT_EQ(r1[4].type(), Value::Type::kBlob) << r1[4].to_string();
    EXPECT_EQ(*r1.get<Blob>("b"), Blob{});
    const Row& r2 = (*rows)[1];
    EXPECT_EQ(*r2.get<std::int64_t>(1), std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(*r2.get<double>(2), 1e300);
    EXPECT_EQ(*r2.get<std::string>(3), utf8);
    EXPECT_EQ(*r2.get<Blob>(4), every_byte);
    const Row& r3 = (*rows)[2];
    for (std::size_t c = 1; c < 5; ++c) EXPECT_TRUE(r3[c].is_null()) << c;
    EXPECT_EQ(*r3.get<std::optional<std::string>>("t"), std::nullopt);
    EXPECT_EQ(r3.get<std::string>("t").error().code(), ErrorCode::kInvalidArgument);
    const Row& r4 = (*rows)[3];
    EXPECT_EQ(*r4.get<std::string>("t"), large);
    EXPECT_EQ(*r4.get<Blob>("b"), large_blob);
    EXPECT_EQ(r4.get<std::int64_t>("missing").error().code(), ErrorCode::kNotFound);
    return ok();
  }));
}

TEST_P(SqlConformanceTest, PlaceholdersInsideLiteralsAndCommentsAreLeftAlone) {
  ASSERT_OK(db_->transaction([&](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(
        Rows rows, tx.query("SELECT 'a?b' AS s, /* ? */ ? AS n, 'it''s ?' AS q, \"x?\" AS w "
                            "FROM (SELECT 1 AS \"x?\") AS sub",
                            7));
    EXPECT_EQ(rows.size(), 1u);
    if (rows.size() != 1) return ok();
    EXPECT_EQ(*rows[0].get<std::string>("s"), "a?b");
    EXPECT_EQ(*rows[0].get<std::int64_t>("n"), 7);
    EXPECT_EQ(*rows[0].get<std::string>("q"), "it's ?");
    EXPECT_EQ(*rows[0].get<std::int64_t>("w"), 1);
    return ok();
  }));
}

TEST_P(SqlConformanceTest, ExecTakesOneStatementAndExecScriptSeveral) {
  ASSERT_OK_AND_ASSIGN(auto tx, db_->begin());
  auto two = tx->exec("CREATE TABLE a(x BIGINT); CREATE TABLE b(x BIGINT)");
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code(), ErrorCode::kInvalidArgument) << two.error().to_string();
  ASSERT_OK(tx->rollback());
  ASSERT_OK_AND_ASSIGN(tx, db_->begin());
  ASSERT_OK(tx->exec("CREATE TABLE a(x BIGINT); -- a trailing comment"));
  ASSERT_OK(tx->exec_script(
      "CREATE TABLE b(x BIGINT); INSERT INTO b VALUES(1); INSERT INTO b VALUES(2);"));
  ASSERT_OK(tx->commit());
  EXPECT_EQ(*count("b"), 2);
}

TEST_P(SqlConformanceTest, WrongNumberOfValuesIsInvalidArgument) {
  Status status = db_->transaction([&](Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(tx.query("SELECT ?, ?", 1));
    return ok();
  });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument) << status.error().to_string();
}

TEST_P(SqlConformanceTest, RollbackOnErrorLeavesNothing) {
  ASSERT_OK(create_table("CREATE TABLE t(id BIGINT PRIMARY KEY, note TEXT)"));
  int runs = 0;
  Status status = db_->transaction([&](Transaction& tx) -> Status {
    ++runs;
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?, ?)", 1, "one"));
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?, ?)", 2, "two"));
    return fail(ErrorCode::kInvalidRecord, "the body refuses");
  });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidRecord);
  EXPECT_EQ(runs, 1);  // not retryable: ran once
  EXPECT_EQ(*count("t"), 0);

  {  // destroyed without commit
    ASSERT_OK_AND_ASSIGN(auto tx, db_->begin());
    ASSERT_OK(tx->exec("INSERT INTO t VALUES(?, ?)", 3, "three"));
  }
  EXPECT_EQ(*count("t"), 0);

  ASSERT_OK_AND_ASSIGN(auto tx, db_->begin());
  ASSERT_OK_AND_ASSIGN(std::int64_t changed, tx->exec("INSERT INTO t VALUES(?, ?)", 4, "four"));
  EXPECT_EQ(changed, 1);
  ASSERT_OK(tx->rollback());
  EXPECT_TRUE(tx->finished());
  EXPECT_EQ(tx->exec("SELECT 1").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(tx->commit().error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(*count("t"), 0);
}

TEST_P(SqlConformanceTest, ExecReturnsRowsAffectedAndCommitPersists) {
  ASSERT_OK(create_table("CREATE TABLE t(id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"));
  ASSERT_OK_AND_ASSIGN(auto tx, db_->begin());
  for (int i = 1; i <= 5; ++i) ASSERT_OK(tx->exec("INSERT INTO t VALUES(?, ?)", i, i * 10));
  ASSERT_OK_AND_ASSIGN(std::int64_t updated, tx->exec("UPDATE t SET n = n + 1 WHERE id > ?", 2));
  EXPECT_EQ(updated, 3);
  ASSERT_OK(tx->commit());
  auto other = open_db({});
  ASSERT_OK(other);
  ASSERT_OK((*other)->transaction([&](Transaction& t) -> Status {
    WHARF_ASSIGN_OR_RETURN(Rows rows, t.query("SELECT sum(n) FROM t"));
    WHARF_ASSIGN_OR_RETURN(std::int64_t sum, rows.scalar<std::int64_t>());
    EXPECT_EQ(sum, 10 + 20 + 31 + 41 + 51);
    return ok();
  }));
}

TEST_P(SqlConformanceTest, SavepointRollbackKeepsTheRest) {
  ASSERT_OK(create_table("CREATE TABLE t(id BIGINT PRIMARY KEY)"));
  ASSERT_OK(db_->transaction([&](Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?)", 1));
    Status nested = tx.with_savepoint("attempt", [&]() -> Status {
      WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?)", 2));
      WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?)", 1));  // duplicate: fails
      return ok();
    });
    EXPECT_FALSE(nested);
    if (!nested) {
      EXPECT_EQ(nested.error().code(), ErrorCode::kConstraint) << nested.error().to_string();
    }
    // The transaction goes on (on PostgreSQL too, where the failure had aborted it).
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?)", 3));
    WHARF_RETURN_IF_ERROR(tx.savepoint("manual"));
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?)", 4));
    WHARF_RETURN_IF_ERROR(tx.rollback_to("manual"));
    WHARF_RETURN_IF_ERROR(tx.release("manual"));
    WHARF_RETURN_IF_ERROR(tx.with_savepoint(
        "kept", [&] { return tx.exec("INSERT INTO t VALUES(?)", 5).map([](auto) {}); }));
    return ok();
  }));
  ASSERT_OK(db_->transaction([&](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT id FROM t ORDER BY id"));
    std::vector<std::int64_t> ids;
    for (const Row& row : rows) ids.push_back(*row.get<std::int64_t>(0));
    EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 3, 5}));
    return ok();
  }));
}

TEST_P(SqlConformanceTest, SavepointNamesMustBePlainIdentifiers) {
  ASSERT_OK_AND_ASSIGN(auto tx, db_->begin());
  Status status = tx->savepoint("x; DROP TABLE t");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(SqlConformanceTest, MigrationsApplyOnceInOrderPerComponent) {
  std::vector<Migration> orders = {
      {1, "CREATE TABLE orders(id BIGINT PRIMARY KEY, note TEXT)"},
      {2,
       "INSERT INTO orders(id, note) VALUES(1, 'first'); INSERT INTO orders(id, note) VALUES(2, "
       "'x?')"},
      {3, "ALTER TABLE orders ADD COLUMN total BIGINT"},
  };
  EXPECT_EQ(*db_->schema_version("orders"), 0);
  ASSERT_OK(db_->migrate("orders", orders));
  EXPECT_EQ(*db_->schema_version("orders"), 3);
  EXPECT_EQ(*count("orders"), 2);

  ASSERT_OK(db_->migrate("orders", orders));  // idempotent: CREATE TABLE would fail if re-run
  EXPECT_EQ(*count("orders"), 2);

  orders.push_back({4, "UPDATE orders SET total = 10"});
  auto other = open_db({});  // another process, in effect
  ASSERT_OK(other);
  ASSERT_OK((*other)->migrate("orders", orders));
  EXPECT_EQ(*db_->schema_version("orders"), 4);

  const std::vector<Migration> inbox = {{1, "CREATE TABLE inbox(message_id TEXT PRIMARY KEY)"}};
  EXPECT_EQ(*db_->schema_version("inbox"), 0);
  ASSERT_OK(db_->migrate("inbox", inbox));
  ASSERT_OK(db_->transaction([&](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Rows rows,
                           tx.query("SELECT component, version FROM wharf_schema_migrations"
                                    " ORDER BY component, version"));
    std::vector<std::string> seen;
    for (const Row& row : rows) {
      seen.push_back(fmt::format("{}/{}", *row.get<std::string>(0), *row.get<std::int64_t>(1)));
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"inbox/1", "orders/1", "orders/2", "orders/3",
                                              "orders/4"}));
    WHARF_ASSIGN_OR_RETURN(Rows totals,
                           tx.query("SELECT count(*) FROM orders WHERE total = ?", 10));
    EXPECT_EQ(*totals.scalar<std::int64_t>(), 2);
    return ok();
  }));
}

TEST_P(SqlConformanceTest, ConcurrentMigratorsApplyEachVersionOnce) {
  const std::vector<Migration> migrations = {
      {1, "CREATE TABLE m(id BIGINT PRIMARY KEY)"},
      {2, "INSERT INTO m VALUES(1); INSERT INTO m VALUES(2)"},
      {3, "CREATE TABLE n(id BIGINT PRIMARY KEY)"},
  };
  constexpr int kMigrators = 4;  // separate Databases: like processes starting together
  std::vector<std::unique_ptr<Database>> dbs;
  for (int i = 0; i < kMigrators; ++i) {
    ASSERT_OK_AND_ASSIGN(auto db, open_db({}));
    dbs.push_back(std::move(db));
  }
  std::vector<Status> results(kMigrators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] { results[i] = dbs[i]->migrate("race", migrations); });
  }
  for (auto& thread : threads) thread.join();
  for (const Status& status : results) EXPECT_TRUE(status) << status.error().to_string();
  EXPECT_EQ(*db_->schema_version("race"), 3);
  EXPECT_EQ(*count("m"), 2);
}

TEST_P(SqlConformanceTest, FailingMigrationLeavesVersionAndSchemaUnchanged) {
  ASSERT_OK(db_->migrate("c", std::vector<Migration>{{1, "CREATE TABLE a(x BIGINT)"}}));
  const std::vector<Migration> broken = {
      {1, "CREATE TABLE a(x BIGINT)"},
      {2, "CREATE TABLE b(x BIGINT); INSERT INTO no_such_table VALUES(1)"},
      {3, "CREATE TABLE c(x BIGINT)"},
  };
  Status status = db_->migrate("c", broken);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message().find("migration 2 of c"), std::string::npos)
      << status.error().to_string();
  EXPECT_EQ(*db_->schema_version("c"), 1);
  Result<std::int64_t> b = count("b");  // created by the failed migration, then rolled back
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kInvalidArgument) << b.error().to_string();
  EXPECT_FALSE(count("c"));  // never reached
  EXPECT_EQ(*count("a"), 0);
}

TEST_P(SqlConformanceTest, MigrationVersionsMustBePositiveAndIncreasing) {
  for (const auto& list : {std::vector<Migration>{{2, "SELECT 1"}, {1, "SELECT 1"}},
                           std::vector<Migration>{{0, "SELECT 1"}},
                           std::vector<Migration>{{1, "SELECT 1"}, {1, "SELECT 1"}}}) {
    Status status = db_->migrate("c", list);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(*db_->schema_version("c"), 0);
}

TEST_P(SqlConformanceTest, RetryableErrorsAreRetriedAtMostAttemptsMaxTimes) {
  int runs = 0;
  int retries = 0;
  Status status = db_->transaction(
      [&](Transaction&) -> Status {
        ++runs;
        return fail(ErrorCode::kConflict, "always busy");
      },
      {.attempts_max = 3, .on_retry = [&](const Error&, int attempt) { retries = attempt; }});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kConflict);
  EXPECT_NE(status.error().message().find("failed 3 times"), std::string::npos)
      << status.error().to_string();
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(retries, 2);
}

TEST_P(SqlConformanceTest, ConstraintViolationsAreConstraintAndNotRetried) {
  ASSERT_OK(create_table("CREATE TABLE t(id BIGINT PRIMARY KEY, note TEXT NOT NULL)"));
  ASSERT_OK(db_->transaction([&](Transaction& tx) {
    return tx.exec("INSERT INTO t VALUES(?, ?)", 1, "a").map([](auto) {});
  }));
  int runs = 0;
  Status duplicate = db_->transaction([&](Transaction& tx) -> Status {
    ++runs;
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?, ?)", 1, "b"));
    return ok();
  });
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kConstraint) << duplicate.error().to_string();
  EXPECT_FALSE(is_retryable(duplicate.error().code()));
  EXPECT_EQ(runs, 1);
  Status null_note = db_->transaction([&](Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO t VALUES(?, ?)", 2, nullptr));
    return ok();
  });
  ASSERT_FALSE(null_note);
  EXPECT_EQ(null_note.error().code(), ErrorCode::kConstraint) << null_note.error().to_string();
}

// Two writers on one row: the second gets a retryable kConflict. The mechanism differs (SQLite:
// the write lock is busy past busy_timeout; PostgreSQL: a serialization failure under
// REPEATABLE READ); the contract is the same.
TEST_P(SqlConformanceTest, SecondWriterGetsRetryableConflict) {
  ASSERT_OK_AND_ASSIGN(auto db, open_db({.busy_timeout = std::chrono::milliseconds(50)}));
  ASSERT_OK(db->transaction([&](Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(tx.exec_script("CREATE TABLE counter(id BIGINT PRIMARY KEY, n BIGINT)"));
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO counter VALUES(1, 0)"));
    return ok();
  }));
  const TransactionOptions rr{.isolation = Isolation::kRepeatableRead};
  ASSERT_OK_AND_ASSIGN(auto first, db->begin(rr));
  ASSERT_OK(first->query("SELECT n FROM counter WHERE id = 1"));
  Error conflict(ErrorCode::kInternal, "no conflict seen");
  if (dialect_ == Dialect::kSqlite) {
    auto second = db->begin(rr);  // the same process: waits at the writer gate
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), ErrorCode::kConflict) << second.error().to_string();
    // Another process, in effect: waits on SQLite's own write lock (busy_timeout).
    ASSERT_OK_AND_ASSIGN(auto other, open_db({.busy_timeout = std::chrono::milliseconds(50)}));
    auto third = other->begin(rr);
    ASSERT_FALSE(third);
    EXPECT_NE(third.error().message().find("locked"), std::string::npos)
        << third.error().to_string();
    conflict = third.error();
    ASSERT_OK(first->commit());
  } else {
    ASSERT_OK_AND_ASSIGN(auto second, db->begin(rr));
    ASSERT_OK(second->query("SELECT n FROM counter WHERE id = 1"));  // takes its snapshot
    ASSERT_OK(first->exec("UPDATE counter SET n = n + 1 WHERE id = 1"));
    ASSERT_OK(first->commit());
    auto update = second->exec("UPDATE counter SET n = n + 1 WHERE id = 1");
    ASSERT_FALSE(update);
    conflict = update.error();
  }
  EXPECT_EQ(conflict.code(), ErrorCode::kConflict) << conflict.to_string();
  EXPECT_TRUE(is_retryable(conflict.code()));
}

TEST_P(SqlConformanceTest, TransactionRetriesAConflictAndThenSucceeds) {
  ASSERT_OK_AND_ASSIGN(auto db, open_db({.busy_timeout = std::chrono::milliseconds(50)}));
  ASSERT_OK(db->transaction([&](Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(tx.exec_script("CREATE TABLE counter(id BIGINT PRIMARY KEY, n BIGINT)"));
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO counter VALUES(1, 0)"));
    return ok();
  }));
  int runs = 0;
  int retries = 0;
  std::unique_ptr<Transaction> holder;
  if (dialect_ == Dialect::kSqlite) {
    // Holds the write lock until the first attempt has failed.
    ASSERT_OK_AND_ASSIGN(holder, db->begin());
    ASSERT_OK(holder->exec("UPDATE counter SET n = n + 1 WHERE id = 1"));
  }
  TransactionOptions options{.isolation = Isolation::kRepeatableRead,
                             .attempts_max = 3,
                             .on_retry = [&](const Error& error, int attempt) {
                               EXPECT_EQ(error.code(), ErrorCode::kConflict) << error.to_string();
                               EXPECT_EQ(attempt, 1);
                               ++retries;
                               if (holder) {
                                 EXPECT_TRUE(holder->commit());
                               }
                             }};
  ASSERT_OK(db->transaction(
      [&](Transaction& tx) -> Status {
        ++runs;
        WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT n FROM counter WHERE id = 1"));
        WHARF_ASSIGN_OR_RETURN(std::int64_t n, rows.scalar<std::int64_t>());
        if (dialect_ == Dialect::kPostgres && runs == 1) {
          // Another writer commits between our read and our write.
          Status other = db->transaction([](Transaction& o) {
            return o.exec("UPDATE counter SET n = n + 1 WHERE id = 1").map([](auto) {});
          });
          EXPECT_TRUE(other) << other.error().to_string();
        }
        WHARF_RETURN_IF_ERROR(tx.exec("UPDATE counter SET n = ? WHERE id = 1", n + 1));
        return ok();
      },
      options));
  EXPECT_EQ(retries, 1);
  EXPECT_EQ(runs, dialect_ == Dialect::kSqlite ? 1 : 2);  // SQLite fails at BEGIN, before the body
  ASSERT_OK(db->transaction([&](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT n FROM counter WHERE id = 1"));
    EXPECT_EQ(*rows.scalar<std::int64_t>(), 2);  // the other writer's and ours
    return ok();
  }));
}

TEST_P(SqlConformanceTest, ConcurrentIncrementsFromSeveralThreadsAllCount) {
  ASSERT_OK(create_table("CREATE TABLE counter(id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"));
  ASSERT_OK(db_->transaction([](Transaction& tx) {
    return tx.exec("INSERT INTO counter VALUES(1, 0)").map([](auto) {});
  }));
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 25;
  std::atomic<int> failures{0};
  std::atomic<int> retries{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        // Read, then write: correct only if conflicting transactions are refused and retried.
        Status status = db_->transaction(
            [](Transaction& tx) -> Status {
              WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT n FROM counter WHERE id = 1"));
              WHARF_ASSIGN_OR_RETURN(std::int64_t n, rows.scalar<std::int64_t>());
              WHARF_RETURN_IF_ERROR(tx.exec("UPDATE counter SET n = ? WHERE id = 1", n + 1));
              return ok();
            },
            {.isolation = Isolation::kSerializable,
             .attempts_max = 200,
             .backoff_max = std::chrono::milliseconds(20),
             .on_retry = [&](const Error&, int) { ++retries; }});
        if (!status) {
          ++failures;
          ADD_FAILURE() << status.error().to_string();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*count("counter"), 1);
  ASSERT_OK(db_->transaction([&](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT n FROM counter WHERE id = 1"));
    EXPECT_EQ(*rows.scalar<std::int64_t>(), kThreads * kIncrementsPerThread);
    return ok();
  }));
  std::printf("%d conflicts retried\n", retries.load());
}

TEST_P(SqlConformanceTest, PoolBoundIsRespected) {
  ASSERT_OK_AND_ASSIGN(
      auto db, open_db({.connections_max = 2, .acquire_timeout = std::chrono::milliseconds(100)}));
  const TransactionOptions read_only{.read_only = true};
  ASSERT_OK_AND_ASSIGN(auto a, db->begin(read_only));
  ASSERT_OK_AND_ASSIGN(auto b, db->begin(read_only));
  auto c = db->begin(read_only);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), ErrorCode::kResourceExhausted) << c.error().to_string();
  a.reset();  // rolls back and returns its connection
  ASSERT_OK_AND_ASSIGN(auto d, db->begin(read_only));
  ASSERT_OK(d->query("SELECT 1"));
}

TEST_P(SqlConformanceTest, UnreachableDatabaseIsUnavailable) {
  Result<std::unique_ptr<Database>> db =
      dialect_ == Dialect::kSqlite
          ? open_sqlite("/nonexistent-wharf-dir/x.db")
          : open_postgres(
                fmt::format("postgresql://postgres@127.0.0.1:{}/x", test::free_local_port()));
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), ErrorCode::kUnavailable) << db.error().to_string();
  EXPECT_TRUE(is_retryable(db.error().code()));
}

INSTANTIATE_TEST_SUITE_P(Backends, SqlConformanceTest,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres),
                         [](const ::testing::TestParamInfo<Dialect>& info) {
                           return std::string(dialect_name(info.param));
                         });

// ---- SQLite only ----

class SqliteStoreTest : public SqlStoreTest {
 protected:
  void SetUp() override { start(Dialect::kSqlite); }
};

TEST_F(SqliteStoreTest, DurabilitySettingsAreInForceOnEveryConnection) {
  // Three transactions at once hold three different connections.
  std::vector<std::unique_ptr<Transaction>> held;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->begin({.read_only = true}));
    ASSERT_OK_AND_ASSIGN(Rows mode, tx->query("PRAGMA journal_mode"));
    EXPECT_EQ(*mode.scalar<std::string>(), "wal");
    ASSERT_OK_AND_ASSIGN(Rows sync, tx->query("PRAGMA synchronous"));
    EXPECT_EQ(*sync.scalar<std::int64_t>(), 2);  // FULL
    ASSERT_OK_AND_ASSIGN(Rows keys, tx->query("PRAGMA foreign_keys"));
    EXPECT_EQ(*keys.scalar<std::int64_t>(), 1);
    ASSERT_OK_AND_ASSIGN(Rows busy, tx->query("PRAGMA busy_timeout"));
    EXPECT_EQ(*busy.scalar<std::int64_t>(), 5000);
    held.push_back(std::move(tx));
  }
}

TEST_F(SqliteStoreTest, OpensFromUrls) {
  ASSERT_OK_AND_ASSIGN(auto db, open("sqlite:" + target_));
  EXPECT_EQ(db->dialect(), Dialect::kSqlite);
  ASSERT_OK(
      db->transaction([](Transaction& tx) { return tx.exec_script("CREATE TABLE u(x BIGINT)"); }));
  ASSERT_OK_AND_ASSIGN(auto memory, open("sqlite::memory:"));
  ASSERT_OK(memory->transaction([](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT ? + 1", 41));
    EXPECT_EQ(*rows.scalar<std::int64_t>(), 42);
    return ok();
  }));
  EXPECT_EQ(open("mysql://x").error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, ForeignKeysAreEnforced) {
  ASSERT_OK(
      create_table("CREATE TABLE p(id BIGINT PRIMARY KEY);"
                   "CREATE TABLE c(id BIGINT PRIMARY KEY, p BIGINT REFERENCES p(id))"));
  Status status = db_->transaction(
      [](Transaction& tx) { return tx.exec("INSERT INTO c VALUES(1, 99)").map([](auto) {}); });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kConstraint) << status.error().to_string();
}

TEST_F(SqliteStoreTest, FullDatabaseIsNoSpaceAndLeavesNothing) {
  ASSERT_OK(create_table("CREATE TABLE big(id BIGINT PRIMARY KEY, b BLOB)"));
  ASSERT_OK_AND_ASSIGN(auto tx, db_->begin());
  // Caps the file at its current size (the pragma clamps to it), as a full disk would.
  ASSERT_OK(tx->query("PRAGMA max_page_count = 1"));
  auto inserted = tx->exec("INSERT INTO big VALUES(1, ?)", Blob(256 * 1024, 0x5a));
  ASSERT_FALSE(inserted);
  EXPECT_EQ(inserted.error().code(), ErrorCode::kNoSpace) << inserted.error().to_string();
  (void)tx->rollback();
  tx.reset();
  EXPECT_EQ(*count("big"), 0);
}

// ---- PostgreSQL only ----

class PostgresStoreTest : public SqlStoreTest {
 protected:
  void SetUp() override { start(Dialect::kPostgres); }
};

TEST_F(PostgresStoreTest, IsolationLevelOptionIsApplied) {
  auto isolation_in = [&](Database& db, const TransactionOptions& options) -> std::string {
    std::string level;
    Status status = db.transaction(
        [&](Transaction& tx) -> Status {
          WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SHOW transaction_isolation"));
          WHARF_ASSIGN_OR_RETURN(level, rows.scalar<std::string>());
          return ok();
        },
        options);
    EXPECT_TRUE(status) << status.error().to_string();
    return level;
  };
  EXPECT_EQ(isolation_in(*db_, {}), "read committed");
  EXPECT_EQ(isolation_in(*db_, {.isolation = Isolation::kSerializable}), "serializable");
  ASSERT_OK_AND_ASSIGN(auto rr, open_db({.isolation = Isolation::kRepeatableRead}));
  EXPECT_EQ(isolation_in(*rr, {}), "repeatable read");
}

TEST_F(PostgresStoreTest, TypesReadBackAsTheirValueTypes) {
  ASSERT_OK(db_->transaction([](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(
        Rows rows, tx.query("SELECT true AS b, 7::int4 AS i, sum(x) AS s, 1.5::numeric AS n,"
                            " '2026-01-01'::date AS d FROM (VALUES (1::bigint), (2)) AS v(x)"));
    EXPECT_EQ(*rows[0].get<bool>("b"), true);
    EXPECT_EQ(*rows[0].get<std::int64_t>("i"), 7);
    EXPECT_EQ(*rows[0].get<std::int64_t>("s"), 3);  // numeric, integral
    EXPECT_EQ(*rows[0].get<double>("n"), 1.5);
    EXPECT_EQ(*rows[0].get<std::string>("d"), "2026-01-01");
    return ok();
  }));
}

TEST_F(PostgresStoreTest, TextValuesTakeTheTypeTheServerInfers) {
  ASSERT_OK(create_table("CREATE TABLE e(at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL)"));
  ASSERT_OK(db_->transaction([](Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO e(at, doc) VALUES(?, ?)", "2026-01-02T03:04:05Z",
                                  R"({"order_id": "o-1", "total_cents": 250})"));
    WHARF_ASSIGN_OR_RETURN(
        Rows rows, tx.query("SELECT doc->>'order_id' AS id, (doc->>'total_cents')::bigint AS total,"
                            " extract(year FROM at AT TIME ZONE 'UTC')::int AS year FROM e"
                            " WHERE at > ?",
                            "2026-01-01T00:00:00Z"));
    EXPECT_EQ(rows.size(), 1u);
    if (rows.size() != 1) return ok();
    EXPECT_EQ(*rows[0].get<std::string>("id"), "o-1");
    EXPECT_EQ(*rows[0].get<std::int64_t>("total"), 250);
    EXPECT_EQ(*rows[0].get<std::int64_t>("year"), 2026);
    WHARF_ASSIGN_OR_RETURN(Rows echo, tx.query("SELECT CAST(? AS TEXT)", "plain"));
    EXPECT_EQ(*echo.scalar<std::string>(), "plain");
    return ok();
  }));
}

TEST_F(PostgresStoreTest, StatementTimeoutIsTimeout) {
  Status status = db_->transaction(
      [](Transaction& tx) -> Status {
        WHARF_RETURN_IF_ERROR(tx.exec("SET LOCAL statement_timeout = 50"));
        WHARF_RETURN_IF_ERROR(tx.query("SELECT pg_sleep(10)"));
        return ok();
      },
      {.attempts_max = 1});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kTimeout) << status.error().to_string();
}

// Two transactions lock two rows in opposite orders; the server (deadlock_timeout=100ms in the
// test server) ends one with 40P01, which must come back as a retryable kConflict.
TEST_F(PostgresStoreTest, DeadlockIsConflict) {
  ASSERT_OK(
      create_table("CREATE TABLE r(id BIGINT PRIMARY KEY, n BIGINT);"
                   "INSERT INTO r VALUES(1, 0), (2, 0)"));
  ASSERT_OK_AND_ASSIGN(auto first, db_->begin());
  ASSERT_OK_AND_ASSIGN(auto second, db_->begin());
  ASSERT_OK(first->exec("UPDATE r SET n = 1 WHERE id = 1"));
  ASSERT_OK(second->exec("UPDATE r SET n = 2 WHERE id = 2"));
  Result<std::int64_t> first_result = 0;
  std::thread other([&] { first_result = first->exec("UPDATE r SET n = 1 WHERE id = 2"); });
  Result<std::int64_t> second_result = second->exec("UPDATE r SET n = 2 WHERE id = 1");
  if (second_result) {
    ASSERT_OK(second->commit());  // lets the first one go on, or it was the deadlock's victim
  } else {
    ASSERT_OK(second->rollback());
  }
  other.join();
  ASSERT_NE(first_result.has_value(), second_result.has_value()) << "exactly one victim";
  const Error& victim = first_result ? second_result.error() : first_result.error();
  EXPECT_EQ(victim.code(), ErrorCode::kConflict) << victim.to_string();
  EXPECT_NE(victim.message().find("40P01"), std::string::npos) << victim.to_string();
  (void)first->rollback();
}

TEST_F(PostgresStoreTest, CommitOfAnAbortedTransactionFailsAndRollsBack) {
  ASSERT_OK(create_table("CREATE TABLE t(id BIGINT PRIMARY KEY)"));
  ASSERT_OK_AND_ASSIGN(auto tx, db_->begin());
  ASSERT_OK(tx->exec("INSERT INTO t VALUES(1)"));
  EXPECT_FALSE(tx->exec("INSERT INTO t VALUES(1)"));  // aborts the transaction
  Status commit = tx->commit();
  ASSERT_FALSE(commit);
  EXPECT_EQ(commit.error().code(), ErrorCode::kInvalidArgument) << commit.error().to_string();
  EXPECT_EQ(*count("t"), 0);
}

TEST_F(PostgresStoreTest, ReconnectsAfterTheServerEndsItsConnections) {
  ASSERT_OK(
      db_->transaction([](Transaction& tx) { return tx.query("SELECT 1").map([](auto) {}); }));
  // Another session ends every other backend of this database, as a server restart would.
  ASSERT_OK_AND_ASSIGN(auto admin, open(target_));
  ASSERT_OK(admin->transaction([](Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(
        Rows rows,
        tx.query("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND pid <> pg_backend_pid()) AS k"));
    EXPECT_GE(*rows.scalar<std::int64_t>(), 1);
    return ok();
  }));
  // Wait (bounded) until the backends are gone, so the next BEGIN really meets a dead socket.
  for (int i = 0; i < 500; ++i) {
    std::int64_t others = -1;
    ASSERT_OK(admin->transaction([&](Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(
          Rows rows, tx.query("SELECT count(*) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND pid <> pg_backend_pid()"));
      WHARF_ASSIGN_OR_RETURN(others, rows.scalar<std::int64_t>());
      return ok();
    }));
    if (others == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_OK(db_->transaction(
      [](Transaction& tx) -> Status {
        WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT ? * 2", 21));
        EXPECT_EQ(*rows.scalar<std::int64_t>(), 42);
        return ok();
      },
      {.attempts_max = 1}));  // no retry: begin() itself replaces the dead connection
}

}  // namespace
}  // namespace wharf::sql
