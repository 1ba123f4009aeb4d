// Orchestrated sagas on SQLite or PostgreSQL: a definition in C++, instances in SQL tables, a
// coordinator that reacts to replies and to durable timers.
//
//   wharf::SagaDefinition fulfil{.name = "order-fulfilment", .version = 1, .steps = {
//       {.name = "reserve",
//        .action = {.topic = "inventory.commands", .command = reserve_command,
//                   .reply_topic = "inventory.replies",
//                   .success = {"inventory.Reserved"}, .failure = {"inventory.OutOfStock"},
//                   .deadline = 30s},
//        .compensation = wharf::SagaAction{.topic = "inventory.commands", .command = release,
//                                          .reply_topic = "inventory.replies",
//                                          .success = {"inventory.Released"}}},
//       ...}};
//   auto sagas = wharf::SagaCoordinator::open(*db);        // creates its tables (migrations)
//   WHARF_RETURN_IF_ERROR((*sagas)->add(fulfil));
//   (*sagas)->attach(router);                              // handlers for the reply topics
//   std::jthread timers([&](std::stop_token s) { (void)(*sagas)->run_timers(s); });
//   db->transaction([&](wharf::sql::Transaction& tx) -> wharf::Status {   // with the order
//     return (*sagas)->start(tx, "order-fulfilment", {{"order_id", id}}).map([](auto) {});
//   });
//
// A step sends one command (a Message to a topic, through the transactional outbox) and awaits
// a reply whose type is one of `success` or `failure`, or its deadline. Replies are matched to
// the instance by the message's correlation id (the instance id, which the command carries and
// Context::publish carries over) and to the command by the causation id (a reply to an earlier
// command of the instance is ignored). On a failure reply the completed steps are compensated,
// last first; on a deadline the timed-out step is compensated too (its command may still have
// taken effect).
//
// Parallel steps: a step with `.parallel_with_previous = true` joins the stage of the step
// before it. All commands of a stage are sent in one transition, and the next stage starts when
// every step of the stage has succeeded. When one fails or times out the instance turns
// compensating, but the stage's compensation waits until its other steps have settled: a late
// success reply is still applied (on_success runs) and that step is compensated, a failure
// reply means nothing to undo, a deadline means compensate. Then the stage's succeeded and
// timed-out steps are compensated one at a time in reverse declaration order, then the earlier
// stages, last first. A compensation that fails (failure reply or deadline) is sent again after a
// backoff, up to attempts_max times in all; then the instance is parked as needs_attention
// until retry() or abort(). Nothing is ever dropped.
//
// Every transition is one SQL transaction that holds the record of the message (or timer) that
// caused it, the instance's new state and history row, its next timer and the outbox rows of
// the commands it sends: a crash anywhere leaves the instance as it was before the cause or
// after all of it, and a redelivered reply is skipped by its id. Timers are rows with a due
// time: one that fell due while no coordinator ran fires on the next pass after a restart, once.
//
// Versions: definitions are registered by (name, version); start() uses the highest version of
// the name and the instance keeps it until it ends, so a v1 instance finishes on v1 after v2 is
// registered (v1 must stay registered while v1 instances run; a reply for an unregistered
// version is an error, so the router hands it again).
//
// Library wharf_patterns_saga (links wharf_patterns_outbox). Tables: docs/formats/saga.md; why
// it is built this way: docs/decisions/0008-sagas.md. Metrics: wharf_saga_instances{saga,state},
// wharf_saga_oldest_seconds{saga,state}, wharf_saga_overdue{saga},
// wharf_saga_transitions_total{saga,event}, wharf_saga_step_latency_seconds{saga,step},
// wharf_saga_replies_skipped_total{saga,reason}.
//
// Threads: thread-safe (the Database's pool; each transition locks its instance row on
// PostgreSQL, SQLite serialises writers). Several coordinators may share one database.
// Definitions are added before attach() and run_timers().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wharf/clock.h"
#include "wharf/event.h"
#include "wharf/message.h"
#include "wharf/result.h"
#include "wharf/router.h"
#include "wharf/sql.h"

