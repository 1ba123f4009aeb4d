#include "wharf/inbox.h"

#include <array>
#include <unordered_set>

#include "base/check.h"
#include "base/log.h"
#include "base/metrics.h"

namespace wharf {
namespace {

// The schema is the same on SQLite and PostgreSQL (docs/formats/inbox.md).
const std::array<sql::Migration, 1> kMigrations = {{
    {1,
     "CREATE TABLE wharf_inbox ("
     "  consumer_group TEXT NOT NULL,"
     "  message_id TEXT NOT NULL,"
     "  processed_at_ms BIGINT NOT NULL,"
     "  PRIMARY KEY (consumer_group, message_id));"
     "CREATE INDEX wharf_inbox_processed_at ON wharf_inbox (processed_at_ms);"},
}};

constexpr std::string_view kRecord =
    "INSERT INTO wharf_inbox (consumer_group, message_id, processed_at_ms) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING";

// Rows per multi-row INSERT of the batch fast path: 3 parameters each, far below SQLite's
// 32,766 and PostgreSQL's 65,535 parameters; a fixed size keeps the prepared statements few.
constexpr std::size_t kRecordRowsMax = 100;

metrics::Counter& duplicates_counter(const std::string& group) {
  return metrics::registry()
      .counter("wharf_inbox_duplicates_total", "Messages skipped by the inbox as already processed")
      .with({{"group", group}});
}

}  // namespace

Result<std::unique_ptr<Inbox>> Inbox::open(sql::Database& db, InboxOptions options) {
  if (options.retention.count() <= 0 || options.cleanup_batch_rows <= 0) {
    return fail(ErrorCode::kInvalidArgument, "inbox retention and cleanup batch must be positive");
  }
  WHARF_RETURN_IF_ERROR(db.migrate("wharf_inbox", kMigrations));
  return std::unique_ptr<Inbox>(new Inbox(db, options));
}

sql::Transaction& inbox_transaction(Context& ctx) {
  sql::Transaction* tx = ctx.get<sql::Transaction>();
  WHARF_CHECK(tx != nullptr);  // only inside Inbox::middleware() or Inbox::batch()
  return *tx;
}

Middleware Inbox::middleware() {
  return [this](Handler next) -> Handler {
    return [this, next = std::move(next)](const Message& m, Context& ctx) -> Status {
      const Clock& clock = options_.clock ? *options_.clock : SystemClock::instance();
      WHARF_ASSIGN_OR_RETURN(auto tx, db_.begin());
      WHARF_ASSIGN_OR_RETURN(const std::int64_t recorded,
                             tx->exec(kRecord, ctx.group(), m.id, clock.now_ms()));
      if (recorded == 0) {
        WHARF_RETURN_IF_ERROR(tx->rollback());
        duplicates_->fetch_add(1);
        duplicates_counter(ctx.group()).inc();
        return ok();
      }
      sql::Transaction* outer = ctx.get<sql::Transaction>();
      ctx.set<sql::Transaction>(tx.get());
      Status s = next(m, ctx);
      ctx.set(outer);
      if (!s) {
        (void)tx->rollback();  // the handler's error is the one to report
        return s;
      }
      return tx->commit();
    };
  };
}

BatchHandler Inbox::batch(Handler handler) {
  return [this, handler = std::move(handler)](const std::vector<const Message*>& messages,
                                              Context& ctx) -> std::vector<Status> {
    const Clock& clock = options_.clock ? *options_.clock : SystemClock::instance();
    auto all = [&](const Error& e) { return std::vector<Status>(messages.size(), fail(e)); };
    sql::Transaction* outer = ctx.get<sql::Transaction>();
    std::uint64_t duplicates = 0;

    // Fast path, for batches where nothing fails: record every id with multi-row inserts that
    // return the ids they inserted (the others are duplicates), run the handlers without
    // savepoints, commit. Any failure rolls all of it back and the batch runs again on the
    // savepoint path below, which isolates the failure.
    auto fast = [&]() -> Result<std::vector<Status>> {
      WHARF_ASSIGN_OR_RETURN(auto tx, db_.begin());
      std::vector<std::string> inserted;  // ids the inserts returned: not seen before
      inserted.reserve(messages.size());
      const std::int64_t now = clock.now_ms();
      for (std::size_t i = 0; i < messages.size(); i += kRecordRowsMax) {
        const std::size_t n = std::min(kRecordRowsMax, messages.size() - i);
        std::string sql =
            "INSERT INTO wharf_inbox (consumer_group, message_id, processed_at_ms) VALUES ";
        std::vector<sql::Value> args;
        args.reserve(3 * n);
        for (std::size_t j = 0; j < n; ++j) {
          sql += j ? ", (?, ?, ?)" : "(?, ?, ?)";
          args.emplace_back(ctx.group());
          args.emplace_back(messages[i + j]->id);
          args.emplace_back(now);
        }
        sql += " ON CONFLICT DO NOTHING RETURNING message_id";
        WHARF_ASSIGN_OR_RETURN(auto rows, tx->query_values(sql, args));
        for (const auto& row : rows) {
          WHARF_ASSIGN_OR_RETURN(std::string id, row.get<std::string>(0));
          inserted.push_back(std::move(id));
        }
      }
      std::unordered_set<std::string_view> fresh(inserted.begin(), inserted.end());
      ctx.set<sql::Transaction>(tx.get());
      std::vector<Status> results;
      results.reserve(messages.size());
      std::uint64_t dup = 0;
      for (const Message* m : messages) {
        if (!fresh.contains(m->id)) {
          ++dup;
          results.push_back(ok());
          continue;
        }
        fresh.erase(m->id);  // the same id twice in one batch: the second is a duplicate
        ctx.set_message(*m);
        Status s = handler(*m, ctx);
        if (!s) {
          ctx.set(outer);
          (void)tx->rollback();
          return fail(std::move(s).error());
        }
        results.push_back(ok());
      }
      ctx.set(outer);
      WHARF_RETURN_IF_ERROR(tx->commit());
      duplicates = dup;
      return results;
    };
    auto fast_results = fast();
    if (fast_results) {
      if (duplicates > 0) {
        duplicates_->fetch_add(duplicates);
        duplicates_counter(ctx.group()).inc(duplicates);
      }
      return std::move(*fast_results);
    }

    // Savepoint path: each message under its own savepoint, so a failure undoes only its own
    // writes and the others commit.
    std::vector<Status> results;
    results.reserve(messages.size());
    auto tx = db_.begin();
    if (!tx) return all(tx.error());
    ctx.set<sql::Transaction>(tx->get());
    for (const Message* m : messages) {
      ctx.set_message(*m);
      bool duplicate = false;
      Status s = (*tx)->with_savepoint("wharf_inbox_message", [&]() -> Status {
        WHARF_ASSIGN_OR_RETURN(const std::int64_t recorded,
                               (*tx)->exec(kRecord, ctx.group(), m->id, clock.now_ms()));
        if (recorded == 0) {
          duplicate = true;
          return ok();
        }
        return handler(*m, ctx);
      });
      if (duplicate) ++duplicates;
      results.push_back(std::move(s));
    }
    ctx.set(outer);
    if (Status c = (*tx)->commit(); !c) return all(c.error());
    if (duplicates > 0) {
      duplicates_->fetch_add(duplicates);
      duplicates_counter(ctx.group()).inc(duplicates);
    }
    return results;
  };
}

Result<std::int64_t> Inbox::cleanup() {
  const Clock& clock = options_.clock ? *options_.clock : SystemClock::instance();
  const std::int64_t before = clock.now_ms() - options_.retention.count();
  std::int64_t deleted = 0;
  WHARF_RETURN_IF_ERROR(db_.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(deleted,
                           tx.exec("DELETE FROM wharf_inbox WHERE (consumer_group, message_id) IN "
                                   "(SELECT consumer_group, message_id FROM wharf_inbox "
                                   "WHERE processed_at_ms < ? LIMIT ?)",
                                   before, options_.cleanup_batch_rows));
    return ok();
  }));
  return deleted;
}

Result<bool> Inbox::processed(const std::string& group, const std::string& message_id) {
  WHARF_ASSIGN_OR_RETURN(auto tx, db_.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(
      auto rows, tx->query("SELECT 1 FROM wharf_inbox WHERE consumer_group = ? AND message_id = ?",
                           group, message_id));
  WHARF_RETURN_IF_ERROR(tx->commit());
  return !rows.empty();
}

}  // namespace wharf
