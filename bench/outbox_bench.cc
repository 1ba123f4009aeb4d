// The transactional outbox's benchmark (docs/benchmarks.md, "Outbox"): write-path cost, relay
// throughput and commit→acknowledged latency, on SQLite and PostgreSQL.
//
//   wharf_outbox_bench --store sqlite|postgres [--postgres URL] [--dir DIR]
//                      [--transport memory|kafka] [--bootstrap HOST:PORT]
//                      [--write-tx N] [--rows-per-tx N] [--writers N]
//                      [--relay-events N] [--batch N] [--latency-seconds S] [--rate N]
//
// Without --postgres URL, --store postgres starts a throwaway server (tests/support; fsync=off,
// so its commits cost no disk flush: say so beside its numbers). SQLite runs with the store's own
// settings (WAL, synchronous=FULL) in --dir.
//
// write:   the same rows (the outbox's 15 columns, a 100-byte payload) inserted by --writers
//          threads in transactions of --rows-per-tx rows, once into a plain table with the same
//          columns (raw) and once through Outbox::publish (outbox), alternating in 3 rounds.
// relay:   --relay-events events enqueued first, then one relay drains them into the transport;
//          events/s from the relay's start to the table being empty.
// latency: one writer commits --rows-per-tx events per transaction, --rate events per second,
//          for --latency-seconds while a background relay publishes; each event's latency runs from
//          just after its commit returned to just after the transport acknowledged it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "tests/support/postgres_server.h"
#include "wharf/outbox.h"
#include "wharf/sql/postgres.h"
#include "wharf/sql/sqlite.h"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Args {
  std::string store = "sqlite";
  std::string postgres_url;
  std::string dir = "/tmp/wharf-outbox-bench";
  std::string transport = "memory";
  std::string bootstrap = "127.0.0.1:9092";
  int write_tx = 2000;
  int rows_per_tx = 1;
  int writers = 1;
  int relay_events = 200000;
  int batch = 1000;
  int latency_seconds = 10;
  int rate = 1000;
};

// Records when each message was acknowledged by the wrapped transport.
class TimingTransport final : public wharf::Transport {
 public:
  explicit TimingTransport(std::shared_ptr<wharf::Transport> inner) : inner_(std::move(inner)) {}
  wharf::Status publish(const std::string& topic, std::vector<wharf::Message> messages) override {
    std::vector<std::string> ids;
    ids.reserve(messages.size());
    for (const auto& m : messages) ids.push_back(m.id);
    WHARF_RETURN_IF_ERROR(inner_->publish(topic, std::move(messages)));
    const auto now = SteadyClock::now();
    std::lock_guard lock(mu_);
    for (auto& id : ids) acked_[std::move(id)] = now;
    return wharf::ok();
  }
  wharf::Result<std::unique_ptr<wharf::Subscription>> subscribe(
      wharf::SubscribeOptions o) override {
    return inner_->subscribe(std::move(o));
  }
  wharf::Status ensure_topic(const std::string& t, std::int32_t p) override {
    return inner_->ensure_topic(t, p);
  }
  wharf::Result<std::int32_t> partition_count(const std::string& t) override {
    return inner_->partition_count(t);
  }
  wharf::Result<std::map<wharf::TopicPartition, std::int64_t>> end_offsets(
      const std::string& t) override {
    return inner_->end_offsets(t);
  }
  wharf::Status close() override { return inner_->close(); }
  std::string_view name() const override { return inner_->name(); }
  std::string kafka_address() const override { return inner_->kafka_address(); }
  std::map<std::string, SteadyClock::time_point> acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }

 private:
  std::shared_ptr<wharf::Transport> inner_;
  std::mutex mu_;
  std::map<std::string, SteadyClock::time_point> acked_;
};

[[noreturn]] void die(const wharf::Error& e, const char* what) {
  std::fprintf(stderr, "wharf_outbox_bench: %s: %s\n", what, e.to_string().c_str());
  std::exit(1);
}
template <typename T>
T check(wharf::Result<T> r, const char* what) {
  if (!r) die(r.error(), what);
  return std::move(*r);
}
void check(wharf::Status s, const char* what) {
  if (!s) die(s.error(), what);
}

wharf::Message sample_message(int i) {
  wharf::Message m;
  m.type = "bench.Event";
  m.key = "key-" + std::to_string(i % 64);
  m.payload = std::string(100, 'x');
  return m;
}

constexpr const char* kRawInsert =
    "INSERT INTO raw_events(message_id, topic, message_key, type, version, aggregate_id, "
    "correlation_id, causation_id, traceparent, content_type, source, timestamp_ms, headers, "
    "payload, created_at_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

