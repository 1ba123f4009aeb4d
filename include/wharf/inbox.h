// The inbox: idempotent consumers on SQLite or PostgreSQL.
//
//   auto inbox = wharf::Inbox::open(*db);                 // creates its table once (migration)
//   router.use(wharf::dead_letter());
//   router.use(wharf::retry());
//   router.use((*inbox)->middleware());                    // innermost: one transaction per try
//   router.on<OrderPlaced>("orders", [](const OrderPlaced& e, wharf::Context& ctx) -> wharf::Status
//   {
//     auto& tx = wharf::inbox_transaction(ctx);            // the inbox's transaction
//     return tx.exec("UPDATE stock SET reserved = reserved + 1 WHERE sku = ?", e.sku).map([](auto)
//     {});
//   });
//
// Each message is handled inside one SQL transaction that first records (consumer group,
// message id) in wharf_inbox and then runs the handler, which is given that transaction for its
// own writes. The handler's writes and the "processed" record commit together or not at all:
// a handler that fails (or a commit that fails) records nothing, so the message is handled
// again; a message whose id is already recorded for the group is skipped (counted as a
// duplicate) without calling the handler. Exactly-once in effect for everything the handler
// writes through the transaction; effects outside it (an e-mail, an HTTP call) stay
// at-least-once.
//
// Batch mode (batch()): many messages of one lane in one transaction, each under its own
// savepoint, so a failing message rolls back only its own writes and the others commit (its
// lane then stops at it, and the messages after it come again and are skipped as duplicates).
//
// Dedup window: ids are kept for `retention` (7 days by default) and deleted afterwards by
// cleanup(), in batches of cleanup_batch_rows, so the table does not grow without bound. A
// duplicate delivered later than that is handled again. Schema: docs/formats/inbox.md.
//
// Threads: thread-safe (the Database's pool); the middleware runs on the router's workers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "wharf/router.h"
#include "wharf/sql.h"

namespace wharf {

struct InboxOptions {
  std::chrono::milliseconds retention{7LL * 24 * 3600 * 1000};
  std::int64_t cleanup_batch_rows = 1000;
  const Clock* clock = nullptr;  // processed_at and cleanup; nullptr: the system clock
};

class Inbox {
 public:
  // Applies the inbox's migrations (component "wharf_inbox") and returns the inbox.
  [[nodiscard]] static Result<std::unique_ptr<Inbox>> open(sql::Database& db,
                                                           InboxOptions options = {});

  // Per message: one transaction (see the header comment).
  Middleware middleware();
  // Batch mode: wraps a per-message handler into a BatchHandler for Router::on_batch.
  BatchHandler batch(Handler handler);

  // Deletes at most cleanup_batch_rows ids older than the retention; returns how many. Call it
  // until it returns less than the batch (or periodically).
  [[nodiscard]] Result<std::int64_t> cleanup();
  // Whether (group, message id) is recorded.
  [[nodiscard]] Result<bool> processed(const std::string& group, const std::string& message_id);

  std::uint64_t duplicates() const { return duplicates_->load(); }

 private:
  Inbox(sql::Database& db, InboxOptions options) : db_(db), options_(options) {}
  sql::Database& db_;
  InboxOptions options_;
  std::shared_ptr<std::atomic<std::uint64_t>> duplicates_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
};

// The transaction the inbox opened for the message being handled. REQUIRES: called from a
// handler under Inbox::middleware() or Inbox::batch() (checked).
sql::Transaction& inbox_transaction(Context& ctx);

}  // namespace wharf
