#include "wharf/parking.h"

#include <array>
#include <charconv>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "base/admin_routes.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"

namespace wharf {
namespace {

// Keys and payloads are bytes (BLOB / BYTEA); the stored message is one record of
// length-prefixed fields (docs/formats/parking.md).
std::array<sql::Migration, 1> migrations(sql::Dialect dialect) {
  const char* blob = dialect == sql::Dialect::kPostgres ? "BYTEA" : "BLOB";
  return {{{1, fmt::format(
                   "CREATE TABLE wharf_parked_keys ("
                   "  consumer_group TEXT NOT NULL, topic TEXT NOT NULL, message_key {0} NOT NULL,"
                   "  state TEXT NOT NULL, parked_at_ms BIGINT NOT NULL, reason TEXT NOT NULL,"
                   "  failed_message_id TEXT NOT NULL,"
                   "  PRIMARY KEY (consumer_group, topic, message_key));"
                   "CREATE TABLE wharf_parked_messages ("
                   "  consumer_group TEXT NOT NULL, topic TEXT NOT NULL, message_key {0} NOT NULL,"
                   "  seq BIGINT NOT NULL, message_id TEXT NOT NULL, record {0} NOT NULL,"
                   "  PRIMARY KEY (consumer_group, topic, message_key, seq));",
                   blob)}}};
}

sql::Blob to_blob(std::string_view s) { return sql::Blob(s.begin(), s.end()); }

void put(std::string& out, std::string_view field) {
  const auto n = static_cast<std::uint32_t>(field.size());
  char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                 static_cast<char>(n)};
  out.append(len, 4);
  out.append(field);
}

std::string encode(const Message& m) {
  std::string out;
  out.reserve(m.size_bytes() + 64);
  for (std::string_view f :
       {std::string_view(m.id), std::string_view(m.type), std::string_view(m.key),
        std::string_view(m.aggregate_id), std::string_view(m.correlation_id),
        std::string_view(m.causation_id), std::string_view(m.traceparent),
        std::string_view(m.content_type), std::string_view(m.source), std::string_view(m.topic),
        std::string_view(m.payload)}) {
    put(out, f);
  }
  put(out, std::to_string(m.version));
  put(out, std::to_string(m.timestamp_ms));
  put(out, std::to_string(m.partition));
  put(out, std::to_string(m.offset));
  put(out, std::to_string(m.headers.size()));
  for (const auto& [k, v] : m.headers) {
    put(out, k);
    put(out, v);
  }
  return out;
}

// Reads what encode() wrote; every length is checked against what is left (the bytes come
// from a database, so they are input like any other).
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
  Result<std::string> field() {
    if (b_.size() - pos_ < 4)
      return fail(ErrorCode::kCorruption, "parked message record is cut short");
    const std::uint32_t n = (std::uint32_t{b_[pos_]} << 24) | (std::uint32_t{b_[pos_ + 1]} << 16) |
                            (std::uint32_t{b_[pos_ + 2]} << 8) | std::uint32_t{b_[pos_ + 3]};
    pos_ += 4;
    if (b_.size() - pos_ < n)
      return fail(ErrorCode::kCorruption, "parked message field of {} bytes overruns the record",
                  n);
    std::string out(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return out;
  }
  template <typename T>
  Result<T> number() {
    WHARF_ASSIGN_OR_RETURN(std::string s, field());
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
      return fail(ErrorCode::kCorruption, "parked message number '{}'", s.substr(0, 32));
    return v;
  }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

Result<Message> decode(std::span<const std::uint8_t> bytes) {
  Reader r(bytes);
  Message m;
  for (std::string* f :
       {&m.id, &m.type, &m.key, &m.aggregate_id, &m.correlation_id, &m.causation_id, &m.traceparent,
        &m.content_type, &m.source, &m.topic, &m.payload}) {
    WHARF_ASSIGN_OR_RETURN(*f, r.field());
  }
  WHARF_ASSIGN_OR_RETURN(m.version, r.number<std::int32_t>());
  WHARF_ASSIGN_OR_RETURN(m.timestamp_ms, r.number<std::int64_t>());
  WHARF_ASSIGN_OR_RETURN(m.partition, r.number<std::int32_t>());
  WHARF_ASSIGN_OR_RETURN(m.offset, r.number<std::int64_t>());
  WHARF_ASSIGN_OR_RETURN(const std::uint64_t headers, r.number<std::uint64_t>());
  // Each header takes at least 8 bytes of the record, which bounds the count before any
  // allocation.
  if (headers > bytes.size() / 8)
    return fail(ErrorCode::kCorruption, "parked message claims {} headers", headers);
  for (std::uint64_t i = 0; i < headers; ++i) {
    WHARF_ASSIGN_OR_RETURN(std::string k, r.field());
    WHARF_ASSIGN_OR_RETURN(std::string v, r.field());
    m.headers.emplace_back(std::move(k), std::move(v));
  }
  return m;
}

metrics::Counter& counter(const char* name, const char* help, const std::string& group,
                          const std::string& topic) {
  return metrics::registry().counter(name, help).with({{"group", group}, {"topic", topic}});
}

}  // namespace

Result<std::unique_ptr<KeyParking>> KeyParking::open(sql::Database& db, ParkingOptions options) {
  if (options.messages_per_key_max <= 0)
    return fail(ErrorCode::kInvalidArgument, "messages_per_key_max must be positive");
  const auto m = migrations(db.dialect());
  WHARF_RETURN_IF_ERROR(db.migrate("wharf_parking", m));
  auto parking = std::unique_ptr<KeyParking>(new KeyParking(db, options));
  KeyParking* self = parking.get();
  parking->collector_id_ = metrics::registry().add_collector([self] {
    metrics::CollectedFamily family{
        "wharf_parked_keys", "Keys parked by a consumer group, per topic", "gauge", {}};
    auto keys = self->list();
    if (!keys) return std::vector<metrics::CollectedFamily>{};  // the store is down: no sample
    std::map<std::pair<std::string, std::string>, double> counts;
    for (const auto& k : *keys) counts[{k.group, k.topic}] += 1;
    for (const auto& [gt, n] : counts) {
      family.samples.push_back(
          {"wharf_parked_keys", {{"group", gt.first}, {"topic", gt.second}}, n});
    }
    return std::vector<metrics::CollectedFamily>{std::move(family)};
  });
  parking->route_id_ = admin_routes::add("/v1/parked-keys", [self]() -> Result<std::string> {
    WHARF_ASSIGN_OR_RETURN(auto keys, self->list());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : keys) {
      out.push_back({{"group", k.group},
                     {"topic", k.topic},
                     {"key", k.key},
                     {"state", k.state},
                     {"parked_at_ms", k.parked_at_ms},
                     {"reason", k.reason},
                     {"failed_message_id", k.failed_message_id},
                     {"waiting", k.messages}});
    }
    // Keys are bytes: invalid UTF-8 becomes U+FFFD rather than failing the answer.
    return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  });
  return parking;
}

