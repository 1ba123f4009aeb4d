#include "fulfilment.h"

#include <cstdio>
#include <set>

#include <wharf/sql/sqlite.h>

#include "model.h"

namespace wharf::checkout {
namespace {

// A message no retry can fix (a malformed order or command) goes to `<topic>.dlq` instead of
// holding up its partition; transient errors go back to the router and are tried again.
Handler dead_letter_malformed(Handler h) {
  DeadLetterOptions o;
  o.applies = [](const Error& e) { return !retryable_by_default(e); };
  return dead_letter(std::move(o))(std::move(h));
}

struct Service {
  const char* name;      // stock, payment, shipping
  const char* commands;  // its command topic
  const char* replies;   // its reply topic
};
constexpr Service kStock{"stock", "fulfilment.stock.commands", "fulfilment.stock.replies"};
constexpr Service kPayment{"payment", "fulfilment.payment.commands", "fulfilment.payment.replies"};
constexpr Service kShipping{"shipping", "fulfilment.shipping.commands",
                            "fulfilment.shipping.replies"};
constexpr std::int32_t kFulfilmentPartitions = 4;

// A command: its type, and the order data it needs (the key is the order id, so one order's
// commands and replies stay in order on their partitions).
SagaAction action(const Service& service, std::string type, std::vector<std::string> success,
                  std::vector<std::string> failure, std::chrono::milliseconds deadline) {
  SagaAction a;
  a.topic = service.commands;
  a.reply_topic = service.replies;
  a.success = std::move(success);
  a.failure = std::move(failure);
  a.deadline = deadline;
  a.command = [type = std::move(type)](const json& data) -> Result<Message> {
    Message m;
    m.type = type;
    try {
      m.key = data.at("order_id").get<std::string>();
    } catch (const std::exception& e) {
      return fail(ErrorCode::kInvalidArgument, "saga data without order_id: {}", e.what());
    }
    m.payload = data.dump();
    return m;
  };
  return a;
}

SagaDefinition definition(const FulfilmentOptions& o) {
  using std::chrono::milliseconds;
  const milliseconds none{0};  // compensations are always answered: no deadline, no resend
  SagaDefinition d;
  d.name = kFulfilmentSaga;
  d.version = 1;
  d.steps.push_back({.name = "reserve-stock",
                     .action = action(kStock, "stock.Reserve", {"stock.Reserved"},
                                      {"stock.OutOfStock"}, o.deadline),
                     .compensation = action(kStock, "stock.Release", {"stock.Released"}, {}, none),
                     .on_success = {}});
  d.steps.push_back(
      {.name = "charge-payment",
       .action = action(kPayment, "payment.Charge", {"payment.Charged"}, {"payment.Declined"},
                        o.deadline),
       .compensation = action(kPayment, "payment.Refund", {"payment.Refunded"}, {}, none),
       .on_success = {}});
  d.steps.push_back(
      {.name = "arrange-shipping",
       .action = action(kShipping, "shipping.Arrange", {"shipping.Arranged"}, {}, o.deadline),
       .compensation = action(kShipping, "shipping.Cancel", {"shipping.Cancelled"}, {}, none),
       .on_success = {}});
  return d;
}

// FNV-1a of the order id and a salt, as a share in [0, 1): the same in every process and run.
double share_of(std::string_view order_id, std::string_view salt) {
  std::uint64_t h = 14695981039346656037ull;
  for (std::string_view part : {order_id, salt}) {
    for (unsigned char c : part) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
  return static_cast<double>(h >> 11) / static_cast<double>(1ull << 53);
}

// One row per (order, effect); `n` counts the commands that applied it, so a command applied
// twice shows as n = 2 instead of hiding behind a primary key.
const sql::Migration kParticipantEffects{
    1,
    "CREATE TABLE fulfilment_effects(order_id TEXT NOT NULL, effect TEXT NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY(order_id, effect))"};

struct Decision {
  const char* effect;  // what the participant records
  const char* reply;   // nullptr: no answer (a lost shipment)
};

Decision decide(const std::string& type, const std::string& order_id,
                const ParticipantRates& rates) {
  if (type == "stock.Reserve")
    return share_of(order_id, "stock") < rates.out_of_stock
               ? Decision{"out_of_stock", "stock.OutOfStock"}
               : Decision{"reserve", "stock.Reserved"};
  if (type == "stock.Release") return {"release", "stock.Released"};
  if (type == "payment.Charge")
    return share_of(order_id, "payment") < rates.declined ? Decision{"declined", "payment.Declined"}
                                                          : Decision{"charge", "payment.Charged"};
  if (type == "payment.Refund") return {"refund", "payment.Refunded"};
  if (type == "shipping.Arrange")
    return share_of(order_id, "shipping") < rates.shipment_lost
               ? Decision{"shipment_lost", nullptr}
               : Decision{"ship", "shipping.Arranged"};
  if (type == "shipping.Cancel") return {"cancel_shipment", "shipping.Cancelled"};
  return {nullptr, nullptr};
}

const char* reply_topic_of(const std::string& type) {
  if (type.starts_with("stock.")) return kStock.replies;
  if (type.starts_with("payment.")) return kPayment.replies;
  return kShipping.replies;
}

}  // namespace

Status ensure_fulfilment_topics(Bus& bus) {
  for (const Service& s : {kStock, kPayment, kShipping}) {
    WHARF_RETURN_IF_ERROR(bus->ensure_topic(s.commands, kFulfilmentPartitions));
    WHARF_RETURN_IF_ERROR(bus->ensure_topic(s.replies, kFulfilmentPartitions));
  }
  return ok();
}

// --- Orchestrator ----------------------------------------------------------------------------

Result<std::unique_ptr<Fulfilment>> Fulfilment::start(Bus bus, const std::string& data_dir,
                                                      FulfilmentOptions options) {
  std::unique_ptr<Fulfilment> f(new Fulfilment());
  WHARF_RETURN_IF_ERROR(ensure_fulfilment_topics(bus));
  WHARF_ASSIGN_OR_RETURN(f->db_, sql::open_sqlite(data_dir + "/fulfilment.db"));
  WHARF_ASSIGN_OR_RETURN(f->inbox_, Inbox::open(*f->db_));
  SagaOptions so;
  so.compensation_retry.backoff_initial = options.compensation_backoff;
  so.timer_interval = std::chrono::milliseconds(100);
  WHARF_ASSIGN_OR_RETURN(f->sagas_, SagaCoordinator::open(*f->db_, so));
  WHARF_RETURN_IF_ERROR(f->sagas_->add(definition(options)));

  OutboxRelayOptions ro;
  ro.name = "fulfilment";
  ro.batch_max = 2000;
  f->relay_ = std::make_unique<OutboxRelay>(*f->db_, bus, ro);

  RouterOptions ropts{.group = kFulfilmentGroup, .concurrency = 2, .batch_max = 500};
  ropts.commit_interval = std::chrono::milliseconds(200);
  ropts.client_id = "checkout-fulfilment";
  f->router_ = std::make_unique<Router>(bus, std::move(ropts));
  // Each order starts its saga in the inbox's transaction: the instance, its history and its
  // first command commit with the record that the order was handled, or none of them does.
  SagaCoordinator* sagas = f->sagas_.get();
  auto started = f->started_;
  Handler start_saga = [sagas, started](const Message& m, Context& ctx) -> Status {
    WHARF_ASSIGN_OR_RETURN(OrderPlaced e, decode_event<OrderPlaced>(m));
    if (e.poison) return ok();  // nothing to fulfil: the order groups dead-letter it
    json data{{"order_id", e.order_id},
              {"customer_id", e.customer_id},
              {"total_cents", e.total_cents},
              {"items", e.items}};
    WHARF_RETURN_IF_ERROR(
        sagas->start(inbox_transaction(ctx), kFulfilmentSaga, std::move(data), e.order_id));
    started->fetch_add(1, std::memory_order_relaxed);
    return ok();
  };
  f->router_->on_batch(kOrdersTopic,
                       f->inbox_->batch(dead_letter_malformed(std::move(start_saga))));
  f->sagas_->attach(*f->router_);

  Fulfilment* self = f.get();
  f->router_thread_ =
      std::thread([self] { self->result_ = self->router_->run(self->stop_.get_token()); });
  f->timer_thread_ =
      std::thread([self] { (void)self->sagas_->run_timers(self->stop_.get_token()); });
  return f;
}

Fulfilment::~Fulfilment() { (void)stop(); }

Status Fulfilment::stop() {
  stop_.request_stop();
  if (router_thread_.joinable()) router_thread_.join();
  if (timer_thread_.joinable()) timer_thread_.join();
  relay_.reset();  // stops its thread; what it had not sent stays in the outbox
  return result_;
}

// --- Participants ----------------------------------------------------------------------------

Result<std::unique_ptr<Participants>> Participants::start(Bus bus, const std::string& data_dir,
                                                          ParticipantRates rates) {
  std::unique_ptr<Participants> p(new Participants());
  WHARF_RETURN_IF_ERROR(ensure_fulfilment_topics(bus));
  WHARF_ASSIGN_OR_RETURN(p->db_, sql::open_sqlite(data_dir + "/participants.db"));
  const sql::Migration migrations[] = {kParticipantEffects};
  WHARF_RETURN_IF_ERROR(p->db_->migrate("checkout_participants", migrations));
  WHARF_ASSIGN_OR_RETURN(p->inbox_, Inbox::open(*p->db_));
  WHARF_RETURN_IF_ERROR(migrate_outbox(*p->db_));
  OutboxRelayOptions ro;
  ro.name = "participants";
  ro.batch_max = 2000;
  p->relay_ = std::make_unique<OutboxRelay>(*p->db_, bus, ro);
  RouterOptions ropts{.group = "fulfilment-participants", .concurrency = 2, .batch_max = 500};
  ropts.commit_interval = std::chrono::milliseconds(200);
  ropts.client_id = "checkout-participants";
  p->router_ = std::make_unique<Router>(bus, std::move(ropts));

  // A command's effect, the inbox record and the reply commit together: a redelivered command
  // changes nothing and is not answered twice.
  Handler apply = [rates](const Message& m, Context& ctx) -> Status {
    std::string order_id;
    try {
      order_id = json::parse(m.payload).at("order_id").get<std::string>();
    } catch (const std::exception& e) {
      return fail(ErrorCode::kInvalidArgument, "{} {}: {}", m.type, m.id, e.what());
    }
    const Decision d = decide(m.type, order_id, rates);
    if (d.effect == nullptr)
      return fail(ErrorCode::kInvalidArgument, "unknown command type '{}'", m.type);
    auto& tx = inbox_transaction(ctx);
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO fulfilment_effects(order_id, effect, n) VALUES(?, ?, 1) "
                "ON CONFLICT(order_id, effect) DO UPDATE SET n = n + 1",
                order_id, std::string(d.effect)));
    if (d.reply == nullptr) return ok();
    Message reply;
    reply.type = d.reply;
    reply.key = m.key;
    reply.correlation_id = m.correlation_id;
    reply.causation_id = m.id;
    reply.payload = json{{"order_id", order_id}}.dump();
    return outbox(tx).publish_message(reply_topic_of(m.type), std::move(reply)).map([](auto) {});
  };
  BatchHandler in_inbox = p->inbox_->batch(dead_letter_malformed(std::move(apply)));
  for (const Service& s : {kStock, kPayment, kShipping}) p->router_->on_batch(s.commands, in_inbox);
  Participants* self = p.get();
  p->thread_ = std::thread([self] { self->result_ = self->router_->run(self->stop_.get_token()); });
  return p;
}

