// The fulfilment saga: after checkout accepted an order, reserve its stock, charge its payment
// and arrange its shipping; when a step fails or times out, undo the steps that took effect
// (cancel the shipment, refund the payment, release the stock), last first.
//
// Three parts, each with its own SQLite store:
// - the orchestrator (`Fulfilment`, fulfilment.db): the consumer group "fulfilment" on
//   "orders" starts one saga per order (instance id = order id) in the inbox's transaction,
//   and the same router applies the participants' replies (wharf::SagaCoordinator); its outbox
//   relay sends the commands; a timer thread fires step deadlines.
// - the participants (`Participants`, participants.db): stock, payment and shipping services
//   on "fulfilment.<service>.commands". Each command is applied once (the inbox) and answered
//   through the outbox in the same transaction. What they decide is a pure function of the
//   order id and the configured rates, so runs are reproducible: some orders are out of stock,
//   some payments are declined, and some shipments are lost (no answer: the step's deadline
//   fires and the saga compensates).
// - the check (`check_fulfilment`): every order checkout committed (but the poison ones) has a
//   finished saga; a completed one reserved, charged and shipped exactly once; a compensated one
//   undid exactly what took effect, each effect once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include <wharf/saga.h>
#include <wharf/wharf.h>

namespace wharf::checkout {

inline constexpr const char* kFulfilmentSaga = "order-fulfilment";
inline constexpr const char* kFulfilmentGroup = "fulfilment";

struct FulfilmentOptions {
  std::chrono::milliseconds deadline{5000};  // each step's, from its command to its reply
  // Compensations are retried from this backoff (they are answered; no deadline).
  std::chrono::milliseconds compensation_backoff{200};
};

// What the participants decide, as shares of the orders (each a pure function of the order id).
struct ParticipantRates {
  double out_of_stock = 0.02;
  double declined = 0.02;
  double shipment_lost = 0.01;  // the carrier never answers: the saga's deadline fires
};

// Creates the command and reply topics (4 partitions each) on `bus`.
Status ensure_fulfilment_topics(Bus& bus);

class Fulfilment {
 public:
  // Opens <data_dir>/fulfilment.db and starts the orchestrator: its router (orders and
  // replies), relay and timers, each on its own thread.
  static Result<std::unique_ptr<Fulfilment>> start(Bus bus, const std::string& data_dir,
                                                   FulfilmentOptions options = {});
  ~Fulfilment();
  Fulfilment(const Fulfilment&) = delete;
  Fulfilment& operator=(const Fulfilment&) = delete;

  // Stops the router (draining what is in flight), the timers and the relay.
  Status stop();
  std::uint64_t started() const { return started_->load(); }
  SagaCoordinator& sagas() { return *sagas_; }

 private:
  Fulfilment() = default;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<Inbox> inbox_;
  std::unique_ptr<SagaCoordinator> sagas_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<Router> router_;
  std::shared_ptr<std::atomic<std::uint64_t>> started_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  std::stop_source stop_;
  std::thread router_thread_;
  std::thread timer_thread_;
  Status result_ = ok();
};

class Participants {
 public:
  // Opens <data_dir>/participants.db and starts the three services' router and relay.
  static Result<std::unique_ptr<Participants>> start(Bus bus, const std::string& data_dir,
                                                     ParticipantRates rates = {});
  ~Participants();
  Participants(const Participants&) = delete;
  Participants& operator=(const Participants&) = delete;
  Status stop();

 private:
  Participants() = default;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<Inbox> inbox_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<Router> router_;
  std::stop_source stop_;
  std::thread thread_;
  Status result_ = ok();
};

struct FulfilmentCheck {
  std::int64_t orders = 0;  // committed non-poison orders
  std::int64_t completed = 0;
  std::int64_t compensated = 0;
  std::int64_t unfinished = 0;  // running, compensating, needs_attention, aborted, or missing
  // Why compensated sagas compensated: out_of_stock, declined, shipment_lost, timed_out.
  std::map<std::string, std::int64_t> causes;
  std::string problems;  // empty when every finished saga's effects are exact
};

// Reads checkout.db, fulfilment.db and participants.db (paths of the three files).
Result<FulfilmentCheck> check_fulfilment(const std::string& checkout_db,
                                         const std::string& fulfilment_db,
                                         const std::string& participants_db);
// Checks until every saga finished or `wait` passed; prints the result. Exit code: 0 when every
// order's saga finished with exact effects, 3 otherwise.
int run_fulfilment_check(const std::string& checkout_db, const std::string& data_dir,
                         std::chrono::seconds wait);

// `wharf-checkout fulfilment` / `participants`: run until SIGTERM against a broker.
int run_fulfilment_process(const std::string& bootstrap, const std::string& data_dir,
                           std::chrono::milliseconds deadline);
int run_participants_process(const std::string& bootstrap, const std::string& data_dir,
                             ParticipantRates rates);

}  // namespace wharf::checkout
