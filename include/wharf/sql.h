// The SQL store interface that the outbox, inbox, event store and sagas sit on.
//
// Public. One `Database` / `Transaction` interface with two implementations, each its own
// library so that SQLite and libpq are link-time choices: SQLite (`wharf/sql/sqlite.h`, the
// embedded default: WAL, synchronous=FULL) and PostgreSQL (`wharf/sql/postgres.h`, a bounded
// connection pool). `wharf/sql/open.h` opens either from a URL.
//
// Threads: a Database is thread-safe; each Transaction belongs to the one thread that uses it
// (it holds one pooled connection until it commits, rolls back or is destroyed). Calls block.
//
// Durability: a commit that returned ok is durable as the backend defines it (SQLite synced with
// synchronous=FULL; PostgreSQL per the server's synchronous_commit).
//
// SQL text uses `?` placeholders in both dialects; PostgreSQL receives them as $1, $2, ... (a `?`
// inside a string literal, quoted identifier, comment or dollar-quoted string is left alone).
// Errors are classified (docs/decisions/0003-sql-stores.md): kConflict (busy, serialization
// failure, deadlock), kUnavailable (cannot connect, connection lost), kConstraint (unique,
// foreign key, check, not null); `transaction()` retries the whole body on retryable ones.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "wharf/result.h"

namespace wharf::sql {

enum class Dialect { kSqlite, kPostgres };
std::string_view dialect_name(Dialect dialect);

// PostgreSQL isolation levels. SQLite transactions are always serializable.
enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

using Blob = std::vector<std::uint8_t>;

// One SQL value: NULL, a 64-bit integer, a double, UTF-8 text or a blob. Booleans are stored as
// the integers 0 and 1 (SQLite has no boolean type; PostgreSQL booleans read back as 0/1).
class Value {
 public:
  enum class Type { kNull, kInt64, kDouble, kText, kBlob };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(std::nullopt_t) {}
  Value(bool v) : data_(std::int64_t{v ? 1 : 0}) {}
  // Unsigned 64-bit integers do not convert implicitly: half their range does not fit.
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
           (std::is_signed_v<T> || sizeof(T) < sizeof(std::int64_t))) Value(T v)
      : data_(static_cast<std::int64_t>(v)) {}
  Value(double v) : data_(v) {}
  Value(float v) : data_(static_cast<double>(v)) {}
  Value(std::string v) : data_(std::move(v)) {}
  Value(std::string_view v) : data_(std::string(v)) {}
  Value(const char* v) : data_(std::string(v)) {}
  Value(Blob v) : data_(std::move(v)) {}
  template <typename T>
  Value(const std::optional<T>& v) {
    if (v) *this = Value(*v);
  }

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_null() const { return type() == Type::kNull; }

  // Typed access; a NULL or a value of another type is kInvalidArgument. Integers widen to
  // double; nothing else converts. T is one of std::int64_t, int, bool, double, std::string,
  // Blob, or std::optional of one of them (NULL gives std::nullopt).
  template <typename T>
  Result<T> as() const;

  Result<std::int64_t> as_int64() const;
  Result<double> as_double() const;
  Result<std::string_view> as_text() const;
  Result<std::span<const std::uint8_t>> as_blob() const;

  // For messages and test output: 42, 1.5, 'text', x'00ff', NULL.
  std::string to_string() const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  std::variant<std::monostate, std::int64_t, double, std::string, Blob> data_;
};

std::string_view value_type_name(Value::Type type);

// One result row. Columns are found by index or by name (the first column of that name).
class Row {
 public:
  Row(std::shared_ptr<const std::vector<std::string>> columns, std::vector<Value> values)
      : columns_(std::move(columns)), values_(std::move(values)) {}

  std::size_t size() const { return values_.size(); }
  // REQUIRES: index < size() (checked; aborts otherwise).
  const Value& operator[](std::size_t index) const;
  const std::vector<Value>& values() const { return values_; }
  const std::vector<std::string>& columns() const { return *columns_; }

  // kOutOfRange for an index past the end, kNotFound for an unknown column name,
  // kInvalidArgument for a type mismatch (see Value::as).
  template <typename T>
  Result<T> get(std::size_t index) const {
    if (index >= values_.size()) return fail(out_of_range(index));
    return values_[index].as<T>().map_error([&](Error e) { return column_error(index, e); });
  }
  template <typename T>
  Result<T> get(std::string_view column) const {
    WHARF_ASSIGN_OR_RETURN(std::size_t index, column_index(column));
    return get<T>(index);
  }
  Result<std::size_t> column_index(std::string_view column) const;

 private:
  Error out_of_range(std::size_t index) const;
  Error column_error(std::size_t index, const Error& error) const;

  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<Value> values_;
};

// The rows of a query, in the order the database returned them.
class Rows {
 public:
  Rows() : columns_(std::make_shared<const std::vector<std::string>>()) {}
  explicit Rows(std::shared_ptr<const std::vector<std::string>> columns)
      : columns_(std::move(columns)) {}

  const std::vector<std::string>& columns() const { return *columns_; }
  const std::shared_ptr<const std::vector<std::string>>& shared_columns() const { return columns_; }
  std::size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  // REQUIRES: index < size() (checked).
  const Row& operator[](std::size_t index) const;
  auto begin() const { return rows_.begin(); }
  auto end() const { return rows_.end(); }
  void push_back(Row row) { rows_.push_back(std::move(row)); }

