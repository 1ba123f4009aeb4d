// The saga coordinator: definitions, the transition engine, timers, queries and metrics. See
// include/wharf/saga.h; tables in docs/formats/saga.md.
#include "wharf/saga.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "base/admin_routes.h"
#include "base/check.h"
#include "base/log.h"
#include "base/metrics.h"
#include "wharf/outbox.h"
#include "wharf/saga_ops.h"

namespace wharf {
namespace {

// The schema is the same on SQLite and PostgreSQL (docs/formats/saga.md).
const std::array<sql::Migration, 2> kMigrations = {{
    {1,
     "CREATE TABLE wharf_saga_instances ("
     "  id TEXT PRIMARY KEY,"
     "  name TEXT NOT NULL,"
     "  version BIGINT NOT NULL,"
     "  state TEXT NOT NULL,"
     "  step BIGINT NOT NULL,"
     "  data TEXT NOT NULL,"
     "  awaiting_message_id TEXT NOT NULL,"
     "  attempts BIGINT NOT NULL,"
     "  last_error TEXT NOT NULL,"
     "  step_started_at_ms BIGINT NOT NULL,"
     "  created_at_ms BIGINT NOT NULL,"
     "  updated_at_ms BIGINT NOT NULL,"
     "  history_seq BIGINT NOT NULL);"
     "CREATE INDEX wharf_saga_instances_state ON wharf_saga_instances (state, created_at_ms);"
     "CREATE TABLE wharf_saga_history ("
     "  instance_id TEXT NOT NULL,"
     "  seq BIGINT NOT NULL,"
     "  at_ms BIGINT NOT NULL,"
     "  event TEXT NOT NULL,"
     "  step BIGINT NOT NULL,"
     "  state TEXT NOT NULL,"
     "  message_id TEXT NOT NULL,"
     "  detail TEXT NOT NULL,"
     "  PRIMARY KEY (instance_id, seq));"
     "CREATE TABLE wharf_saga_timers ("
     "  instance_id TEXT PRIMARY KEY,"
     "  due_at_ms BIGINT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  token TEXT NOT NULL);"
     "CREATE INDEX wharf_saga_timers_due ON wharf_saga_timers (due_at_ms);"
     "CREATE TABLE wharf_saga_processed ("
     "  message_id TEXT PRIMARY KEY,"
     "  instance_id TEXT NOT NULL,"
     "  processed_at_ms BIGINT NOT NULL);"},
    // Parallel stages: the stage's steps in the instance row, and several timers per instance
    // (one deadline per awaited command); an index for the scrape-time age query.
    {2,
     "ALTER TABLE wharf_saga_instances ADD COLUMN stage TEXT NOT NULL DEFAULT '[]';"
     "CREATE TABLE wharf_saga_timers_v2 ("
     "  instance_id TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  token TEXT NOT NULL,"
     "  due_at_ms BIGINT NOT NULL,"
     "  PRIMARY KEY (instance_id, kind, token));"
     "INSERT INTO wharf_saga_timers_v2 (instance_id, kind, token, due_at_ms)"
     "  SELECT instance_id, kind, token, due_at_ms FROM wharf_saga_timers;"
     "DROP TABLE wharf_saga_timers;"
     "ALTER TABLE wharf_saga_timers_v2 RENAME TO wharf_saga_timers;"
     "CREATE INDEX wharf_saga_timers_due ON wharf_saga_timers (due_at_ms);"
     "CREATE INDEX wharf_saga_instances_changed ON wharf_saga_instances (state, name, "
     "updated_at_ms);"},
}};

constexpr std::string_view kColumns =
    "id, name, version, state, step, data, awaiting_message_id, attempts, last_error, "
    "step_started_at_ms, created_at_ms, updated_at_ms, history_seq, stage";

constexpr std::string_view kTimerDeadline = "deadline";
constexpr std::string_view kTimerRetry = "retry";

// Statuses of the steps of a parallel stage (SagaStageStep::status).
constexpr std::string_view kAwaiting = "awaiting";
constexpr std::string_view kSucceeded = "succeeded";
constexpr std::string_view kFailed = "failed";
constexpr std::string_view kTimedOut = "timed_out";

// The instance as loaded for a transition (plus what the public struct leaves out).
struct Loaded {
  SagaInstance inst;
  std::int64_t step_started_at_ms = 0;
  std::int64_t history_seq = 0;
};

Result<Loaded> from_row(const sql::Row& row) {
  Loaded l;
  WHARF_ASSIGN_OR_RETURN(l.inst.id, row.get<std::string>(0));
  WHARF_ASSIGN_OR_RETURN(l.inst.name, row.get<std::string>(1));
  WHARF_ASSIGN_OR_RETURN(std::int64_t version, row.get<std::int64_t>(2));
  l.inst.version = static_cast<std::int32_t>(version);
  WHARF_ASSIGN_OR_RETURN(std::string state, row.get<std::string>(3));
  WHARF_ASSIGN_OR_RETURN(l.inst.state, parse_saga_state(state));
  WHARF_ASSIGN_OR_RETURN(std::int64_t step, row.get<std::int64_t>(4));
  l.inst.step = static_cast<std::int32_t>(step);
  WHARF_ASSIGN_OR_RETURN(std::string data, row.get<std::string>(5));
  l.inst.data = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (l.inst.data.is_discarded()) {
    return fail(ErrorCode::kCorruption, "saga instance {}: data is not JSON", l.inst.id);
  }
  WHARF_ASSIGN_OR_RETURN(l.inst.awaiting_message_id, row.get<std::string>(6));
  WHARF_ASSIGN_OR_RETURN(std::int64_t attempts, row.get<std::int64_t>(7));
  l.inst.attempts = static_cast<std::int32_t>(attempts);
  WHARF_ASSIGN_OR_RETURN(l.inst.last_error, row.get<std::string>(8));
  WHARF_ASSIGN_OR_RETURN(l.step_started_at_ms, row.get<std::int64_t>(9));
  WHARF_ASSIGN_OR_RETURN(l.inst.created_at_ms, row.get<std::int64_t>(10));
  WHARF_ASSIGN_OR_RETURN(l.inst.updated_at_ms, row.get<std::int64_t>(11));
  WHARF_ASSIGN_OR_RETURN(l.history_seq, row.get<std::int64_t>(12));
  WHARF_ASSIGN_OR_RETURN(std::string stage, row.get<std::string>(13));
  const json j = json::parse(stage, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) {
    return fail(ErrorCode::kCorruption, "saga instance {}: stage is not a JSON array", l.inst.id);
  }
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("step") || !e["step"].is_number_integer() ||
        !e.contains("status") || !e["status"].is_string()) {
      return fail(ErrorCode::kCorruption, "saga instance {}: bad stage entry", l.inst.id);
    }
    l.inst.stage.push_back({.step = e["step"].get<std::int32_t>(),
                            .step_name = {},
                            .status = e["status"].get<std::string>(),
                            .message_id = e.value("message_id", ""),
                            .sent_at_ms = e.value("sent_at_ms", std::int64_t{0})});
  }
  return l;
}

