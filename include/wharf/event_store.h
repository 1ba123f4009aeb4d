// Event sourcing on the SQL stores (SQLite and PostgreSQL): streams of events with optimistic
// concurrency, a global position, aggregates loaded from snapshots plus later events, and
// appended events published to topics through the outbox in the same transaction.
//
//   auto store = wharf::EventStore::open(*db);
//   auto r = (*store)->append("loyalty-c42", /*expected_version=*/3,
//                             {wharf::make_message(PointsEarned{"c42", 120})},
//                             {.publish_topic = "loyalty"});
//   // r.error().code() == kConflict when the stream is not at version 3 (load again, retry)
//
//   auto loaded = wharf::load_aggregate<Ledger>(**store, "loyalty-c42",
//       [](Ledger& l, const wharf::StoredEvent& e) -> wharf::Status { ... },
//       {.snapshot_every = 100});
//
// Library wharf_patterns_eventstore (links wharf_patterns_core, wharf_patterns_outbox and
// wharf_sql). Schema and positions: docs/formats/event-store.md; the why:
// docs/decisions/0006-event-store.md.
//
// Promises:
// - append() adds the events at versions v+1..v+n of the stream (v = its version before) and at
//   increasing global positions, atomically: all or none. `expected_version` is kAnyVersion,
//   kNoStream (the stream must not exist) or the exact version; otherwise kConflict, retryable
//   by loading again.
// - Global positions are handed out in commit order on both stores (PostgreSQL: appends take
//   one transaction-scoped advisory lock, so a reader of read_all(after) never skips an event
//   whose transaction committed late; SQLite serialises writers anyway).
// - With publish_topic, each event is also written to the outbox in the same transaction: it is
//   published at least once, with its event id as message id, keyed by stream.
// - Events keep their type and schema version; decode_event<T>() on StoredEvent::message applies
//   the registered upcasters, so old events read as the current version.
// - delete_stream() is soft (reads see nothing, the history stays; appending again continues the
//   versions); truncate_before() hides versions below a version from stream reads.
//
// Threads: thread-safe (the Database's pool). Calls block.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "wharf/event.h"
#include "wharf/message.h"
#include "wharf/result.h"
#include "wharf/sql.h"

namespace wharf {

inline constexpr std::int64_t kAnyVersion = -1;  // append whatever the stream's version
inline constexpr std::int64_t kNoStream = 0;     // append only to a stream that does not exist
// Events one read returns at most, whatever `max` asks (bounds a read's memory).
inline constexpr std::size_t kEventStoreReadMax = 10'000;

struct StoredEvent {
  std::int64_t position = 0;  // global, increasing in commit order
  std::string stream;
  std::int64_t version = 0;  // 1-based within the stream
  std::int64_t recorded_at_ms = 0;
  Message message;  // id, type, version (schema), payload, correlation/causation, headers
};

struct AppendOptions {
  std::string publish_topic;  // empty: not published
};

struct AppendResult {
  std::int64_t version = 0;        // the stream's version after the append
  std::int64_t last_position = 0;  // the global position of the last event appended
};

struct Snapshot {
  std::int64_t version = 0;  // the stream version the state includes
  std::int32_t schema_version = 1;
  std::string state;  // JSON
};

enum class ReadDirection { kForward, kBackward };

class EventStore {
 public:
  // Applies the store's migrations (component "wharf_eventstore") and returns the store.
  [[nodiscard]] static Result<std::unique_ptr<EventStore>> open(sql::Database& db);

  // Appends in a transaction of its own.
  [[nodiscard]] Result<AppendResult> append(const std::string& stream,
                                            std::int64_t expected_version,
                                            std::vector<Message> events,
                                            const AppendOptions& options = {});
  // Appends inside the caller's transaction (with its other writes, an inbox record, ...).
  [[nodiscard]] Result<AppendResult> append(sql::Transaction& tx, const std::string& stream,
                                            std::int64_t expected_version,
                                            std::vector<Message> events,
                                            const AppendOptions& options = {});

  // At most `max` (and kEventStoreReadMax) events of `stream` from version `from` (inclusive)
  // forwards, or from `from` backwards (kBackward; from <= 0 means the last). A deleted stream
  // reads empty.
  [[nodiscard]] Result<std::vector<StoredEvent>> read_stream(
      const std::string& stream, std::int64_t from = 1, std::size_t max = 1000,
      ReadDirection direction = ReadDirection::kForward);
  // At most `max` (and kEventStoreReadMax) events after global position `after` (0: from the
  // start), in position order; with `category`, only streams named "<category>-...".
  [[nodiscard]] Result<std::vector<StoredEvent>> read_all(std::int64_t after, std::size_t max,
                                                          const std::string& category = {});
  // The stream's version (0: it does not exist or was deleted).
  [[nodiscard]] Result<std::int64_t> stream_version(const std::string& stream);
  // The highest global position appended (0 when empty).
  [[nodiscard]] Result<std::int64_t> head_position();