  // The first column of the only row: "SELECT count(*) ...". kNotFound without rows,
  // kInvalidArgument with more than one row.
  template <typename T>
  Result<T> scalar() const {
    WHARF_RETURN_IF_ERROR(check_scalar());
    return rows_.front().get<T>(0);
  }

 private:
  Status check_scalar() const;

  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<Row> rows_;
};

// One database transaction on one connection. Obtained from Database::begin() or passed to the
// body of Database::transaction(). Not thread-safe: one thread at a time.
//
// Destroying a transaction that was neither committed nor rolled back rolls it back.
class Transaction {
 public:
  Transaction() = default;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  virtual ~Transaction() = default;

  // Runs one statement; returns the number of rows it changed.
  //   tx.exec("INSERT INTO orders(id, total_cents) VALUES(?, ?)", id, total_cents)
  template <typename... Args>
  Result<std::int64_t> exec(std::string_view sql, const Args&... args) {
    const std::array<Value, sizeof...(Args)> values{Value(args)...};
    return exec_values(sql, values);
  }
  // Runs one statement and returns its rows.
  template <typename... Args>
  Result<Rows> query(std::string_view sql, const Args&... args) {
    const std::array<Value, sizeof...(Args)> values{Value(args)...};
    return query_values(sql, values);
  }

  // The non-template core of exec() and query(). kInvalidArgument when the number of `?`
  // placeholders and of values differ.
  virtual Result<std::int64_t> exec_values(std::string_view sql, std::span<const Value> args) = 0;
  virtual Result<Rows> query_values(std::string_view sql, std::span<const Value> args) = 0;
  // Runs several `;`-separated statements without parameters (migrations, schema set-up).
  virtual Status exec_script(std::string_view sql) = 0;

  // Savepoints. A name is an SQL identifier ([A-Za-z_][A-Za-z0-9_]*); others are
  // kInvalidArgument.
  Status savepoint(std::string_view name);
  Status release(std::string_view name);
  Status rollback_to(std::string_view name);

  // Runs `fn()` (returning Status) under savepoint `name`: released when fn succeeds; rolled
  // back to (and released) when it fails, keeping the rest of the transaction. Returns fn's
  // status. On PostgreSQL this also recovers a transaction that a failed statement aborted.
  template <typename F>
  Status with_savepoint(std::string_view name, F&& fn) {
    WHARF_RETURN_IF_ERROR(savepoint(name));
    Status status = std::forward<F>(fn)();
    if (status) return release(name);
    Status undone = rollback_to(name);
    if (!undone) return fail(std::move(undone).error().with_context(status.error().to_string()));
    WHARF_RETURN_IF_ERROR(release(name));
    return status;
  }

  // Ends the transaction. Afterwards every call fails with kInvalidArgument. A commit that fails
  // rolls back. Committing a transaction that a failed statement aborted (PostgreSQL) rolls it
  // back and fails.
  virtual Status commit() = 0;
  virtual Status rollback() = 0;
  virtual bool finished() const = 0;

  virtual Dialect dialect() const = 0;
};

struct TransactionOptions {
  // BEGIN (SQLite: deferred; PostgreSQL: READ ONLY) instead of a write transaction
  // (SQLite: BEGIN IMMEDIATE, so writers queue at the start instead of failing midway).
  bool read_only = false;
  // PostgreSQL only; unset means the database's default (PostgresOptions::isolation).
  std::optional<Isolation> isolation;
  // transaction() only: how many times the body may run when it, BEGIN or COMMIT fails with a
  // retryable error (is_retryable). 1 = no retries. Waits between attempts double from
  // backoff_initial up to backoff_max, with jitter.
  int attempts_max = 5;
  std::chrono::milliseconds backoff_initial{2};
  std::chrono::milliseconds backoff_max{200};
  // transaction() only: called before each retry with the error and the attempt that failed
  // (1-based). For metrics and tests.
  std::function<void(const Error&, int attempt)> on_retry;
};

// One versioned schema change of one component ("outbox", "inbox", ...). `sql` may hold
// several statements; it runs inside the transaction that records the version.
struct Migration {
  std::int64_t version = 0;
  std::string sql;
};

// A connection pool over one database. Thread-safe. Obtain with open_sqlite, open_postgres or
// open(url). Every Transaction must be destroyed before its Database.
class Database {
 public:
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  virtual ~Database() = default;

  virtual Dialect dialect() const = 0;

  // Starts a transaction for explicit control (commit/rollback). Waits for a free connection
  // up to the backend's acquire timeout; then kResourceExhausted.
  virtual Result<std::unique_ptr<Transaction>> begin(const TransactionOptions& options = {}) = 0;

  // Runs fn(tx) in a transaction: commits when fn succeeds, rolls back when it fails, and runs
  // it again (up to options.attempts_max times in all) when BEGIN, fn or COMMIT fails with a
  // retryable error. fn must therefore be safe to run more than once (no effects outside tx).
  // Returns the last error.
  Status transaction(const std::function<Status(Transaction&)>& fn,
                     const TransactionOptions& options = {});

  // Applies the migrations of `component` that are not yet recorded in
  // wharf_schema_migrations(component, version, applied_at), in version order, each in its own
  // transaction with its version row: a failing migration leaves the schema and the recorded
  // version as they were. Versions must be positive and strictly increasing
  // (kInvalidArgument otherwise). Safe to call from several processes at once.
  Status migrate(std::string_view component, std::span<const Migration> migrations);
  // The highest applied version of `component`, 0 when none.
  Result<std::int64_t> schema_version(std::string_view component);
};

}  // namespace wharf::sql
