// Projections: a read model with its checkpoint in the same transaction, runners that never
// apply an event twice (the checkpoint row is compared and locked per batch), rebuilds into a
// new generation of tables behind views, swapped in one transaction; status, metrics and the
// admin endpoint /v1/projections.
#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "base/admin_routes.h"
#include "base/log.h"
#include "base/metrics.h"
#include "wharf/clock.h"
#include "wharf/event_store.h"

namespace wharf {
namespace {

constexpr std::string_view kProjectionsSchemaV1 = R"sql(
CREATE TABLE wharf_projections (
  name        TEXT   PRIMARY KEY,
  position    BIGINT NOT NULL,
  updated_ms  BIGINT NOT NULL
)
)sql";

// Generations (rebuild without downtime), the last rebuild's figures, and rebuilds in progress.
constexpr std::string_view kProjectionsSchemaV2 = R"sql(
ALTER TABLE wharf_projections ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wharf_projections ADD COLUMN rebuilt_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wharf_projections ADD COLUMN last_replay_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wharf_projections ADD COLUMN last_replay_events BIGINT NOT NULL DEFAULT 0;
CREATE TABLE wharf_projection_rebuilds (
  name          TEXT   PRIMARY KEY,
  state         TEXT   NOT NULL,
  generation    BIGINT NOT NULL,
  position      BIGINT NOT NULL,
  events        BIGINT NOT NULL,
  requested_ms  BIGINT NOT NULL,
  started_ms    BIGINT NOT NULL,
  updated_ms    BIGINT NOT NULL
)
)sql";

// A rebuild whose row has not moved for this long is taken over by the next runner that sees it
// (its process died or stopped).
constexpr std::int64_t kRebuildAbandonedMs = 10'000;
// Batches a swap applies inside its transaction before it gives up the locks and catches up
// outside again (writers that outpace the rebuild must not hold the live runner for long).
constexpr int kSwapBatchesMax = 4;
// Logical table names: SQL identifiers, short enough for "_g<generation>" within PostgreSQL's
// 63 bytes.
constexpr std::size_t kTableNameMax = 40;

Status migrate_projections(sql::Database& db) {
  const std::array<sql::Migration, 2> migrations{
      sql::Migration{1, std::string(kProjectionsSchemaV1)},
      sql::Migration{2, std::string(kProjectionsSchemaV2)}};
  return db.migrate("wharf_projections", migrations);
}

std::string physical_name(std::string_view name, std::int64_t generation) {
  if (generation == 0) return std::string(name);
  return fmt::format("{}_g{}", name, generation);
}

