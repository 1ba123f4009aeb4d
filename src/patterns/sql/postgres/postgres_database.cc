// The PostgreSQL backend (include/wharf/sql/postgres.h), on libpq.
//
// Threads: a Database is shared; each PGconn is used by one thread at a time (the pool hands it
// out). Statements run through the extended protocol as named prepared statements, cached per
// connection; values go as text except blobs (binary bytea); results come back as text and are
// converted by column type.
#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "base/check.h"
#include "patterns/sql/connection_pool.h"
#include "patterns/sql/placeholders.h"
#include "patterns/sql/postgres/errors.h"
#include "patterns/sql/statement_cache.h"
#include "wharf/sql/postgres.h"

namespace wharf::sql {

namespace {

// Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across versions.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

std::string_view isolation_sql(Isolation isolation) {
  switch (isolation) {
    case Isolation::kReadCommitted:
      return "READ COMMITTED";
    case Isolation::kRepeatableRead:
      return "REPEATABLE READ";
    case Isolation::kSerializable:
      return "SERIALIZABLE";
  }
  return "READ COMMITTED";
}

std::string trimmed(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

struct Prepared {
  std::string name;
};

class PgConnection {
 public:
  PgConnection(PGconn* conn, std::size_t statement_cache_max)
      : conn_(conn), statements_(statement_cache_max, [this](Prepared& p) { deallocate(p); }) {}
  ~PgConnection() {
    statements_.forget();  // the server frees them with the session
    PQfinish(conn_);
  }

  static Result<std::unique_ptr<PgConnection>> open(const std::string& conninfo,
                                                    const PostgresOptions& options) {
    const std::string timeout =
        std::to_string(std::max<std::int64_t>(2, options.connect_timeout.count()));
    // expand_dbname: the first "dbname" may be a whole URL or key=value string; the keywords
    // after it override what it says.
    const char* keywords[] = {"dbname", "connect_timeout", "client_encoding", nullptr};
    const char* values[] = {conninfo.c_str(), timeout.c_str(), "UTF8", nullptr};
    PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    if (conn == nullptr) return fail(ErrorCode::kResourceExhausted, "libpq: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string message = trimmed(PQerrorMessage(conn));
      PQfinish(conn);
      return fail(ErrorCode::kUnavailable, "postgres connect: {}", message);
    }
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);  // no stderr chatter
    return std::make_unique<PgConnection>(conn, options.statement_cache_max);
  }

  PGconn* conn() const { return conn_; }
  bool connected() const { return PQstatus(conn_) == CONNECTION_OK; }
  bool healthy() const { return connected() && PQtransactionStatus(conn_) == PQTRANS_IDLE; }

  // The error of a failed result (or of the connection when there is no result).
  Error error(const PGresult* result, std::string_view what) const {
    const char* sqlstate =
        result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string message =
        trimmed(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
    if (message.empty()) message = trimmed(PQerrorMessage(conn_));
    ErrorCode code = ErrorCode::kInternal;
    if (sqlstate != nullptr) {
      code = sqlstate_error_code(sqlstate);
    } else if (!connected()) {
      code = ErrorCode::kUnavailable;  // libpq's own "server closed the connection" has no SQLSTATE
    }
    return Error(code,
                 fmt::format("postgres {}: {}{}", what, message,
                             sqlstate != nullptr ? fmt::format(" (SQLSTATE {})", sqlstate) : ""));
  }

  Result<PgResult> exec_simple(const std::string& sql) {
    PgResult result(PQexec(conn_, sql.c_str()));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      return fail(error(result.get(), sql));
    return result;
  }

  // Runs one statement with parameters as a cached named prepared statement.
  Result<PgResult> exec_params(std::string_view sql, std::span<const Value> args) {
    std::vector<Oid> types(args.size(), 0);
    std::string key(sql);
    key += '\0';
    for (std::size_t i = 0; i < args.size(); ++i) {
      switch (args[i].type()) {
        // Text and NULL go untyped so the server infers the column's type (timestamps, json).
        case Value::Type::kNull:
        case Value::Type::kText:
          key += 'u';
          break;
        case Value::Type::kInt64:
          types[i] = kInt8Oid;
          key += 'i';
          break;
        case Value::Type::kDouble:
          types[i] = kFloat8Oid;
          key += 'd';
          break;
        case Value::Type::kBlob:
          types[i] = kByteaOid;
          key += 'b';
          break;
      }
    }
    Prepared* prepared = statements_.find(key);
    if (prepared == nullptr) {
      const NumberedSql numbered = number_placeholders(sql);
      if (numbered.placeholder_count != static_cast<int>(args.size())) {
        return fail(ErrorCode::kInvalidArgument, "statement has {} placeholders, {} values given",
                    numbered.placeholder_count, args.size());
      }
      std::string name = fmt::format("wharf_{}", ++statements_prepared_);
      PgResult result(PQprepare(conn_, name.c_str(), numbered.text.c_str(),
                                static_cast<int>(args.size()), types.data()));
      if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
        return fail(error(result.get(), "prepare").with_context(sql_excerpt(sql)));
      }
      prepared = &statements_.insert(std::move(key), Prepared{std::move(name)});
    }

    // PostgreSQL refuses any field over 1 GiB; libpq's lengths are ints.
    constexpr std::size_t kFieldBytesMax = std::size_t{1} << 30;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const Value& v = args[i];
      const std::size_t bytes = v.type() == Value::Type::kText   ? v.as_text()->size()
                                : v.type() == Value::Type::kBlob ? v.as_blob()->size()
                                                                 : 0;
      if (bytes > kFieldBytesMax) {
        return fail(ErrorCode::kMessageTooLarge,
                    "value {} is {} bytes; PostgreSQL's limit is 1 GiB", i + 1, bytes);
      }
    }
    std::vector<std::string> texts(args.size());
    std::vector<const char*> pointers(args.size(), nullptr);
    std::vector<int> lengths(args.size(), 0);
    std::vector<int> formats(args.size(), 0);
    for (std::size_t i = 0; i < args.size(); ++i) {
      const Value& v = args[i];
      switch (v.type()) {
        case Value::Type::kNull:
          break;
        case Value::Type::kInt64:
          texts[i] = fmt::format("{}", *v.as_int64());
          break;
        case Value::Type::kDouble:
          texts[i] = fmt::format("{}", *v.as_double());
          break;
        case Value::Type::kText:
          texts[i] = std::string(*v.as_text());
          break;
        case Value::Type::kBlob:
          break;
      }
      if (v.type() == Value::Type::kBlob) {
        auto blob = *v.as_blob();
        pointers[i] = blob.empty() ? "" : reinterpret_cast<const char*>(blob.data());
        lengths[i] = static_cast<int>(blob.size());
        formats[i] = 1;  // binary: the bytes as they are
      } else if (!v.is_null()) {
        pointers[i] = texts[i].c_str();
        lengths[i] = static_cast<int>(texts[i].size());
      }
    }
    PgResult result(PQexecPrepared(conn_, prepared->name.c_str(), static_cast<int>(args.size()),
                                   pointers.data(), lengths.data(), formats.data(),
                                   /*resultFormat=*/0));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      Error e = error(result.get(), "exec").with_context(sql_excerpt(sql));
      if (e.code() == ErrorCode::kUnsupported) statements_.erase(key);  // e.g. a stale cached plan
      return fail(std::move(e));
    }
    return result;
  }

