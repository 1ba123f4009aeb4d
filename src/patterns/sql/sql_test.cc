#include <gtest/gtest.h>

#include "patterns/sql/connection_pool.h"
#include "patterns/sql/placeholders.h"
#include "patterns/sql/statement_cache.h"
#include "patterns/sql/url.h"
#include "wharf/sql.h"

namespace wharf::sql {
namespace {

TEST(PlaceholdersTest, NumbersEachQuestionMarkInOrder) {
  const NumberedSql out = number_placeholders("INSERT INTO t(a, b, c) VALUES(?, ?,?)");
  EXPECT_EQ(out.text, "INSERT INTO t(a, b, c) VALUES($1, $2,$3)");
  EXPECT_EQ(out.placeholder_count, 3);
}

TEST(PlaceholdersTest, LeavesStringLiteralsIdentifiersAndCommentsAlone) {
  const NumberedSql out = number_placeholders(
      "SELECT 'a?b', 'it''s ?', \"col?\", ? -- what?\n, E'\\'?', /* ? /* ? */ ? */ ?");
  EXPECT_EQ(out.text,
            "SELECT 'a?b', 'it''s ?', \"col?\", $1 -- what?\n, E'\\'?', /* ? /* ? */ ? */ $2");
  EXPECT_EQ(out.placeholder_count, 2);
}

TEST(PlaceholdersTest, LeavesDollarQuotedStringsAlone) {
  const NumberedSql out = number_placeholders("SELECT $$a?$$, $tag$ ? $x$ ? $tag$, ?, x$y, $1");
  EXPECT_EQ(out.text, "SELECT $$a?$$, $tag$ ? $x$ ? $tag$, $1, x$y, $1");
  EXPECT_EQ(out.placeholder_count, 1);
}

TEST(PlaceholdersTest, CopiesUnterminatedLiteralAsIs) {
  const NumberedSql out = number_placeholders("SELECT ?, 'open ?");
  EXPECT_EQ(out.text, "SELECT $1, 'open ?");
  EXPECT_EQ(out.placeholder_count, 1);
}

TEST(PlaceholdersTest, PlainIdentifiers) {
  EXPECT_TRUE(is_plain_identifier("sp_1"));
  EXPECT_TRUE(is_plain_identifier("_x"));
  EXPECT_FALSE(is_plain_identifier(""));
  EXPECT_FALSE(is_plain_identifier("1sp"));
  EXPECT_FALSE(is_plain_identifier("sp; DROP TABLE t"));
  EXPECT_FALSE(is_plain_identifier(std::string(64, 'a')));
}

TEST(DatabaseUrlTest, SqliteForms) {
  struct Case {
    const char* url;
    const char* path;
  } cases[] = {{"sqlite:orders.db", "orders.db"},
               {"sqlite://orders.db", "orders.db"},
               {"sqlite:///var/lib/app/orders.db", "/var/lib/app/orders.db"},
               {"sqlite:/abs.db", "/abs.db"},
               {"sqlite::memory:", ":memory:"}};
  for (const Case& c : cases) {
    Result<DatabaseUrl> parsed = parse_database_url(c.url);
    ASSERT_TRUE(parsed) << c.url << ": " << parsed.error().to_string();
    EXPECT_EQ(parsed->dialect, Dialect::kSqlite) << c.url;
    EXPECT_EQ(parsed->target, c.path) << c.url;
  }
}

TEST(DatabaseUrlTest, PostgresUrlsPassThrough) {
  for (const char* url :
       {"postgresql://u:p@db:5432/app?sslmode=disable", "postgres://localhost/x"}) {
    Result<DatabaseUrl> parsed = parse_database_url(url);
    ASSERT_TRUE(parsed) << url;
    EXPECT_EQ(parsed->dialect, Dialect::kPostgres);
    EXPECT_EQ(parsed->target, url);
  }
}

TEST(DatabaseUrlTest, RefusesOtherSchemesAndEmptyPaths) {
  for (const char* url :
       {"mysql://x", "orders.db", "sqlite:", "sqlite://", "sqlite:x.db?mode=ro", ""}) {
    Result<DatabaseUrl> parsed = parse_database_url(url);
    ASSERT_FALSE(parsed) << url;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << url;
  }
}

TEST(ValueTest, TypedAccessAndMismatches) {
  EXPECT_EQ(*Value(42).as<std::int64_t>(), 42);
  EXPECT_EQ(*Value(7).as<double>(), 7.0);  // integers widen
  EXPECT_EQ(*Value(true).as<bool>(), true);
  EXPECT_EQ(*Value("héllo").as<std::string>(), "héllo");
  EXPECT_EQ(*Value(Blob{0, 255}).as<Blob>(), (Blob{0, 255}));
  EXPECT_EQ(*Value().as<std::optional<std::int64_t>>(), std::nullopt);
  EXPECT_EQ(*Value(std::optional<std::string>("x")).as<std::optional<std::string>>(), "x");
  EXPECT_TRUE(Value(std::optional<int>()).is_null());

  Result<std::int64_t> wrong = Value("42").as<std::int64_t>();
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
  Result<std::string> null_text = Value().as<std::string>();
  ASSERT_FALSE(null_text);
  EXPECT_EQ(null_text.error().code(), ErrorCode::kInvalidArgument);
  Result<int> too_big = Value(std::int64_t{1} << 40).as<int>();
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code(), ErrorCode::kOutOfRange);
}

TEST(RowTest, GetsByIndexAndNameWithErrors) {
  auto columns =
      std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"id", "name"});
  Row row(columns, {Value(1), Value("ann")});
  EXPECT_EQ(*row.get<std::int64_t>(0), 1);
  EXPECT_EQ(*row.get<std::string>("name"), "ann");
  EXPECT_EQ(row.get<std::string>("missing").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(row.get<std::string>(2).error().code(), ErrorCode::kOutOfRange);
  Result<std::string> mismatch = row.get<std::string>("id");
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message().find("column 'id'"), std::string::npos)
      << mismatch.error().message();
}