bool valid_table_name(const std::string& s) {
  if (s.empty() || s.size() > kTableNameMax) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string for_update(const sql::Transaction& tx) {
  // SQLite's write transactions (BEGIN IMMEDIATE) already exclude each other.
  return tx.dialect() == sql::Dialect::kPostgres ? " FOR UPDATE" : "";
}

struct Live {
  bool exists = false;
  std::int64_t generation = 0;
  std::int64_t position = 0;
};

Result<Live> lock_live(sql::Transaction& tx, const std::string& name) {
  WHARF_ASSIGN_OR_RETURN(
      auto rows,
      tx.query("SELECT generation, position FROM wharf_projections WHERE name = ?" + for_update(tx),
               name));
  Live live;
  if (rows.empty()) return live;
  live.exists = true;
  WHARF_ASSIGN_OR_RETURN(live.generation, rows[0].get<std::int64_t>(0));
  WHARF_ASSIGN_OR_RETURN(live.position, rows[0].get<std::int64_t>(1));
  return live;
}

struct RebuildRow {
  bool exists = false;
  std::string state;
  std::int64_t generation = 0, position = 0, events = 0;
  std::int64_t requested_ms = 0, started_ms = 0, updated_ms = 0;
};

Result<RebuildRow> read_rebuild(sql::Transaction& tx, const std::string& name, bool lock) {
  WHARF_ASSIGN_OR_RETURN(
      auto rows, tx.query("SELECT state, generation, position, events, requested_ms, started_ms, "
                          "updated_ms FROM wharf_projection_rebuilds WHERE name = ?" +
                              (lock ? for_update(tx) : std::string()),
                          name));
  RebuildRow r;
  if (rows.empty()) return r;
  r.exists = true;
  WHARF_ASSIGN_OR_RETURN(r.state, rows[0].get<std::string>(0));
  WHARF_ASSIGN_OR_RETURN(r.generation, rows[0].get<std::int64_t>(1));
  WHARF_ASSIGN_OR_RETURN(r.position, rows[0].get<std::int64_t>(2));
  WHARF_ASSIGN_OR_RETURN(r.events, rows[0].get<std::int64_t>(3));
  WHARF_ASSIGN_OR_RETURN(r.requested_ms, rows[0].get<std::int64_t>(4));
  WHARF_ASSIGN_OR_RETURN(r.started_ms, rows[0].get<std::int64_t>(5));
  WHARF_ASSIGN_OR_RETURN(r.updated_ms, rows[0].get<std::int64_t>(6));
  return r;
}

Status exec(sql::Transaction& tx, const std::string& statement) {
  return tx.exec(statement).map([](auto) {});
}

// The checkpoint moved under this runner: another runner or a rebuild's swap. Not retryable
// by the transaction helper; the runner reloads and goes on.
constexpr ErrorCode kMoved = ErrorCode::kOutOfRange;

void sleep_for(std::chrono::milliseconds d, std::stop_token stop) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stop.stop_requested() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(
        std::min<std::chrono::milliseconds>(d, std::chrono::milliseconds(10)));
}

std::int64_t now_ms() { return SystemClock::instance().now_ms(); }

}  // namespace

// --- Context ----------------------------------------------------------------------------------

ProjectionContext::ProjectionContext(sql::Transaction& t, const std::vector<std::string>& names,
                                     std::int64_t generation)
    : tx(t), generation_(generation) {
  for (const auto& n : names) tables_.emplace_back(n, physical_name(n, generation));
}

std::string ProjectionContext::table(std::string_view name) const {
  for (const auto& [logical, physical] : tables_)
    if (logical == name) return physical;
  return std::string(name);
}

// --- The process's projections: metrics and the admin endpoint --------------------------------

struct Projection::Impl {
  EventStore& store;
  sql::Database& db;
  ProjectionOptions options;
  ProjectionTableHandler handler;
  std::atomic<bool> rebuilding{false};

  Impl(EventStore& s, sql::Database& d, ProjectionOptions o, ProjectionTableHandler h)
      : store(s), db(d), options(std::move(o)), handler(std::move(h)) {}

  Result<Live> ensure_live();
  Status create_copy(sql::Transaction& tx, std::int64_t generation);
  Status point_views(sql::Transaction& tx, std::int64_t old_generation,
                     std::int64_t new_generation);
  Status handle(const std::vector<StoredEvent>& batch, Live& at);
  Result<Live> reload();
  bool rebuild_wanted();
};