  [[nodiscard]] Status delete_stream(const std::string& stream);
  [[nodiscard]] Status truncate_before(const std::string& stream, std::int64_t version);

  [[nodiscard]] Status save_snapshot(const std::string& stream, const Snapshot& snapshot);
  [[nodiscard]] Result<std::optional<Snapshot>> load_snapshot(const std::string& stream);

  sql::Database& db() { return db_; }

 private:
  explicit EventStore(sql::Database& db) : db_(db) {}
  sql::Database& db_;
};

// --- Aggregates -------------------------------------------------------------------------------

struct AggregateOptions {
  // Save a snapshot after loading when at least this many events were applied past the last
  // one (0: never).
  std::int64_t snapshot_every = 0;
  // Bump when the state's JSON shape changes: older snapshots are ignored (full replay).
  std::int32_t snapshot_schema_version = 1;
  std::size_t read_batch = 1000;
};

template <typename State>
struct Loaded {
  State state{};
  std::int64_t version = 0;   // pass as expected_version to append
  std::int64_t replayed = 0;  // events applied on this load
  bool from_snapshot = false;
};

// Loads an aggregate: the latest usable snapshot (State converts to and from JSON with
// nlohmann's to_json/from_json), then every later event through `apply`. An error from apply
// stops the load.
template <typename State>
Result<Loaded<State>> load_aggregate(EventStore& store, const std::string& stream,
                                     const std::function<Status(State&, const StoredEvent&)>& apply,
                                     const AggregateOptions& options = {}) {
  Loaded<State> out;
  WHARF_ASSIGN_OR_RETURN(auto snapshot, store.load_snapshot(stream));
  if (snapshot && snapshot->schema_version == options.snapshot_schema_version) {
    try {
      out.state = nlohmann::json::parse(snapshot->state).get<State>();
      out.version = snapshot->version;
      out.from_snapshot = true;
    } catch (const std::exception&) {
      out = Loaded<State>{};  // an unreadable snapshot costs a full replay, nothing more
    }
  }
  const std::size_t batch = std::clamp<std::size_t>(options.read_batch, 1, kEventStoreReadMax);
  while (true) {
    WHARF_ASSIGN_OR_RETURN(auto events, store.read_stream(stream, out.version + 1, batch));
    for (const auto& e : events) {
      WHARF_RETURN_IF_ERROR(apply(out.state, e));
      out.version = e.version;
      ++out.replayed;
    }
    if (events.size() < batch) break;
  }
  if (options.snapshot_every > 0 && out.replayed >= options.snapshot_every) {
    nlohmann::json j = out.state;
    // Invalid UTF-8 in the state is replaced, never thrown: a snapshot is only a cache.
    WHARF_RETURN_IF_ERROR(store.save_snapshot(
        stream, Snapshot{out.version, options.snapshot_schema_version,
                         j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}));
  }
  return out;
}

// --- Catch-up subscriptions and projections ---------------------------------------------------

struct CatchUpOptions {
  std::string category;  // empty: every stream
  std::size_t batch_max = 1000;
  std::chrono::milliseconds poll_interval{50};  // when caught up
  std::chrono::milliseconds retry_delay{500};   // after a handler error (never skipped)
};

// Reads every event after `after` in position order, then keeps following new ones, handing
// them to `handler` in batches until `stop`. A failed batch is handed again after retry_delay;
// `after` moves only past batches the handler accepted. Returns the last position handled.
Result<std::int64_t> catch_up(EventStore& store, std::int64_t after,
                              const std::function<Status(const std::vector<StoredEvent>&)>& handler,
                              std::stop_token stop, const CatchUpOptions& options = {});

// A read model built from the event store. Its checkpoint (table wharf_projections) lives in
// the read model's database and is written in the same transaction as the read-model changes
// of each batch, so the two never drift: after a crash the projection resumes exactly after
// the last batch that committed. Each batch also checks, under the checkpoint row's lock, that
// the checkpoint is where this runner left it: a second runner of the same projection, or a
// rebuild that swapped in, makes the batch roll back and the runner continue from the stored
// checkpoint, so no event is applied twice or skipped.
//
// Rebuild without downtime: a projection that declares its tables (ProjectionTables) keeps
// each copy of them under a generation ("order_history_g3") behind a view with the logical
// name ("order_history") that readers query. rebuild() replays every event into the next
// generation while the live copy keeps serving and the runner keeps applying; then, in one
// transaction, it applies the last events, points the views at the new tables, moves the
// checkpoint and drops the old copy. A rebuild interrupted by a crash or a stop resumes where
// it left off. Schema: docs/formats/event-store.md.
class ProjectionContext {
 public:
  ProjectionContext(sql::Transaction& tx, const std::vector<std::string>& names,
                    std::int64_t generation);
  sql::Transaction& tx;
  // The physical name of logical table `name` in the copy being written: "name_g<generation>"
  // (generation 0, or a projection that declares no tables: the name itself). Unknown names
  // are returned unchanged.
  std::string table(std::string_view name) const;
  std::int64_t generation() const { return generation_; }

