// Choreographed sagas: no orchestrator sends commands; services react to each other's events.
// What is still needed is to see each business process as one thing: which events of order 42
// arrived, what state it is in, whether it finished, failed or is stuck. A Choreography
// correlates events from any topics to an instance by an id they carry (the message's
// correlation id, or a payload field such as "order_id"), keeps the instance's JSON state and
// its event history in SQL, and runs a reaction per event in the consumer's inbox transaction,
// so the reaction's own writes and outbox messages commit with the record that the event was
// handled, once.
//
//   auto orders = wharf::Choreography::open(*db, "order-process");
//   (*orders)->on("payments", "payments.Charged", wharf::correlate_by_field("order_id"),
//       [](wharf::json& state, const wharf::Message&, wharf::sql::Transaction&)
//           -> wharf::Result<wharf::ChoreographyStatus> {
//         state["paid"] = true;
//         return state.value("reserved", false) ? wharf::ChoreographyStatus::kCompleted
//                                               : wharf::ChoreographyStatus::kOpen;
//       });
//   (*orders)->on("inventory", "inventory.OutOfStock", wharf::correlate_by_field("order_id"),
//       [](wharf::json&, const wharf::Message& m, wharf::sql::Transaction& tx)
//           -> wharf::Result<wharf::ChoreographyStatus> {
//         WHARF_RETURN_IF_ERROR(wharf::outbox(tx).publish("payments", RefundPayment{...}));
//         return wharf::ChoreographyStatus::kFailed;
//       });
//   (*orders)->attach(router, *inbox);   // one inbox-batch handler per topic
//
// An instance is created by the first event correlated to it (any of the registered types).
// Events that reach a finished (completed or failed) instance are recorded in its history but
// their reaction does not run (counted as late). The inbox deduplicates redelivered messages.
// Tables: docs/formats/saga.md (wharf_choreography_*). Metrics:
// wharf_choreography_instances{choreography,status}, wharf_choreography_stuck{choreography}
// (open instances without an event for ChoreographyOptions::stuck_after),
// wharf_choreography_events_total{choreography,type,outcome}.
//
// Threads: thread-safe after the handlers are registered (on() before attach()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wharf/clock.h"
#include "wharf/event.h"
#include "wharf/inbox.h"
#include "wharf/message.h"
#include "wharf/result.h"
#include "wharf/router.h"
#include "wharf/sql.h"

namespace wharf {

enum class ChoreographyStatus { kOpen, kCompleted, kFailed };
// "open", "completed", "failed".
std::string_view choreography_status_name(ChoreographyStatus status);

// The instance id of a message; an error makes the message fail (kInvalidArgument: not
// retryable, so a router's dead-letter middleware takes it).
using ChoreographyCorrelate = std::function<Result<std::string>(const Message&)>;
// The message's correlation id (what Context::publish carries from cause to effect).
ChoreographyCorrelate correlate_by_correlation_id();
// A top-level string or integer field of the JSON payload, e.g. "order_id".
ChoreographyCorrelate correlate_by_field(std::string field);

// Changes the instance's state for one event, in the inbox's transaction (it may write its own
// tables and publish through the outbox there), and says whether the process is now finished.
// An error rolls the whole message back (the router retries or dead-letters it).
using ChoreographyReaction =
    std::function<Result<ChoreographyStatus>(json& state, const Message& event, sql::Transaction&)>;

struct ChoreographyOptions {
  // An open instance without an event for this long counts as stuck (metric, list()).
  std::chrono::milliseconds stuck_after{std::chrono::minutes(10)};
  const Clock* clock = nullptr;  // nullptr: the system clock
};

struct ChoreographyInstance {
  std::string name;  // the choreography's
  std::string id;
  ChoreographyStatus status = ChoreographyStatus::kOpen;
  json state;
  std::int64_t events = 0;
  std::string last_event_type;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

struct ChoreographyEvent {
  std::int64_t seq = 0;
  std::int64_t at_ms = 0;
  std::string topic;
  std::string type;
  std::string message_id;
  bool applied = false;  // false: it arrived after the instance finished
};

class Choreography {
 public:
  // Applies the migrations (component "wharf_choreography"). kInvalidArgument for an empty name.
  [[nodiscard]] static Result<std::unique_ptr<Choreography>> open(sql::Database& db,
                                                                  std::string name,
                                                                  ChoreographyOptions options = {});
  ~Choreography();
  Choreography(const Choreography&) = delete;
  Choreography& operator=(const Choreography&) = delete;

  // Reacts to messages of `type` on `topic`. A later on() for the same (topic, type) replaces it.
  void on(const std::string& topic, const std::string& type, ChoreographyCorrelate correlate,
          ChoreographyReaction react);

  // Applies one message in the caller's transaction: finds or creates its instance, records the
  // event, runs the reaction (unless the instance finished) and saves state and status. Returns
  // false for a message no on() covers (nothing is written).
  [[nodiscard]] Result<bool> apply(sql::Transaction& tx, const Message& message);
  // A handler for Inbox::middleware() or Inbox::batch(): apply() in the inbox's transaction.
  Handler handler();
  // Registers, on `router`, an inbox-batch handler for every topic on() named.
  void attach(Router& router, Inbox& inbox);

  [[nodiscard]] Result<ChoreographyInstance> get(const std::string& id);
  // Instances with `status` (all when nullopt), oldest first, at most `limit`; `stuck_only`:
  // open ones without an event for stuck_after.
  [[nodiscard]] Result<std::vector<ChoreographyInstance>> list(
      std::optional<ChoreographyStatus> status = {}, std::size_t limit = 1000,
      bool stuck_only = false);
  [[nodiscard]] Result<std::vector<ChoreographyEvent>> history(const std::string& id);

 private:
  struct Impl;
  explicit Choreography(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wharf