TEST(RowsTest, ScalarNeedsExactlyOneRow) {
  auto columns = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"n"});
  Rows rows(columns);
  EXPECT_EQ(rows.scalar<std::int64_t>().error().code(), ErrorCode::kNotFound);
  rows.push_back(Row(columns, {Value(5)}));
  EXPECT_EQ(*rows.scalar<std::int64_t>(), 5);
  rows.push_back(Row(columns, {Value(6)}));
  EXPECT_EQ(rows.scalar<std::int64_t>().error().code(), ErrorCode::kInvalidArgument);
}

TEST(StatementCacheTest, EvictsLeastRecentlyUsedAndFinalizesEach) {
  std::vector<int> finalized;
  {
    StatementCache<int> cache(2, [&](int& h) { finalized.push_back(h); });
    cache.insert("a", 1);
    cache.insert("b", 2);
    ASSERT_NE(cache.find("a"), nullptr);  // a is now the most recent
    cache.insert("c", 3);                 // evicts b
    EXPECT_EQ(finalized, std::vector<int>{2});
    EXPECT_EQ(cache.find("b"), nullptr);
    EXPECT_EQ(*cache.find("c"), 3);
    EXPECT_EQ(cache.size(), 2u);
  }
  EXPECT_EQ(finalized.size(), 3u);  // the rest on destruction
}

struct FakeConnection {
  bool ok = true;
  bool healthy() const { return ok; }
};

TEST(ConnectionPoolTest, BoundsConnectionsAndReplacesUnhealthyOnes) {
  int created = 0;
  ConnectionPool<FakeConnection> pool(2, std::chrono::milliseconds(20), [&] {
    ++created;
    return Result<std::unique_ptr<FakeConnection>>(std::make_unique<FakeConnection>());
  });
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  auto c = pool.acquire();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), ErrorCode::kResourceExhausted);
  (*a)->ok = false;  // closed on return, its slot freed
  a->reset();
  auto d = pool.acquire();
  ASSERT_TRUE(d);
  EXPECT_EQ(created, 3);
  d->reset();
  auto e = pool.acquire();  // reuses the idle one
  ASSERT_TRUE(e);
  EXPECT_EQ(created, 3);
}

TEST(ConnectionPoolTest, FailedConnectFreesTheSlot) {
  int attempts = 0;
  ConnectionPool<FakeConnection> pool(1, std::chrono::milliseconds(20), [&] {
    ++attempts;
    return Result<std::unique_ptr<FakeConnection>>(fail(ErrorCode::kUnavailable, "down"));
  });
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.acquire();
    ASSERT_FALSE(lease);
    EXPECT_EQ(lease.error().code(), ErrorCode::kUnavailable);
  }
  EXPECT_EQ(attempts, 3);
}

}  // namespace
}  // namespace wharf::sql
