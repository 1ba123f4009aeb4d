// The SQLite backend (include/wharf/sql/sqlite.h).
//
// Threads: a Database is shared; each connection is used by one thread at a time (the pool hands
// it out), so connections are opened with SQLITE_OPEN_NOMUTEX. Readers run concurrently under
// WAL; writers serialize on SQLite's write lock, taken at BEGIN IMMEDIATE.
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>

#include <fmt/format.h>
#include <sqlite3.h>

#include "base/check.h"
#include "patterns/sql/connection_pool.h"
#include "patterns/sql/placeholders.h"
#include "patterns/sql/sqlite/errors.h"
#include "patterns/sql/statement_cache.h"
#include "wharf/sql/sqlite.h"

namespace wharf::sql {

namespace {

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error(sqlite_error_code(rc), fmt::format("sqlite {}: {} (code {})", what, message, rc));
}

// Whether the text after a prepared statement holds another statement (not just whitespace,
// semicolons or comments): SQLite prepares nothing from the latter.
bool holds_statement(sqlite3* db, const char* begin, const char* end) {
  while (begin < end) {
    sqlite3_stmt* next = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db, begin, static_cast<int>(end - begin), &next, &tail);
    if (rc != SQLITE_OK) return true;  // something that is not a comment
    if (next != nullptr) {
      sqlite3_finalize(next);
      return true;
    }
    if (tail == nullptr || tail <= begin) return false;
    begin = tail;
  }
  return false;
}

// One write transaction at a time in this process. Not a mutex: a transaction may end on
// another thread than the one that began it, which a std::mutex forbids.
class WriterGate {
 public:
  bool enter(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!free_.wait_for(lock, timeout, [&] { return !busy_; })) return false;
    busy_ = true;
    return true;
  }
  void leave() {
    {
      std::lock_guard lock(mutex_);
      WHARF_CHECK(busy_);
      busy_ = false;
    }
    free_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable free_;
  bool busy_ = false;
};

class SqliteConnection {
 public:
  SqliteConnection(sqlite3* db, std::size_t statement_cache_max)
      : db_(db), statements_(statement_cache_max, [](sqlite3_stmt*& s) { sqlite3_finalize(s); }) {}
  ~SqliteConnection() {
    statements_.clear();
    sqlite3_close_v2(db_);
  }

  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path,
                                                        const SqliteOptions& options) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (options.create_if_missing) flags |= SQLITE_OPEN_CREATE;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      Error error = sqlite_error(db, rc, fmt::format("open {}", path));
      sqlite3_close_v2(db);
      return fail(std::move(error));
    }
    auto connection = std::make_unique<SqliteConnection>(db, options.statement_cache_max);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
    WHARF_RETURN_IF_ERROR(connection->exec_simple("PRAGMA synchronous=FULL"));
    WHARF_RETURN_IF_ERROR(connection->exec_simple("PRAGMA foreign_keys=ON"));
    if (path != ":memory:") {
      // journal_mode answers with the mode in force; a database that cannot use WAL says so.
      std::string mode;
      WHARF_RETURN_IF_ERROR(connection->exec_simple("PRAGMA journal_mode=WAL", &mode));
      if (mode != "wal") {
        return fail(ErrorCode::kUnsupported, "sqlite {}: journal_mode is '{}', not 'wal'", path,
                    mode);
      }
    }
    return connection;
  }

  sqlite3* db() const { return db_; }

  // Healthy = usable by the next lease: no transaction left open and no unrecoverable error.
  bool healthy() const { return !broken_ && sqlite3_get_autocommit(db_) != 0; }
  void mark_broken() { broken_ = true; }

  // Runs statements without parameters; `first_value` receives the first column of the first
  // row, if asked.
  Status exec_simple(const char* sql, std::string* first_value = nullptr) {
    struct Out {
      std::string* value;
      bool set = false;
    } out{first_value};
    char* message = nullptr;
    const int rc = sqlite3_exec(
        db_, sql,
        [](void* p, int n, char** values, char**) {
          auto* o = static_cast<Out*>(p);
          if (o->value != nullptr && !o->set && n > 0 && values[0] != nullptr) {
            *o->value = values[0];
            o->set = true;
          }
          return 0;
        },
        &out, &message);
    if (rc != SQLITE_OK) {
      std::string text = message != nullptr ? message : sqlite3_errstr(rc);
      sqlite3_free(message);
      return fail(Error(sqlite_error_code(rc), fmt::format("sqlite: {} (code {})", text, rc)));
    }
    return ok();
  }

  // A prepared statement for `sql`, from the cache or newly prepared (and cached).
  Result<sqlite3_stmt*> prepare(std::string_view sql) {
    std::string key(sql);
    if (sqlite3_stmt** cached = statements_.find(key)) return *cached;
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK)
      return fail(sqlite_error(db_, rc, "prepare").with_context(sql_excerpt(sql)));
    if (stmt == nullptr) return fail(ErrorCode::kInvalidArgument, "empty SQL statement");
    if (tail != nullptr && holds_statement(db_, tail, sql.data() + sql.size())) {
      sqlite3_finalize(stmt);
      return fail(ErrorCode::kInvalidArgument,
                  "more than one statement in exec/query; use exec_script: {}", sql);
    }
    return statements_.insert(std::move(key), stmt);
  }

 private:
  sqlite3* db_;
  StatementCache<sqlite3_stmt*> statements_;
  bool broken_ = false;
};