namespace {

struct Registered {
  std::mutex mu;
  std::set<Projection::Impl*> all;
  std::uint64_t collector = 0, route = 0;
};
Registered& registered() {
  static Registered r;
  return r;
}

Result<ProjectionStatus> status_of(sql::Database& db, EventStore& store, const std::string& name);

std::vector<ProjectionStatus> statuses_of_registered() {
  std::vector<std::pair<Projection::Impl*, std::string>> list;
  {
    std::lock_guard lock(registered().mu);
    for (auto* p : registered().all) list.emplace_back(p, p->options.name);
  }
  std::vector<ProjectionStatus> out;
  for (auto& [p, name] : list) {
    // Under the lock, so that a Projection destroyed meanwhile (its destructor takes the same
    // lock) is skipped rather than used after it is freed.
    std::lock_guard lock(registered().mu);
    if (!registered().all.contains(p)) continue;
    if (auto s = status_of(p->db, p->store, name)) out.push_back(std::move(*s));
  }
  return out;
}

nlohmann::json status_json(const ProjectionStatus& s) {
  nlohmann::json j{{"name", s.name},
                   {"generation", s.generation},
                   {"position", s.position},
                   {"head", s.head},
                   {"lag", s.lag},
                   {"updated_ms", s.updated_ms},
                   {"rebuilt_ms", s.rebuilt_ms},
                   {"last_replay_s", s.last_replay_s},
                   {"last_replay_events", s.last_replay_events}};
  if (!s.rebuild_state.empty()) {
    j["rebuild"] = {{"state", s.rebuild_state},         {"generation", s.rebuild_generation},
                    {"position", s.rebuild_position},   {"events", s.rebuild_events},
                    {"elapsed_s", s.rebuild_elapsed_s}, {"eta_s", s.rebuild_eta_s}};
  }
  return j;
}

std::vector<metrics::CollectedFamily> collect() {
  metrics::CollectedFamily lag{"wharf_projection_lag",
                               "Events the projection is behind the event store's head",
                               "gauge",
                               {}};
  metrics::CollectedFamily position{
      "wharf_projection_position", "The projection's checkpoint (global position)", "gauge", {}};
  metrics::CollectedFamily replay{"wharf_projection_replay_seconds",
                                  "How long the projection's last rebuild replayed, start to swap",
                                  "gauge",
                                  {}};
  metrics::CollectedFamily progress{
      "wharf_projection_rebuild_progress",
      "A rebuild in progress: its position over the store's head (0 to 1)",
      "gauge",
      {}};
  metrics::CollectedFamily eta{"wharf_projection_rebuild_eta_seconds",
                               "A rebuild in progress: the time it still needs at its rate",
                               "gauge",
                               {}};
  for (const auto& s : statuses_of_registered()) {
    const metrics::Labels labels{{"projection", s.name}};
    lag.samples.push_back({lag.name, labels, static_cast<double>(s.lag)});
    position.samples.push_back({position.name, labels, static_cast<double>(s.position)});
    replay.samples.push_back({replay.name, labels, s.last_replay_s});
    if (s.rebuild_state == "running") {
      progress.samples.push_back(
          {progress.name, labels,
           s.head > 0 ? static_cast<double>(s.rebuild_position) / static_cast<double>(s.head)
                      : 1.0});
      if (s.rebuild_eta_s >= 0) eta.samples.push_back({eta.name, labels, s.rebuild_eta_s});
    }
  }
  return {std::move(lag), std::move(position), std::move(replay), std::move(progress),
          std::move(eta)};
}

void add_registered(Projection::Impl* p) {
  auto& r = registered();
  std::lock_guard lock(r.mu);
  if (r.all.empty()) {
    r.collector = metrics::registry().add_collector(collect);
    r.route = admin_routes::add("/v1/projections", []() -> Result<std::string> {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& s : statuses_of_registered()) out.push_back(status_json(s));
      return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    });
  }
  r.all.insert(p);
}

void remove_registered(Projection::Impl* p) {
  auto& r = registered();
  std::uint64_t collector = 0, route = 0;
  {
    std::lock_guard lock(r.mu);
    r.all.erase(p);
    if (r.all.empty()) {
      std::swap(collector, r.collector);
      std::swap(route, r.route);
    }
  }
  if (collector != 0) metrics::registry().remove_collector(collector);
  if (route != 0) admin_routes::remove(route);
}

}  // namespace

// --- Runner -----------------------------------------------------------------------------------

Projection::Projection(EventStore& store, sql::Database& read_model, ProjectionOptions options,
                       ProjectionHandler handler)
    : Projection(store, read_model, std::move(options),
                 ProjectionTableHandler(
                     [h = std::move(handler)](ProjectionContext& ctx, const StoredEvent& e) {
                       return h(ctx.tx, e);
                     })) {}

Projection::Projection(EventStore& store, sql::Database& read_model, ProjectionOptions options,
                       ProjectionTableHandler handler)
    : impl_(std::make_unique<Impl>(store, read_model, std::move(options), std::move(handler))) {
  add_registered(impl_.get());
}

Projection::~Projection() { remove_registered(impl_.get()); }

