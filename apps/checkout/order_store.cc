#include "order_store.h"

#include <wharf/sql/sqlite.h>

#include "common.h"

namespace wharf::checkout {
namespace {

const sql::Migration kOrders{
    1,
    "CREATE TABLE checkout_orders(order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
    "total_cents INTEGER NOT NULL, items INTEGER NOT NULL, scheduled_us INTEGER NOT NULL, "
    "poison INTEGER NOT NULL)"};

// Orders per transaction at most: bounds one commit's latency and memory.
constexpr std::size_t kGroupCommitMax = 2000;

}  // namespace

Result<std::unique_ptr<OrderStore>> OrderStore::open(const std::string& path, bool with_outbox) {
  std::unique_ptr<OrderStore> s(new OrderStore());
  s->with_outbox_ = with_outbox;
  WHARF_ASSIGN_OR_RETURN(s->db_, sql::open_sqlite(path));
  const sql::Migration migrations[] = {kOrders};
  WHARF_RETURN_IF_ERROR(s->db_->migrate("checkout_orders", migrations));
  if (with_outbox) WHARF_RETURN_IF_ERROR(migrate_outbox(*s->db_));
  OrderStore* self = s.get();
  s->writer_ = std::thread([self] { self->writer_loop(); });
  return s;
}

OrderStore::~OrderStore() { stop(); }

void OrderStore::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void OrderStore::submit(Order order, Done done) {
  {
    std::unique_lock lock(mu_);
    if (!stopping_) {
      pending_.emplace_back(std::move(order), std::move(done));
      lock.unlock();
      cv_.notify_one();
      return;
    }
  }
  done(fail(ErrorCode::kShuttingDown, "checkout is stopping"));
}

void OrderStore::writer_loop() {
  std::vector<std::pair<Order, Done>> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left
      while (!pending_.empty() && batch.size() < kGroupCommitMax) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    Status s = db_->transaction([&](sql::Transaction& tx) -> Status {
      for (const auto& [o, done] : batch) {
        WHARF_RETURN_IF_ERROR(
            tx.exec("INSERT INTO checkout_orders(order_id, customer_id, total_cents, items, "
                    "scheduled_us, poison) VALUES(?, ?, ?, ?, ?, ?)",
                    o.order_id, o.customer_id, o.total_cents, o.items, o.scheduled_us, o.poison));
        if (!with_outbox_) continue;
        OrderPlaced event{o.order_id, o.customer_id, o.total_cents, o.items, o.poison};
        WHARF_RETURN_IF_ERROR(outbox(tx).publish(
            kOrdersTopic, event,
            {.key = o.order_id,
             .aggregate_id = o.order_id,
             .headers = {{kHeaderScheduledUs, std::to_string(o.scheduled_us)}}}));
      }
      return ok();
    });
    transactions_.fetch_add(1, std::memory_order_relaxed);
    for (auto& [o, done] : batch) done(s);
    batch.clear();
  }
}

Result<CommittedOrders> OrderStore::committed() {
  CommittedOrders out;
  WHARF_ASSIGN_OR_RETURN(out.orders, query_count(*db_, "SELECT count(*) FROM checkout_orders"));
  WHARF_ASSIGN_OR_RETURN(
      out.poison, query_count(*db_, "SELECT count(*) FROM checkout_orders WHERE poison <> 0"));
  return out;
}

}  // namespace wharf::checkout