using Pool = ConnectionPool<SqliteConnection>;

Status bind(sqlite3* db, sqlite3_stmt* stmt, std::span<const Value> args) {
  const int expected = sqlite3_bind_parameter_count(stmt);
  if (expected != static_cast<int>(args.size())) {
    return fail(ErrorCode::kInvalidArgument, "statement has {} placeholders, {} values given",
                expected, args.size());
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    const Value& v = args[i];
    int rc = SQLITE_OK;
    // SQLITE_STATIC: the values outlive the statement's execution (cleared before returning).
    switch (v.type()) {
      case Value::Type::kNull:
        rc = sqlite3_bind_null(stmt, index);
        break;
      case Value::Type::kInt64:
        rc = sqlite3_bind_int64(stmt, index, *v.as_int64());
        break;
      case Value::Type::kDouble:
        rc = sqlite3_bind_double(stmt, index, *v.as_double());
        break;
      case Value::Type::kText: {
        std::string_view text = *v.as_text();
        rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
        break;
      }
      case Value::Type::kBlob: {
        auto blob = *v.as_blob();
        // A null pointer would bind NULL, so an empty blob is bound as a zero-length zeroblob.
        rc = blob.empty()
                 ? sqlite3_bind_zeroblob(stmt, index, 0)
                 : sqlite3_bind_blob64(stmt, index, blob.data(), blob.size(), SQLITE_STATIC);
        break;
      }
    }
    if (rc != SQLITE_OK) return fail(sqlite_error(db, rc, fmt::format("bind value {}", index)));
  }
  return ok();
}

Value column_value(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return Value(static_cast<std::int64_t>(sqlite3_column_int64(stmt, i)));
    case SQLITE_FLOAT:
      return Value(sqlite3_column_double(stmt, i));
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      return Value(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, i))));
    }
    case SQLITE_BLOB: {
      const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, i));
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, i));
      return Value(data == nullptr ? Blob{} : Blob(data, data + size));
    }
    default:
      return Value();
  }
}

class SqliteTransaction final : public Transaction {
 public:
  // `writer`: the gate this write transaction entered (nullptr for a read-only one).
  SqliteTransaction(Pool::Lease lease, WriterGate* writer)
      : lease_(std::move(lease)), writer_(writer) {}
  ~SqliteTransaction() override {
    if (!finished_) (void)rollback();
  }