const std::string& Projection::name() const { return impl_->options.name; }

Status Projection::Impl::create_copy(sql::Transaction& tx, std::int64_t generation) {
  ProjectionContext ctx(tx, options.tables.names, generation);
  if (!options.tables.create)
    return fail(ErrorCode::kInvalidArgument, "projection {}: tables without a create function",
                options.name);
  return options.tables.create(ctx);
}

Status Projection::Impl::point_views(sql::Transaction& tx, std::int64_t old_generation,
                                     std::int64_t new_generation) {
  for (const auto& n : options.tables.names) {
    if (old_generation > 0) {
      WHARF_RETURN_IF_ERROR(exec(tx, "DROP VIEW IF EXISTS " + n));
      WHARF_RETURN_IF_ERROR(exec(tx, "DROP TABLE IF EXISTS " + physical_name(n, old_generation)));
    } else if (old_generation == 0) {
      WHARF_RETURN_IF_ERROR(exec(tx, "DROP TABLE IF EXISTS " + n));
    }
    WHARF_RETURN_IF_ERROR(exec(tx, fmt::format("CREATE VIEW {} AS SELECT * FROM {}", n,
                                               physical_name(n, new_generation))));
  }
  return ok();
}

Result<Live> Projection::Impl::ensure_live() {
  if (options.name.empty()) return fail(ErrorCode::kInvalidArgument, "a projection needs a name");
  for (const auto& n : options.tables.names) {
    if (!valid_table_name(n))
      return fail(ErrorCode::kInvalidArgument,
                  "projection {}: table name '{}' is not an SQL identifier of at most {} bytes",
                  options.name, n, kTableNameMax);
  }
  WHARF_RETURN_IF_ERROR(migrate_projections(db));
  Live live;
  auto attempt = [&]() {
    return db.transaction([&](sql::Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(live, lock_live(tx, options.name));
      if (live.exists) return ok();
      // A new projection with tables starts at generation 1, behind views.
      live = Live{true, options.tables.names.empty() ? 0 : 1, 0};
      WHARF_RETURN_IF_ERROR(
          tx.exec("INSERT INTO wharf_projections(name, position, updated_ms, generation) "
                  "VALUES(?, 0, ?, ?)",
                  options.name, now_ms(), live.generation)
              .map([](auto) {}));
      if (live.generation == 1) {
        WHARF_RETURN_IF_ERROR(create_copy(tx, 1));
        WHARF_RETURN_IF_ERROR(point_views(tx, -1, 1));
      }
      return ok();
    });
  };
  // Two processes creating the same projection at once: the second's insert fails on the key;
  // it then finds the row.
  if (Status s = attempt(); !s) WHARF_RETURN_IF_ERROR(attempt());
  return live;
}

Result<Live> Projection::Impl::reload() {
  Live live;
  WHARF_RETURN_IF_ERROR(db.transaction(
      [&](sql::Transaction& tx) -> Status {
        WHARF_ASSIGN_OR_RETURN(
            auto rows, tx.query("SELECT generation, position FROM wharf_projections WHERE name = ?",
                                options.name));
        if (rows.empty()) return fail(ErrorCode::kNotFound, "projection {}", options.name);
        live.exists = true;
        WHARF_ASSIGN_OR_RETURN(live.generation, rows[0].get<std::int64_t>(0));
        WHARF_ASSIGN_OR_RETURN(live.position, rows[0].get<std::int64_t>(1));
        return ok();
      },
      {.read_only = true}));
  return live;
}

Status Projection::Impl::handle(const std::vector<StoredEvent>& batch, Live& at) {
  // The read-model changes and the checkpoint commit together, or neither does; the checkpoint
  // row is locked first and must be where this runner left it.
  Status s = db.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Live live, lock_live(tx, options.name));
    if (!live.exists || live.generation != at.generation || live.position != at.position)
      return fail(kMoved, "projection {}: the checkpoint moved (a rebuild or another runner)",
                  options.name);
    ProjectionContext ctx(tx, options.tables.names, at.generation);
    for (const auto& e : batch) WHARF_RETURN_IF_ERROR(handler(ctx, e));
    return tx
        .exec("UPDATE wharf_projections SET position = ?, updated_ms = ? WHERE name = ?",
              batch.back().position, now_ms(), options.name)
        .map([](auto) {});
  });
  if (s) at.position = batch.back().position;
  return s;
}

