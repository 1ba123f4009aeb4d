// OutboxRelay: leader election by lease row, batched read → publish → delete, wake-ups,
// backoff and metrics. See include/wharf/outbox.h and docs/decisions/0005-outbox.md.
//
// PostgreSQL: one pass is one transaction: renew (or take) the lease, delete the rows the
// previous pass published, read the oldest batch. SQLite: batches are read in read-only
// transactions above a high-water mark, and the write transaction (lease, deletes) runs only
// when due (pass_sqlite() says why that is safe there and not on PostgreSQL). Either way the
// batch is published outside any transaction, and deleted only after; a crash in between
// publishes those rows again (same ids): at least once.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>

#include <fmt/format.h>

#include "base/check.h"
#include "base/log.h"
#include "base/metrics.h"
#include "patterns/outbox/schema.h"
#include "patterns/outbox/signal.h"
#include "wharf/outbox.h"

namespace wharf {
namespace {

constexpr std::string_view kSelectBatch =
    "SELECT id, message_id, topic, message_key, type, version, aggregate_id, correlation_id, "
    "causation_id, traceparent, content_type, source, timestamp_ms, headers, payload, "
    "created_at_ms FROM wharf_outbox ORDER BY id LIMIT ?";
constexpr std::string_view kSelectAfter =
    "SELECT id, message_id, topic, message_key, type, version, aggregate_id, correlation_id, "
    "causation_id, traceparent, content_type, source, timestamp_ms, headers, payload, "
    "created_at_ms FROM wharf_outbox WHERE id > ? ORDER BY id LIMIT ?";
// SQLite: published ids wait for deletion until this many batches (or an idle pass); the ids
// are all the relay keeps, and the table holds at most this many published batches.
constexpr std::size_t kDeleteBacklogBatches = 4;
constexpr std::string_view kDeleteSqlite =
    "DELETE FROM wharf_outbox WHERE id IN (SELECT value FROM json_each(?))";
constexpr std::string_view kDeletePostgres = "DELETE FROM wharf_outbox WHERE id = ANY(?::bigint[])";
constexpr std::string_view kInsertLease =
    "INSERT INTO wharf_outbox_lease(name, owner, epoch, expires_at_ms) VALUES(?, '', 0, 0) "
    "ON CONFLICT (name) DO NOTHING";
// Renews our lease, or takes an expired (or released) one, bumping the epoch on a change of hands.
constexpr std::string_view kTakeLease =
    "UPDATE wharf_outbox_lease SET epoch = CASE WHEN owner = ? THEN epoch ELSE epoch + 1 END, "
    "owner = ?, expires_at_ms = ? WHERE name = ? AND (owner = ? OR expires_at_ms < ?)";
constexpr std::string_view kReleaseLease =
    "UPDATE wharf_outbox_lease SET expires_at_ms = 0 WHERE name = ? AND owner = ?";
constexpr std::string_view kStats =
    "SELECT count(*), coalesce(min(created_at_ms), 0) FROM wharf_outbox";
// Pending-row statistics cost a scan of the (bounded) table: at most once per interval.
constexpr std::chrono::milliseconds kStatsInterval{1000};

std::string default_owner() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device rd;
  return fmt::format("{}:{}:{:08x}", host, ::getpid(), rd());
}

// Sleeps for `d` or until `stop` is requested.
void sleep_for(std::chrono::milliseconds d, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, d, [] { return false; });
}

}  // namespace