Participants::~Participants() { (void)stop(); }

Status Participants::stop() {
  stop_.request_stop();
  if (thread_.joinable()) thread_.join();
  relay_.reset();
  return result_;
}

// --- The check -------------------------------------------------------------------------------

Result<FulfilmentCheck> check_fulfilment(const std::string& checkout_db,
                                         const std::string& fulfilment_db,
                                         const std::string& participants_db) {
  for (const auto& path : {checkout_db, fulfilment_db, participants_db}) {
    if (!std::filesystem::exists(path)) return fail(ErrorCode::kNotFound, "no {}", path);
  }
  FulfilmentCheck out;
  WHARF_ASSIGN_OR_RETURN(auto orders_db, sql::open_sqlite(checkout_db));
  std::set<std::string> orders;
  WHARF_RETURN_IF_ERROR(orders_db->transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(auto rows,
                           tx.query("SELECT order_id FROM checkout_orders WHERE poison = 0"));
    for (const auto& r : rows) {
      WHARF_ASSIGN_OR_RETURN(auto id, r.get<std::string>(0));
      orders.insert(std::move(id));
    }
    return ok();
  }));
  out.orders = static_cast<std::int64_t>(orders.size());

  WHARF_ASSIGN_OR_RETURN(auto saga_db, sql::open_sqlite(fulfilment_db));
  WHARF_ASSIGN_OR_RETURN(auto sagas, SagaCoordinator::open(*saga_db));
  WHARF_ASSIGN_OR_RETURN(auto instances, sagas->list(std::nullopt, 100'000'000));
  std::map<std::string, SagaState> state_of;
  for (const auto& i : instances) state_of[i.id] = i.state;

  // The effects are read after the states: a saga reached its final state only after the
  // participants committed the effects its replies report, so none of those can be missing.
  WHARF_ASSIGN_OR_RETURN(auto effects_db, sql::open_sqlite(participants_db));
  std::map<std::string, std::map<std::string, std::int64_t>> effects;  // order -> effect -> n
  WHARF_RETURN_IF_ERROR(effects_db->transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(auto rows,
                           tx.query("SELECT order_id, effect, n FROM fulfilment_effects"));
    for (const auto& r : rows) {
      WHARF_ASSIGN_OR_RETURN(auto id, r.get<std::string>(0));
      WHARF_ASSIGN_OR_RETURN(auto effect, r.get<std::string>(1));
      WHARF_ASSIGN_OR_RETURN(auto n, r.get<std::int64_t>(2));
      effects[id][effect] = n;
    }
    return ok();
  }));

  int reported = 0;
  auto problem = [&](const std::string& text) {
    if (++reported <= 10) out.problems += text + "\n";
  };
  for (const auto& id : orders) {
    auto it = state_of.find(id);
    if (it == state_of.end() || !saga_state_final(it->second) ||
        it->second == SagaState::kAborted) {
      ++out.unfinished;
      continue;
    }
    const auto& e = effects[id];
    auto n = [&](const char* effect) -> std::int64_t {
      auto f = e.find(effect);
      return f == e.end() ? 0 : f->second;
    };
    for (const auto& [effect, count] : e) {
      if (count != 1) problem(fmt::format("order {}: {} applied {} times", id, effect, count));
    }
    if (it->second == SagaState::kCompleted) {
      ++out.completed;
      if (n("reserve") != 1 || n("charge") != 1 || n("ship") != 1 || e.size() != 3)
        problem(fmt::format("order {}: completed, but its effects are {}", id, json(e).dump()));
      continue;
    }
    ++out.compensated;
    // Everything that took effect was undone; nothing was undone that was never asked for.
    const std::pair<const char*, const char*> pairs[] = {
        {"reserve", "release"}, {"charge", "refund"}, {"ship", "cancel_shipment"}};
    for (const auto& [done, undone] : pairs) {
      if (n(done) > 0 && n(undone) == 0)
        problem(fmt::format("order {}: compensated, but {} was never undone ({})", id, done,
                            json(e).dump()));
    }
    if (n("release") > 0 && n("reserve") == 0 && n("out_of_stock") == 0)
      problem(fmt::format("order {}: released stock it never asked for", id));
    if (n("refund") > 0 && n("charge") == 0 && n("declined") == 0)
      problem(fmt::format("order {}: refunded a payment it never asked for", id));
    const char* cause = n("out_of_stock") > 0    ? "out_of_stock"
                        : n("declined") > 0      ? "declined"
                        : n("shipment_lost") > 0 ? "shipment_lost"
                                                 : "timed_out";
    ++out.causes[cause];
  }
  if (reported > 10) out.problems += fmt::format("... and {} more\n", reported - 10);
  return out;
}