bool Projection::Impl::rebuild_wanted() {
  bool wanted = false;
  // A failed look is logged and taken as "no request"; the next interval looks again.
  Status looked = db.transaction(
      [&](sql::Transaction& tx) -> Status {
        WHARF_ASSIGN_OR_RETURN(auto r, read_rebuild(tx, options.name, false));
        wanted =
            r.exists && (r.state == "requested" ||
                         (r.state == "running" && now_ms() - r.updated_ms > kRebuildAbandonedMs));
        return ok();
      },
      {.read_only = true});
  if (!looked)
    WHARF_LOG_WARN("projection {}: looking for a rebuild request failed: {}", options.name,
                   looked.error().to_string());
  return wanted;
}

Status Projection::run(std::stop_token stop) {
  auto& p = *impl_;
  WHARF_ASSIGN_OR_RETURN(Live at, p.ensure_live());
  const auto& o = p.options.catch_up;
  std::jthread rebuilder;
  std::atomic<bool> rebuilder_busy{false};
  auto next_check = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    if (!p.options.tables.names.empty() && !rebuilder_busy && !p.rebuilding &&
        std::chrono::steady_clock::now() >= next_check) {
      next_check = std::chrono::steady_clock::now() + p.options.rebuild_check_interval;
      if (p.rebuild_wanted()) {
        if (rebuilder.joinable()) rebuilder.join();  // finished: rebuilder_busy is false
        rebuilder_busy = true;
        rebuilder = std::jthread([this, stop, &rebuilder_busy] {
          auto r = rebuild(stop);
          if (!r && r.error().code() != ErrorCode::kShuttingDown)
            WHARF_LOG_WARN("projection {}: rebuild failed: {}", impl_->options.name,
                           r.error().to_string());
          rebuilder_busy = false;
        });
      }
    }
    auto batch = p.store.read_all(at.position, std::max<std::size_t>(o.batch_max, 1), o.category);
    if (!batch) {
      WHARF_LOG_WARN("projection {}: read after {} failed (trying again): {}", p.options.name,
                     at.position, batch.error().to_string());
      sleep_for(o.retry_delay, stop);
      continue;
    }
    if (batch->empty()) {
      sleep_for(o.poll_interval, stop);
      continue;
    }
    if (Status s = p.handle(*batch, at); !s) {
      if (s.error().code() == kMoved) {
        if (auto live = p.reload()) {
          at = *live;
        } else {
          WHARF_LOG_WARN("projection {}: reading the checkpoint failed (trying again): {}",
                         p.options.name, live.error().to_string());
          sleep_for(o.retry_delay, stop);
        }
        continue;
      }
      WHARF_LOG_WARN("projection {}: batch after {} failed (handing it again): {}", p.options.name,
                     at.position, s.error().to_string());
      sleep_for(o.retry_delay, stop);
    }
  }
  return ok();
}

Result<std::int64_t> Projection::run_once() {
  auto& p = *impl_;
  WHARF_ASSIGN_OR_RETURN(Live at, p.ensure_live());
  for (int moved = 0;;) {
    WHARF_ASSIGN_OR_RETURN(
        auto batch,
        p.store.read_all(at.position, std::max<std::size_t>(p.options.catch_up.batch_max, 1),
                         p.options.catch_up.category));
    if (batch.empty()) return at.position;
    if (Status s = p.handle(batch, at); !s) {
      if (s.error().code() != kMoved || ++moved > 100) return fail(std::move(s).error());
      WHARF_ASSIGN_OR_RETURN(at, p.reload());
    }
  }
}

Result<std::int64_t> Projection::checkpoint() {
  WHARF_ASSIGN_OR_RETURN(Live at, impl_->ensure_live());
  return at.position;
}

