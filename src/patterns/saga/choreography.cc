// Choreographed sagas: events correlated to instances by id, with state, history and status in
// SQL. See include/wharf/choreography.h; tables in docs/formats/saga.md.
#include "wharf/choreography.h"

#include <array>
#include <map>
#include <set>
#include <utility>

#include "base/metrics.h"
#include "base/text.h"

namespace wharf {
namespace {

// The same schema on SQLite and PostgreSQL (docs/formats/saga.md).
const std::array<sql::Migration, 1> kMigrations = {{
    {1,
     "CREATE TABLE wharf_choreography_instances ("
     "  name TEXT NOT NULL,"
     "  id TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  state TEXT NOT NULL,"
     "  events BIGINT NOT NULL,"
     "  last_event_type TEXT NOT NULL,"
     "  created_at_ms BIGINT NOT NULL,"
     "  updated_at_ms BIGINT NOT NULL,"
     "  PRIMARY KEY (name, id));"
     "CREATE INDEX wharf_choreography_instances_status ON wharf_choreography_instances "
     "  (name, status, updated_at_ms);"
     "CREATE TABLE wharf_choreography_events ("
     "  name TEXT NOT NULL,"
     "  id TEXT NOT NULL,"
     "  seq BIGINT NOT NULL,"
     "  at_ms BIGINT NOT NULL,"
     "  topic TEXT NOT NULL,"
     "  type TEXT NOT NULL,"
     "  message_id TEXT NOT NULL,"
     "  applied BIGINT NOT NULL,"
     "  PRIMARY KEY (name, id, seq));"},
}};

constexpr std::string_view kColumns =
    "name, id, status, state, events, last_event_type, created_at_ms, updated_at_ms";

Result<ChoreographyStatus> parse_status(std::string_view s) {
  if (s == "open") return ChoreographyStatus::kOpen;
  if (s == "completed") return ChoreographyStatus::kCompleted;
  if (s == "failed") return ChoreographyStatus::kFailed;
  return fail(ErrorCode::kCorruption, "unknown choreography status '{}'", s);
}

Result<ChoreographyInstance> instance_of(const sql::Row& row) {
  ChoreographyInstance i;
  WHARF_ASSIGN_OR_RETURN(i.name, row.get<std::string>(0));
  WHARF_ASSIGN_OR_RETURN(i.id, row.get<std::string>(1));
  WHARF_ASSIGN_OR_RETURN(std::string status, row.get<std::string>(2));
  WHARF_ASSIGN_OR_RETURN(i.status, parse_status(status));
  WHARF_ASSIGN_OR_RETURN(std::string state, row.get<std::string>(3));
  i.state = json::parse(state, nullptr, /*allow_exceptions=*/false);
  if (i.state.is_discarded()) {
    return fail(ErrorCode::kCorruption, "choreography {} instance {}: state is not JSON", i.name,
                i.id);
  }
  WHARF_ASSIGN_OR_RETURN(i.events, row.get<std::int64_t>(4));
  WHARF_ASSIGN_OR_RETURN(i.last_event_type, row.get<std::string>(5));
  WHARF_ASSIGN_OR_RETURN(i.created_at_ms, row.get<std::int64_t>(6));
  WHARF_ASSIGN_OR_RETURN(i.updated_at_ms, row.get<std::int64_t>(7));
  return i;
}

void count_event(const std::string& name, const std::string& type, const char* outcome) {
  metrics::registry()
      .counter("wharf_choreography_events_total",
               "Events correlated to choreography instances, by outcome (applied, finished: the "
               "instance had already finished, so the reaction did not run)")
      .with({{"choreography", name}, {"type", type}, {"outcome", outcome}})
      .inc();
}

}  // namespace

std::string_view choreography_status_name(ChoreographyStatus status) {
  switch (status) {
    case ChoreographyStatus::kOpen:
      return "open";
    case ChoreographyStatus::kCompleted:
      return "completed";
    case ChoreographyStatus::kFailed:
      return "failed";
  }
  return "open";
}

ChoreographyCorrelate correlate_by_correlation_id() {
  return [](const Message& m) -> Result<std::string> {
    if (m.correlation_id.empty())
      return fail(ErrorCode::kInvalidArgument, "message {} has no correlation id", m.id);
    return m.correlation_id;
  };
}

ChoreographyCorrelate correlate_by_field(std::string field) {
  return [field = std::move(field)](const Message& m) -> Result<std::string> {
    json payload = json::parse(m.payload, nullptr, /*allow_exceptions=*/false);
    if (payload.is_discarded() || !payload.is_object())
      return fail(ErrorCode::kInvalidArgument, "message {} ({}): payload is not a JSON object",
                  m.id, m.type);
    auto it = payload.find(field);
    if (it != payload.end() && it->is_string()) return it->get<std::string>();
    if (it != payload.end() && it->is_number_integer())
      return std::to_string(it->get<std::int64_t>());
    return fail(ErrorCode::kInvalidArgument, "message {} ({}): no string or integer field '{}'",
                m.id, m.type, field);
  };
}

struct Choreography::Impl {
  sql::Database& db;
  std::string name;
  ChoreographyOptions options;
  struct Rule {
    ChoreographyCorrelate correlate;
    ChoreographyReaction react;
  };
  std::map<std::pair<std::string, std::string>, Rule> rules;  // (topic, type)
  std::uint64_t collector_id = 0;

