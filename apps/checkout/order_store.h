// Checkout's own database: orders, written with their OrderPlaced events in one SQLite
// transaction (the transactional outbox), many concurrent orders per transaction (group
// commit: one fsync acknowledges them all).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <wharf/wharf.h>

#include "model.h"

namespace wharf::checkout {

struct Order {
  std::string order_id;
  std::string customer_id;
  std::int64_t total_cents = 0;
  std::int32_t items = 0;
  bool poison = false;
  std::int64_t scheduled_us = 0;
};

// What the store committed: the truth the consumers' effects are checked against (an order can
// commit while its acknowledgement never reaches the client).
struct CommittedOrders {
  std::int64_t orders = 0;
  std::int64_t poison = 0;
};

class OrderStore {
 public:
  // Called on the writer thread once the order's transaction committed (ok: durable, and with
  // `with_outbox` its event will be published) or failed.
  using Done = std::function<void(Status)>;

  // Opens <path> (created and migrated). `with_outbox`: each order's OrderPlaced goes into the
  // outbox in the same transaction (event-driven mode); without it only the order is stored
  // (the synchronous chain, which calls the consumers itself).
  static Result<std::unique_ptr<OrderStore>> open(const std::string& path, bool with_outbox);
  ~OrderStore();
  OrderStore(const OrderStore&) = delete;
  OrderStore& operator=(const OrderStore&) = delete;

  // Thread-safe. Queues the order for the next group commit; after stop(), fails it at once
  // with kShuttingDown.
  void submit(Order order, Done done);
  // Commits what is queued and stops the writer (idempotent; the destructor calls it). The
  // database stays open: committed() counts everything that will ever commit.
  void stop();

  sql::Database& db() { return *db_; }
  std::uint64_t transactions() const { return transactions_.load(); }
  Result<CommittedOrders> committed();

 private:
  OrderStore() = default;
  void writer_loop();

  std::unique_ptr<sql::Database> db_;
  bool with_outbox_ = true;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Order, Done>> pending_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> transactions_{0};
  std::thread writer_;
};

}  // namespace wharf::checkout