Result<std::int64_t> Projection::lag() {
  WHARF_ASSIGN_OR_RETURN(std::int64_t at, checkpoint());
  WHARF_ASSIGN_OR_RETURN(std::int64_t head, impl_->store.head_position());
  return std::max<std::int64_t>(0, head - at);
}

// --- Rebuild ----------------------------------------------------------------------------------

Result<RebuildReport> Projection::rebuild(std::stop_token stop, const RebuildOptions& ro) {
  auto& p = *impl_;
  if (p.options.tables.names.empty())
    return fail(ErrorCode::kUnsupported,
                "projection {} declares no tables (ProjectionOptions::tables): it cannot be "
                "rebuilt beside its live copy",
                p.options.name);
  if (p.rebuilding.exchange(true))
    return fail(ErrorCode::kConflict, "projection {}: a rebuild is already running here",
                p.options.name);
  struct Reset {
    std::atomic<bool>& flag;
    ~Reset() { flag = false; }
  } reset{p.rebuilding};
  WHARF_RETURN_IF_ERROR(p.ensure_live().map([](auto) {}));
  const std::string& name = p.options.name;
  const std::size_t batch_max = std::clamp<std::size_t>(ro.batch_max, 1, kEventStoreReadMax);
  const auto& category = p.options.catch_up.category;

  // Start, or resume the rebuild a stopped or crashed process left.
  RebuildRow row;
  WHARF_RETURN_IF_ERROR(p.db.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Live live, lock_live(tx, name));
    WHARF_ASSIGN_OR_RETURN(row, read_rebuild(tx, name, true));
    const std::int64_t now = now_ms();
    if (row.exists && row.state == "running" && row.generation == live.generation + 1) {
      WHARF_RETURN_IF_ERROR(tx.exec("UPDATE wharf_projection_rebuilds SET updated_ms = ? "
                                    "WHERE name = ?",
                                    now, name)
                                .map([](auto) {}));
      return ok();
    }
    const std::int64_t generation = live.generation + 1;
    for (const auto& n : p.options.tables.names)
      WHARF_RETURN_IF_ERROR(exec(tx, "DROP TABLE IF EXISTS " + physical_name(n, generation)));
    WHARF_RETURN_IF_ERROR(p.create_copy(tx, generation));
    WHARF_RETURN_IF_ERROR(
        tx.exec("DELETE FROM wharf_projection_rebuilds WHERE name = ?", name).map([](auto) {}));
    const std::int64_t requested = row.exists ? row.requested_ms : now;
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO wharf_projection_rebuilds(name, state, generation, position, "
                "events, requested_ms, started_ms, updated_ms) VALUES(?, 'running', ?, 0, 0, ?, "
                "?, ?)",
                name, generation, requested, now, now)
            .map([](auto) {}));
    row = RebuildRow{true, "running", generation, 0, 0, requested, now, now};
    return ok();
  }));
  const std::int64_t generation = row.generation;
  std::int64_t position = row.position;
  std::int64_t events_here = 0;
  const auto started_here = std::chrono::steady_clock::now();

  // Applies events to the new copy under the rebuild row's lock, checking that the row is where
  // this rebuild left it.
  auto apply = [&](sql::Transaction& tx, const std::vector<StoredEvent>& events) -> Status {
    ProjectionContext ctx(tx, p.options.tables.names, generation);
    for (const auto& e : events) WHARF_RETURN_IF_ERROR(p.handler(ctx, e));
    return tx
        .exec(
            "UPDATE wharf_projection_rebuilds SET position = ?, events = events + ?, "
            "updated_ms = ? WHERE name = ?",
            events.back().position, static_cast<std::int64_t>(events.size()), now_ms(), name)
        .map([](auto) {});
  };
  auto check_row = [&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(auto r, read_rebuild(tx, name, true));
    if (!r.exists || r.state != "running" || r.generation != generation || r.position != position)
      return fail(kMoved, "projection {}: the rebuild moved (another process took it over)", name);
    return ok();
  };
  auto report = [&](bool swapped) {
    if (!ro.on_progress) return;
    RebuildProgress pr;
    pr.generation = generation;
    pr.position = position;
    pr.head = p.store.head_position().value_or(position);
    pr.events = events_here;
    pr.elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_here).count();
    pr.events_per_s = pr.elapsed_s > 0 ? static_cast<double>(events_here) / pr.elapsed_s : 0;
    pr.eta_s =
        pr.events_per_s > 0
            ? static_cast<double>(std::max<std::int64_t>(0, pr.head - position)) / pr.events_per_s
            : -1;
    pr.swapped = swapped;
    ro.on_progress(pr);
  };

  while (true) {
    if (stop.stop_requested())
      return fail(ErrorCode::kShuttingDown, "projection {}: rebuild stopped at position {}", name,
                  position);
    WHARF_ASSIGN_OR_RETURN(auto events, p.store.read_all(position, batch_max, category));
    if (events.size() == batch_max) {
      WHARF_RETURN_IF_ERROR(p.db.transaction([&](sql::Transaction& tx) -> Status {
        WHARF_RETURN_IF_ERROR(check_row(tx));
        return apply(tx, events);
      }));
      position = events.back().position;
      events_here += static_cast<std::int64_t>(events.size());
      report(false);
      continue;
    }
    // Near the head: the swap. Locks the live row (the runner waits), applies the rest, points
    // the views at the new copy, moves the checkpoint, drops the old copy: one transaction.
    bool swapped = false;
    std::int64_t new_position = position, new_events = 0;
    RebuildReport out;
    WHARF_RETURN_IF_ERROR(p.db.transaction([&](sql::Transaction& tx) -> Status {
      new_position = position;
      new_events = 0;
      swapped = false;
      WHARF_ASSIGN_OR_RETURN(Live live, lock_live(tx, name));
      WHARF_RETURN_IF_ERROR(check_row(tx));
      std::vector<StoredEvent> rest = std::move(events);
      events.clear();
      for (int i = 0; i < kSwapBatchesMax; ++i) {
        if (rest.empty()) break;
        WHARF_RETURN_IF_ERROR(apply(tx, rest));
        new_position = rest.back().position;
        new_events += static_cast<std::int64_t>(rest.size());
        WHARF_ASSIGN_OR_RETURN(rest, p.store.read_all(new_position, batch_max, category));
      }
      if (!rest.empty()) return ok();  // writers outpace us: commit what we have, go again
      if (live.generation + 1 != generation)
        return fail(kMoved, "projection {}: another rebuild swapped first", name);
      WHARF_RETURN_IF_ERROR(p.point_views(tx, live.generation, generation));
      const std::int64_t now = now_ms();
      WHARF_ASSIGN_OR_RETURN(auto r, read_rebuild(tx, name, false));
      out.generation = generation;
      out.position = new_position;
      out.events = r.events;
      out.replay_s = static_cast<double>(now - r.started_ms) / 1000.0;
      WHARF_RETURN_IF_ERROR(
          tx.exec("UPDATE wharf_projections SET generation = ?, position = ?, updated_ms = ?, "
                  "rebuilt_ms = ?, last_replay_ms = ?, last_replay_events = ? WHERE name = ?",
                  generation, new_position, now, now, now - r.started_ms, r.events, name)
              .map([](auto) {}));
      WHARF_RETURN_IF_ERROR(
          tx.exec("DELETE FROM wharf_projection_rebuilds WHERE name = ?", name).map([](auto) {}));
      swapped = true;
      return ok();
    }));
    position = new_position;
    events_here += new_events;
    if (swapped) {
      report(true);
      WHARF_LOG_INFO("projection {}: rebuilt into generation {} ({} events in {:.1f} s)", name,
                     generation, out.events, out.replay_s);
      return out;
    }
    report(false);
  }
}