double run_writers(wharf::sql::Database& db, const Args& a, bool outbox) {
  std::atomic<int> next{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < a.writers; ++w) {
    threads.emplace_back([&] {
      for (int t; (t = next.fetch_add(1)) < a.write_tx;) {
        check(db.transaction([&](wharf::sql::Transaction& tx) -> wharf::Status {
          for (int r = 0; r < a.rows_per_tx; ++r) {
            wharf::Message m = sample_message(t * a.rows_per_tx + r);
            if (outbox) {
              WHARF_RETURN_IF_ERROR(wharf::outbox(tx).publish_message("bench", std::move(m)));
            } else {
              const std::int64_t now = wharf::SystemClock::instance().now_ms();
              const wharf::sql::Blob payload(m.payload.begin(), m.payload.end());
              const std::string id = wharf::new_message_id();
              WHARF_RETURN_IF_ERROR(tx.exec(kRawInsert, id, "bench", m.key, m.type, m.version, "",
                                            id, "", "", m.content_type, m.source, now, "", payload,
                                            now));
            }
          }
          return wharf::ok();
        }),
              "write");
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return a.write_tx * a.rows_per_tx / secs;
}

void clear_tables(wharf::sql::Database& db) {
  check(db.transaction([](wharf::sql::Transaction& tx) -> wharf::Status {
    WHARF_RETURN_IF_ERROR(tx.exec("DELETE FROM raw_events"));
    WHARF_RETURN_IF_ERROR(tx.exec("DELETE FROM wharf_outbox"));
    return wharf::ok();
  }),
        "clear");
}

std::int64_t pending(wharf::sql::Database& db) {
  auto tx = check(db.begin({.read_only = true}), "begin");
  auto rows = check(tx->query("SELECT count(*) FROM wharf_outbox"), "count");
  return check(rows.scalar<std::int64_t>(), "count");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"wharf_outbox_bench: outbox write path, relay throughput, commit->ack latency"};
  app.add_option("--store", a.store)->check(CLI::IsMember({"sqlite", "postgres"}));
  app.add_option("--postgres", a.postgres_url);
  app.add_option("--dir", a.dir);
  app.add_option("--transport", a.transport)->check(CLI::IsMember({"memory", "kafka"}));
  app.add_option("--bootstrap", a.bootstrap);
  app.add_option("--write-tx", a.write_tx);
  app.add_option("--rows-per-tx", a.rows_per_tx);
  app.add_option("--writers", a.writers);
  app.add_option("--relay-events", a.relay_events);
  app.add_option("--batch", a.batch);
  app.add_option("--latency-seconds", a.latency_seconds);
  app.add_option("--rate", a.rate);
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<wharf::test::PostgresServer> server;
  std::unique_ptr<wharf::sql::Database> db;
  std::string pg_url = a.postgres_url;
  if (a.store == "sqlite") {
    std::filesystem::remove_all(a.dir);
    std::filesystem::create_directories(a.dir);
    db = check(wharf::sql::open_sqlite(a.dir + "/bench.db", {.connections_max = 8}), "open sqlite");
  } else {
    if (pg_url.empty()) {
      server = check(wharf::test::PostgresServer::start(), "start postgres");
      pg_url = check(server->create_database(), "create database");
    }
    db = check(wharf::sql::open_postgres(pg_url, {.connections_max = 16}), "open postgres");
  }
  check(wharf::migrate_outbox(*db), "migrate");
  const bool pg = a.store == "postgres";
  check(db->transaction([&](wharf::sql::Transaction& tx) -> wharf::Status {
    return tx.exec_script(
        pg ? "CREATE TABLE IF NOT EXISTS raw_events (id BIGINT GENERATED BY DEFAULT AS IDENTITY "
             "PRIMARY KEY, message_id TEXT NOT NULL, topic TEXT NOT NULL, message_key TEXT NOT "
             "NULL, "
             "type TEXT NOT NULL, version INTEGER NOT NULL, aggregate_id TEXT NOT NULL, "
             "correlation_id TEXT NOT NULL, causation_id TEXT NOT NULL, traceparent TEXT NOT NULL, "
             "content_type TEXT NOT NULL, source TEXT NOT NULL, timestamp_ms BIGINT NOT NULL, "
             "headers TEXT NOT NULL, payload BYTEA NOT NULL, created_at_ms BIGINT NOT NULL)"
           : "CREATE TABLE IF NOT EXISTS raw_events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
             "message_id TEXT NOT NULL, topic TEXT NOT NULL, message_key TEXT NOT NULL, type TEXT "
             "NOT NULL, version INTEGER NOT NULL, aggregate_id TEXT NOT NULL, correlation_id TEXT "
             "NOT NULL, causation_id TEXT NOT NULL, traceparent TEXT NOT NULL, content_type TEXT "
             "NOT "
             "NULL, source TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, headers TEXT NOT NULL, "
             "payload BLOB NOT NULL, created_at_ms INTEGER NOT NULL)");
  }),
        "create raw_events");

  std::shared_ptr<wharf::Transport> inner =
      a.transport == "memory"
          ? check(wharf::Bus::open(wharf::MemoryOptions{}), "bus").shared()
          : check(wharf::Bus::open(wharf::KafkaOptions{.bootstrap = a.bootstrap}), "bus").shared();
  check(inner->ensure_topic("bench", 12), "ensure_topic");
  // Warm-up: the first publish connects to the partition leaders and, on Kafka, initialises the
  // idempotent producer (hundreds of ms); no case should time that.
  {
    std::vector<wharf::Message> warm;
    for (int i = 0; i < 64; ++i) warm.push_back(sample_message(i));
    check(inner->publish("bench", std::move(warm)), "warm-up publish");
  }
  auto timing = std::make_shared<TimingTransport>(inner);
  wharf::Bus bus(timing);

  std::printf("store=%s transport=%s writers=%d rows_per_tx=%d\n", a.store.c_str(),
              a.transport.c_str(), a.writers, a.rows_per_tx);
  // --- write path ---
  if (a.write_tx > 0) {
    std::vector<double> raw, out;
    for (int round = 0; round < 3; ++round) {
      clear_tables(*db);
      raw.push_back(run_writers(*db, a, false));
      clear_tables(*db);
      out.push_back(run_writers(*db, a, true));
    }
    std::sort(raw.begin(), raw.end());
    std::sort(out.begin(), out.end());
    std::printf("write: raw %.0f rows/s (%.0f-%.0f), outbox %.0f rows/s (%.0f-%.0f), ratio %.2fx\n",
                raw[1], raw[0], raw[2], out[1], out[0], out[2], out[1] / raw[1]);
    clear_tables(*db);
  }
  // --- relay throughput ---
  if (a.relay_events > 0) {
    for (int done = 0; done < a.relay_events;) {
      const int n = std::min(10000, a.relay_events - done);
      check(db->transaction([&](wharf::sql::Transaction& tx) -> wharf::Status {
        for (int i = 0; i < n; ++i) {
          WHARF_RETURN_IF_ERROR(
              wharf::outbox(tx).publish_message("bench", sample_message(done + i)));
        }
        return wharf::ok();
      }),
            "fill");
      done += n;
    }
    wharf::OutboxRelayOptions o;
    o.background = false;
    o.batch_max = static_cast<std::size_t>(a.batch);
    wharf::OutboxRelay relay(*db, bus, o);
    const auto start = SteadyClock::now();
    std::size_t total = 0;
    for (;;) {
      const std::size_t n = check(relay.run_once(), "relay pass");
      if (n == 0) break;
      total += n;
    }
    const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
    std::printf("relay: %zu events in %.2f s = %.0f events/s (batch %d), %lld left\n", total, secs,
                total / secs, a.batch, static_cast<long long>(pending(*db)));
  }
  // --- commit -> ack latency at a fixed rate ---
  if (a.latency_seconds > 0) {
    wharf::OutboxRelayOptions o;
    o.batch_max = static_cast<std::size_t>(a.batch);
    if (pg) o.wakeup = wharf::postgres_outbox_listener(pg_url);
    std::map<std::string, SteadyClock::time_point> committed;
    {
      wharf::OutboxRelay relay(*db, bus, o);
      std::this_thread::sleep_for(500ms);
      const auto start = SteadyClock::now();
      // --rows-per-tx events per transaction, transactions spaced so that events arrive at --rate.
      const std::int64_t per_tx = std::max(1, a.rows_per_tx);
      const auto interval = std::chrono::nanoseconds(1'000'000'000LL * per_tx / a.rate);
      const std::int64_t total_tx = static_cast<std::int64_t>(a.rate) * a.latency_seconds / per_tx;
      for (std::int64_t i = 0; i < total_tx; ++i) {
        std::this_thread::sleep_until(start + i * interval);
        std::vector<std::string> ids;
        check(db->transaction([&](wharf::sql::Transaction& tx) -> wharf::Status {
          ids.clear();
          for (std::int64_t e = 0; e < per_tx; ++e) {
            WHARF_ASSIGN_OR_RETURN(std::string id,
                                   wharf::outbox(tx).publish_message(
                                       "bench", sample_message(static_cast<int>(i * per_tx + e))));
            ids.push_back(std::move(id));
          }
          return wharf::ok();
        }),
              "latency write");
        const auto now = SteadyClock::now();
        for (auto& id : ids) committed[std::move(id)] = now;
      }
      for (int i = 0; i < 600 && timing->acked().size() < committed.size() + a.relay_events; ++i) {
        std::this_thread::sleep_for(50ms);
      }
    }
    auto acked = timing->acked();
    std::vector<double> ms;
    for (const auto& [id, at] : committed) {
      auto it = acked.find(id);
      if (it == acked.end()) continue;
      ms.push_back(
          std::max(0.0, std::chrono::duration<double, std::milli>(it->second - at).count()));
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {
      return ms.empty() ? 0.0
                        : ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))];
    };
    std::printf(
        "latency: %zu of %zu events at %d/s: commit->ack p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        ms.size(), committed.size(), a.rate, pct(0.50), pct(0.99), ms.empty() ? 0.0 : ms.back());
  }
  (void)timing->close();
  return 0;
}
