// The backend-independent parts of Transaction and Database: savepoints, the retry loop of
// Database::transaction, and versioned migrations.
#include <algorithm>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "patterns/sql/placeholders.h"
#include "wharf/sql.h"

namespace wharf::sql {

namespace {

Status savepoint_statement(Transaction& tx, std::string_view verb, std::string_view name) {
  if (!is_plain_identifier(name)) {
    return fail(ErrorCode::kInvalidArgument,
                "savepoint name '{}' is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", name);
  }
  WHARF_RETURN_IF_ERROR(tx.exec_values(fmt::format("{} {}", verb, name), {}));
  return ok();
}

// Runs fn once in one transaction.
Status run_once(Database& db, const std::function<Status(Transaction&)>& fn,
                const TransactionOptions& options) {
  WHARF_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> tx, db.begin(options));
  Status status = fn(*tx);
  if (!status) {
    // A failed rollback leaves nothing to undo here: the backend closes the connection, which
    // ends the transaction on the server.
    (void)tx->rollback();
    return status;
  }
  return tx->commit();
}

// The table that records applied migrations, per dialect (applied_at is informational).
std::string_view migrations_table_sql(Dialect dialect) {
  switch (dialect) {
    case Dialect::kSqlite:
      return "CREATE TABLE IF NOT EXISTS wharf_schema_migrations ("
             " component TEXT NOT NULL,"
             " version BIGINT NOT NULL,"
             " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
             " PRIMARY KEY (component, version))";
    case Dialect::kPostgres:
      return "CREATE TABLE IF NOT EXISTS wharf_schema_migrations ("
             " component TEXT NOT NULL,"
             " version BIGINT NOT NULL,"
             " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
             " PRIMARY KEY (component, version))";
  }
  return {};
}

// Whether wharf_schema_migrations exists (asked of the catalog, so that reading a version has no
// side effect and migrate() creates the table only once).
Result<bool> migrations_table_exists(Transaction& tx) {
  const char* sql =
      tx.dialect() == Dialect::kSqlite
          ? "SELECT count(*) FROM sqlite_master"
            " WHERE type = 'table' AND name = 'wharf_schema_migrations'"
          : "SELECT count(*) FROM pg_catalog.pg_tables"
            " WHERE schemaname = current_schema() AND tablename = 'wharf_schema_migrations'";
  WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query(sql));
  WHARF_ASSIGN_OR_RETURN(std::int64_t count, rows.scalar<std::int64_t>());
  return count > 0;
}

}  // namespace

Status Transaction::savepoint(std::string_view name) {
  return savepoint_statement(*this, "SAVEPOINT", name);
}
Status Transaction::release(std::string_view name) {
  return savepoint_statement(*this, "RELEASE SAVEPOINT", name);
}
Status Transaction::rollback_to(std::string_view name) {
  return savepoint_statement(*this, "ROLLBACK TO SAVEPOINT", name);
}

Status Database::transaction(const std::function<Status(Transaction&)>& fn,
                             const TransactionOptions& options) {
  const int attempts_max = std::max(1, options.attempts_max);
  std::chrono::milliseconds backoff =
      std::max(options.backoff_initial, std::chrono::milliseconds(1));
  for (int attempt = 1;; ++attempt) {
    Status status = run_once(*this, fn, options);
    if (status) return status;
    if (!is_retryable(status.error().code())) return status;
    if (attempt >= attempts_max) {
      if (attempt == 1) return status;
      return fail(std::move(status).error().with_context(
          fmt::format("transaction failed {} times", attempt)));
    }
    if (options.on_retry) options.on_retry(status.error(), attempt);
    // Spreads retries apart; not a test seed. Per thread and made on the first retry: a
    // random_device per transaction cost a syscall on every commit.
    thread_local std::minstd_rand jitter(std::random_device{}());
    std::uniform_int_distribution<std::int64_t> wait(backoff.count() / 2, backoff.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(wait(jitter)));
    backoff = std::min(backoff * 2, std::max(options.backoff_max, backoff));
  }
}

Status Database::migrate(std::string_view component, std::span<const Migration> migrations) {
  if (component.empty()) return fail(ErrorCode::kInvalidArgument, "migrate: empty component name");
  std::int64_t previous = 0;
  for (const Migration& m : migrations) {
    if (m.version <= previous) {
      return fail(ErrorCode::kInvalidArgument,
                  "migrate {}: versions must be positive and strictly increasing ({} after {})",
                  component, m.version, previous);
    }
    previous = m.version;
  }

  // CREATE TABLE IF NOT EXISTS races with another migrator doing the same on PostgreSQL (a
  // unique violation or "type already exists" in the catalog): creators take a transaction-
  // scoped advisory lock first, so the second one waits and then finds the table. The retry
  // below stays for a migrator of an older version that does not take the lock.
  auto create_table = [&](Transaction& tx) -> Status {
    if (tx.dialect() == Dialect::kPostgres) {
      WHARF_RETURN_IF_ERROR(
          tx.query("SELECT pg_advisory_xact_lock(hashtext('wharf_schema_migrations'))"));
    }
    WHARF_ASSIGN_OR_RETURN(bool exists, migrations_table_exists(tx));
    if (exists) return ok();
    return tx.exec_script(migrations_table_sql(dialect()));
  };
  Status created = transaction(create_table);
  if (!created && (created.error().code() == ErrorCode::kConstraint ||
                   created.error().code() == ErrorCode::kInvalidArgument))
    created = transaction(create_table);
  if (!created)
    return fail(std::move(created).error().with_context("create wharf_schema_migrations"));

  for (const Migration& m : migrations) {
    Status applied = transaction([&](Transaction& tx) -> Status {
      if (tx.dialect() == Dialect::kPostgres) {
        // One migrator at a time per database; SQLite's BEGIN IMMEDIATE already serializes.
        WHARF_RETURN_IF_ERROR(
            tx.exec("LOCK TABLE wharf_schema_migrations IN SHARE ROW EXCLUSIVE MODE"));
      }
      WHARF_ASSIGN_OR_RETURN(Rows rows, tx.query("SELECT count(*) FROM wharf_schema_migrations"
                                                 " WHERE component = ? AND version = ?",
                                                 component, m.version));
      WHARF_ASSIGN_OR_RETURN(std::int64_t count, rows.scalar<std::int64_t>());
      if (count > 0) return ok();
      WHARF_RETURN_IF_ERROR(tx.exec_script(m.sql));
      WHARF_RETURN_IF_ERROR(
          tx.exec("INSERT INTO wharf_schema_migrations(component, version) VALUES(?, ?)", component,
                  m.version));
      return ok();
    });
    if (!applied) {
      return fail(std::move(applied).error().with_context(
          fmt::format("migration {} of {}", m.version, component)));
    }
  }
  return ok();
}

Result<std::int64_t> Database::schema_version(std::string_view component) {
  std::int64_t version = 0;
  Status status = transaction(
      [&](Transaction& tx) -> Status {
        WHARF_ASSIGN_OR_RETURN(bool exists, migrations_table_exists(tx));
        if (!exists) return ok();
        WHARF_ASSIGN_OR_RETURN(Rows rows,
                               tx.query("SELECT max(version) FROM wharf_schema_migrations"
                                        " WHERE component = ?",
                                        component));
        WHARF_ASSIGN_OR_RETURN(std::optional<std::int64_t> max,
                               rows.scalar<std::optional<std::int64_t>>());
        version = max.value_or(0);
        return ok();
      },
      TransactionOptions{.read_only = true});
  if (!status) return fail(std::move(status).error());
  return version;
}

}  // namespace wharf::sql