struct OutboxRelay::Impl {
  Impl(sql::Database& db_in, Bus bus_in, OutboxRelayOptions o)
      : db(db_in),
        bus(std::move(bus_in)),
        options(std::move(o)),
        clock(options.clock ? *options.clock : SystemClock::instance()),
        owner(options.owner.empty() ? default_owner() : options.owner) {
    auto& r = metrics::registry();
    const metrics::Labels labels{{"relay", options.name}};
    published =
        &r.counter("wharf_outbox_published_total", "Outbox events acknowledged by the transport")
             .with(labels);
    failures = &r.counter("wharf_outbox_relay_failures_total",
                          "Failed outbox relay passes (database or transport)")
                    .with(labels);
    pending = &r.gauge("wharf_outbox_pending_rows", "Outbox rows not yet published and deleted")
                   .with(labels);
    oldest_age =
        &r.gauge("wharf_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row")
             .with(labels);
    leader_gauge =
        &r.gauge("wharf_outbox_relay_leader", "1 while this relay holds the outbox lease")
             .with(labels);
    latency =
        &r.histogram("wharf_outbox_enqueue_to_ack_seconds",
                     "From an event's enqueue (just before its commit) to its acknowledgement")
             .with(labels);
  }

  sql::Database& db;
  Bus bus;
  OutboxRelayOptions options;
  const Clock& clock;
  std::string owner;

  // Touched only by the thread running passes.
  bool migrated = false;
  std::vector<std::int64_t> to_delete;  // published by the last pass; at most batch_max
  std::chrono::steady_clock::time_point stats_at{};
  std::int64_t lease_expires_ms = 0;  // our lease's expiry as last written; 0 when not leader
  std::int64_t high_water_id = 0;     // SQLite only: the last id published (0 after a change)

  Result<std::size_t> pass_postgres();
  Result<std::size_t> pass_sqlite();
  Result<bool> renew_and_delete(sql::Transaction& tx, std::int64_t now_ms, bool& renewed);
  void committed(bool leader, bool renewed, std::int64_t now_ms);
  Result<std::size_t> publish_rows(const sql::Rows& rows);

  metrics::Counter* published;
  metrics::Counter* failures;
  metrics::Gauge* pending;
  metrics::Gauge* oldest_age;
  metrics::Gauge* leader_gauge;
  metrics::Histogram* latency;

  mutable std::mutex status_mu;
  OutboxRelayStatus status;

  std::string id_list() const {
    const bool pg = db.dialect() == sql::Dialect::kPostgres;
    std::string out = pg ? "{" : "[";
    for (std::size_t i = 0; i < to_delete.size(); ++i) {
      if (i > 0) out += ',';
      out += std::to_string(to_delete[i]);
    }
    out += pg ? "}" : "]";
    return out;
  }

  Status delete_published(sql::Transaction& tx) {
    if (to_delete.empty()) return ok();
    const bool pg = db.dialect() == sql::Dialect::kPostgres;
    WHARF_ASSIGN_OR_RETURN(std::int64_t n,
                           tx.exec(pg ? kDeletePostgres : kDeleteSqlite, id_list()));
    // Fewer rows than ids only when another relay (a former or later leader) deleted them.
    if (n > static_cast<std::int64_t>(to_delete.size())) {
      return fail(ErrorCode::kInternal, "outbox delete removed {} rows for {} ids", n,
                  to_delete.size());
    }
    return ok();
  }

  void set_leader(bool leader) {
    leader_gauge->set(leader ? 1 : 0);
    std::lock_guard lock(status_mu);
    status.leader = leader;
  }

  Result<Message> to_message(const sql::Row& row) {
    Message m;
    WHARF_ASSIGN_OR_RETURN(m.id, row.get<std::string>(1));
    WHARF_ASSIGN_OR_RETURN(m.key, row.get<std::string>(3));
    WHARF_ASSIGN_OR_RETURN(m.type, row.get<std::string>(4));
    WHARF_ASSIGN_OR_RETURN(m.version, row.get<int>(5));
    WHARF_ASSIGN_OR_RETURN(m.aggregate_id, row.get<std::string>(6));
    WHARF_ASSIGN_OR_RETURN(m.correlation_id, row.get<std::string>(7));
    WHARF_ASSIGN_OR_RETURN(m.causation_id, row.get<std::string>(8));
    WHARF_ASSIGN_OR_RETURN(m.traceparent, row.get<std::string>(9));
    WHARF_ASSIGN_OR_RETURN(m.content_type, row.get<std::string>(10));
    WHARF_ASSIGN_OR_RETURN(m.source, row.get<std::string>(11));
    WHARF_ASSIGN_OR_RETURN(m.timestamp_ms, row.get<std::int64_t>(12));
    WHARF_ASSIGN_OR_RETURN(std::string headers, row.get<std::string>(13));
    WHARF_ASSIGN_OR_RETURN(m.headers, outbox_detail::decode_headers(headers));
    WHARF_ASSIGN_OR_RETURN(auto payload, row[14].as_blob());
    m.payload.assign(payload.begin(), payload.end());
    return m;
  }
};