// --- Status, requests -------------------------------------------------------------------------

namespace {

Result<ProjectionStatus> status_of(sql::Database& db, EventStore& store, const std::string& name) {
  WHARF_ASSIGN_OR_RETURN(std::int64_t head, store.head_position());
  ProjectionStatus s;
  bool found = false;
  WHARF_RETURN_IF_ERROR(db.transaction(
      [&](sql::Transaction& tx) -> Status {
        WHARF_ASSIGN_OR_RETURN(
            auto rows,
            tx.query("SELECT generation, position, updated_ms, rebuilt_ms, last_replay_ms, "
                     "last_replay_events FROM wharf_projections WHERE name = ?",
                     name));
        if (rows.empty()) return ok();
        found = true;
        s.name = name;
        s.head = head;
        WHARF_ASSIGN_OR_RETURN(s.generation, rows[0].get<std::int64_t>(0));
        WHARF_ASSIGN_OR_RETURN(s.position, rows[0].get<std::int64_t>(1));
        WHARF_ASSIGN_OR_RETURN(s.updated_ms, rows[0].get<std::int64_t>(2));
        WHARF_ASSIGN_OR_RETURN(s.rebuilt_ms, rows[0].get<std::int64_t>(3));
        WHARF_ASSIGN_OR_RETURN(std::int64_t replay_ms, rows[0].get<std::int64_t>(4));
        s.last_replay_s = static_cast<double>(replay_ms) / 1000.0;
        WHARF_ASSIGN_OR_RETURN(s.last_replay_events, rows[0].get<std::int64_t>(5));
        s.lag = std::max<std::int64_t>(0, head - s.position);
        WHARF_ASSIGN_OR_RETURN(auto r, read_rebuild(tx, name, false));
        if (r.exists) {
          s.rebuild_state = r.state;
          s.rebuild_generation = r.generation;
          s.rebuild_position = r.position;
          s.rebuild_events = r.events;
          if (r.state == "running") {
            const double elapsed = static_cast<double>(r.updated_ms - r.started_ms) / 1000.0;
            s.rebuild_elapsed_s = static_cast<double>(now_ms() - r.started_ms) / 1000.0;
            if (elapsed > 0 && r.events > 0) {
              const double rate = static_cast<double>(r.events) / elapsed;
              s.rebuild_eta_s =
                  static_cast<double>(std::max<std::int64_t>(0, head - r.position)) / rate;
            }
          }
        }
        return ok();
      },
      {.read_only = true}));
  if (!found) return fail(ErrorCode::kNotFound, "no projection named '{}'", name);
  return s;
}

}  // namespace

