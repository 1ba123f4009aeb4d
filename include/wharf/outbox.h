// The transactional outbox: an event is written in the same SQL transaction as the business
// change it describes, and a relay publishes it afterwards.
//
//   db.transaction([&](wharf::sql::Transaction& tx) -> wharf::Status {
//     WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO orders(id, total_cents) VALUES(?, ?)", id, n));
//     return wharf::outbox(tx).publish("orders", OrderPlaced{id, n}, {.key = id});
//   });
//   wharf::OutboxRelay relay{db, bus};   // a background thread until destroyed
//
// Library wharf_patterns_outbox (links wharf_patterns_core and wharf_sql; the SQL backend and
// the transport are the caller's link-time choices). The PostgreSQL LISTEN wake-up is in
// wharf_patterns_outbox_postgres (libpq): postgres_outbox_listener().
//
// Promises (docs/formats/outbox.md has the tables, docs/decisions/0005-outbox.md the why):
// - An event is in the table exactly when its transaction committed; a rolled-back transaction
//   leaves nothing to publish.
// - The relay publishes every committed event at least once, with the message id given at
//   enqueue (a UUIDv7 that never changes), and per (topic, key) in commit order. A crash
//   between publish and delete publishes the same ids again; consumers deduplicate by id.
// - Published rows are deleted in bounded batches, so the table holds only what is pending.
// - PostgreSQL: publish() takes a transaction-scoped advisory lock on (topic, key), so a
//   transaction's rows of one key get ids above those of every earlier-committed transaction
//   on that key. The relay keeps no high-water mark there: a row that commits late with a low
//   id is simply found by the next scan, never skipped. A long-open transaction delays only
//   its own rows (and later writers of the same keys, which wait for it). SQLite serialises
//   writers, so there id order is commit order and the relay reads above an in-memory mark.
// - Several relays on one store elect one leader with a lease row (wharf_outbox_lease); a
//   standby takes over when the lease expires (lease_duration, 5 s by default), at once when
//   the leader stops cleanly.
//
// Threads: Outbox is used on the thread that owns the transaction. OutboxRelay runs one
// background thread (std::jthread, stopped by its destructor) unless `background` is false,
// in which case the caller drives run() or run_once(); status() is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "wharf/clock.h"
#include "wharf/event.h"
#include "wharf/message.h"
#include "wharf/result.h"
#include "wharf/sql.h"
#include "wharf/transport.h"

namespace wharf {

// Creates or upgrades the outbox tables (component "outbox" in wharf_schema_migrations). The
// relay calls it when it starts; a service that publishes before starting a relay calls it once.
[[nodiscard]] Status migrate_outbox(sql::Database& db);

struct OutboxPublishOptions {
  std::string key;  // partition key and ordering key; empty: no key, no ordering promise
  std::string aggregate_id;
  std::string correlation_id;  // empty: the message's own id
  std::string causation_id;
  std::string traceparent;
  Headers headers;
};

// Enqueues events in the caller's transaction. Cheap to construct; holds a reference to `tx`.
class Outbox {
 public:
  explicit Outbox(sql::Transaction& tx) : tx_(&tx) {}

  // Enqueues `event` (a WHARF_EVENT type) for `topic`. Status, so that a transaction body can
  // return it; use make_message() and publish_message() to learn the id.
  template <typename T>
  requires detail::HasEventInfo<T> Status publish(const std::string& topic, const T& event,
                                                  OutboxPublishOptions options = {}) {
    Message m = make_message(event, std::move(options.key));
    m.aggregate_id = std::move(options.aggregate_id);
    m.correlation_id = std::move(options.correlation_id);
    m.causation_id = std::move(options.causation_id);
    m.traceparent = std::move(options.traceparent);
    m.headers = std::move(options.headers);
    WHARF_RETURN_IF_ERROR(publish_message(topic, std::move(m)));
    return ok();
  }

  // Enqueues a ready envelope and returns its id. An empty id, timestamp or correlation id is
  // filled here, so the id is fixed before commit. kInvalidArgument for an empty topic; the SQL
  // error otherwise (kNotFound-like "no such table" when migrate_outbox never ran).
  Result<std::string> publish_message(const std::string& topic, Message message);

 private:
  sql::Transaction* tx_;
};

inline Outbox outbox(sql::Transaction& tx) { return Outbox(tx); }

// Wakes a waiting relay when rows may have committed. The default is the in-process signal
// that publish() raises (SQLite: the relay's write transaction then queues behind the writer's,
// so it sees the row once it committed).
class OutboxWakeup {
 public:
  virtual ~OutboxWakeup() = default;
  // Returns when woken, when `timeout` passed, or soon after `stop` is requested.
  virtual void wait(std::chrono::milliseconds timeout, std::stop_token stop) = 0;
};

// LISTEN wharf_outbox on its own libpq connection (`conninfo` as open_postgres takes it);
// publish() on PostgreSQL sends NOTIFY, delivered at commit. Reconnects on failure, falling back
// to the polling interval meanwhile. In wharf_patterns_outbox_postgres.
std::unique_ptr<OutboxWakeup> postgres_outbox_listener(std::string conninfo);

struct OutboxRelayOptions {
  // Relays with the same name on one store elect one leader.
  std::string name = "default";
  // Rows read, published and deleted per pass. Bounds the relay's memory (rows × payload).
  std::size_t batch_max = 1000;
  // How long an idle relay waits for a wake-up before it looks anyway (the polling fallback).
  std::chrono::milliseconds poll_interval{200};
  // A leader that has not renewed its lease for this long is replaced.
  std::chrono::milliseconds lease_duration{5000};
  // Waits after a failed pass double from backoff_initial up to backoff_max.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  // nullptr: the in-process signal (plus polling).
  std::shared_ptr<OutboxWakeup> wakeup;
  const Clock* clock = nullptr;  // nullptr: the system clock
  // Unique per relay; empty: "<hostname>:<pid>:<random>".
  std::string owner;
  // Start a background thread running run(); false: the caller runs run() or run_once().
  bool background = true;
};

struct OutboxRelayStatus {
  bool leader = false;
  std::uint64_t published = 0;  // events acknowledged by the transport since start
  std::uint64_t failures = 0;   // failed passes (database or transport)
  std::int64_t pending_rows = 0;
  std::int64_t oldest_pending_age_ms = 0;
  std::string last_error;  // empty after a successful pass
};

class OutboxRelay {
 public:
  OutboxRelay(sql::Database& db, Bus bus, OutboxRelayOptions options = {});
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  // Runs passes until `stop`: publishes while there is work, waits for a wake-up when idle,
  // backs off after failures (which it counts and keeps retrying). Releases the lease on exit.
  // Returns an error only for one that retrying cannot fix (a failed migration is retried).
  Status run(std::stop_token stop);
  // One pass: takes or renews the lease; as leader, deletes the rows published by the previous
  // pass, reads up to batch_max pending rows, publishes them and remembers them for deletion.
  // Returns how many were published (0 as a standby).
  Result<std::size_t> run_once();
  // Gives up the lease (a standby takes over at once). run() does it on exit.
  Status release();
  // Stops the background thread (if any) and waits for it. Idempotent.
  void stop();

  OutboxRelayStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::jthread thread_;
};

}  // namespace wharf