OutboxRelay::OutboxRelay(sql::Database& db, Bus bus, OutboxRelayOptions options)
    : impl_(std::make_unique<Impl>(db, std::move(bus), std::move(options))) {
  WHARF_CHECK(impl_->options.batch_max > 0, "outbox relay: batch_max must be positive");
  if (impl_->options.background) {
    thread_ = std::jthread([this](std::stop_token stop) {
      Status s = run(stop);
      if (!s)
        WHARF_LOG_ERROR("outbox relay {} stopped: {}", impl_->options.name, s.error().to_string());
    });
  }
}

OutboxRelay::~OutboxRelay() { stop(); }

void OutboxRelay::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

OutboxRelayStatus OutboxRelay::status() const {
  std::lock_guard lock(impl_->status_mu);
  return impl_->status;
}

Result<std::size_t> OutboxRelay::run_once() {
  Impl& s = *impl_;
  if (!s.migrated) {
    WHARF_RETURN_IF_ERROR(migrate_outbox(s.db));
    WHARF_RETURN_IF_ERROR(s.db.transaction([&](sql::Transaction& tx) -> Status {
      WHARF_RETURN_IF_ERROR(tx.exec(kInsertLease, s.options.name));
      return ok();
    }));
    s.migrated = true;
  }

  if (s.db.dialect() == sql::Dialect::kSqlite) return s.pass_sqlite();
  return s.pass_postgres();
}

Result<bool> OutboxRelay::Impl::renew_and_delete(sql::Transaction& tx, std::int64_t now_ms,
                                                 bool& renewed) {
  // A leader renews only once a third of its lease has passed: a pass that then neither deletes
  // nor renews writes nothing, so its commit costs no sync (SQLite) or WAL flush (PostgreSQL).
  const std::int64_t lease_ms = options.lease_duration.count();
  bool leader = lease_expires_ms - now_ms > lease_ms * 2 / 3;
  renewed = false;
  if (!leader) {
    WHARF_ASSIGN_OR_RETURN(std::int64_t taken, tx.exec(kTakeLease, owner, owner, now_ms + lease_ms,
                                                       options.name, owner, now_ms));
    leader = renewed = taken == 1;
  }
  WHARF_RETURN_IF_ERROR(delete_published(tx));
  const auto steady_now = clock.steady_now();
  if (leader && steady_now - stats_at >= kStatsInterval) {
    WHARF_ASSIGN_OR_RETURN(sql::Rows stats, tx.query(kStats));
    WHARF_ASSIGN_OR_RETURN(std::int64_t count, stats[0].get<std::int64_t>(0));
    WHARF_ASSIGN_OR_RETURN(std::int64_t oldest_ms, stats[0].get<std::int64_t>(1));
    const std::int64_t age_ms = count > 0 ? std::max<std::int64_t>(0, now_ms - oldest_ms) : 0;
    pending->set(static_cast<double>(count));
    oldest_age->set(static_cast<double>(age_ms) / 1000.0);
    stats_at = steady_now;
    std::lock_guard lock(status_mu);
    status.pending_rows = count;
    status.oldest_pending_age_ms = age_ms;
  }
  return leader;
}