  // After DDL: forget every prepared statement (their plans may no longer fit the schema).
  void drop_statements() {
    statements_.forget();
    PQclear(PQexec(conn_, "DEALLOCATE ALL"));
  }

 private:
  void deallocate(const Prepared& p) {
    // Fails harmlessly inside an aborted transaction; names are never reused.
    PQclear(PQexec(conn_, fmt::format("DEALLOCATE {}", p.name).c_str()));
  }

  PGconn* conn_;
  StatementCache<Prepared> statements_;
  std::uint64_t statements_prepared_ = 0;
};

using Pool = ConnectionPool<PgConnection>;

Result<Value> to_value(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column)) return Value();
  const char* text = PQgetvalue(result, row, column);
  const std::size_t length = static_cast<std::size_t>(PQgetlength(result, row, column));
  const std::string_view s(text, length);
  auto parse_int = [&]() -> Result<Value> {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      return fail(ErrorCode::kInternal, "postgres returned '{}' for an integer column", s);
    }
    return Value(v);
  };
  auto parse_double = [&]() -> Result<Value> {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      return fail(ErrorCode::kInternal, "postgres returned '{}' for a float column", s);
    }
    return Value(v);
  };
  switch (PQftype(result, column)) {
    case kBoolOid:
      return Value(s == "t");
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid:
      return parse_int();
    case kFloat4Oid:
    case kFloat8Oid:
      return parse_double();
    case kNumericOid: {
      // sum(bigint) is numeric: integral values read back as int64, others as double.
      if (s.find_first_of(".eEN") == std::string_view::npos) {
        Result<Value> v = parse_int();
        if (v) return v;
      }
      return parse_double();
    }
    case kByteaOid: {
      // Text format of bytea is "\x" followed by hex (bytea_output=hex, the default since 9.0).
      if (!s.starts_with("\\x") || s.size() % 2 != 0) {
        return fail(ErrorCode::kUnsupported, "bytea not in hex output format");
      }
      Blob blob;
      blob.reserve((s.size() - 2) / 2);
      for (std::size_t i = 2; i < s.size(); i += 2) {
        std::uint8_t byte = 0;
        auto [end, ec] = std::from_chars(s.data() + i, s.data() + i + 2, byte, 16);
        if (ec != std::errc() || end != s.data() + i + 2) {
          return fail(ErrorCode::kInternal, "bad hex in bytea");
        }
        blob.push_back(byte);
      }
      return Value(std::move(blob));
    }
    default:
      return Value(std::string(s));
  }
}

class PgTransaction final : public Transaction {
 public:
  explicit PgTransaction(Pool::Lease lease) : lease_(std::move(lease)) {}
  ~PgTransaction() override {
    if (!finished_) (void)rollback();
  }