int run_fulfilment_check(const std::string& checkout_db, const std::string& data_dir,
                         std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  Result<FulfilmentCheck> c = fail(ErrorCode::kInternal, "unset");
  for (;;) {
    c = check_fulfilment(checkout_db, data_dir + "/fulfilment.db", data_dir + "/participants.db");
    if (c && c->unfinished == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (c)
      std::printf("waiting: %lld of %lld sagas unfinished\n", static_cast<long long>(c->unfinished),
                  static_cast<long long>(c->orders));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (!c) {
    std::fprintf(stderr, "wharf-checkout fulfilment-check: %s\n", c.error().to_string().c_str());
    return 1;
  }
  std::printf("fulfilment: %lld orders, %lld sagas completed, %lld compensated, %lld unfinished\n",
              static_cast<long long>(c->orders), static_cast<long long>(c->completed),
              static_cast<long long>(c->compensated), static_cast<long long>(c->unfinished));
  for (const auto& [cause, count] : c->causes)
    std::printf("  compensated because %s: %lld\n", cause.c_str(), static_cast<long long>(count));
  if (!c->problems.empty()) std::printf("problems:\n%s", c->problems.c_str());
  const bool exact = c->unfinished == 0 && c->problems.empty();
  std::printf("%s\n", exact ? "every saga finished with exactly its effects"
                            : "FAILED: sagas unfinished or effects off");
  return exact ? 0 : 3;
}

// --- Separate processes ----------------------------------------------------------------------

namespace {

Result<Bus> kafka_bus_for(const std::string& bootstrap) {
  if (bootstrap.empty()) return fail(ErrorCode::kInvalidArgument, "--bootstrap is required");
  KafkaOptions o;
  o.bootstrap = bootstrap;
  return Bus::open(o);
}

int failed(const char* what, const Error& e) {
  std::fprintf(stderr, "wharf-checkout %s: %s\n", what, e.to_string().c_str());
  return 1;
}

}  // namespace

int run_fulfilment_process(const std::string& bootstrap, const std::string& data_dir,
                           std::chrono::milliseconds deadline) {
  auto bus = kafka_bus_for(bootstrap);
  if (!bus) return failed("fulfilment", bus.error());
  if (auto st = (*bus)->ensure_topic(kOrdersTopic, kOrdersPartitions); !st)
    return failed("fulfilment", st.error());
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  auto f = Fulfilment::start(*bus, data_dir, {.deadline = deadline});
  if (!f) return failed("fulfilment", f.error());
  std::printf("fulfilment saga running\n");
  std::fflush(stdout);
  std::stop_token stop = stop_on_signal();
  while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (auto st = (*f)->stop(); !st) return failed("fulfilment", st.error());
  return 0;
}

int run_participants_process(const std::string& bootstrap, const std::string& data_dir,
                             ParticipantRates rates) {
  auto bus = kafka_bus_for(bootstrap);
  if (!bus) return failed("participants", bus.error());
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  auto p = Participants::start(*bus, data_dir, rates);
  if (!p) return failed("participants", p.error());
  std::printf("participants running\n");
  std::fflush(stdout);
  std::stop_token stop = stop_on_signal();
  while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (auto st = (*p)->stop(); !st) return failed("participants", st.error());
  return 0;
}

}  // namespace wharf::checkout