namespace wharf {

enum class SagaState {
  kRunning,
  kCompleted,
  kCompensating,
  kCompensated,
  kNeedsAttention,
  kAborted
};
// "running", "completed", "compensating", "compensated", "needs_attention", "aborted".
std::string_view saga_state_name(SagaState state);
Result<SagaState> parse_saga_state(std::string_view name);
// Completed, compensated and aborted instances never change again.
bool saga_state_final(SagaState state);

// One command and the replies that answer it.
struct SagaAction {
  std::string topic;  // where the command goes
  // Builds the command from the instance's data. The coordinator gives it a new id on every
  // send and sets its correlation id (the instance id), its causation id and the wharf-saga*
  // headers; an error fails the step.
  std::function<Result<Message>(const json& data)> command;
  std::string reply_topic;                // where the participant replies
  std::vector<std::string> success;       // reply types that mean done
  std::vector<std::string> failure;       // reply types that mean failed
  std::chrono::milliseconds deadline{0};  // 0: wait for a reply forever
};

struct SagaStep {
  std::string name;
  SagaAction action;
  // Undoes the action; none: nothing to undo (the step is skipped when compensating).
  std::optional<SagaAction> compensation;
  // Called with the success reply of `action`, in the transition's transaction: may copy what
  // the reply says into the instance's data (a reservation id for the compensation). An error
  // fails the step.
  std::function<Status(const Message& reply, json& data)> on_success;
  // true: runs in parallel with the step before it (same stage). Not allowed on the first step.
  bool parallel_with_previous = false;
};

struct SagaDefinition {
  std::string name;
  std::int32_t version = 1;
  std::vector<SagaStep> steps;
};

struct SagaRetryPolicy {
  int attempts_max = 5;  // sends of one compensation before needs_attention (>= 1)
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60'000};  // the backoff doubles up to this
};

struct SagaOptions {
  SagaRetryPolicy compensation_retry;
  const Clock* clock = nullptr;  // timers and history times; nullptr: the system clock
  std::chrono::milliseconds timer_interval{200};  // run_timers(): how often it looks
  std::size_t timer_batch_max = 100;              // timers fired per pass
  // A timer this long past due counts its instance in wharf_saga_overdue (the timer loop is
  // not running or cannot keep up).
  std::chrono::milliseconds overdue_after{60'000};
};

// One step of a parallel stage, as SagaInstance::stage shows it.
struct SagaStageStep {
  std::int32_t step = 0;
  std::string step_name;
  std::string status;      // awaiting | succeeded | failed | timed_out
  std::string message_id;  // its command
  std::int64_t sent_at_ms = 0;
};

struct SagaInstance {
  std::string id;
  std::string name;
  std::int32_t version = 0;
  SagaState state = SagaState::kRunning;
  // The step whose action (running) or compensation (others) is current; in a parallel stage
  // the stage's first step while running, its last while waiting for it to settle.
  std::int32_t step = 0;
  std::string step_name;
  json data;
  // The command whose reply is awaited; empty: none, or the steps of a parallel stage (`stage`).
  std::string awaiting_message_id;
  // The steps of the current (or failed) parallel stage; empty for a stage of one step.
  std::vector<SagaStageStep> stage;
  std::int32_t attempts = 0;  // failed sends of the current compensation
  std::string last_error;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> due_at_ms;  // the earliest pending timer, if any
};

struct SagaHistoryEntry {
  std::int64_t seq = 0;
  std::int64_t at_ms = 0;
  std::string event;  // started, command_sent, step_completed, step_failed, ...
  std::int32_t step = 0;
  std::string state;       // the state after the event
  std::string message_id;  // the message sent or received, if any
  std::string detail;
};

// Headers the coordinator puts on every command it sends.
inline constexpr std::string_view kHeaderSagaName = "wharf-saga";
inline constexpr std::string_view kHeaderSagaStep = "wharf-saga-step";
inline constexpr std::string_view kHeaderSagaPhase = "wharf-saga-phase";  // action|compensation

class SagaCoordinator {
 public:
  // Applies the saga migrations (component "wharf_saga") and the outbox's.
  [[nodiscard]] static Result<std::unique_ptr<SagaCoordinator>> open(sql::Database& db,
                                                                     SagaOptions options = {});
  ~SagaCoordinator();
  SagaCoordinator(const SagaCoordinator&) = delete;
  SagaCoordinator& operator=(const SagaCoordinator&) = delete;

  // Registers a definition under (name, version). kInvalidArgument for a definition without
  // a name, steps, topics, commands or success types; kAlreadyExists for a taken version.
  [[nodiscard]] Status add(SagaDefinition definition);

  // Starts an instance of the highest registered version of `name` in the caller's
  // transaction (it sends the first command through the outbox there) and returns its id
  // (`id` when given, a new UUIDv7 otherwise). kNotFound for an unregistered name,
  // kConstraint-like SQL error for an id that exists.
  [[nodiscard]] Result<std::string> start(sql::Transaction& tx, const std::string& name, json data,
                                          std::string id = {});
  // The same in a transaction of its own.
  [[nodiscard]] Result<std::string> start(const std::string& name, json data, std::string id = {});

  // Registers, on `router`, a batch handler (handle_batch) for every reply topic of the
  // definitions added so far.
  void attach(Router& router);
  // Applies one reply. Messages that belong to no instance, or
  // that the instance does not await, are acknowledged without effect.
  [[nodiscard]] Status handle(const Message& reply);
  // Applies replies in one transaction (attach() registers this, as a batch handler): one
  // commit for the batch. If one fails, they are applied one by one up to it; one Status per
  // reply, as Router::on_batch expects.
  [[nodiscard]] std::vector<Status> handle_batch(const std::vector<const Message*>& replies);

  // Fires the timers due now (at most timer_batch_max); returns how many fired. A timer that
  // cannot fire (its version is not registered, the store failed) is logged and stays due for
  // the next pass; the error is returned only when no timer fired.
  [[nodiscard]] Result<std::size_t> fire_due_timers();
  // Fires due timers every timer_interval until `stop`. Errors are logged and retried.
  [[nodiscard]] Status run_timers(std::stop_token stop);

  [[nodiscard]] Result<SagaInstance> get(const std::string& id);
  // Instances in `state` (all when nullopt), oldest first, at most `limit`.
  [[nodiscard]] Result<std::vector<SagaInstance>> list(std::optional<SagaState> state = {},
                                                       std::size_t limit = 1000);
  [[nodiscard]] Result<std::vector<SagaHistoryEntry>> history(const std::string& id);

  // Deletes finished instances (completed, compensated, aborted) whose last change is older
  // than `age`, with their history and the ids of their replies: at most `batch_max` instances
  // per call; returns how many. A reply arriving later for a deleted instance is acknowledged
  // without effect (no instance has its id). Unfinished instances are never deleted.
  [[nodiscard]] Result<std::int64_t> purge_finished(std::chrono::milliseconds age,
                                                    std::int64_t batch_max = 1000);

  // A needs_attention instance compensates again: its current compensation is sent anew with
  // a fresh attempt budget. kInvalidArgument in any other state.
  [[nodiscard]] Status retry(const std::string& id);
  // Stops an unfinished instance where it is: nothing more is sent; what its commands did
  // stays done. kInvalidArgument for a finished instance.
  [[nodiscard]] Status abort(const std::string& id, const std::string& reason);

 private:
  struct Impl;
  explicit SagaCoordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wharf
