// Operating sagas without their definitions: listing with filters, counts, the admin endpoint's
// JSON and the retry request. See include/wharf/saga_ops.h; tables in docs/formats/saga.md.
#include "wharf/saga_ops.h"

#include <algorithm>
#include <map>

namespace wharf {
namespace {

constexpr std::size_t kListMax = 100'000;  // a CLI page; each row is one more get()

const Clock& clock_or_system(const Clock* clock) {
  return clock != nullptr ? *clock : SystemClock::instance();
}

}  // namespace

Result<std::vector<SagaInstance>> list_sagas(SagaCoordinator& sagas, sql::Database& db,
                                             const SagaFilter& filter) {
  std::string where;
  std::vector<sql::Value> args;
  if (filter.state) {
    where += " AND state = ?";
    args.emplace_back(std::string(saga_state_name(*filter.state)));
  }
  if (!filter.name.empty()) {
    where += " AND name = ?";
    args.emplace_back(filter.name);
  }
  args.emplace_back(static_cast<std::int64_t>(std::min(filter.limit, kListMax)));
  sql::Rows rows;
  {
    WHARF_ASSIGN_OR_RETURN(auto tx, db.begin({.read_only = true}));
    WHARF_ASSIGN_OR_RETURN(
        rows, tx->query_values(fmt::format("SELECT id FROM wharf_saga_instances WHERE 1 = 1{} "
                                           "ORDER BY created_at_ms, id LIMIT ?",
                                           where),
                               args));
    WHARF_RETURN_IF_ERROR(tx->commit());
  }
  // The coordinator reads each instance, so the row layout is known in one place only. An
  // instance purged between the two reads is left out.
  std::vector<SagaInstance> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    WHARF_ASSIGN_OR_RETURN(std::string id, row.get<std::string>(0));
    auto inst = sagas.get(id);
    if (!inst && inst.error().code() == ErrorCode::kNotFound) continue;
    if (!inst) return fail(std::move(inst).error());
    out.push_back(std::move(*inst));
  }
  return out;
}

Result<std::vector<SagaCount>> count_sagas(sql::Database& db) {
  WHARF_ASSIGN_OR_RETURN(auto tx, db.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(auto rows, tx->query("SELECT name, state, COUNT(*) FROM "
                                              "wharf_saga_instances GROUP BY name, state "
                                              "ORDER BY name, state"));
  WHARF_RETURN_IF_ERROR(tx->commit());
  std::vector<SagaCount> out;
  for (const auto& row : rows) {
    SagaCount c;
    WHARF_ASSIGN_OR_RETURN(c.name, row.get<std::string>(0));
    WHARF_ASSIGN_OR_RETURN(c.state, row.get<std::string>(1));
    WHARF_ASSIGN_OR_RETURN(c.count, row.get<std::int64_t>(2));
    out.push_back(std::move(c));
  }
  return out;
}

json saga_instance_json(const SagaInstance& i) {
  json j{{"id", i.id},
         {"name", i.name},
         {"version", i.version},
         {"state", std::string(saga_state_name(i.state))},
         {"step", i.step},
         {"data", i.data},
         {"awaiting_message_id", i.awaiting_message_id},
         {"attempts", i.attempts},
         {"last_error", i.last_error},
         {"created_at_ms", i.created_at_ms},
         {"updated_at_ms", i.updated_at_ms},
         {"due_at_ms", i.due_at_ms ? json(*i.due_at_ms) : json(nullptr)}};
  if (!i.step_name.empty()) j["step_name"] = i.step_name;
  return j;
}

Result<std::string> sagas_admin_json(SagaCoordinator& sagas, sql::Database& db,
                                     std::size_t needs_attention_max) {
  WHARF_ASSIGN_OR_RETURN(auto counts, count_sagas(db));
  json by_name = json::array();
  std::int64_t needs_attention_total = 0;
  for (const auto& c : counts) {
    if (by_name.empty() || by_name.back()["name"] != c.name) {
      by_name.push_back({{"name", c.name}, {"states", json::object()}, {"total", 0}});
    }
    by_name.back()["states"][c.state] = c.count;
    by_name.back()["total"] = by_name.back()["total"].get<std::int64_t>() + c.count;
    if (c.state == saga_state_name(SagaState::kNeedsAttention)) needs_attention_total += c.count;
  }
  json parked = json::array();
  if (needs_attention_total > 0) {
    WHARF_ASSIGN_OR_RETURN(
        auto list,
        list_sagas(sagas, db, {.state = SagaState::kNeedsAttention, .limit = needs_attention_max}));
    for (const auto& i : list) parked.push_back(saga_instance_json(i));
  }
  json out{{"sagas", std::move(by_name)},
           {"needs_attention", std::move(parked)},
           {"needs_attention_total", needs_attention_total}};
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Status request_saga_retry(sql::Database& db, const std::string& id, const Clock* clock) {
  const Clock& c = clock_or_system(clock);
  return db.transaction([&](sql::Transaction& tx) -> Status {
    std::string q = "SELECT state, step, history_seq FROM wharf_saga_instances WHERE id = ?";
    // The same row lock as a transition (PostgreSQL); SQLite serialises writers.
    if (tx.dialect() == sql::Dialect::kPostgres) q += " FOR UPDATE";
    WHARF_ASSIGN_OR_RETURN(auto rows, tx.query(q, id));
    if (rows.empty()) return fail(ErrorCode::kNotFound, "no saga instance {}", id);
    WHARF_ASSIGN_OR_RETURN(std::string state, rows[0].get<std::string>(0));
    WHARF_ASSIGN_OR_RETURN(std::int64_t step, rows[0].get<std::int64_t>(1));
    WHARF_ASSIGN_OR_RETURN(std::int64_t seq, rows[0].get<std::int64_t>(2));
    if (state != saga_state_name(SagaState::kNeedsAttention)) {
      return fail(ErrorCode::kInvalidArgument, "saga instance {} is {}, not needs_attention", id,
                  state);
    }
    const std::int64_t now = c.now_ms();
    const std::string compensating(saga_state_name(SagaState::kCompensating));
    WHARF_ASSIGN_OR_RETURN(
        std::int64_t n,
        tx.exec("UPDATE wharf_saga_instances SET state = ?, attempts = 0, "
                "awaiting_message_id = '', updated_at_ms = ?, history_seq = ? WHERE id = ?",
                compensating, now, seq + 1, id));
    if (n != 1) return fail(ErrorCode::kInternal, "saga instance {} vanished", id);
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO wharf_saga_history (instance_id, seq, at_ms, event, step, state, "
                "message_id, detail) VALUES (?, ?, ?, 'retried', ?, ?, '', ?)",
                id, seq + 1, now, step, compensating,
                "requested from outside the coordinator; its next timer pass sends the "
                "compensation"));
    WHARF_RETURN_IF_ERROR(tx.exec("DELETE FROM wharf_saga_timers WHERE instance_id = ?", id));
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO wharf_saga_timers (instance_id, due_at_ms, kind, "
                "token) VALUES (?, ?, 'retry', '')",
                id, now));
    return ok();
  });
}

}  // namespace wharf