std::string stage_json(const std::vector<SagaStageStep>& stage) {
  json j = json::array();
  for (const auto& e : stage) {
    j.push_back({{"step", e.step},
                 {"status", e.status},
                 {"message_id", e.message_id},
                 {"sent_at_ms", e.sent_at_ms}});
  }
  return j.dump();
}

// The first and last step of the stage that holds step `k`.
std::pair<std::int32_t, std::int32_t> stage_bounds(const SagaDefinition& d, std::int32_t k) {
  std::int32_t first = k;
  while (first > 0 && d.steps[static_cast<std::size_t>(first)].parallel_with_previous) --first;
  std::int32_t last = k;
  while (static_cast<std::size_t>(last) + 1 < d.steps.size() &&
         d.steps[static_cast<std::size_t>(last) + 1].parallel_with_previous) {
    ++last;
  }
  return {first, last};
}

Status validate_action(const SagaDefinition& d, const SagaStep& s, const SagaAction& a,
                       std::string_view what) {
  if (a.topic.empty() || a.reply_topic.empty() || !a.command || a.success.empty() ||
      a.deadline.count() < 0) {
    return fail(ErrorCode::kInvalidArgument,
                "saga {} v{} step {}: the {} needs a topic, a command, a reply topic, success "
                "reply types and a non-negative deadline",
                d.name, d.version, s.name, what);
  }
  return ok();
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

std::string_view saga_state_name(SagaState state) {
  switch (state) {
    case SagaState::kRunning:
      return "running";
    case SagaState::kCompleted:
      return "completed";
    case SagaState::kCompensating:
      return "compensating";
    case SagaState::kCompensated:
      return "compensated";
    case SagaState::kNeedsAttention:
      return "needs_attention";
    case SagaState::kAborted:
      return "aborted";
  }
  return "unknown";
}

Result<SagaState> parse_saga_state(std::string_view name) {
  for (SagaState s : {SagaState::kRunning, SagaState::kCompleted, SagaState::kCompensating,
                      SagaState::kCompensated, SagaState::kNeedsAttention, SagaState::kAborted}) {
    if (saga_state_name(s) == name) return s;
  }
  return fail(ErrorCode::kInvalidArgument, "unknown saga state '{}'", name);
}

bool saga_state_final(SagaState state) {
  return state == SagaState::kCompleted || state == SagaState::kCompensated ||
         state == SagaState::kAborted;
}

struct SagaCoordinator::Impl {
  sql::Database& db;
  SagaOptions options;
  std::map<std::pair<std::string, std::int32_t>, SagaDefinition> definitions;
  std::uint64_t collector_id = 0;
  std::uint64_t route_id = 0;  // /v1/sagas on the admin API

  // Metric updates wait for the commit: a transition that rolls back counts nothing.
  struct Pending {
    std::vector<std::pair<std::string, std::string>> transitions;         // (saga, event)
    std::vector<std::tuple<std::string, std::string, double>> latencies;  // (saga, step, s)
  };

  Impl(sql::Database& d, SagaOptions o) : db(d), options(std::move(o)) {}

  const Clock& clock() const { return options.clock ? *options.clock : SystemClock::instance(); }

  Result<const SagaDefinition*> definition(const std::string& name, std::int32_t version) const {
    auto it = definitions.find({name, version});
    if (it == definitions.end()) {
      return fail(ErrorCode::kNotFound, "saga {} version {} is not registered", name, version);
    }
    return &it->second;
  }

  static void publish_metrics(const Pending& p) {
    for (const auto& [saga, event] : p.transitions) {
      metrics::registry()
          .counter("wharf_saga_transitions_total", "Saga instance transitions, by event")
          .with({{"saga", saga}, {"event", event}})
          .inc();
    }
    for (const auto& [saga, step, seconds] : p.latencies) {
      metrics::registry()
          .histogram("wharf_saga_step_latency_seconds",
                     "From a saga step's command to its success or failure reply")
          .with({{"saga", saga}, {"step", step}})
          .observe(seconds);
    }
  }

  static void count_skipped(const std::string& saga, const char* reason) {
    metrics::registry()
        .counter("wharf_saga_replies_skipped_total",
                 "Replies a saga did not apply: duplicate (already applied) or stale")
        .with({{"saga", saga}, {"reason", reason}})
        .inc();
  }

  Result<std::optional<Loaded>> load(sql::Transaction& tx, const std::string& id, bool lock) {
    std::string q = fmt::format("SELECT {} FROM wharf_saga_instances WHERE id = ?", kColumns);
    if (lock && tx.dialect() == sql::Dialect::kPostgres) q += " FOR UPDATE";
    WHARF_ASSIGN_OR_RETURN(auto rows, tx.query(q, id));
    if (rows.empty()) return std::optional<Loaded>{};
    WHARF_ASSIGN_OR_RETURN(Loaded l, from_row(rows[0]));
    return std::optional<Loaded>(std::move(l));
  }

  Status save(sql::Transaction& tx, Loaded& l) {
    l.inst.updated_at_ms = clock().now_ms();
    WHARF_ASSIGN_OR_RETURN(
        std::int64_t n,
        tx.exec("UPDATE wharf_saga_instances SET state = ?, step = ?, data = ?, "
                "awaiting_message_id = ?, attempts = ?, last_error = ?, step_started_at_ms = ?, "
                "updated_at_ms = ?, history_seq = ?, stage = ? WHERE id = ?",
                saga_state_name(l.inst.state), l.inst.step, l.inst.data.dump(),
                l.inst.awaiting_message_id, l.inst.attempts, l.inst.last_error,
                l.step_started_at_ms, l.inst.updated_at_ms, l.history_seq, stage_json(l.inst.stage),
                l.inst.id));
    if (n != 1) return fail(ErrorCode::kInternal, "saga instance {} vanished", l.inst.id);
    return ok();
  }

  Status record(sql::Transaction& tx, Loaded& l, Pending& p, std::string_view event,
                const std::string& message_id, const std::string& detail) {
    return record_step(tx, l, p, l.inst.step, event, message_id, detail);
  }

  // A history row about step `step` (a step of a parallel stage other than the current one).
  Status record_step(sql::Transaction& tx, Loaded& l, Pending& p, std::int32_t step,
                     std::string_view event, const std::string& message_id,
                     const std::string& detail) {
    ++l.history_seq;
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO wharf_saga_history (instance_id, seq, at_ms, event, step, state, "
                "message_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                l.inst.id, l.history_seq, clock().now_ms(), event, step,
                saga_state_name(l.inst.state), message_id, detail));
    p.transitions.emplace_back(l.inst.name, std::string(event));
    return ok();
  }

  // Replaces every timer of the instance by this one (none when `due` is empty).
  Status set_timer(sql::Transaction& tx, const std::string& id, std::optional<std::int64_t> due,
                   std::string_view kind, const std::string& token) {
    WHARF_RETURN_IF_ERROR(tx.exec("DELETE FROM wharf_saga_timers WHERE instance_id = ?", id));
    if (!due) return ok();
    return add_timer(tx, id, *due, kind, token);
  }

  Status add_timer(sql::Transaction& tx, const std::string& id, std::int64_t due,
                   std::string_view kind, const std::string& token) {
    return tx
        .exec(
            "INSERT INTO wharf_saga_timers (instance_id, due_at_ms, kind, token) VALUES (?, "
            "?, ?, ?)",
            id, due, kind, token)
        .map([](auto) {});
  }

  // Builds step `k`'s action (forward) or compensation as the coordinator sends it. A command
  // that cannot be built is no error of the transaction: nullopt with the reason in *why, and
  // the caller treats it as a failure reply.
  std::optional<Message> build(const Loaded& l, const SagaDefinition& def, std::int32_t k,
                               bool forward, const std::string& cause, std::string* why) {
    const SagaStep& step = def.steps[static_cast<std::size_t>(k)];
    const SagaAction& action = forward ? step.action : *step.compensation;
    auto built = action.command(l.inst.data);
    if (!built) {
      *why = built.error().to_string();
      return std::nullopt;
    }
    Message m = std::move(*built);
    m.id.clear();  // every send is a new command: a compensation sent again is applied again
    m.correlation_id = l.inst.id;
    m.causation_id = cause;
    if (m.key.empty()) m.key = l.inst.id;
    m.set_header(std::string(kHeaderSagaName), def.name);
    m.set_header(std::string(kHeaderSagaStep), step.name);
    m.set_header(std::string(kHeaderSagaPhase), forward ? "action" : "compensation");
    return m;
  }

  // Puts a built command of step `k` in the outbox, arms its deadline (beside the instance's
  // other timers) and records it; returns its id.
  Result<std::string> publish(sql::Transaction& tx, Loaded& l, const SagaDefinition& def,
                              std::int32_t k, bool forward, Message m, Pending& p) {
    const SagaStep& step = def.steps[static_cast<std::size_t>(k)];
    const SagaAction& action = forward ? step.action : *step.compensation;
    WHARF_ASSIGN_OR_RETURN(std::string id, outbox(tx).publish_message(action.topic, std::move(m)));
    if (action.deadline.count() > 0) {
      WHARF_RETURN_IF_ERROR(
          add_timer(tx, l.inst.id, clock().now_ms() + action.deadline.count(), kTimerDeadline, id));
    }
    WHARF_RETURN_IF_ERROR(record_step(tx, l, p, k, forward ? "command_sent" : "compensation_sent",
                                      id, fmt::format("{} to {}", step.name, action.topic)));
    return id;
  }

  // Sends the current step's action (running) or compensation (compensating) and arms its
  // deadline, in place of any other timer. false (reason in *why): the command could not be
  // built.
  Result<bool> send(sql::Transaction& tx, Loaded& l, const SagaDefinition& def,
                    const std::string& cause, Pending& p, std::string* why) {
    const bool forward = l.inst.state == SagaState::kRunning;
    auto m = build(l, def, l.inst.step, forward, cause, why);
    if (!m) return false;
    WHARF_RETURN_IF_ERROR(set_timer(tx, l.inst.id, std::nullopt, "", ""));
    WHARF_ASSIGN_OR_RETURN(l.inst.awaiting_message_id,
                           publish(tx, l, def, l.inst.step, forward, std::move(*m), p));
    l.step_started_at_ms = clock().now_ms();
    return true;
  }

  // Starts the stage whose first step is `first`: one step is sent as before; the steps of a
  // parallel stage are all sent here, each with its deadline, or none when one of their
  // commands cannot be built (that step failed; the earlier stages are compensated).
  Status enter_stage(sql::Transaction& tx, Loaded& l, const SagaDefinition& def, std::int32_t first,
                     const std::string& cause, Pending& p) {
    const auto [begin, last] = stage_bounds(def, first);
    WHARF_CHECK(begin == first);
    l.inst.state = SagaState::kRunning;
    l.inst.step = first;
    l.inst.stage.clear();
    if (last == first) {
      std::string why;
      WHARF_ASSIGN_OR_RETURN(bool sent, send(tx, l, def, cause, p, &why));
      if (!sent) return action_failed(tx, l, def, cause, why, false, p);
      return ok();
    }
    std::vector<Message> commands;
    for (std::int32_t k = first; k <= last; ++k) {
      std::string why;
      auto m = build(l, def, k, /*forward=*/true, cause, &why);
      if (!m) {  // nothing of the stage was sent: only the earlier stages are compensated
        l.inst.step = k;
        l.inst.last_error = why;
        const std::string& name = def.steps[static_cast<std::size_t>(k)].name;
        WHARF_RETURN_IF_ERROR(
            record(tx, l, p, "step_failed", cause, fmt::format("{}: {}", name, why)));
        return compensate_from(tx, l, def, first - 1, cause, p);
      }
      commands.push_back(std::move(*m));
    }
    WHARF_RETURN_IF_ERROR(set_timer(tx, l.inst.id, std::nullopt, "", ""));
    l.inst.awaiting_message_id.clear();
    l.step_started_at_ms = clock().now_ms();
    for (std::int32_t k = first; k <= last; ++k) {
      WHARF_ASSIGN_OR_RETURN(std::string id,
                             publish(tx, l, def, k, true,
                                     std::move(commands[static_cast<std::size_t>(k - first)]), p));
      l.inst.stage.push_back({.step = k,
                              .step_name = {},
                              .status = std::string(kAwaiting),
                              .message_id = id,
                              .sent_at_ms = l.step_started_at_ms});
    }
    return ok();
  }

  // The step of the current parallel stage that `reply` answers: an awaiting one whose command
  // is the reply's causation id (or, without one, whose action has the reply's type) and whose
  // action has the reply's type. -1: none.
  int stage_match(const Loaded& l, const SagaDefinition& def, const Message& reply) const {
    for (std::size_t i = 0; i < l.inst.stage.size(); ++i) {
      const SagaStageStep& e = l.inst.stage[i];
      if (e.status != kAwaiting) continue;
      if (!reply.causation_id.empty() && reply.causation_id != e.message_id) continue;
      const SagaAction& a = def.steps[static_cast<std::size_t>(e.step)].action;
      if (contains(a.success, reply.type) || contains(a.failure, reply.type)) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // Step `e` of the parallel stage settled (e.status set, its history row written). All
  // succeeded: the next stage. One failed or timed out: the instance is compensating; once no
  // step awaits a reply any more, the stage's succeeded and timed-out steps are compensated,
  // last first, then the earlier stages.
  Status stage_settled(sql::Transaction& tx, Loaded& l, const SagaDefinition& def,
                       const std::string& cause, Pending& p) {
    bool awaiting = false;
    bool failed = false;
    for (const auto& e : l.inst.stage) {
      awaiting |= e.status == kAwaiting;
      failed |= e.status == kFailed || e.status == kTimedOut;
    }
    if (awaiting) return ok();
    const std::int32_t last = l.inst.stage.back().step;
    if (failed) return compensate_from(tx, l, def, last, cause, p);
    l.inst.stage.clear();
    if (static_cast<std::size_t>(last) + 1 == def.steps.size()) {
      l.inst.state = SagaState::kCompleted;
      l.inst.step = last;
      l.inst.awaiting_message_id.clear();
      WHARF_RETURN_IF_ERROR(set_timer(tx, l.inst.id, std::nullopt, "", ""));
      return record(tx, l, p, "completed", "", "");
    }
    return enter_stage(tx, l, def, last + 1, cause, p);
  }

  // A reply (or, with `timed_out`, the deadline) for step stage[i] of a parallel stage.
  Status stage_step_done(sql::Transaction& tx, Loaded& l, const SagaDefinition& def, std::size_t i,
                         const Message* reply, bool success, bool timed_out, Pending& p) {
    SagaStageStep& e = l.inst.stage[i];
    const SagaStep& step = def.steps[static_cast<std::size_t>(e.step)];
    const std::string cause = reply ? reply->id : "";
    WHARF_RETURN_IF_ERROR(
        tx.exec("DELETE FROM wharf_saga_timers WHERE instance_id = ? AND kind = ? AND token = ?",
                l.inst.id, kTimerDeadline, e.message_id));
    std::string reason;
    if (timed_out) {
      reason = fmt::format("no reply to {} in time", step.name);
    } else if (!success) {
      reason = fmt::format("reply {}", reply->type);
    } else if (step.on_success) {
      Status s = step.on_success(*reply, l.inst.data);
      if (!s) reason = s.error().to_string();
    }
    if (reason.empty()) {
      e.status = std::string(kSucceeded);
      WHARF_RETURN_IF_ERROR(record_step(tx, l, p, e.step, "step_completed", cause, step.name));
    } else {
      e.status = std::string(timed_out ? kTimedOut : kFailed);
      l.inst.last_error = reason;
      if (l.inst.state == SagaState::kRunning) {
        // The other steps of the stage are awaited before anything is compensated.
        l.inst.state = SagaState::kCompensating;
        l.inst.step = l.inst.stage.back().step;
      }
      WHARF_RETURN_IF_ERROR(record_step(tx, l, p, e.step,
                                        timed_out ? "step_timed_out" : "step_failed", cause,
                                        fmt::format("{}: {}", step.name, reason)));
    }
    return stage_settled(tx, l, def, cause, p);
  }

  // From step `from` down: the first step with a compensation is compensated; none left: the
  // instance is compensated. A step of the failed parallel stage is compensated only when it
  // succeeded or timed out.
  Status compensate_from(sql::Transaction& tx, Loaded& l, const SagaDefinition& def,
                         std::int32_t from, const std::string& cause, Pending& p) {
    for (std::int32_t j = from; j >= 0; --j) {
      if (!def.steps[static_cast<std::size_t>(j)].compensation) continue;
      auto in_stage = std::find_if(l.inst.stage.begin(), l.inst.stage.end(),
                                   [j](const SagaStageStep& e) { return e.step == j; });
      if (in_stage != l.inst.stage.end() && in_stage->status != kSucceeded &&
          in_stage->status != kTimedOut) {
        continue;
      }
      l.inst.state = SagaState::kCompensating;
      l.inst.step = j;
      l.inst.attempts = 0;
      std::string why;
      WHARF_ASSIGN_OR_RETURN(bool sent, send(tx, l, def, cause, p, &why));
      if (!sent) return compensation_failed(tx, l, def, why, p);
      return ok();
    }
    l.inst.state = SagaState::kCompensated;
    l.inst.awaiting_message_id.clear();
    WHARF_RETURN_IF_ERROR(set_timer(tx, l.inst.id, std::nullopt, "", ""));
    return record(tx, l, p, "compensated", "", "");
  }

  Status compensation_failed(sql::Transaction& tx, Loaded& l, const SagaDefinition& def,
                             const std::string& reason, Pending& p) {
    (void)def;
    ++l.inst.attempts;
    l.inst.last_error = reason;
    l.inst.awaiting_message_id.clear();
    const SagaRetryPolicy& r = options.compensation_retry;
    if (l.inst.attempts < r.attempts_max) {
      std::int64_t backoff = r.backoff_initial.count();
      for (int i = 1; i < l.inst.attempts && backoff < r.backoff_max.count(); ++i) backoff *= 2;
      backoff = std::min<std::int64_t>(backoff, r.backoff_max.count());
      WHARF_RETURN_IF_ERROR(set_timer(tx, l.inst.id, clock().now_ms() + backoff, kTimerRetry, ""));
      return record(tx, l, p, "compensation_failed", "",
                    fmt::format("attempt {} of {}: {}; again in {} ms", l.inst.attempts,
                                r.attempts_max, reason, backoff));
    }
    l.inst.state = SagaState::kNeedsAttention;
    WHARF_RETURN_IF_ERROR(set_timer(tx, l.inst.id, std::nullopt, "", ""));
    return record(tx, l, p, "needs_attention", "",
                  fmt::format("attempt {} of {}: {}", l.inst.attempts, r.attempts_max, reason));
  }

  // The current action failed: a failure reply, its deadline, or a bad command or reply.
  Status action_failed(sql::Transaction& tx, Loaded& l, const SagaDefinition& def,
                       const std::string& cause, const std::string& reason, bool timed_out,
                       Pending& p) {
    if (l.inst.state == SagaState::kCompensating) {
      return compensation_failed(tx, l, def, reason, p);
    }
    l.inst.last_error = reason;
    const auto& step = def.steps[static_cast<std::size_t>(l.inst.step)];
    WHARF_RETURN_IF_ERROR(record(tx, l, p, timed_out ? "step_timed_out" : "step_failed", cause,
                                 fmt::format("{}: {}", step.name, reason)));
    // A step that timed out may still have taken effect: it is compensated too.
    return compensate_from(tx, l, def, timed_out ? l.inst.step : l.inst.step - 1, cause, p);
  }

  Status action_succeeded(sql::Transaction& tx, Loaded& l, const SagaDefinition& def,
                          const Message& reply, Pending& p) {
    const auto& step = def.steps[static_cast<std::size_t>(l.inst.step)];
    if (l.inst.state == SagaState::kCompensating) {
      WHARF_RETURN_IF_ERROR(record(tx, l, p, "step_compensated", reply.id, step.name));
      return compensate_from(tx, l, def, l.inst.step - 1, reply.id, p);
    }
    if (step.on_success) {
      Status s = step.on_success(reply, l.inst.data);
      if (!s) return action_failed(tx, l, def, reply.id, s.error().to_string(), false, p);
    }
    WHARF_RETURN_IF_ERROR(record(tx, l, p, "step_completed", reply.id, step.name));
    if (static_cast<std::size_t>(l.inst.step) + 1 == def.steps.size()) {
      l.inst.state = SagaState::kCompleted;
      l.inst.awaiting_message_id.clear();
      WHARF_RETURN_IF_ERROR(set_timer(tx, l.inst.id, std::nullopt, "", ""));
      return record(tx, l, p, "completed", "", "");
    }
    return enter_stage(tx, l, def, l.inst.step + 1, reply.id, p);
  }

  // Runs `body` in a transaction and publishes its metrics once it committed.
  Status transact(const std::function<Status(sql::Transaction&, Pending&)>& body) {
    Pending p;
    Status s = db.transaction([&](sql::Transaction& tx) -> Status {
      p = Pending{};
      return body(tx, p);
    });
    if (s) publish_metrics(p);
    return s;
  }

  Result<std::string> start(sql::Transaction& tx, const std::string& name, json data,
                            std::string id, Pending& p) {
    const SagaDefinition* def = nullptr;
    for (auto it = definitions.rbegin(); it != definitions.rend(); ++it) {
      if (it->first.first == name) {
        def = &it->second;
        break;
      }
    }
    if (def == nullptr) return fail(ErrorCode::kNotFound, "saga {} is not registered", name);
    if (id.empty()) id = new_message_id();
    if (id.size() > kMessageIdBytesMax) {
      return fail(ErrorCode::kInvalidArgument, "saga instance id longer than {} bytes",
                  kMessageIdBytesMax);
    }
    Loaded l;
    l.inst.id = id;
    l.inst.name = def->name;
    l.inst.version = def->version;
    l.inst.state = SagaState::kRunning;
    l.inst.step = 0;
    l.inst.data = std::move(data);
    l.inst.created_at_ms = clock().now_ms();
    l.inst.updated_at_ms = l.inst.created_at_ms;
    WHARF_RETURN_IF_ERROR(tx.exec(
        fmt::format("INSERT INTO wharf_saga_instances ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, ?, ?)",
                    kColumns),
        l.inst.id, l.inst.name, l.inst.version, saga_state_name(l.inst.state), l.inst.step,
        l.inst.data.dump(), "", 0, "", l.inst.created_at_ms, l.inst.created_at_ms,
        l.inst.created_at_ms, 0, "[]"));
    WHARF_RETURN_IF_ERROR(
        record(tx, l, p, "started", "", fmt::format("{} v{}", def->name, def->version)));
    WHARF_RETURN_IF_ERROR(enter_stage(tx, l, *def, 0, l.inst.id, p));
    WHARF_RETURN_IF_ERROR(save(tx, l));
    return id;
  }

  // Applies one reply in `tx`. A reply without effect sets `skipped` (and `skipped_saga`).
  Status apply_reply(sql::Transaction& tx, const Message& reply, Pending& p,
                     std::string& skipped_saga, const char*& skipped) {
    skipped = nullptr;
    if (reply.correlation_id.empty()) return ok();
    WHARF_ASSIGN_OR_RETURN(auto loaded, load(tx, reply.correlation_id, /*lock=*/true));
    if (!loaded) return ok();  // not a saga's reply
    Loaded& l = *loaded;
    skipped_saga = l.inst.name;
    if (saga_state_final(l.inst.state) || l.inst.state == SagaState::kNeedsAttention) {
      skipped = "stale";
      return ok();
    }
    WHARF_ASSIGN_OR_RETURN(const SagaDefinition* def, definition(l.inst.name, l.inst.version));
    auto record_reply = [&]() -> Result<bool> {
      WHARF_ASSIGN_OR_RETURN(
          std::int64_t recorded,
          tx.exec("INSERT INTO wharf_saga_processed (message_id, instance_id, processed_at_ms) "
                  "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                  reply.id, l.inst.id, clock().now_ms()));
      if (recorded == 0) skipped = "duplicate";
      return recorded != 0;
    };
    // A step of a parallel stage, running or settling after a sibling failed.
    if (const int i = stage_match(l, *def, reply); i >= 0) {
      WHARF_ASSIGN_OR_RETURN(bool fresh, record_reply());
      if (!fresh) return ok();
      const SagaStageStep& e = l.inst.stage[static_cast<std::size_t>(i)];
      const SagaStep& step = def->steps[static_cast<std::size_t>(e.step)];
      p.latencies.emplace_back(def->name, step.name,
                               static_cast<double>(clock().now_ms() - e.sent_at_ms) / 1e3);
      WHARF_RETURN_IF_ERROR(stage_step_done(tx, l, *def, static_cast<std::size_t>(i), &reply,
                                            contains(step.action.success, reply.type),
                                            /*timed_out=*/false, p));
      return save(tx, l);
    }
    if (l.inst.awaiting_message_id.empty() ||
        (!reply.causation_id.empty() && reply.causation_id != l.inst.awaiting_message_id)) {
      skipped = "stale";
      return ok();
    }
    const auto& step = def->steps[static_cast<std::size_t>(l.inst.step)];
    const SagaAction& action =
        l.inst.state == SagaState::kRunning ? step.action : *step.compensation;
    const bool success = contains(action.success, reply.type);
    if (!success && !contains(action.failure, reply.type)) {
      skipped = "stale";
      return ok();
    }
    WHARF_ASSIGN_OR_RETURN(bool fresh, record_reply());
    if (!fresh) return ok();
    if (l.inst.state == SagaState::kRunning) {
      p.latencies.emplace_back(def->name, step.name,
                               static_cast<double>(clock().now_ms() - l.step_started_at_ms) / 1e3);
    }
    if (success) {
      WHARF_RETURN_IF_ERROR(action_succeeded(tx, l, *def, reply, p));
    } else {
      WHARF_RETURN_IF_ERROR(
          action_failed(tx, l, *def, reply.id, fmt::format("reply {}", reply.type), false, p));
    }
    return save(tx, l);
  }

  Status handle(const Message& reply) {
    if (reply.correlation_id.empty()) return ok();
    std::string skipped_saga;
    const char* skipped = nullptr;
    Status s = transact([&](sql::Transaction& tx, Pending& p) -> Status {
      return apply_reply(tx, reply, p, skipped_saga, skipped);
    });
    if (s && skipped != nullptr) count_skipped(skipped_saga, skipped);
    return s;
  }

  // Many replies in one transaction (one commit, so one fsync on SQLite, for the batch). When
  // one of them fails, the batch is rolled back and applied again reply by reply, each in its
  // own transaction, up to the failed one; the rest get its error (the router hands them again).
  std::vector<Status> handle_batch(const std::vector<const Message*>& replies) {
    std::vector<std::pair<std::string, const char*>> skips;
    Status s = transact([&](sql::Transaction& tx, Pending& p) -> Status {
      skips.clear();
      WHARF_RETURN_IF_ERROR(lock_instances(tx, replies));
      for (const Message* r : replies) {
        std::string saga;
        const char* skipped = nullptr;
        WHARF_RETURN_IF_ERROR(apply_reply(tx, *r, p, saga, skipped));
        if (skipped != nullptr) skips.emplace_back(std::move(saga), skipped);
      }
      return ok();
    });
    if (s) {
      for (const auto& [saga, why] : skips) count_skipped(saga, why);
      return std::vector<Status>(replies.size(), ok());
    }
    std::vector<Status> out;
    out.reserve(replies.size());
    for (const Message* r : replies) {
      out.push_back(handle(*r));
      if (!out.back()) break;
    }
    while (out.size() < replies.size()) out.push_back(out.back());
    return out;
  }

  // PostgreSQL: locks the batch's instances in id order before any is changed, so two batches
  // that share instances wait for each other instead of deadlocking. SQLite: one writer anyway.
  Status lock_instances(sql::Transaction& tx, const std::vector<const Message*>& replies) {
    if (tx.dialect() != sql::Dialect::kPostgres) return ok();
    std::set<std::string> ids;
    for (const Message* r : replies) {
      if (!r->correlation_id.empty()) ids.insert(r->correlation_id);
    }
    if (ids.size() < 2) return ok();
    std::string q = "SELECT id FROM wharf_saga_instances WHERE id IN (";
    std::vector<sql::Value> args;
    args.reserve(ids.size());
    for (const auto& id : ids) {
      q += args.empty() ? "?" : ", ?";
      args.emplace_back(id);
    }
    q += ") ORDER BY id FOR UPDATE";
    return tx.query_values(q, args).map([](auto) {});
  }

  // Fires one timer in `tx`; `fired` tells whether it was still there to fire.
  Status fire_in(sql::Transaction& tx, const std::string& id, const std::string& token,
                 const std::string& kind, Pending& p, bool& fired) {
    fired = false;
    WHARF_ASSIGN_OR_RETURN(auto loaded, load(tx, id, /*lock=*/true));
    // The timer fires once: whoever deletes it applies it, in the same transaction.
    WHARF_ASSIGN_OR_RETURN(std::int64_t n,
                           tx.exec("DELETE FROM wharf_saga_timers WHERE instance_id = ? AND "
                                   "token = ? AND kind = ? AND due_at_ms <= ?",
                                   id, token, kind, clock().now_ms()));
    if (n == 0 || !loaded) return ok();
    fired = true;
    Loaded& l = *loaded;
    WHARF_ASSIGN_OR_RETURN(const SagaDefinition* def, definition(l.inst.name, l.inst.version));
    if (kind == kTimerDeadline) {
      if (!saga_state_final(l.inst.state) && l.inst.state != SagaState::kNeedsAttention) {
        for (std::size_t i = 0; i < l.inst.stage.size(); ++i) {
          if (l.inst.stage[i].status == kAwaiting && l.inst.stage[i].message_id == token) {
            WHARF_RETURN_IF_ERROR(stage_step_done(tx, l, *def, i, nullptr, false, true, p));
            return save(tx, l);
          }
        }
      }
      if (l.inst.awaiting_message_id != token || saga_state_final(l.inst.state) ||
          l.inst.state == SagaState::kNeedsAttention) {
        return ok();
      }
      const auto& step = def->steps[static_cast<std::size_t>(l.inst.step)];
      WHARF_RETURN_IF_ERROR(action_failed(tx, l, *def, "",
                                          fmt::format("no reply to {} in time", step.name),
                                          /*timed_out=*/true, p));
    } else {
      if (l.inst.state != SagaState::kCompensating) return ok();
      std::string why;
      WHARF_ASSIGN_OR_RETURN(bool sent, send(tx, l, *def, "", p, &why));
      if (!sent) WHARF_RETURN_IF_ERROR(compensation_failed(tx, l, *def, why, p));
    }
    return save(tx, l);
  }

  Result<bool> fire(const std::string& id, const std::string& token, const std::string& kind) {
    bool fired = false;
    WHARF_RETURN_IF_ERROR(transact([&](sql::Transaction& tx, Pending& p) -> Status {
      return fire_in(tx, id, token, kind, p, fired);
    }));
    return fired;
  }

  Result<std::size_t> fire_due() {
    std::vector<std::array<std::string, 3>> due;
    {
      WHARF_ASSIGN_OR_RETURN(auto tx, db.begin({.read_only = true}));
      WHARF_ASSIGN_OR_RETURN(
          auto rows,
          tx->query("SELECT instance_id, token, kind FROM wharf_saga_timers WHERE "
                    "due_at_ms <= ? ORDER BY due_at_ms LIMIT ?",
                    clock().now_ms(), static_cast<std::int64_t>(options.timer_batch_max)));
      WHARF_RETURN_IF_ERROR(tx->commit());
      for (const auto& row : rows) {
        std::array<std::string, 3> t;
        for (std::size_t i = 0; i < 3; ++i) {
          WHARF_ASSIGN_OR_RETURN(t[i], row.get<std::string>(i));
        }
        due.push_back(std::move(t));
      }
    }
    // The due timers fire in one transaction (a burst of deadlines is one commit, so it does
    // not hold the store's write lock for a commit per timer while replies wait).
    std::size_t fired = 0;
    Status together = transact([&](sql::Transaction& tx, Pending& p) -> Status {
      fired = 0;
      for (const auto& [id, token, kind] : due) {
        bool one = false;
        WHARF_RETURN_IF_ERROR(fire_in(tx, id, token, kind, p, one));
        if (one) ++fired;
      }
      return ok();
    });
    if (together) return fired;
    // One of them failed: each in its own transaction. A timer that cannot fire (its
    // definition's version is not registered, the store failed) stays due and is tried on the
    // next pass; it does not hold up the others.
    fired = 0;
    std::optional<Error> first_error;
    for (const auto& [id, token, kind] : due) {
      auto f = fire(id, token, kind);
      if (!f) {
        WHARF_LOG_WARN("saga instance {}: {} timer: {}", id, kind, f.error().to_string());
        if (!first_error) first_error = f.error();
      } else if (*f) {
        ++fired;
      }
    }
    if (fired == 0 && first_error) return fail(std::move(*first_error));
    return fired;
  }

  Result<std::optional<std::int64_t>> due_of(sql::Transaction& tx, const std::string& id) {
    WHARF_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT due_at_ms FROM wharf_saga_timers WHERE "
                                               "instance_id = ? ORDER BY due_at_ms LIMIT 1",
                                               id));
    if (rows.empty()) return std::optional<std::int64_t>{};
    WHARF_ASSIGN_OR_RETURN(std::int64_t due, rows[0].get<std::int64_t>(0));
    return std::optional<std::int64_t>(due);
  }

  Result<SagaInstance> complete(sql::Transaction& tx, Loaded l) {
    WHARF_ASSIGN_OR_RETURN(l.inst.due_at_ms, due_of(tx, l.inst.id));
    auto def = definition(l.inst.name, l.inst.version);
    if (def && static_cast<std::size_t>(l.inst.step) < (*def)->steps.size()) {
      l.inst.step_name = (*def)->steps[static_cast<std::size_t>(l.inst.step)].name;
    }
    for (auto& e : l.inst.stage) {
      if (def && e.step >= 0 && static_cast<std::size_t>(e.step) < (*def)->steps.size()) {
        e.step_name = (*def)->steps[static_cast<std::size_t>(e.step)].name;
      }
    }
    return std::move(l.inst);
  }
};

SagaCoordinator::SagaCoordinator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SagaCoordinator::~SagaCoordinator() {
  if (impl_->collector_id != 0) metrics::registry().remove_collector(impl_->collector_id);
  if (impl_->route_id != 0) admin_routes::remove(impl_->route_id);
}

Result<std::unique_ptr<SagaCoordinator>> SagaCoordinator::open(sql::Database& db,
                                                               SagaOptions options) {
  const SagaRetryPolicy& r = options.compensation_retry;
  if (r.attempts_max < 1 || r.backoff_initial.count() < 0 || r.backoff_max < r.backoff_initial ||
      options.timer_interval.count() <= 0 || options.timer_batch_max == 0 ||
      options.overdue_after.count() < 0) {
    return fail(ErrorCode::kInvalidArgument,
                "saga options: attempts_max >= 1, 0 <= backoff_initial <= backoff_max, a "
                "positive timer interval and batch, overdue_after >= 0");
  }
  WHARF_RETURN_IF_ERROR(migrate_outbox(db));
  WHARF_RETURN_IF_ERROR(db.migrate("wharf_saga", kMigrations));
  auto coordinator =
      std::unique_ptr<SagaCoordinator>(new SagaCoordinator(std::make_unique<Impl>(db, options)));
  Impl* self = coordinator->impl_.get();
  self->collector_id = metrics::registry().add_collector([self] {
    metrics::CollectedFamily family{
        "wharf_saga_instances", "Saga instances in the store, by saga and state", "gauge", {}};
    metrics::CollectedFamily oldest{
        "wharf_saga_oldest_seconds",
        "Age of the least recently changed unfinished saga instance, by saga and state",
        "gauge",
        {}};
    metrics::CollectedFamily overdue{
        "wharf_saga_overdue",
        "Unfinished saga instances with a timer past due by more than overdue_after",
        "gauge",
        {}};
    auto counts = [&]() -> Status {
      const std::int64_t now = self->clock().now_ms();
      WHARF_ASSIGN_OR_RETURN(auto tx, self->db.begin({.read_only = true}));
      WHARF_ASSIGN_OR_RETURN(auto rows,
                             tx->query("SELECT name, state, COUNT(*) FROM wharf_saga_instances "
                                       "GROUP BY name, state ORDER BY name, state"));
      // Both read unfinished rows only, through wharf_saga_instances_changed and
      // wharf_saga_timers_due (finished instances are most of the table).
      WHARF_ASSIGN_OR_RETURN(
          auto ages, tx->query("SELECT name, state, MIN(updated_at_ms) FROM wharf_saga_instances "
                               "WHERE state IN ('running', 'compensating', 'needs_attention') "
                               "GROUP BY name, state ORDER BY name, state"));
      WHARF_ASSIGN_OR_RETURN(auto late,
                             tx->query("SELECT i.name, COUNT(DISTINCT t.instance_id) FROM "
                                       "wharf_saga_timers t JOIN wharf_saga_instances i ON i.id = "
                                       "t.instance_id WHERE t.due_at_ms < ? GROUP BY i.name",
                                       now - self->options.overdue_after.count()));
      WHARF_RETURN_IF_ERROR(tx->commit());
      std::map<std::string, std::int64_t> overdue_by_saga;
      for (const auto& row : rows) {
        WHARF_ASSIGN_OR_RETURN(std::string name, row.get<std::string>(0));
        WHARF_ASSIGN_OR_RETURN(std::string state, row.get<std::string>(1));
        WHARF_ASSIGN_OR_RETURN(std::int64_t n, row.get<std::int64_t>(2));
        overdue_by_saga[name] = 0;  // every saga in the store gets a sample, 0 when none
        family.samples.push_back({"wharf_saga_instances",
                                  {{"saga", std::move(name)}, {"state", std::move(state)}},
                                  static_cast<double>(n)});
      }
      for (const auto& row : ages) {
        WHARF_ASSIGN_OR_RETURN(std::string name, row.get<std::string>(0));
        WHARF_ASSIGN_OR_RETURN(std::string state, row.get<std::string>(1));
        WHARF_ASSIGN_OR_RETURN(std::int64_t since, row.get<std::int64_t>(2));
        oldest.samples.push_back(
            {"wharf_saga_oldest_seconds",
             {{"saga", std::move(name)}, {"state", std::move(state)}},
             static_cast<double>(std::max<std::int64_t>(0, now - since)) / 1e3});
      }
      for (const auto& row : late) {
        WHARF_ASSIGN_OR_RETURN(std::string name, row.get<std::string>(0));
        WHARF_ASSIGN_OR_RETURN(overdue_by_saga[name], row.get<std::int64_t>(1));
      }
      for (const auto& [name, n] : overdue_by_saga) {
        overdue.samples.push_back({"wharf_saga_overdue", {{"saga", name}}, static_cast<double>(n)});
      }
      return ok();
    }();
    if (!counts) return std::vector<metrics::CollectedFamily>{};  // the store is down
    return std::vector<metrics::CollectedFamily>{std::move(family), std::move(oldest),
                                                 std::move(overdue)};
  });
  SagaCoordinator* sagas = coordinator.get();
  self->route_id =
      admin_routes::add("/v1/sagas", [sagas, self] { return sagas_admin_json(*sagas, self->db); });
  return coordinator;
}

Status SagaCoordinator::add(SagaDefinition d) {
  if (d.name.empty() || d.version < 1 || d.steps.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "a saga definition needs a name, a version >= 1 and at least one step");
  }
  if (d.steps[0].parallel_with_previous) {
    return fail(ErrorCode::kInvalidArgument,
                "saga {} v{}: the first step cannot run in parallel with a previous one", d.name,
                d.version);
  }
  std::set<std::string> names;
  for (const auto& s : d.steps) {
    if (s.name.empty() || !names.insert(s.name).second) {
      return fail(ErrorCode::kInvalidArgument, "saga {} v{}: step names must be unique, non-empty",
                  d.name, d.version);
    }
    WHARF_RETURN_IF_ERROR(validate_action(d, s, s.action, "action"));
    if (s.compensation)
      WHARF_RETURN_IF_ERROR(validate_action(d, s, *s.compensation, "compensation"));
  }
  auto key = std::make_pair(d.name, d.version);
  if (impl_->definitions.contains(key)) {
    return fail(ErrorCode::kAlreadyExists, "saga {} version {} is registered already", d.name,
                d.version);
  }
  impl_->definitions.emplace(std::move(key), std::move(d));
  return ok();
}

Result<std::string> SagaCoordinator::start(sql::Transaction& tx, const std::string& name, json data,
                                           std::string id) {
  Impl::Pending p;
  auto started = impl_->start(tx, name, std::move(data), std::move(id), p);
  if (started) Impl::publish_metrics(p);  // counted now: the caller's transaction commits later
  return started;
}

Result<std::string> SagaCoordinator::start(const std::string& name, json data, std::string id) {
  if (id.empty()) id = new_message_id();  // fixed across retries of the transaction
  std::string started;
  WHARF_RETURN_IF_ERROR(impl_->transact([&](sql::Transaction& tx, Impl::Pending& p) -> Status {
    WHARF_ASSIGN_OR_RETURN(started, impl_->start(tx, name, data, id, p));
    return ok();
  }));
  return started;
}

void SagaCoordinator::attach(Router& router) {
  std::set<std::string> topics;
  for (const auto& [key, d] : impl_->definitions) {
    for (const auto& s : d.steps) {
      topics.insert(s.action.reply_topic);
      if (s.compensation) topics.insert(s.compensation->reply_topic);
    }
  }
  for (const auto& topic : topics) {
    router.on_batch(topic, [this](const std::vector<const Message*>& batch, Context&) {
      return impl_->handle_batch(batch);
    });
  }
}

Status SagaCoordinator::handle(const Message& reply) { return impl_->handle(reply); }

std::vector<Status> SagaCoordinator::handle_batch(const std::vector<const Message*>& replies) {
  return impl_->handle_batch(replies);
}

Result<std::size_t> SagaCoordinator::fire_due_timers() { return impl_->fire_due(); }

Status SagaCoordinator::run_timers(std::stop_token stop) {
  while (!stop.stop_requested()) {
    auto fired = impl_->fire_due();
    if (!fired) {
      WHARF_LOG_WARN("saga timers: {} (trying again)", fired.error().to_string());
    } else if (*fired == impl_->options.timer_batch_max) {
      continue;  // more may be due
    }
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait_for(lock, stop, impl_->options.timer_interval, [] { return false; });
  }
  return ok();
}

Result<SagaInstance> SagaCoordinator::get(const std::string& id) {
  WHARF_ASSIGN_OR_RETURN(auto tx, impl_->db.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(auto loaded, impl_->load(*tx, id, /*lock=*/false));
  if (!loaded) return fail(ErrorCode::kNotFound, "no saga instance {}", id);
  WHARF_ASSIGN_OR_RETURN(SagaInstance inst, impl_->complete(*tx, std::move(*loaded)));
  WHARF_RETURN_IF_ERROR(tx->commit());
  return inst;
}

Result<std::vector<SagaInstance>> SagaCoordinator::list(std::optional<SagaState> state,
                                                        std::size_t limit) {
  WHARF_ASSIGN_OR_RETURN(auto tx, impl_->db.begin({.read_only = true}));
  const auto n = static_cast<std::int64_t>(std::min<std::size_t>(limit, 1'000'000));
  sql::Rows rows;
  if (state) {
    WHARF_ASSIGN_OR_RETURN(
        rows, tx->query(fmt::format("SELECT {} FROM wharf_saga_instances WHERE state = ? "
                                    "ORDER BY created_at_ms, id LIMIT ?",
                                    kColumns),
                        saga_state_name(*state), n));
  } else {
    WHARF_ASSIGN_OR_RETURN(rows,
                           tx->query(fmt::format("SELECT {} FROM wharf_saga_instances ORDER BY "
                                                 "created_at_ms, id LIMIT ?",
                                                 kColumns),
                                     n));
  }
  std::vector<SagaInstance> out;
  for (const auto& row : rows) {
    WHARF_ASSIGN_OR_RETURN(Loaded l, from_row(row));
    WHARF_ASSIGN_OR_RETURN(SagaInstance inst, impl_->complete(*tx, std::move(l)));
    out.push_back(std::move(inst));
  }
  WHARF_RETURN_IF_ERROR(tx->commit());
  return out;
}

Result<std::vector<SagaHistoryEntry>> SagaCoordinator::history(const std::string& id) {
  WHARF_ASSIGN_OR_RETURN(auto tx, impl_->db.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(auto rows,
                         tx->query("SELECT seq, at_ms, event, step, state, message_id, detail "
                                   "FROM wharf_saga_history WHERE instance_id = ? ORDER BY seq",
                                   id));
  WHARF_RETURN_IF_ERROR(tx->commit());
  std::vector<SagaHistoryEntry> out;
  for (const auto& row : rows) {
    SagaHistoryEntry e;
    WHARF_ASSIGN_OR_RETURN(e.seq, row.get<std::int64_t>(0));
    WHARF_ASSIGN_OR_RETURN(e.at_ms, row.get<std::int64_t>(1));
    WHARF_ASSIGN_OR_RETURN(e.event, row.get<std::string>(2));
    WHARF_ASSIGN_OR_RETURN(std::int64_t step, row.get<std::int64_t>(3));
    e.step = static_cast<std::int32_t>(step);
    WHARF_ASSIGN_OR_RETURN(e.state, row.get<std::string>(4));
    WHARF_ASSIGN_OR_RETURN(e.message_id, row.get<std::string>(5));
    WHARF_ASSIGN_OR_RETURN(e.detail, row.get<std::string>(6));
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::int64_t> SagaCoordinator::purge_finished(std::chrono::milliseconds age,
                                                     std::int64_t batch_max) {
  if (age.count() < 0 || batch_max <= 0) {
    return fail(ErrorCode::kInvalidArgument, "purge_finished: age >= 0 and batch_max > 0");
  }
  const std::int64_t before = impl_->clock().now_ms() - age.count();
  std::int64_t purged = 0;
  WHARF_RETURN_IF_ERROR(impl_->db.transaction([&](sql::Transaction& tx) -> Status {
    purged = 0;
    WHARF_ASSIGN_OR_RETURN(
        auto rows, tx.query("SELECT id FROM wharf_saga_instances WHERE state IN ('completed', "
                            "'compensated', 'aborted') AND updated_at_ms < ? ORDER BY "
                            "updated_at_ms LIMIT ?",
                            before, batch_max));
    for (const auto& row : rows) {
      WHARF_ASSIGN_OR_RETURN(std::string id, row.get<std::string>(0));
      for (const char* table :
           {"wharf_saga_history", "wharf_saga_processed", "wharf_saga_timers"}) {
        WHARF_RETURN_IF_ERROR(
            tx.exec(fmt::format("DELETE FROM {} WHERE instance_id = ?", table), id));
      }
      WHARF_RETURN_IF_ERROR(tx.exec("DELETE FROM wharf_saga_instances WHERE id = ?", id));
      ++purged;
    }
    return ok();
  }));
  return purged;
}

Status SagaCoordinator::retry(const std::string& id) {
  return impl_->transact([&](sql::Transaction& tx, Impl::Pending& p) -> Status {
    WHARF_ASSIGN_OR_RETURN(auto loaded, impl_->load(tx, id, /*lock=*/true));
    if (!loaded) return fail(ErrorCode::kNotFound, "no saga instance {}", id);
    Loaded& l = *loaded;
    if (l.inst.state != SagaState::kNeedsAttention) {
      return fail(ErrorCode::kInvalidArgument, "saga instance {} is {}, not needs_attention", id,
                  saga_state_name(l.inst.state));
    }
    WHARF_ASSIGN_OR_RETURN(const SagaDefinition* def,
                           impl_->definition(l.inst.name, l.inst.version));
    l.inst.state = SagaState::kCompensating;
    l.inst.attempts = 0;
    WHARF_RETURN_IF_ERROR(impl_->record(tx, l, p, "retried", "", ""));
    std::string why;
    WHARF_ASSIGN_OR_RETURN(bool sent, impl_->send(tx, l, *def, "", p, &why));
    if (!sent) WHARF_RETURN_IF_ERROR(impl_->compensation_failed(tx, l, *def, why, p));
    return impl_->save(tx, l);
  });
}

Status SagaCoordinator::abort(const std::string& id, const std::string& reason) {
  return impl_->transact([&](sql::Transaction& tx, Impl::Pending& p) -> Status {
    WHARF_ASSIGN_OR_RETURN(auto loaded, impl_->load(tx, id, /*lock=*/true));
    if (!loaded) return fail(ErrorCode::kNotFound, "no saga instance {}", id);
    Loaded& l = *loaded;
    if (saga_state_final(l.inst.state)) {
      return fail(ErrorCode::kInvalidArgument, "saga instance {} is {} already", id,
                  saga_state_name(l.inst.state));
    }
    l.inst.state = SagaState::kAborted;
    l.inst.awaiting_message_id.clear();
    l.inst.last_error = reason;
    WHARF_RETURN_IF_ERROR(impl_->set_timer(tx, id, std::nullopt, "", ""));
    WHARF_RETURN_IF_ERROR(impl_->record(tx, l, p, "aborted", "", reason));
    return impl_->save(tx, l);
  });
}

}  // namespace wharf
