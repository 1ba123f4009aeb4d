// Operating sagas from outside the process that runs them: what `wharf saga list|show|retry|
// abort` and the admin endpoint /v1/sagas use. Works on the saga tables (docs/formats/saga.md)
// of a SQL store with a SagaCoordinator that has no definitions registered: nothing here builds
// a command.
//
//   auto sagas = wharf::SagaCoordinator::open(*db);     // no add(): an operator's view
//   auto stuck = wharf::list_sagas(*sagas, *db, {.state = wharf::SagaState::kNeedsAttention});
//   WHARF_RETURN_IF_ERROR(wharf::request_saga_retry(*db, id));
//
// request_saga_retry() is the way to retry from a process without the definition (the library's
// SagaCoordinator::retry needs it to build the compensation command): one transaction moves a
// needs_attention instance back to compensating with a fresh attempt budget and arms a retry
// timer due now, so the next timer pass of a coordinator that has the definition
// (run_timers / fire_due_timers) sends the compensation, exactly as after a backoff. Why:
// docs/decisions/0008-sagas.md.
//
// Threads: like the coordinator (the Database's pool); every call is its own transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wharf/clock.h"
#include "wharf/result.h"
#include "wharf/saga.h"
#include "wharf/sql.h"

namespace wharf {

struct SagaFilter {
  std::optional<SagaState> state;  // nullopt: every state
  std::string name;                // empty: every saga
  std::size_t limit = 100;         // at most this many, oldest first (capped at 100'000)
};

// Instances that match `filter`, oldest first.
[[nodiscard]] Result<std::vector<SagaInstance>> list_sagas(SagaCoordinator& sagas,
                                                           sql::Database& db,
                                                           const SagaFilter& filter);

struct SagaCount {
  std::string name;
  std::string state;
  std::int64_t count = 0;
};
// Instances per (saga name, state), sorted by name then state.
[[nodiscard]] Result<std::vector<SagaCount>> count_sagas(sql::Database& db);

// The body of the admin endpoint /v1/sagas: {"sagas": [{"name", "states": {state: count},
// "total"}], "needs_attention": [instance...] (at most `needs_attention_max`, oldest first),
// "needs_attention_total"}.
[[nodiscard]] Result<std::string> sagas_admin_json(SagaCoordinator& sagas, sql::Database& db,
                                                   std::size_t needs_attention_max = 100);

// The instance as JSON (what `wharf saga show --json` and the admin endpoint print).
json saga_instance_json(const SagaInstance& instance);

// Moves a needs_attention instance back to compensating (attempts 0, a "retried" history row)
// and arms a retry timer due now; a running coordinator with the definition sends the
// compensation on its next timer pass. kNotFound for an unknown id, kInvalidArgument in any
// state but needs_attention. `clock`: nullptr is the system clock.
[[nodiscard]] Status request_saga_retry(sql::Database& db, const std::string& id,
                                        const Clock* clock = nullptr);

}  // namespace wharf
