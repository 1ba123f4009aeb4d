#include "loyalty.h"

#include <cstdio>
#include <map>

#include <wharf/sql/sqlite.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common.h"

namespace wharf::checkout {
namespace {

struct Account {
  std::int64_t points = 0;
  std::int64_t orders = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Account, points, orders);

Status apply(Account& a, const StoredEvent& e) {
  WHARF_ASSIGN_OR_RETURN(auto ev, decode_event<PointsEarned>(e.message));
  a.points += ev.points;
  ++a.orders;
  return ok();
}

ProjectionTables history_tables() {
  return {
      {kHistoryProjection}, [](ProjectionContext& ctx) -> Status {
        const std::string t = ctx.table(kHistoryProjection);
        WHARF_RETURN_IF_ERROR(
            ctx.tx
                .exec("CREATE TABLE " + t +
                      " (customer_id TEXT PRIMARY KEY, orders INTEGER NOT NULL, points "
                      "INTEGER NOT NULL, last_order_id TEXT NOT NULL)")
                .map([](auto) {}));
        return ctx.tx.exec("CREATE INDEX " + t + "_by_points ON " + t + "(points)").map([](auto) {
        });
      }};
}

Status project(ProjectionContext& ctx, const StoredEvent& e) {
  WHARF_ASSIGN_OR_RETURN(auto ev, decode_event<PointsEarned>(e.message));
  const std::string t = ctx.table(kHistoryProjection);
  WHARF_ASSIGN_OR_RETURN(auto n, ctx.tx.exec("UPDATE " + t +
                                                 " SET orders = orders + 1, points = points + ?, "
                                                 "last_order_id = ? WHERE customer_id = ?",
                                             ev.points, ev.order_id, ev.customer_id));
  if (n > 0) return ok();
  return ctx.tx
      .exec("INSERT INTO " + t + "(customer_id, orders, points, last_order_id) VALUES(?, 1, ?, ?)",
            ev.customer_id, ev.points, ev.order_id)
      .map([](auto) {});
}

}  // namespace

Result<std::unique_ptr<Loyalty>> Loyalty::open(sql::Database& db) {
  std::unique_ptr<Loyalty> l(new Loyalty(db));
  WHARF_ASSIGN_OR_RETURN(l->store_, EventStore::open(db));
  ProjectionOptions o;
  o.name = kHistoryProjection;
  o.catch_up.batch_max = 2000;
  o.catch_up.category = "loyalty";
  o.tables = history_tables();
  l->history_ = std::make_unique<Projection>(*l->store_, db, std::move(o), project);
  WHARF_RETURN_IF_ERROR(l->history_->checkpoint().map([](auto) {}));  // creates the view
  return l;
}

Loyalty::~Loyalty() { (void)stop(); }

Status Loyalty::record(sql::Transaction& tx, const OrderPlaced& order) {
  PointsEarned ev{order.customer_id, order.order_id, order.total_cents / 100};
  return store_->append(tx, "loyalty-" + order.customer_id, kAnyVersion, {make_message(ev)})
      .map([](auto) {});
}

void Loyalty::start_history() {
  thread_ = std::thread([this] { result_ = history_->run(stop_.get_token()); });
}

Status Loyalty::stop() {
  if (!thread_.joinable()) return ok();
  stop_.request_stop();
  thread_.join();
  WHARF_RETURN_IF_ERROR(result_);
  return history_->run_once().map([](auto) {});
}

Result<std::string> Loyalty::verify(std::int64_t orders, std::int64_t points) {
  std::string problems;
  // The ledger: every event of the category, summed per customer.
  std::map<std::string, Account> ledger;
  for (std::int64_t after = 0;;) {
    WHARF_ASSIGN_OR_RETURN(auto events, store_->read_all(after, kEventStoreReadMax, "loyalty"));
    if (events.empty()) break;
    for (const auto& e : events) WHARF_RETURN_IF_ERROR(apply(ledger[e.stream.substr(8)], e));
    after = events.back().position;
  }
  Account total;
  for (const auto& [c, a] : ledger) {
    total.points += a.points;
    total.orders += a.orders;
  }
  if (total.orders != orders || total.points != points)
    problems += fmt::format("the ledger holds {} orders and {} points, not {} and {}. ",
                            total.orders, total.points, orders, points);
  // The view, row by row.
  std::map<std::string, Account> view;
  WHARF_RETURN_IF_ERROR(db_.transaction(
      [&](sql::Transaction& tx) -> Status {
        view.clear();
        WHARF_ASSIGN_OR_RETURN(
            auto rows,
            tx.query(std::string("SELECT customer_id, orders, points FROM ") + kHistoryProjection));
        for (const auto& r : rows) {
          WHARF_ASSIGN_OR_RETURN(auto c, r.get<std::string>(0));
          WHARF_ASSIGN_OR_RETURN(view[c].orders, r.get<std::int64_t>(1));
          WHARF_ASSIGN_OR_RETURN(view[c].points, r.get<std::int64_t>(2));
        }
        return ok();
      },
      {.read_only = true}));
  std::size_t differ = 0;
  for (const auto& [c, a] : ledger) {
    auto it = view.find(c);
    if (it == view.end() || it->second.points != a.points || it->second.orders != a.orders)
      ++differ;
  }
  if (differ > 0 || view.size() != ledger.size())
    problems += fmt::format(
        "the order-history view differs from the ledger for {} of {} "
        "customers ({} rows). ",
        differ, ledger.size(), view.size());
  // Snapshot + later events == full replay, for a sample of accounts.
  std::size_t checked = 0;
  for (const auto& [c, a] : ledger) {
    if (checked++ == 50) break;
    const std::string stream = "loyalty-" + c;
    WHARF_ASSIGN_OR_RETURN(auto first,
                           load_aggregate<Account>(*store_, stream, apply, {.snapshot_every = 1}));
    WHARF_ASSIGN_OR_RETURN(auto from_snapshot, load_aggregate<Account>(*store_, stream, apply));
    WHARF_ASSIGN_OR_RETURN(
        auto replayed, load_aggregate<Account>(*store_, stream, apply,
                                               {.snapshot_schema_version = -1}));  // no snapshot
    if (!from_snapshot.from_snapshot || from_snapshot.state.points != replayed.state.points ||
        from_snapshot.state.orders != replayed.state.orders || replayed.state.points != a.points ||
        first.state.points != a.points) {
      problems += fmt::format("account {}: snapshot+replay differs from a full replay. ", c);
      break;
    }
  }
  return problems;
}

int run_history(const std::string& db_path, bool follow, int top) {
  auto report = [](const Error& e) {
    std::fprintf(stderr, "wharf-checkout history: %s\n", e.to_string().c_str());
    return 1;
  };
  auto db = sql::open_sqlite(db_path);
  if (!db) return report(db.error());
  auto loyalty = Loyalty::open(**db);
  if (!loyalty) return report(loyalty.error());
  if (follow) {
    std::printf("following the ledger into %s (SIGTERM stops)\n", kHistoryProjection);
    std::fflush(stdout);
    std::stop_token stop = stop_on_signal();
    if (Status s = (*loyalty)->history().run(stop); !s) return report(s.error());
  }
  auto at = (*loyalty)->history().run_once();
  if (!at) return report(at.error());
  Status s = (*db)->transaction(
      [&](sql::Transaction& tx) -> Status {
        WHARF_ASSIGN_OR_RETURN(
            auto rows,
            tx.query(std::string("SELECT customer_id, orders, points, last_order_id FROM ") +
                         kHistoryProjection + " ORDER BY points DESC, customer_id LIMIT ?",
                     static_cast<std::int64_t>(std::max(top, 0))));
        std::printf("%-12s %7s %9s  %s\n", "CUSTOMER", "ORDERS", "POINTS", "LAST ORDER");
        for (const auto& r : rows) {
          WHARF_ASSIGN_OR_RETURN(auto c, r.get<std::string>(0));
          WHARF_ASSIGN_OR_RETURN(auto orders, r.get<std::int64_t>(1));
          WHARF_ASSIGN_OR_RETURN(auto points, r.get<std::int64_t>(2));
          WHARF_ASSIGN_OR_RETURN(auto last, r.get<std::string>(3));
          std::printf("%-12s %7lld %9lld  %s\n", c.c_str(), static_cast<long long>(orders),
                      static_cast<long long>(points), last.c_str());
        }
        return ok();
      },
      {.read_only = true});
  if (!s) return report(s.error());
  std::printf("view at position %lld\n", static_cast<long long>(*at));
  return 0;
}

}  // namespace wharf::checkout
