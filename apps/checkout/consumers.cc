#include "consumers.h"

#include <algorithm>
#include <random>

#include <wharf/sql/sqlite.h>

#include "common.h"

namespace wharf::checkout {
namespace {

// One row per order the group took effect for: a duplicate effect would break the primary key,
// so the inbox's promise is checked by the data itself.
const sql::Migration kEffects{
    1,
    "CREATE TABLE checkout_effects(order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
    "value INTEGER NOT NULL)"};

// What each group records of an order.
std::int64_t effect_value(const std::string& group, const OrderPlaced& e) {
  if (group == "inventory") return e.items;
  if (group == "loyalty") return e.total_cents / 100;  // a point per unit of currency
  if (group == "fraud") return e.total_cents > 50'000 ? 1 : 0;
  return e.total_cents;
}

std::int64_t scheduled_us(const Message& m) {
  for (const auto& [name, value] : m.headers) {
    if (name == kHeaderScheduledUs) {
      try {
        return std::stoll(value);
      } catch (...) {
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace

Result<std::unique_ptr<ConsumerGroup>> ConsumerGroup::start(Bus bus, GroupSpec spec,
                                                            const std::string& data_dir,
                                                            GroupStats& stats) {
  std::unique_ptr<ConsumerGroup> g(new ConsumerGroup(std::move(spec), stats));
  const std::string name = g->spec_.name;
  WHARF_ASSIGN_OR_RETURN(g->db_, sql::open_sqlite(data_dir + "/" + name + ".db"));
  const sql::Migration migrations[] = {kEffects};
  WHARF_RETURN_IF_ERROR(g->db_->migrate("checkout_consumer", migrations));
  WHARF_ASSIGN_OR_RETURN(g->inbox_, Inbox::open(*g->db_));
  if (g->spec_.ledger) {
    WHARF_ASSIGN_OR_RETURN(g->loyalty_, Loyalty::open(*g->db_));
  }
  Loyalty* loyalty = g->loyalty_.get();

  RouterOptions options{.group = name, .concurrency = 2, .batch_max = 1000};
  options.commit_interval = std::chrono::milliseconds(200);
  options.client_id = "checkout-" + name;
  g->router_ = std::make_unique<Router>(bus, std::move(options));

  // The handler, per message, inside the inbox's transaction. A transient failure hits the
  // first attempt of fail_rate of the orders (the in-place retry then succeeds); a poison order
  // fails with a non-retryable error and goes to the dead-letter topic.
  const double fail_rate = g->spec_.work.fail_rate;
  Handler work = [name, fail_rate, loyalty](const Message& m, Context& ctx) -> Status {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    thread_local std::string last_failed;
    WHARF_ASSIGN_OR_RETURN(OrderPlaced e, decode_event<OrderPlaced>(m));
    if (e.poison) return fail(ErrorCode::kInvalidArgument, "order {} is malformed", e.order_id);
    if (m.id != last_failed && std::uniform_real_distribution<double>(0, 1)(rng) < fail_rate) {
      last_failed = m.id;
      return fail(ErrorCode::kUnavailable, "{}: dependency timed out (simulated)", name);
    }
    auto& tx = inbox_transaction(ctx);
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO checkout_effects(order_id, customer_id, value) VALUES(?, ?, ?)",
                e.order_id, e.customer_id, effect_value(name, e)));
    if (loyalty) WHARF_RETURN_IF_ERROR(loyalty->record(tx, e));
    return ok();
  };
  GroupStats* st = &g->stats_;
  auto count_retries = [st](Handler h) -> Handler {
    return [st, h = std::move(h)](const Message& m, Context& ctx) -> Status {
      Status s = h(m, ctx);
      if (!s && retryable_by_default(s.error())) st->retries.fetch_add(1);
      return s;
    };
  };
  auto count_dead_letters = [st](Handler h) -> Handler {
    return [st, h = std::move(h)](const Message& m, Context& ctx) -> Status {
      Status s = h(m, ctx);
      if (!s) st->dead_letters.fetch_add(1);
      return s;
    };
  };
  RetryOptions retry_options;
  retry_options.attempts_max = g->spec_.retry.attempts_max;
  retry_options.backoff_initial = g->spec_.retry.backoff_initial;
  retry_options.backoff_max = g->spec_.retry.backoff_max;
  DeadLetterOptions dead_letter_options;
  dead_letter_options.topic = [name](const Message&) {
    return std::string(kOrdersTopic) + "." + name + ".dlq";
  };
  Handler chain = dead_letter(dead_letter_options)(
      count_dead_letters(retry(retry_options)(count_retries(std::move(work)))));
  BatchHandler in_inbox = g->inbox_->batch(std::move(chain));

  const auto latency = g->spec_.work.latency;
  g->router_->on_batch(kOrdersTopic, [st, latency, in_inbox = std::move(in_inbox)](
                                         const std::vector<const Message*>& batch, Context& ctx) {
    // One bulk call to the group's dependency for the batch (its effects are outside the
    // inbox's transaction, so at least once), then the store's writes in one transaction.
    if (latency.count() > 0) std::this_thread::sleep_for(latency);
    std::vector<Status> results = in_inbox(batch, ctx);
    const std::int64_t now = now_us();
    for (std::size_t i = 0; i < results.size() && i < batch.size(); ++i) {
      if (!results[i]) break;
      const Message& m = *batch[i];
      st->handled.fetch_add(1, std::memory_order_relaxed);
      if (const std::int64_t t = scheduled_us(m); t > 0) st->e2e.record(now - t);
      if (m.partition >= 0 && m.partition < kOrdersPartitions) {
        auto& done = st->done_offsets[static_cast<std::size_t>(m.partition)];
        std::int64_t cur = done.load(std::memory_order_relaxed);
        while (cur < m.offset + 1 && !done.compare_exchange_weak(cur, m.offset + 1)) {
        }
      }
    }
    return results;
  });
  if (loyalty) loyalty->start_history();
  ConsumerGroup* self = g.get();
  g->thread_ = std::thread([self] { self->result_ = self->router_->run(self->stop_.get_token()); });
  return g;
}

ConsumerGroup::~ConsumerGroup() { (void)stop(); }

Status ConsumerGroup::stop() {
  if (thread_.joinable()) {
    stop_.request_stop();
    thread_.join();
  }
  // The view catches up with everything the router committed.
  if (loyalty_) WHARF_RETURN_IF_ERROR(loyalty_->stop());
  return result_;
}

Result<std::string> ConsumerGroup::check_ledger() {
  if (!loyalty_) return std::string();
  WHARF_ASSIGN_OR_RETURN(std::int64_t orders, effects());
  WHARF_ASSIGN_OR_RETURN(std::int64_t points,
                         query_count(*db_, "SELECT COALESCE(SUM(value), 0) FROM checkout_effects"));
  return loyalty_->verify(orders, points);
}

std::uint64_t ConsumerGroup::duplicates() const { return inbox_ ? inbox_->duplicates() : 0; }

Result<std::int64_t> ConsumerGroup::effects() {
  return query_count(*db_, "SELECT count(*) FROM checkout_effects");
}

std::vector<GroupSpec> default_groups() {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  // Each group's retry policy is its own: e-mail waits longest before giving up, analytics
  // gives up soonest (a missing data point is cheap; a missing reservation is not).
  return {
      {"inventory", {.attempts_max = 5, .backoff_initial = milliseconds(1)}, {}},
      {"fraud", {.attempts_max = 3, .backoff_initial = milliseconds(1)}, {}},
      {"email",
       {.attempts_max = 8, .backoff_initial = milliseconds(2), .backoff_max = milliseconds(50)},
       {}},
      {"search", {.attempts_max = 3, .backoff_initial = milliseconds(1)}, {}},
      {"analytics", {.attempts_max = 2, .backoff_initial = milliseconds(1)}, {}},
      {"loyalty", {.attempts_max = 5, .backoff_initial = milliseconds(1)}, {}, true},
  };
}

}  // namespace wharf::checkout