Result<std::vector<ProjectionStatus>> projection_status(sql::Database& read_model,
                                                        EventStore& store) {
  WHARF_RETURN_IF_ERROR(migrate_projections(read_model));
  std::vector<std::string> names;
  WHARF_RETURN_IF_ERROR(read_model.transaction(
      [&](sql::Transaction& tx) -> Status {
        names.clear();
        WHARF_ASSIGN_OR_RETURN(auto rows,
                               tx.query("SELECT name FROM wharf_projections ORDER BY name"));
        for (const auto& r : rows) {
          WHARF_ASSIGN_OR_RETURN(auto n, r.get<std::string>(0));
          names.push_back(std::move(n));
        }
        return ok();
      },
      {.read_only = true}));
  std::vector<ProjectionStatus> out;
  for (const auto& n : names) {
    WHARF_ASSIGN_OR_RETURN(auto s, status_of(read_model, store, n));
    out.push_back(std::move(s));
  }
  return out;
}

Status request_projection_rebuild(sql::Database& read_model, const std::string& name) {
  WHARF_RETURN_IF_ERROR(migrate_projections(read_model));
  return read_model.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(Live live, lock_live(tx, name));
    if (!live.exists) return fail(ErrorCode::kNotFound, "no projection named '{}'", name);
    WHARF_ASSIGN_OR_RETURN(auto r, read_rebuild(tx, name, true));
    if (r.exists) return ok();  // already requested or running
    const std::int64_t now = now_ms();
    return tx
        .exec(
            "INSERT INTO wharf_projection_rebuilds(name, state, generation, position, events, "
            "requested_ms, started_ms, updated_ms) VALUES(?, 'requested', 0, 0, 0, ?, 0, ?)",
            name, now, now)
        .map([](auto) {});
  });
}

}  // namespace wharf
