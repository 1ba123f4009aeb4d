// `wharf saga list|show|retry|abort`: the saga instances (wharf::SagaCoordinator) kept in a
// service's SQL store (SQLite file or PostgreSQL URL). The command has no saga definitions:
// list, show and abort work on the store alone; retry asks the process running the
// coordinator, whose next timer pass sends the compensation (include/wharf/saga_ops.h).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/kafka_client.h"
#include "cli/table.h"
#include "wharf/saga.h"
#include "wharf/saga_ops.h"
#include "wharf/sql/open.h"

namespace wharf::cli {
namespace {

struct Opened {
  std::unique_ptr<sql::Database> db;
  std::unique_ptr<SagaCoordinator> sagas;  // no definitions: reads and abort only
};

// A SQLite path that does not exist is refused rather than created empty, and a store without
// the saga tables is refused rather than given them (a mistyped path or URL would otherwise
// list nothing, successfully).
Result<Opened> open_store(const std::string& url) {
  Opened o;
  WHARF_ASSIGN_OR_RETURN(o.db, sql::open_existing(url));
  WHARF_ASSIGN_OR_RETURN(std::int64_t version, o.db->schema_version("wharf_saga"));
  if (version == 0)
    return fail(ErrorCode::kNotFound,
                "no saga tables in this store (no SagaCoordinator has opened it)");
  WHARF_ASSIGN_OR_RETURN(o.sagas, SagaCoordinator::open(*o.db));
  return o;
}

std::string due_text(const SagaInstance& i) {
  return i.due_at_ms ? utc_time_text(*i.due_at_ms) : "-";
}

std::string print_json(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

int run_list(const std::string& url, const std::string& state, const std::string& name,
             std::size_t limit, bool as_json) {
  SagaFilter filter{.state = std::nullopt, .name = name, .limit = limit};
  if (!state.empty()) {
    auto s = parse_saga_state(state);
    if (!s)
      return report_failure("saga list",
                            make_error(ErrorCode::kInvalidArgument,
                                       "--state {}: one of running, completed, compensating, "
                                       "compensated, needs_attention, aborted",
                                       state));
    filter.state = *s;
  }
  auto o = open_store(url);
  if (!o) return report_failure("saga list", o.error());
  auto list = list_sagas(*o->sagas, *o->db, filter);
  if (!list) return report_failure("saga list", list.error());
  if (as_json) {
    json out = json::array();
    for (const auto& i : *list) out.push_back(saga_instance_json(i));
    std::printf("%s\n", print_json(out).c_str());
    return 0;
  }
  Table table(
      {"ID", "SAGA", "VERSION", "STATE", "STEP", "ATTEMPTS", "UPDATED", "DUE", "LAST ERROR"});
  for (const auto& i : *list) {
    table.add({cell_text(i.id, 128), cell_text(i.name, 64), std::to_string(i.version),
               std::string(saga_state_name(i.state)), std::to_string(i.step),
               std::to_string(i.attempts), utc_time_text(i.updated_at_ms), due_text(i),
               cell_text(i.last_error.empty() ? "-" : i.last_error, 80)});
  }
  table.print(stdout);
  std::fprintf(stderr, "%zu saga instance(s)%s\n", list->size(),
               list->size() == limit ? " (the limit; --limit shows more)" : "");
  return 0;
}

int run_show(const std::string& url, const std::string& id, bool as_json) {
  auto o = open_store(url);
  if (!o) return report_failure("saga show", o.error());
  auto inst = o->sagas->get(id);
  if (!inst) return report_failure("saga show", inst.error());
  auto history = o->sagas->history(id);
  if (!history) return report_failure("saga show", history.error());
  if (as_json) {
    json out = saga_instance_json(*inst);
    out["history"] = json::array();
    for (const auto& e : *history) {
      out["history"].push_back({{"seq", e.seq},
                                {"at_ms", e.at_ms},
                                {"event", e.event},
                                {"step", e.step},
                                {"state", e.state},
                                {"message_id", e.message_id},
                                {"detail", e.detail}});
    }
    std::printf("%s\n", print_json(out).c_str());
    return 0;
  }
  const SagaInstance& i = *inst;
  std::printf("instance      %s\n", cell_text(i.id, 256).c_str());
  std::printf("saga          %s version %d\n", cell_text(i.name, 256).c_str(), i.version);
  std::printf("state         %s\n", std::string(saga_state_name(i.state)).c_str());
  std::printf("step          %d\n", i.step);
  std::printf("awaiting      %s\n",
              i.awaiting_message_id.empty() ? "-" : cell_text(i.awaiting_message_id, 256).c_str());
  std::printf("attempts      %d\n", i.attempts);
  std::printf("last error    %s\n",
              i.last_error.empty() ? "-" : cell_text(i.last_error, 1024).c_str());
  std::printf("due timer     %s\n", due_text(i).c_str());
  std::printf("created       %s\n", utc_time_text(i.created_at_ms).c_str());
  std::printf("updated       %s\n", utc_time_text(i.updated_at_ms).c_str());
  std::printf("data          %s\n",
              cell_text(i.data.dump(-1, ' ', false, json::error_handler_t::replace), 4096).c_str());
  std::printf("\n");
  Table table({"SEQ", "AT", "EVENT", "STEP", "STATE", "MESSAGE ID", "DETAIL"});
  for (const auto& e : *history) {
    table.add({std::to_string(e.seq), utc_time_text(e.at_ms), cell_text(e.event, 64),
               std::to_string(e.step), cell_text(e.state, 64),
               e.message_id.empty() ? "-" : cell_text(e.message_id, 64), cell_text(e.detail, 120)});
  }
  table.print(stdout);
  return 0;
}

int run_retry(const std::string& url, const std::string& id) {
  auto o = open_store(url);
  if (!o) return report_failure("saga retry", o.error());
  if (Status s = request_saga_retry(*o->db, id); !s) return report_failure("saga retry", s.error());
  std::printf(
      "retry of %s requested: it is compensating again with a fresh attempt budget; the next "
      "timer pass of a coordinator that has its definition sends the compensation\n",
      cell_text(id, 256).c_str());
  return 0;
}

int run_abort(const std::string& url, const std::string& id, const std::string& reason) {
  auto o = open_store(url);
  if (!o) return report_failure("saga abort", o.error());
  if (Status s = o->sagas->abort(id, reason); !s) return report_failure("saga abort", s.error());
  std::printf("aborted %s: nothing more is sent; what its commands did stays done\n",
              cell_text(id, 256).c_str());
  return 0;
}

}  // namespace

void register_saga(CLI::App& app, int& exit_code) {
  auto* saga = app.add_subcommand(
      "saga",
      "List, inspect, retry and abort saga instances (wharf::SagaCoordinator) in a SQL "
      "store");
  saga->require_subcommand(1);
  saga->fallthrough();
  static std::string db, id, state, name, reason;
  static std::size_t limit = 100;
  static bool as_json = false;
  auto add_db = [](CLI::App* c) {
    c->add_option("--db", db, "The service's store: sqlite:PATH or postgresql://...")->required();
  };
  auto* list = saga->add_subcommand(
      "list", "Saga instances, oldest first: state, step, attempts, due timer, last error");
  add_db(list);
  list->add_option("--state", state,
                   "Only this state: running, completed, compensating, compensated, "
                   "needs_attention or aborted");
  list->add_option("--name", name, "Only instances of this saga");
  list->add_option("--limit", limit, "At most this many instances")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
  list->add_flag("--json", as_json, "Print JSON");
  list->callback([&exit_code] { exit_code = run_list(db, state, name, limit, as_json); });

  auto* show = saga->add_subcommand("show", "One instance in detail, with its history");
  add_db(show);
  show->add_option("id", id, "The instance id")->required();
  show->add_flag("--json", as_json, "Print JSON");
  show->callback([&exit_code] { exit_code = run_show(db, id, as_json); });

  auto* retry = saga->add_subcommand(
      "retry",
      "Compensate a needs_attention instance again with a fresh attempt budget (sent by the "
      "running coordinator's next timer pass)");
  add_db(retry);
  retry->add_option("id", id, "The instance id")->required();
  retry->callback([&exit_code] { exit_code = run_retry(db, id); });

  auto* abort = saga->add_subcommand(
      "abort", "Stop an unfinished instance where it is: nothing more is sent");
  add_db(abort);
  abort->add_option("id", id, "The instance id")->required();
  abort->add_option("--reason", reason, "Why (kept as the instance's last error)")->required();
  abort->callback([&exit_code] { exit_code = run_abort(db, id, reason); });
}

}  // namespace wharf::cli