KeyParking::~KeyParking() {
  if (collector_id_ != 0) metrics::registry().remove_collector(collector_id_);
  if (route_id_ != 0) admin_routes::remove(route_id_);
}

Status KeyParking::park(const std::string& group, const Message& m, const Error& reason,
                        bool store_message) {
  const Clock& clock = options_.clock ? *options_.clock : SystemClock::instance();
  return db_.transaction([&](sql::Transaction& tx) -> Status {
    // Stored as TEXT, which PostgreSQL accepts only as valid UTF-8; error messages may quote
    // any bytes (a trailing sequence cut at the bound becomes U+FFFD).
    const std::string why = to_valid_utf8(std::string_view(reason.to_string()).substr(0, 4096));
    // A key already parked (or releasing) stays with its first reason; it becomes `parked`.
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO wharf_parked_keys (consumer_group, topic, message_key, state, "
                "parked_at_ms, reason, failed_message_id) "
                "VALUES (?, ?, ?, 'parked', ?, ?, ?) "
                "ON CONFLICT (consumer_group, topic, message_key) DO UPDATE SET state = 'parked'",
                group, m.topic, to_blob(m.key), clock.now_ms(), why, m.id));
    if (!store_message) return ok();
    WHARF_ASSIGN_OR_RETURN(
        auto rows, tx.query("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM wharf_parked_messages "
                            "WHERE consumer_group = ? AND topic = ? AND message_key = ?",
                            group, m.topic, to_blob(m.key)));
    WHARF_ASSIGN_OR_RETURN(const std::int64_t count, rows[0].get<std::int64_t>(0));
    WHARF_ASSIGN_OR_RETURN(const std::int64_t seq, rows[0].get<std::int64_t>(1));
    if (count >= options_.messages_per_key_max) {
      return fail(ErrorCode::kResourceExhausted,
                  "key parked with {} messages already (messages_per_key_max)", count);
    }
    WHARF_RETURN_IF_ERROR(
        tx.exec("INSERT INTO wharf_parked_messages (consumer_group, topic, message_key, seq, "
                "message_id, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                group, m.topic, to_blob(m.key), seq + 1, m.id, to_blob(encode(m))));
    return ok();
  });
}

Middleware KeyParking::middleware() {
  return [this](Handler next) -> Handler {
    return [this, next = std::move(next)](const Message& m, Context& ctx) -> Status {
      if (m.key.empty()) return next(m, ctx);
      const std::string& group = ctx.group();
      auto state_of = [&]() -> Result<std::string> {
        WHARF_ASSIGN_OR_RETURN(auto tx, db_.begin({.read_only = true}));
        WHARF_ASSIGN_OR_RETURN(
            auto rows, tx->query("SELECT state FROM wharf_parked_keys WHERE consumer_group = ? AND "
                                 "topic = ? AND message_key = ?",
                                 group, m.topic, to_blob(m.key)));
        WHARF_RETURN_IF_ERROR(tx->commit());
        if (rows.empty()) return std::string();
        return rows[0].get<std::string>(0);
      };
      WHARF_ASSIGN_OR_RETURN(const std::string state, state_of());
      const bool marker = m.type == kParkingReleasedType;
      if (state == "parked") {
        if (marker) return ok();
        WHARF_RETURN_IF_ERROR(park(group, m, make_error(ErrorCode::kInternal, "key parked"), true));
        counter("wharf_parked_messages_total", "Messages stored behind a parked key", group,
                m.topic)
            .inc();
        return ok();
      }
      if (state == "releasing") {
        // Hand the stored messages down in order, deleting each that succeeds.
        while (true) {
          WHARF_ASSIGN_OR_RETURN(auto tx, db_.begin({.read_only = true}));
          WHARF_ASSIGN_OR_RETURN(auto rows,
                                 tx->query("SELECT seq, record FROM wharf_parked_messages WHERE "
                                           "consumer_group = ? AND topic = ? AND message_key = ? "
                                           "ORDER BY seq LIMIT 1",
                                           group, m.topic, to_blob(m.key)));
          WHARF_RETURN_IF_ERROR(tx->commit());
          tx.reset();
          if (rows.empty()) {
            WHARF_RETURN_IF_ERROR(db_.transaction([&](sql::Transaction& t) -> Status {
              WHARF_RETURN_IF_ERROR(
                  t.exec("DELETE FROM wharf_parked_keys WHERE consumer_group = ? AND topic = ? AND "
                         "message_key = ? AND state = 'releasing'",
                         group, m.topic, to_blob(m.key)));
              return ok();
            }));
            log(LogLevel::kInfo, "group {}: key of {} on {} released", group, m.id, m.topic);
            break;
          }
          WHARF_ASSIGN_OR_RETURN(const std::int64_t seq, rows[0].get<std::int64_t>(0));
          WHARF_ASSIGN_OR_RETURN(const sql::Blob record, rows[0].get<sql::Blob>(1));
          WHARF_ASSIGN_OR_RETURN(const Message stored, decode(record));
          ctx.set_message(stored);
          Status s = next(stored, ctx);
          ctx.set_message(m);
          if (!s) {
            // Parked again with what is left; the current message joins the queue.
            log(LogLevel::kWarn,
                "group {}: a released message of {} failed again; key parked again: {}", group,
                m.topic, s.error().to_string());
            WHARF_RETURN_IF_ERROR(park(group, stored, s.error(), false));
            if (!marker) WHARF_RETURN_IF_ERROR(park(group, m, s.error(), true));
            return ok();
          }
          WHARF_RETURN_IF_ERROR(db_.transaction([&](sql::Transaction& t) -> Status {
            WHARF_RETURN_IF_ERROR(t.exec(
                "DELETE FROM wharf_parked_messages WHERE consumer_group = ? AND topic = ? AND "
                "message_key = ? AND seq = ?",
                group, m.topic, to_blob(m.key), seq));
            return ok();
          }));
        }
      }
      if (marker) return ok();
      Status s = next(m, ctx);
      if (!s && !ctx.deferred()) {
        if (Status parked = park(group, m, s.error(), false); !parked) {
          log(LogLevel::kError,
              "group {}: parking the key of {} failed; its later messages are not held back: {}",
              group, m.id, parked.error().to_string());
        } else {
          counter("wharf_keys_parked_total", "Keys parked after a failure", group, m.topic).inc();
        }
      }
      return s;
    };
  };
}

Result<std::vector<ParkedKey>> KeyParking::list(const std::string& group) {
  WHARF_ASSIGN_OR_RETURN(auto tx, db_.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(
      auto rows,
      tx->query(
          "SELECT k.consumer_group, k.topic, k.message_key, k.state, k.parked_at_ms, k.reason, "
          "k.failed_message_id, "
          "(SELECT COUNT(*) FROM wharf_parked_messages m WHERE m.consumer_group = k.consumer_group "
          "AND "
          "m.topic = k.topic AND m.message_key = k.message_key) "
          "FROM wharf_parked_keys k WHERE ? = '' OR k.consumer_group = ? ORDER BY k.parked_at_ms",
          group, group));
  WHARF_RETURN_IF_ERROR(tx->commit());
  std::vector<ParkedKey> out;
  for (const auto& row : rows) {
    ParkedKey k;
    WHARF_ASSIGN_OR_RETURN(k.group, row.get<std::string>(0));
    WHARF_ASSIGN_OR_RETURN(k.topic, row.get<std::string>(1));
    WHARF_ASSIGN_OR_RETURN(const sql::Blob key, row.get<sql::Blob>(2));
    k.key.assign(key.begin(), key.end());
    WHARF_ASSIGN_OR_RETURN(k.state, row.get<std::string>(3));
    WHARF_ASSIGN_OR_RETURN(k.parked_at_ms, row.get<std::int64_t>(4));
    WHARF_ASSIGN_OR_RETURN(k.reason, row.get<std::string>(5));
    WHARF_ASSIGN_OR_RETURN(k.failed_message_id, row.get<std::string>(6));
    WHARF_ASSIGN_OR_RETURN(k.messages, row.get<std::int64_t>(7));
    out.push_back(std::move(k));
  }
  return out;
}

Result<std::vector<Message>> KeyParking::messages(const std::string& group,
                                                  const std::string& topic,
                                                  const std::string& key) {
  WHARF_ASSIGN_OR_RETURN(auto tx, db_.begin({.read_only = true}));
  WHARF_ASSIGN_OR_RETURN(
      auto rows, tx->query("SELECT record FROM wharf_parked_messages WHERE consumer_group = ? AND "
                           "topic = ? AND message_key = ? ORDER BY seq",
                           group, topic, to_blob(key)));
  WHARF_RETURN_IF_ERROR(tx->commit());
  std::vector<Message> out;
  for (const auto& row : rows) {
    WHARF_ASSIGN_OR_RETURN(const sql::Blob record, row.get<sql::Blob>(0));
    WHARF_ASSIGN_OR_RETURN(Message m, decode(record));
    out.push_back(std::move(m));
  }
  return out;
}

Status KeyParking::release(const std::string& group, const std::string& topic,
                           const std::string& key, const Bus& bus) {
  std::int64_t changed = 0;
  WHARF_RETURN_IF_ERROR(db_.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(
        changed,
        tx.exec("UPDATE wharf_parked_keys SET state = 'releasing' WHERE consumer_group = ? "
                "AND topic = ? AND message_key = ?",
                group, topic, to_blob(key)));
    return ok();
  }));
  if (changed == 0)
    return fail(ErrorCode::kNotFound, "no parked key '{}' on {} for group {}", key, topic, group);
  Message marker;
  marker.type = std::string(kParkingReleasedType);
  marker.key = key;
  marker.payload = "{}";
  marker.set_header("wharf-parking-group", group);
  return bus.publish(topic, std::move(marker));
}

}  // namespace wharf