  Result<std::int64_t> exec_values(std::string_view sql, std::span<const Value> args) override {
    WHARF_RETURN_IF_ERROR(usable());
    WHARF_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, lease_->prepare(sql));
    WHARF_RETURN_IF_ERROR(run(stmt, args, nullptr));
    return static_cast<std::int64_t>(sqlite3_changes64(lease_->db()));
  }

  Result<Rows> query_values(std::string_view sql, std::span<const Value> args) override {
    WHARF_RETURN_IF_ERROR(usable());
    WHARF_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, lease_->prepare(sql));
    const int n = sqlite3_column_count(stmt);
    auto columns = std::make_shared<std::vector<std::string>>();
    for (int i = 0; i < n; ++i) columns->emplace_back(sqlite3_column_name(stmt, i));
    Rows rows(std::move(columns));
    WHARF_RETURN_IF_ERROR(run(stmt, args, &rows));
    return rows;
  }

  Status exec_script(std::string_view sql) override {
    WHARF_RETURN_IF_ERROR(usable());
    return note_failure(lease_->exec_simple(std::string(sql).c_str()));
  }

  Status commit() override {
    if (finished_) return fail(ErrorCode::kInvalidArgument, "transaction already finished");
    if (aborted_by_) {
      Error error = aborted_by_->with_context("commit after SQLite rolled the transaction back");
      (void)rollback();
      return fail(std::move(error));
    }
    Status status = lease_->exec_simple("COMMIT");
    if (!status) {
      (void)rollback();
      return fail(std::move(status).error().with_context("commit"));
    }
    finish();
    return ok();
  }

  Status rollback() override {
    if (finished_) return fail(ErrorCode::kInvalidArgument, "transaction already finished");
    Status status = ok();
    if (sqlite3_get_autocommit(lease_->db()) == 0) {
      status = lease_->exec_simple("ROLLBACK");
      if (!status) lease_->mark_broken();  // closed by the pool, which ends the transaction
    }
    finish();
    return status;
  }

  bool finished() const override { return finished_; }
  Dialect dialect() const override { return Dialect::kSqlite; }

 private:
  Status usable() const {
    if (finished_) return fail(ErrorCode::kInvalidArgument, "transaction already finished");
    if (aborted_by_) {
      return fail(aborted_by_->with_context("SQLite rolled the transaction back after an error"));
    }
    return ok();
  }

  // SQLite rolls a transaction back by itself after some errors (full disk, I/O, out of memory).
  Status note_failure(Status status) {
    if (!status && sqlite3_get_autocommit(lease_->db()) != 0) aborted_by_ = status.error();
    return status;
  }

  Status run(sqlite3_stmt* stmt, std::span<const Value> args, Rows* rows) {
    Status status = bind(lease_->db(), stmt, args);
    if (status) {
      const int n = sqlite3_column_count(stmt);
      for (;;) {
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) break;
        if (rc == SQLITE_ROW) {
          if (rows != nullptr) {
            std::vector<Value> values;
            values.reserve(static_cast<std::size_t>(n));
            for (int i = 0; i < n; ++i) values.push_back(column_value(stmt, i));
            rows->push_back(Row(rows->shared_columns(), std::move(values)));
          }
          continue;
        }
        status = fail(
            sqlite_error(lease_->db(), rc, "step").with_context(sql_excerpt(sqlite3_sql(stmt))));
        break;
      }
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return note_failure(std::move(status));
  }

  void finish() {
    finished_ = true;
    lease_.reset();
    // After COMMIT/ROLLBACK: the next writer may go.
    if (writer_ != nullptr) std::exchange(writer_, nullptr)->leave();
  }

  Pool::Lease lease_;
  WriterGate* writer_;
  bool finished_ = false;
  std::optional<Error> aborted_by_;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::string path, SqliteOptions options)
      : path_(std::move(path)),
        options_(options),
        pool_(path_ == ":memory:" ? 1 : std::max<std::size_t>(1, options_.connections_max),
              options_.acquire_timeout,
              [this] { return SqliteConnection::open(path_, options_); }) {}

  Dialect dialect() const override { return Dialect::kSqlite; }

  Result<std::unique_ptr<Transaction>> begin(const TransactionOptions& options) override {
    // Writers of this process queue here, in turn, rather than in SQLite's busy handler, which
    // polls with sleeps of up to 100 ms. The gate is entered before a connection so that
    // waiting writers never hold the connections readers need. Other processes still meet
    // SQLite's own lock (BEGIN IMMEDIATE, busy_timeout).
    if (!options.read_only && !writer_gate_.enter(options_.busy_timeout)) {
      return fail(ErrorCode::kConflict,
                  "sqlite {}: another write transaction held the database for {} ms", path_,
                  options_.busy_timeout.count());
    }
    WriterGate* writer = options.read_only ? nullptr : &writer_gate_;
    Result<Pool::Lease> lease = pool_.acquire();
    Status begun = lease ? (*lease)->exec_simple(options.read_only ? "BEGIN" : "BEGIN IMMEDIATE")
                         : Status(fail(lease.error()));
    if (!begun) {
      if (writer != nullptr) writer->leave();
      return fail(std::move(begun).error());
    }
    return std::unique_ptr<Transaction>(
        std::make_unique<SqliteTransaction>(std::move(*lease), writer));
  }

  Status check_open() {
    WHARF_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.acquire());
    return ok();
  }

 private:
  const std::string path_;
  const SqliteOptions options_;
  WriterGate writer_gate_;
  Pool pool_;
};

}  // namespace

Result<std::unique_ptr<Database>> open_sqlite(const std::string& path,
                                              const SqliteOptions& options) {
  auto db = std::make_unique<SqliteDatabase>(path, options);
  WHARF_RETURN_IF_ERROR(db->check_open());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace wharf::sql