void OutboxRelay::Impl::committed(bool leader, bool renewed, std::int64_t now_ms) {
  to_delete.clear();
  if (renewed) lease_expires_ms = now_ms + options.lease_duration.count();
  if (!leader) {
    lease_expires_ms = 0;
    high_water_id = 0;
  }
  set_leader(leader);
}

// PostgreSQL: one transaction per pass (lease, deletions, next batch). No high-water mark: rows
// commit out of id order, so every pass reads the oldest pending rows.
Result<std::size_t> OutboxRelay::Impl::pass_postgres() {
  WHARF_ASSIGN_OR_RETURN(auto tx, db.begin());
  const std::int64_t now_ms = clock.now_ms();
  bool renewed = false;
  WHARF_ASSIGN_OR_RETURN(bool leader, renew_and_delete(*tx, now_ms, renewed));
  sql::Rows rows;
  if (leader) {
    WHARF_ASSIGN_OR_RETURN(rows,
                           tx->query(kSelectBatch, static_cast<std::int64_t>(options.batch_max)));
  }
  WHARF_RETURN_IF_ERROR(tx->commit());
  committed(leader, renewed, now_ms);
  if (!leader || rows.empty()) return std::size_t{0};
  return publish_rows(rows);
}

// SQLite: writers are serialised, so id order is commit order and a high-water mark is safe
// (AUTOINCREMENT: no id is handed out twice once committed). Batches are read in read-only
// transactions, which never wait for writers (WAL); the write transaction (lease, deletions)
// runs only when the lease needs renewing, when kDeleteBacklogBatches batches await deletion, or
// when a read found nothing new. That last one doubles as a barrier: it queues behind an
// in-process writer that raised the wake-up before committing, and the read is then repeated.
// So a relay in another process, which gets SQLite's write lock only between busy writers,
// still publishes at the speed of reads.
Result<std::size_t> OutboxRelay::Impl::pass_sqlite() {
  const std::int64_t now_ms = clock.now_ms();
  const std::int64_t lease_ms = options.lease_duration.count();
  bool wrote = false;
  auto write = [&]() -> Status {
    WHARF_ASSIGN_OR_RETURN(auto tx, db.begin());
    bool renewed = false;
    WHARF_ASSIGN_OR_RETURN(bool leader, renew_and_delete(*tx, now_ms, renewed));
    WHARF_RETURN_IF_ERROR(tx->commit());
    committed(leader, renewed, now_ms);
    wrote = true;
    return ok();
  };
  auto read = [&]() -> Result<sql::Rows> {
    WHARF_ASSIGN_OR_RETURN(auto tx, db.begin({.read_only = true}));
    WHARF_ASSIGN_OR_RETURN(sql::Rows rows, tx->query(kSelectAfter, high_water_id,
                                                     static_cast<std::int64_t>(options.batch_max)));
    WHARF_RETURN_IF_ERROR(tx->commit());
    return rows;
  };
  if (lease_expires_ms - now_ms <= lease_ms * 2 / 3 ||
      to_delete.size() >= kDeleteBacklogBatches * options.batch_max) {
    WHARF_RETURN_IF_ERROR(write());
  }
  if (lease_expires_ms <= now_ms) return std::size_t{0};
  WHARF_ASSIGN_OR_RETURN(sql::Rows rows, read());
  if (rows.empty() && !wrote) {
    WHARF_RETURN_IF_ERROR(write());
    if (lease_expires_ms <= now_ms) return std::size_t{0};
    WHARF_ASSIGN_OR_RETURN(rows, read());
  }
  if (rows.empty()) return std::size_t{0};
  auto n = publish_rows(rows);
  if (!n) {
    high_water_id = 0;  // some topics may be unpublished below the last id: start over
    return n;
  }
  WHARF_ASSIGN_OR_RETURN(high_water_id, rows[rows.size() - 1].get<std::int64_t>(0));
  return n;
}