  Result<std::int64_t> exec_values(std::string_view sql, std::span<const Value> args) override {
    WHARF_RETURN_IF_ERROR(usable());
    WHARF_ASSIGN_OR_RETURN(PgResult result, lease_->exec_params(sql, args));
    const char* tuples = PQcmdTuples(result.get());
    std::int64_t count = 0;
    if (tuples != nullptr && *tuples != '\0') {
      std::from_chars(tuples, tuples + std::strlen(tuples), count);
    }
    return count;
  }

  Result<Rows> query_values(std::string_view sql, std::span<const Value> args) override {
    WHARF_RETURN_IF_ERROR(usable());
    WHARF_ASSIGN_OR_RETURN(PgResult result, lease_->exec_params(sql, args));
    const int columns_count = PQnfields(result.get());
    auto columns = std::make_shared<std::vector<std::string>>();
    for (int c = 0; c < columns_count; ++c) columns->emplace_back(PQfname(result.get(), c));
    Rows rows(std::move(columns));
    const int rows_count = PQntuples(result.get());
    for (int r = 0; r < rows_count; ++r) {
      std::vector<Value> values;
      values.reserve(static_cast<std::size_t>(columns_count));
      for (int c = 0; c < columns_count; ++c) {
        WHARF_ASSIGN_OR_RETURN(Value v, to_value(result.get(), r, c));
        values.push_back(std::move(v));
      }
      rows.push_back(Row(rows.shared_columns(), std::move(values)));
    }
    return rows;
  }

  Status exec_script(std::string_view sql) override {
    WHARF_RETURN_IF_ERROR(usable());
    WHARF_RETURN_IF_ERROR(lease_->exec_simple(std::string(sql)));
    lease_->drop_statements();
    return ok();
  }

  Status commit() override {
    if (finished_) return fail(ErrorCode::kInvalidArgument, "transaction already finished");
    if (PQtransactionStatus(lease_->conn()) == PQTRANS_INERROR) {
      (void)rollback();
      return fail(ErrorCode::kInvalidArgument,
                  "commit of a transaction that a failed statement aborted: rolled back (use "
                  "with_savepoint to recover from an expected error)");
    }
    Result<PgResult> result = lease_->exec_simple("COMMIT");
    // A failed COMMIT ends the transaction on the server; a lost connection leaves the outcome
    // unknown, and the pool closes the connection.
    finish();
    if (!result) return fail(std::move(result).error().with_context("commit"));
    return ok();
  }

  Status rollback() override {
    if (finished_) return fail(ErrorCode::kInvalidArgument, "transaction already finished");
    Status status = ok();
    if (lease_->connected() && PQtransactionStatus(lease_->conn()) != PQTRANS_IDLE) {
      Result<PgResult> result = lease_->exec_simple("ROLLBACK");
      if (!result) status = fail(std::move(result).error());
    }
    finish();
    return status;
  }

  bool finished() const override { return finished_; }
  Dialect dialect() const override { return Dialect::kPostgres; }

 private:
  Status usable() const {
    if (finished_) return fail(ErrorCode::kInvalidArgument, "transaction already finished");
    return ok();
  }
  void finish() {
    finished_ = true;
    lease_.reset();  // an unhealthy connection (broken, or still in a transaction) is closed
  }

  Pool::Lease lease_;
  bool finished_ = false;
};

class PgDatabase final : public Database {
 public:
  PgDatabase(std::string conninfo, PostgresOptions options)
      : conninfo_(std::move(conninfo)),
        options_(options),
        pool_(std::max<std::size_t>(1, options_.connections_max), options_.acquire_timeout,
              [this] { return PgConnection::open(conninfo_, options_); }) {}

  Dialect dialect() const override { return Dialect::kPostgres; }

  Result<std::unique_ptr<Transaction>> begin(const TransactionOptions& options) override {
    const std::string sql =
        fmt::format("BEGIN ISOLATION LEVEL {} {}",
                    isolation_sql(options.isolation.value_or(options_.isolation)),
                    options.read_only ? "READ ONLY" : "READ WRITE");
    // An idle pooled connection may have died (server restart, idle timeout): its BEGIN fails
    // with the connection broken, the lease closes it, and the next one is tried. Every pooled
    // connection can be dead at once, hence size_max + 1 attempts (the last opens a new one).
    for (std::size_t attempt = 0;; ++attempt) {
      WHARF_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.acquire());
      Result<PgResult> begun = lease->exec_simple(sql);
      if (begun)
        return std::unique_ptr<Transaction>(std::make_unique<PgTransaction>(std::move(lease)));
      if (lease->connected() || attempt >= pool_.size_max()) return fail(std::move(begun).error());
    }
  }

  Status check_open() {
    WHARF_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.acquire());
    return ok();
  }

 private:
  const std::string conninfo_;
  const PostgresOptions options_;
  Pool pool_;
};

}  // namespace

Result<std::unique_ptr<Database>> open_postgres(const std::string& conninfo,
                                                const PostgresOptions& options) {
  auto db = std::make_unique<PgDatabase>(conninfo, options);
  WHARF_RETURN_IF_ERROR(db->check_open());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace wharf::sql
