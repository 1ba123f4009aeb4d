// The loyalty group's ledger, event-sourced, and the order-history view built from it.
//
// Each order earns its customer a point per unit of currency: a loyalty.PointsEarned event on the
// stream loyalty-<customer>, appended in the inbox's transaction (so exactly once per order,
// however often the order is delivered). The order-history view is a projection of those events
// into order_history(customer_id, orders, points, last_order_id) in the same database, with its
// checkpoint in the same transaction; it can be rebuilt while it serves:
//   wharf projection rebuild order_history --db sqlite:<data-dir>/loyalty.db --wait
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include <wharf/event_store.h>
#include <wharf/wharf.h>

#include "model.h"

namespace wharf::checkout {

struct PointsEarned {
  std::string customer_id;
  std::string order_id;
  std::int64_t points = 0;
};
WHARF_EVENT(PointsEarned, "loyalty.PointsEarned", 1, customer_id, order_id, points);

inline constexpr const char* kHistoryProjection = "order_history";

class Loyalty {
 public:
  // The event store and the order-history projection on `db` (migrated, tables created).
  static Result<std::unique_ptr<Loyalty>> open(sql::Database& db);
  ~Loyalty();

  // Appends the order's points to its customer's stream, inside the caller's transaction.
  Status record(sql::Transaction& tx, const OrderPlaced& order);
  // Runs the projection on a thread until stop(), which then catches it up to the head.
  void start_history();
  Status stop();

  // The example's proof, after stop(): the view equals the ledger (points and orders per
  // customer summed over every stream), `orders`/`points` are what the ledger must hold, and for
  // a sample of customers the account loaded from a snapshot plus later events equals the one
  // from a full replay and the view's row. Empty when all holds, else what did not.
  Result<std::string> verify(std::int64_t orders, std::int64_t points);

  Projection& history() { return *history_; }
  EventStore& store() { return *store_; }

 private:
  explicit Loyalty(sql::Database& db) : db_(db) {}
  sql::Database& db_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Projection> history_;
  std::stop_source stop_;
  std::thread thread_;
  Status result_ = ok();
};

// `wharf-checkout history`: brings the view up to date (with `follow`, keeps it live until
// SIGTERM, performing requested rebuilds), then prints the `top` customers by points. Exit code.
int run_history(const std::string& db_path, bool follow, int top);

}  // namespace wharf::checkout