// Publishes per topic, each topic's rows in id order (so per key in commit order). Topics in
// order of first appearance; a failed topic stops the pass and leaves its rows (and every later
// topic's) pending, while the rows of the topics before it are deleted later.
Result<std::size_t> OutboxRelay::Impl::publish_rows(const sql::Rows& rows) {
  std::vector<std::string> topic_order;
  std::map<std::string, std::pair<std::vector<Message>, std::vector<std::int64_t>>> by_topic;
  std::vector<std::int64_t> created_ms;
  created_ms.reserve(rows.size());
  for (const sql::Row& row : rows) {
    WHARF_ASSIGN_OR_RETURN(std::int64_t id, row.get<std::int64_t>(0));
    WHARF_ASSIGN_OR_RETURN(std::string topic, row.get<std::string>(2));
    WHARF_ASSIGN_OR_RETURN(Message m, to_message(row));
    auto [it, inserted] = by_topic.try_emplace(topic);
    if (inserted) topic_order.push_back(topic);
    it->second.first.push_back(std::move(m));
    it->second.second.push_back(id);
    WHARF_ASSIGN_OR_RETURN(std::int64_t created, row.get<std::int64_t>(15));
    created_ms.push_back(created);
  }
  std::size_t n_published = 0;
  for (const std::string& topic : topic_order) {
    auto& [messages, ids] = by_topic[topic];
    const std::size_t n = messages.size();
    Status st = bus->publish(topic, std::move(messages));
    if (!st) {
      return fail(std::move(st).error().with_context(
          fmt::format("outbox relay: publish {} event(s) to {}", n, topic)));
    }
    to_delete.insert(to_delete.end(), ids.begin(), ids.end());
    n_published += n;
  }
  const std::int64_t acked_ms = clock.now_ms();
  for (std::int64_t c : created_ms) {
    latency->observe(static_cast<double>(std::max<std::int64_t>(0, acked_ms - c)) / 1000.0);
  }
  published->inc(n_published);
  std::lock_guard lock(status_mu);
  status.published += n_published;
  return n_published;
}

Status OutboxRelay::release() {
  Impl& s = *impl_;
  Status st = s.db.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(s.delete_published(tx));
    WHARF_RETURN_IF_ERROR(tx.exec(kReleaseLease, s.options.name, s.owner));
    return ok();
  });
  if (st) {
    s.to_delete.clear();
    s.lease_expires_ms = 0;
    s.high_water_id = 0;
    s.set_leader(false);
  }
  return st;
}

Status OutboxRelay::run(std::stop_token stop) {
  Impl& s = *impl_;
  auto backoff = s.options.backoff_initial;
  while (!stop.stop_requested()) {
    const std::uint64_t seen = outbox_detail::signal().generation();
    Result<std::size_t> n = run_once();
    if (!n) {
      s.failures->inc();
      {
        std::lock_guard lock(s.status_mu);
        ++s.status.failures;
        s.status.last_error = n.error().to_string();
      }
      WHARF_LOG_WARN("outbox relay {}: {} (retrying in {} ms)", s.options.name,
                     n.error().to_string(), backoff.count());
      sleep_for(backoff, stop);
      backoff = std::min(backoff * 2, s.options.backoff_max);
      continue;
    }
    backoff = s.options.backoff_initial;
    {
      std::lock_guard lock(s.status_mu);
      s.status.last_error.clear();
    }
    if (*n > 0) continue;  // more may be waiting; the next pass also deletes these
    if (s.options.wakeup) {
      s.options.wakeup->wait(s.options.poll_interval, stop);
    } else {
      outbox_detail::signal().wait(seen, s.options.poll_interval, stop);
    }
  }
  Status released = release();
  if (!released) {
    WHARF_LOG_WARN("outbox relay {}: release: {}", s.options.name, released.error().to_string());
  }
  return ok();
}

}  // namespace wharf