 private:
  std::vector<std::pair<std::string, std::string>> tables_;
  std::int64_t generation_ = 0;
};

struct ProjectionTables {
  std::vector<std::string> names;  // logical names: readers query these
  // Creates one copy's tables, each as ctx.table(name); derive index names from the table
  // names ("CREATE INDEX " + ctx.table("t") + "_by_x ...") so copies never collide.
  std::function<Status(ProjectionContext&)> create;
};

struct ProjectionOptions {
  std::string name;  // required; the checkpoint's key
  CatchUpOptions catch_up;
  ProjectionTables tables;  // needed for rebuild(); empty: the handler names its own tables
  // How often run() looks for a rebuild requested from outside (request_projection_rebuild,
  // `wharf projection rebuild`); it then rebuilds on a thread of its own.
  std::chrono::milliseconds rebuild_check_interval{1000};
};
using ProjectionHandler = std::function<Status(sql::Transaction&, const StoredEvent&)>;
using ProjectionTableHandler = std::function<Status(ProjectionContext&, const StoredEvent&)>;

struct RebuildProgress {
  std::int64_t generation = 0;  // the copy being built
  std::int64_t position = 0;    // its checkpoint
  std::int64_t head = 0;        // the store's head when measured
  std::int64_t events = 0;      // replayed so far by this rebuild (this process)
  double events_per_s = 0;
  double eta_s = -1;  // -1: unknown
  double elapsed_s = 0;
  bool swapped = false;  // the last report: the new copy is live
};

struct RebuildOptions {
  std::function<void(const RebuildProgress&)> on_progress;  // after each batch
  std::size_t batch_max = 1000;
};

struct RebuildReport {
  std::int64_t generation = 0;  // the new live copy
  std::int64_t position = 0;    // its checkpoint at the swap
  std::int64_t events = 0;      // replayed
  double replay_s = 0;          // from start (or resume) to swap
};

class Projection {
 public:
  // `read_model` may be the event store's own database or another one.
  Projection(EventStore& store, sql::Database& read_model, ProjectionOptions options,
             ProjectionHandler handler);
  Projection(EventStore& store, sql::Database& read_model, ProjectionOptions options,
             ProjectionTableHandler handler);
  ~Projection();
  Projection(const Projection&) = delete;
  Projection& operator=(const Projection&) = delete;

  // Runs until `stop`: catch up from the checkpoint, then follow; performs requested rebuilds.
  // Errors only on setup failure.
  Status run(std::stop_token stop);
  // Handles what is there now and returns (tests, batch jobs).
  Result<std::int64_t> run_once();
  // Rebuilds into a new generation beside the live one, then swaps (see above). kShuttingDown
  // when `stop` is requested first (the next rebuild resumes); kUnsupported without tables.
  Result<RebuildReport> rebuild(std::stop_token stop, const RebuildOptions& options = {});
  // The checkpoint (0 before the first batch).
  Result<std::int64_t> checkpoint();
  // Events behind the store's head (category filtering aside).
  Result<std::int64_t> lag();
  const std::string& name() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// What `wharf projection list|status` shows, read from the read model's database (and the
// event store for the head): every projection with a checkpoint there.
struct ProjectionStatus {
  std::string name;
  std::int64_t generation = 0;
  std::int64_t position = 0;
  std::int64_t head = 0;
  std::int64_t lag = 0;  // head - position (category filtering aside)
  std::int64_t updated_ms = 0;
  std::int64_t rebuilt_ms = 0;  // 0: never rebuilt
  double last_replay_s = 0;     // the last rebuild's replay time
  std::int64_t last_replay_events = 0;
  // A rebuild in progress ("requested" or "running"), else empty.
  std::string rebuild_state;
  std::int64_t rebuild_generation = 0;
  std::int64_t rebuild_position = 0;
  std::int64_t rebuild_events = 0;
  double rebuild_elapsed_s = 0;
  double rebuild_eta_s = -1;
};
[[nodiscard]] Result<std::vector<ProjectionStatus>> projection_status(sql::Database& read_model,
                                                                      EventStore& store);
// Asks the process running the projection to rebuild it (run() picks the request up).
// kNotFound when no projection of that name has a checkpoint in `read_model`.
[[nodiscard]] Status request_projection_rebuild(sql::Database& read_model, const std::string& name);

}  // namespace wharf
