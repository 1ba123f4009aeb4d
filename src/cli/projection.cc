// `wharf projection list|status|rebuild`: the projections (wharf::Projection) whose checkpoints
// live in a service's SQL store (SQLite file or PostgreSQL URL). rebuild asks the process that
// runs the projection to rebuild it beside the live copy; --wait follows it to the swap.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/kafka_client.h"
#include "cli/table.h"
#include "wharf/event_store.h"
#include "wharf/sql/open.h"

namespace wharf::cli {
namespace {

struct Opened {
  std::unique_ptr<sql::Database> read_model, events_db;
  std::unique_ptr<EventStore> store;
};

// The event store may live in another database than the read models (--events). A SQLite
// path that does not exist is refused rather than created empty (sql::open_existing).
Result<Opened> open_stores(const std::string& db, const std::string& events) {
  Opened o;
  WHARF_ASSIGN_OR_RETURN(o.read_model, sql::open_existing(db));
  sql::Database* store_db = o.read_model.get();
  if (!events.empty() && events != db) {
    WHARF_ASSIGN_OR_RETURN(o.events_db, sql::open_existing(events));
    store_db = o.events_db.get();
  }
  WHARF_ASSIGN_OR_RETURN(o.store, EventStore::open(*store_db));
  return o;
}

std::string seconds_text(double s) {
  if (s < 0) return "-";
  if (s < 120) return fmt::format("{:.1f} s", s);
  return fmt::format("{:.0f} min", s / 60);
}

std::string rebuild_text(const ProjectionStatus& s) {
  if (s.rebuild_state.empty()) return "-";
  if (s.rebuild_state != "running") return s.rebuild_state;
  const double pct =
      s.head > 0 ? 100.0 * static_cast<double>(s.rebuild_position) / static_cast<double>(s.head)
                 : 100.0;
  return fmt::format("gen {} at {:.0f}%, ETA {}", s.rebuild_generation, pct,
                     seconds_text(s.rebuild_eta_s));
}

int run_list(const std::string& db, const std::string& events) {
  auto o = open_stores(db, events);
  if (!o) return report_failure("projection list", o.error());
  auto all = projection_status(*o->read_model, *o->store);
  if (!all) return report_failure("projection list", all.error());
  Table table({"NAME", "GENERATION", "POSITION", "HEAD", "LAG", "UPDATED", "LAST REBUILD", "REPLAY",
               "REBUILD"});
  for (const auto& s : *all) {
    table.add({cell_text(s.name, 64), std::to_string(s.generation), std::to_string(s.position),
               std::to_string(s.head), std::to_string(s.lag), utc_time_text(s.updated_ms),
               s.rebuilt_ms > 0 ? utc_time_text(s.rebuilt_ms) : "-",
               s.rebuilt_ms > 0 ? seconds_text(s.last_replay_s) : "-", rebuild_text(s)});
  }
  table.print(stdout);
  std::fprintf(stderr, "%zu projection(s)\n", all->size());
  return 0;
}

Result<ProjectionStatus> find(const Opened& o, const std::string& name) {
  WHARF_ASSIGN_OR_RETURN(auto all, projection_status(*o.read_model, *o.store));
  for (auto& s : all)
    if (s.name == name) return s;
  return fail(ErrorCode::kNotFound, "no projection named '{}' in this store", name);
}

int run_status(const std::string& db, const std::string& events, const std::string& name,
               bool json) {
  auto o = open_stores(db, events);
  if (!o) return report_failure("projection status", o.error());
  auto s = find(*o, name);
  if (!s) return report_failure("projection status", s.error());
  if (json) {
    nlohmann::json j{{"name", s->name},
                     {"generation", s->generation},
                     {"position", s->position},
                     {"head", s->head},
                     {"lag", s->lag},
                     {"updated_ms", s->updated_ms},
                     {"rebuilt_ms", s->rebuilt_ms},
                     {"last_replay_s", s->last_replay_s},
                     {"last_replay_events", s->last_replay_events},
                     {"rebuild_state", s->rebuild_state},
                     {"rebuild_position", s->rebuild_position},
                     {"rebuild_events", s->rebuild_events},
                     {"rebuild_eta_s", s->rebuild_eta_s}};
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("projection    %s\n", cell_text(s->name, 256).c_str());
  std::printf("generation    %lld (tables <name>_g%lld behind views)\n",
              static_cast<long long>(s->generation), static_cast<long long>(s->generation));
  std::printf("position      %lld of %lld (lag %lld)\n", static_cast<long long>(s->position),
              static_cast<long long>(s->head), static_cast<long long>(s->lag));
  std::printf("updated       %s\n", utc_time_text(s->updated_ms).c_str());
  if (s->rebuilt_ms > 0)
    std::printf("last rebuild  %s: %lld events replayed in %s\n",
                utc_time_text(s->rebuilt_ms).c_str(), static_cast<long long>(s->last_replay_events),
                seconds_text(s->last_replay_s).c_str());
  else
    std::printf("last rebuild  never\n");
  std::printf("rebuild       %s\n", rebuild_text(*s).c_str());
  return 0;
}

int run_rebuild(const std::string& db, const std::string& events, const std::string& name,
                bool wait, int timeout_s) {
  auto o = open_stores(db, events);
  if (!o) return report_failure("projection rebuild", o.error());
  auto before = find(*o, name);
  if (!before) return report_failure("projection rebuild", before.error());
  if (Status s = request_projection_rebuild(*o->read_model, name); !s)
    return report_failure("projection rebuild", s.error());
  std::printf(
      "rebuild of %s requested: the process running it replays into generation %lld "
      "beside the live copy, then swaps\n",
      cell_text(name, 256).c_str(), static_cast<long long>(before->generation + 1));
  std::fflush(stdout);
  if (!wait) return 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto s = find(*o, name);
    if (!s) return report_failure("projection rebuild", s.error());
    if (s->generation > before->generation) {
      std::printf("rebuilt: generation %lld is live (%lld events replayed in %s)\n",
                  static_cast<long long>(s->generation),
                  static_cast<long long>(s->last_replay_events),
                  seconds_text(s->last_replay_s).c_str());
      return 0;
    }
    std::printf("  %s: %s (%lld events so far)\n", cell_text(name, 64).c_str(),
                s->rebuild_state == "requested"
                    ? "requested, waiting for the process running the projection"
                    : rebuild_text(*s).c_str(),
                static_cast<long long>(s->rebuild_events));
    std::fflush(stdout);
  }
  return report_failure(
      "projection rebuild",
      make_error(ErrorCode::kTimeout,
                 "not swapped after {} s (is a process running projection '{}'? the request "
                 "stays until one does)",
                 timeout_s, name));
}

}  // namespace

void register_projection(CLI::App& app, int& exit_code) {
  auto* projection = app.add_subcommand(
      "projection", "List, inspect and rebuild wharf::Projection read models in a SQL store");
  projection->require_subcommand(1);
  projection->fallthrough();
  static std::string db, events, name;
  static bool json = false, wait = false;
  static int timeout_s = 3600;
  auto add_db = [](CLI::App* c) {
    c->add_option("--db", db, "The read models' store: sqlite:PATH or postgresql://...")
        ->required();
    c->add_option("--events", events,
                  "The event store, when it is another database than --db (same URL forms)");
  };
  auto* list = projection->add_subcommand(
      "list", "Every projection: generation, checkpoint, lag behind the event store, rebuilds");
  add_db(list);
  list->callback([&exit_code] { exit_code = run_list(db, events); });

  auto* status = projection->add_subcommand("status", "One projection in detail");
  add_db(status);
  status->add_option("name", name, "The projection's name")->required();
  status->add_flag("--json", json, "Print JSON");
  status->callback([&exit_code] { exit_code = run_status(db, events, name, json); });

  auto* rebuild = projection->add_subcommand(
      "rebuild",
      "Ask the process running a projection to rebuild it beside the live copy (no downtime), "
      "then swap");
  add_db(rebuild);
  rebuild->add_option("name", name, "The projection's name")->required();
  rebuild->add_flag("--wait", wait, "Follow the rebuild (a line a second) until the swap");
  rebuild->add_option("--timeout", timeout_s, "With --wait: give up after this many seconds")
      ->capture_default_str();
  rebuild->callback([&exit_code] { exit_code = run_rebuild(db, events, name, wait, timeout_s); });
}

}  // namespace wharf::cli