  Impl(sql::Database& d, std::string n, ChoreographyOptions o)
      : db(d), name(std::move(n)), options(o) {}
  const Clock& clock() const { return options.clock ? *options.clock : SystemClock::instance(); }

  Result<bool> apply(sql::Transaction& tx, const Message& m) {
    auto rule = rules.find({m.topic, m.type});
    if (rule == rules.end()) return false;
    WHARF_ASSIGN_OR_RETURN(std::string id, rule->second.correlate(m));
    if (id.empty() || id.size() > kMessageIdBytesMax || !is_valid_utf8(id)) {
      return fail(ErrorCode::kInvalidArgument,
                  "message {} ({}): instance id of {} bytes (1 to {} bytes of UTF-8 allowed)", m.id,
                  to_valid_utf8(m.type), id.size(), kMessageIdBytesMax);
    }
    // Topic and type are stored as text: PostgreSQL refuses ill-formed UTF-8.
    const std::string topic = to_valid_utf8(m.topic), type = to_valid_utf8(m.type);
    const std::int64_t now = clock().now_ms();
    // Find or create, then lock the row (PostgreSQL; SQLite serialises writers): two events of
    // one instance on different topics are applied one after the other.
    WHARF_RETURN_IF_ERROR(tx.exec(
        fmt::format("INSERT INTO wharf_choreography_instances ({}) VALUES (?, ?, 'open', '{{}}', "
                    "0, '', ?, ?) ON CONFLICT DO NOTHING",
                    kColumns),
        name, id, now, now));
    std::string q = fmt::format(
        "SELECT {} FROM wharf_choreography_instances WHERE name = ? AND id = ?", kColumns);
    if (tx.dialect() == sql::Dialect::kPostgres) q += " FOR UPDATE";
    WHARF_ASSIGN_OR_RETURN(auto rows, tx.query(q, name, id));
    if (rows.empty()) return fail(ErrorCode::kInternal, "choreography instance {} vanished", id);
    WHARF_ASSIGN_OR_RETURN(ChoreographyInstance inst, instance_of(rows[0]));
    const bool finished = inst.status != ChoreographyStatus::kOpen;
    if (!finished) {
      WHARF_ASSIGN_OR_RETURN(inst.status, rule->second.react(inst.state, m, tx));
    }
    inst.events += 1;
    WHARF_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO wharf_choreography_events (name, id, seq, at_ms, topic, type, message_id, "
        "applied) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        name, id, inst.events, now, topic, type, m.id, std::int64_t{finished ? 0 : 1}));
    WHARF_RETURN_IF_ERROR(
        tx.exec("UPDATE wharf_choreography_instances SET status = ?, state = ?, events = ?, "
                "last_event_type = ?, updated_at_ms = ? WHERE name = ? AND id = ?",
                std::string(choreography_status_name(inst.status)),
                inst.state.dump(-1, ' ', false, json::error_handler_t::replace), inst.events, type,
                now, name, id));
    count_event(name, type, finished ? "finished" : "applied");
    return true;
  }
};

Choreography::Choreography(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Choreography::~Choreography() {
  if (impl_->collector_id != 0) metrics::registry().remove_collector(impl_->collector_id);
}

Result<std::unique_ptr<Choreography>> Choreography::open(sql::Database& db, std::string name,
                                                         ChoreographyOptions options) {
  if (name.empty()) return fail(ErrorCode::kInvalidArgument, "a choreography needs a name");
  WHARF_RETURN_IF_ERROR(db.migrate("wharf_choreography", kMigrations));
  std::unique_ptr<Choreography> c(
      new Choreography(std::make_unique<Impl>(db, std::move(name), options)));
  Impl* self = c->impl_.get();
  self->collector_id = metrics::registry().add_collector([self] {
    metrics::CollectedFamily instances{"wharf_choreography_instances",
                                       "Choreography instances in the store, by status",
                                       "gauge",
                                       {}};
    metrics::CollectedFamily stuck{
        "wharf_choreography_stuck",
        "Open choreography instances without an event for longer than stuck_after",
        "gauge",
        {}};
    Status s = [&]() -> Status {
      WHARF_ASSIGN_OR_RETURN(auto tx, self->db.begin({.read_only = true}));
      WHARF_ASSIGN_OR_RETURN(
          auto rows, tx->query("SELECT status, COUNT(*) FROM wharf_choreography_instances WHERE "
                               "name = ? GROUP BY status ORDER BY status",
                               self->name));
      const std::int64_t before = self->clock().now_ms() - self->options.stuck_after.count();
      WHARF_ASSIGN_OR_RETURN(
          auto old, tx->query("SELECT COUNT(*) FROM wharf_choreography_instances WHERE name = ? "
                              "AND status = 'open' AND updated_at_ms < ?",
                              self->name, before));
      WHARF_RETURN_IF_ERROR(tx->commit());
      for (const auto& row : rows) {
        WHARF_ASSIGN_OR_RETURN(std::string status, row.get<std::string>(0));
        WHARF_ASSIGN_OR_RETURN(std::int64_t n, row.get<std::int64_t>(1));
        instances.samples.push_back({instances.name,
                                     {{"choreography", self->name}, {"status", std::move(status)}},
                                     static_cast<double>(n)});
      }
      WHARF_ASSIGN_OR_RETURN(std::int64_t n, old.scalar<std::int64_t>());
      stuck.samples.push_back({stuck.name, {{"choreography", self->name}}, static_cast<double>(n)});
      return ok();
    }();
    if (!s) return std::vector<metrics::CollectedFamily>{};  // the store is down
    return std::vector<metrics::CollectedFamily>{std::move(instances), std::move(stuck)};
  });
  return c;
}

void Choreography::on(const std::string& topic, const std::string& type,
                      ChoreographyCorrelate correlate, ChoreographyReaction react) {
  impl_->rules[{topic, type}] = Impl::Rule{std::move(correlate), std::move(react)};
}

Result<bool> Choreography::apply(sql::Transaction& tx, const Message& message) {
  return impl_->apply(tx, message);
}

Handler Choreography::handler() {
  return [impl = impl_.get()](const Message& m, Context& ctx) -> Status {
    return impl->apply(inbox_transaction(ctx), m).map([](bool) {});
  };
}

void Choreography::attach(Router& router, Inbox& inbox) {
  std::set<std::string> topics;
  for (const auto& [key, rule] : impl_->rules) topics.insert(key.first);
  for (const auto& topic : topics) router.on_batch(topic, inbox.batch(handler()));
}

Result<ChoreographyInstance> Choreography::get(const std::string& id) {
  WHARF_ASSIGN_OR_RETURN(auto tx, impl_->db.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(
      auto rows,
      tx->query(fmt::format("SELECT {} FROM wharf_choreography_instances WHERE name = ? AND id = ?",
                            kColumns),
                impl_->name, id));
  WHARF_RETURN_IF_ERROR(tx->commit());
  if (rows.empty())
    return fail(ErrorCode::kNotFound, "choreography {} has no instance {}", impl_->name, id);
  return instance_of(rows[0]);
}

Result<std::vector<ChoreographyInstance>> Choreography::list(
    std::optional<ChoreographyStatus> status, std::size_t limit, bool stuck_only) {
  std::string q =
      fmt::format("SELECT {} FROM wharf_choreography_instances WHERE name = ?", kColumns);
  std::vector<sql::Value> args{sql::Value(impl_->name)};
  if (stuck_only) status = ChoreographyStatus::kOpen;
  if (status) {
    q += " AND status = ?";
    args.emplace_back(std::string(choreography_status_name(*status)));
  }
  if (stuck_only) {
    q += " AND updated_at_ms < ?";
    args.emplace_back(impl_->clock().now_ms() - impl_->options.stuck_after.count());
  }
  q += " ORDER BY created_at_ms, id LIMIT ?";
  args.emplace_back(static_cast<std::int64_t>(std::min<std::size_t>(limit, 1'000'000'000)));
  WHARF_ASSIGN_OR_RETURN(auto tx, impl_->db.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(auto rows, tx->query_values(q, args));
  WHARF_RETURN_IF_ERROR(tx->commit());
  std::vector<ChoreographyInstance> out;
  for (const auto& row : rows) {
    WHARF_ASSIGN_OR_RETURN(auto i, instance_of(row));
    out.push_back(std::move(i));
  }
  return out;
}

Result<std::vector<ChoreographyEvent>> Choreography::history(const std::string& id) {
  WHARF_ASSIGN_OR_RETURN(auto tx, impl_->db.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(
      auto rows, tx->query("SELECT seq, at_ms, topic, type, message_id, applied FROM "
                           "wharf_choreography_events WHERE name = ? AND id = ? ORDER BY seq",
                           impl_->name, id));
  WHARF_RETURN_IF_ERROR(tx->commit());
  std::vector<ChoreographyEvent> out;
  for (const auto& row : rows) {
    ChoreographyEvent e;
    WHARF_ASSIGN_OR_RETURN(e.seq, row.get<std::int64_t>(0));
    WHARF_ASSIGN_OR_RETURN(e.at_ms, row.get<std::int64_t>(1));
    WHARF_ASSIGN_OR_RETURN(e.topic, row.get<std::string>(2));
    WHARF_ASSIGN_OR_RETURN(e.type, row.get<std::string>(3));
    WHARF_ASSIGN_OR_RETURN(e.message_id, row.get<std::string>(4));
    WHARF_ASSIGN_OR_RETURN(std::int64_t applied, row.get<std::int64_t>(5));
    e.applied = applied != 0;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace wharf
