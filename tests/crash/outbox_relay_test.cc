// The outbox relay as a real process (`wharf outbox-relay`) against a real `wharf serve`, on
// SQLite and on a real PostgreSQL: killed with SIGKILL at seeded random moments while writers
// commit (and roll back), the broker stopped for 10 s, and failover between two relays. The
// topic is then read back with a consumer group; every committed event must be there at least
// once, per key in commit order (first occurrences), duplicates with the same id and payload,
// and nothing from a rolled-back transaction. WHARF_TEST_SEED fixes the random schedule;
// WHARF_OUTBOX_KILL_CYCLES the number of kills (default 12). No timing assertions: waits are
// bounded only so that a hang fails instead of blocking.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/broker_process.h"
#include "tests/support/postgres_environment.h"
#include "wharf/outbox.h"
#include "wharf/sql/postgres.h"
#include "wharf/sql/sqlite.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

struct Payment {
  std::string key;
  std::int64_t value = 0;
};
WHARF_EVENT(Payment, "test.Payment", 1, key, value);

auto* const g_postgres = test::register_postgres_environment();

std::uint64_t test_seed() {
  const char* env = std::getenv("WHARF_TEST_SEED");
  static const std::uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  return seed;
}

// One `wharf outbox-relay` child; output goes to LOG (appended).
class RelayProcess {
 public:
  RelayProcess(std::vector<std::string> args, std::string log)
      : args_(std::move(args)), log_(std::move(log)) {}
  ~RelayProcess() {
    if (pid_ > 0) kill9();
  }
  void start() {
    std::vector<std::string> full{test::wharf_binary(), "outbox-relay", "--status", "off"};
    full.insert(full.end(), args_.begin(), args_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      std::vector<char*> argv;
      for (auto& a : full) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  void kill9() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int stop() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  pid_t pid() const { return pid_; }

 private:
  std::vector<std::string> args_;
  std::string log_;
  pid_t pid_ = -1;
};

struct Written {
  std::string key;
  std::int64_t value;
  std::string id;
};

class OutboxRelayProcessTest : public ::testing::TestWithParam<sql::Dialect> {
 protected:
  void SetUp() override {
    std::printf("WHARF_TEST_SEED=%llu\n", static_cast<unsigned long long>(test_seed()));
    std::string pattern =
        (std::filesystem::temp_directory_path() / "wharf-outbox-crash-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    if (GetParam() == sql::Dialect::kSqlite) {
      store_args_ = {"--sqlite", dir_ + "/outbox.db"};
      auto db = sql::open_sqlite(dir_ + "/outbox.db");
      ASSERT_TRUE(db) << db.error().to_string();
      db_ = std::move(*db);
    } else {
      ASSERT_NE(g_postgres->server(), nullptr) << g_postgres->error();
      auto url = g_postgres->server()->create_database();
      ASSERT_TRUE(url) << url.error().to_string();
      store_args_ = {"--postgres", *url};
      auto db = sql::open_postgres(*url, {.connections_max = 8});
      ASSERT_TRUE(db) << db.error().to_string();
      db_ = std::move(*db);
    }
    auto m = migrate_outbox(*db_);
    ASSERT_TRUE(m) << m.error().to_string();
    broker_ = std::make_unique<test::BrokerProcess>();
    ASSERT_TRUE(broker_->start()) << broker_->last_output();
    auto bus = Bus::open(KafkaOptions{.bootstrap = broker_->bootstrap()});
    ASSERT_TRUE(bus) << bus.error().to_string();
    bus_ = std::make_unique<Bus>(*bus);
    auto t = (*bus_)->ensure_topic("payments", 4);
    ASSERT_TRUE(t) << t.error().to_string();
  }
  void TearDown() override {
    if (bus_) (void)(*bus_)->close();
    bus_.reset();
    broker_.reset();
    db_.reset();
    if (!HasFailure())
      std::filesystem::remove_all(dir_);
    else
      std::printf("kept %s for inspection (relay.log)\n", dir_.c_str());
  }

  // `lease_ms`: 1 s makes a killed leader's successor quick; a test that asserts the standby
  // does NOT lead while the leader lives needs a lease that a loaded machine (CI, other builds)
  // cannot starve the renewals of.
  std::vector<std::string> relay_args(std::vector<std::string> extra = {},
                                      const char* lease_ms = "1000") {
    std::vector<std::string> a = store_args_;
    a.insert(a.end(), {"--bootstrap", broker_->bootstrap(), "--lease-ms", lease_ms, "--poll-ms",
                       "20", "--batch", "200"});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // One writer transaction: 1..3 events on random keys; rolled back one time in five. Commit and
  // record happen under mu_ so that `committed_` is in commit order.
  void write_one(std::mt19937_64& rng) {
    const int events = 1 + static_cast<int>(rng() % 3);
    const bool roll_back = rng() % 5 == 0;
    std::vector<Written> batch;
    auto tx = db_->begin();
    if (!tx) return;  // busy: skip
    for (int i = 0; i < events; ++i) {
      Written w{"key-" + std::to_string(rng() % 8), next_value_++, ""};
      Message m = make_message(Payment{w.key, w.value}, w.key);
      auto id = outbox(**tx).publish_message("payments", std::move(m));
      if (!id) return;  // a conflict (deadlock between keys on PostgreSQL): rolled back
      w.id = *id;
      batch.push_back(std::move(w));
    }
    if (roll_back) {
      (void)(*tx)->rollback();
      std::lock_guard lock(mu_);
      for (auto& w : batch) rolled_back_.insert(w.value);
      return;
    }
    std::lock_guard lock(mu_);
    if ((*tx)->commit()) {
      for (auto& w : batch) committed_.push_back(std::move(w));
    } else {
      for (auto& w : batch) rolled_back_.insert(w.value);
    }
  }

  // One transaction of `n` events on random keys, always committed.
  void write_burst(std::mt19937_64& rng, int n) {
    std::vector<Written> batch;
    auto tx = db_->begin();
    ASSERT_TRUE(tx) << tx.error().to_string();
    for (int i = 0; i < n; ++i) {
      Written w{"key-" + std::to_string(rng() % 8), next_value_++, ""};
      auto id =
          outbox(**tx).publish_message("payments", make_message(Payment{w.key, w.value}, w.key));
      if (!id) return;  // a deadlock with a writer (PostgreSQL): rolled back, nothing recorded
      w.id = *id;
      batch.push_back(std::move(w));
    }
    std::lock_guard lock(mu_);
    if ((*tx)->commit()) {
      for (auto& w : batch) committed_.push_back(std::move(w));
    } else {
      for (auto& w : batch) rolled_back_.insert(w.value);
    }
  }

  // The owner of the relay lease ("host:pid:random"), "" when none or on error.
  std::string lease_owner() {
    auto tx = db_->begin({.read_only = true});
    if (!tx) return "";
    auto rows = (*tx)->query("SELECT owner FROM wharf_outbox_lease WHERE name = 'default'");
    if (!rows || rows->empty()) return "";
    return (*rows)[0].get<std::string>(0).value_or("");
  }
  // Waits (bounded) until the relay process `pid` holds the lease.
  bool wait_owner(pid_t pid) {
    const std::string needle = ":" + std::to_string(pid) + ":";
    for (int i = 0; i < 600; ++i) {
      if (lease_owner().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::int64_t pending_rows() {
    auto tx = db_->begin({.read_only = true});
    if (!tx) return -1;
    auto rows = (*tx)->query("SELECT count(*) FROM wharf_outbox");
    if (!rows) return -1;
    return rows->scalar<std::int64_t>().value_or(-1);
  }

  // Waits (bounded) until the outbox is empty.
  bool wait_drained(std::chrono::seconds bound = 120s) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pending_rows() == 0) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Reads the topic from the beginning and checks it against what was committed.
  void verify() {
    auto sub = (*bus_)->subscribe(
        {.group = "verify-" + std::to_string(::getpid()), .topics = {"payments"}});
    ASSERT_TRUE(sub) << sub.error().to_string();
    std::set<std::int64_t> expected;
    for (const auto& w : committed_) expected.insert(w.value);
    std::set<std::int64_t> seen_values;
    std::map<std::string, std::vector<std::int64_t>> first_order;  // key -> first occurrences
    std::map<std::int64_t, std::string> id_of;
    std::size_t duplicates = 0;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (
        !std::includes(seen_values.begin(), seen_values.end(), expected.begin(), expected.end()) &&
        std::chrono::steady_clock::now() < deadline) {
      auto batch = (*sub)->poll(1000, 500ms);
      ASSERT_TRUE(batch) << batch.error().to_string();
      for (const Message& m : *batch) {
        auto e = decode_event<Payment>(m);
        ASSERT_TRUE(e) << e.error().to_string();
        EXPECT_EQ(rolled_back_.count(e->value), 0u)
            << "rolled-back event " << e->value << " published";
        auto [it, fresh] = id_of.try_emplace(e->value, m.id);
        if (!fresh) {
          ++duplicates;
          EXPECT_EQ(it->second, m.id) << "a duplicate of " << e->value << " with another id";
          continue;
        }
        seen_values.insert(e->value);
        first_order[m.key].push_back(e->value);
      }
    }
    (*sub)->close();
    std::map<std::string, std::vector<std::int64_t>> want;
    for (const auto& w : committed_) {
      want[w.key].push_back(w.value);
      EXPECT_EQ(id_of[w.value], w.id)
          << "event " << w.value << " lost or published with another id";
    }
    EXPECT_EQ(first_order, want) << "per-key order differs (seed " << test_seed() << ")";
    std::printf("%zu committed event(s), %zu rolled back, %zu duplicate(s) delivered\n",
                committed_.size(), rolled_back_.size(), duplicates);
  }

  std::string dir_;
  std::vector<std::string> store_args_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<test::BrokerProcess> broker_;
  std::unique_ptr<Bus> bus_;
  std::mutex mu_;
  std::atomic<std::int64_t> next_value_{1};
  std::vector<Written> committed_;
  std::set<std::int64_t> rolled_back_;
};

TEST_P(OutboxRelayProcessTest, SigkilledRelayLosesNothingAndKeepsPerKeyOrder) {
  const char* env = std::getenv("WHARF_OUTBOX_KILL_CYCLES");
  const int cycles = env ? std::atoi(env) : 12;
  std::mt19937_64 rng(test_seed());
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 wrng(test_seed() * 31 + t);
      while (writing) {
        write_one(wrng);
        std::this_thread::sleep_for(std::chrono::microseconds(wrng() % 2000));
      }
    });
  }
  RelayProcess relay(relay_args(), dir_ + "/relay.log");
  for (int i = 0; i < cycles; ++i) {
    relay.start();
    // A killed leader's lease must expire first (1 s here); kill the new one only once it leads.
    ASSERT_TRUE(wait_owner(relay.pid())) << "lease: " << lease_owner();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 700));
    // Every other cycle, a burst of 1,000 events just before the kill, so that the relay is
    // more likely to die between a batch's acknowledgement and its delete (a re-send).
    if (i % 2 == 1) {
      write_burst(rng, 1000);
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
    }
    relay.kill9();
    std::printf("cycle %d: relay killed, %lld row(s) pending\n", i,
                static_cast<long long>(pending_rows()));
  }
  writing = false;
  for (auto& w : writers) w.join();
  relay.start();
  ASSERT_TRUE(wait_drained()) << pending_rows() << " row(s) still pending";
  EXPECT_EQ(relay.stop(), 0);
  ASSERT_FALSE(committed_.empty());
  verify();
}

TEST_P(OutboxRelayProcessTest, BrokerStoppedTenSecondsRelayBacksOffAndCatchesUp) {
  RelayProcess relay(relay_args(), dir_ + "/relay.log");
  relay.start();
  std::mt19937_64 rng(test_seed());
  for (int i = 0; i < 50; ++i) write_one(rng);
  ASSERT_TRUE(wait_drained());
  EXPECT_EQ(broker_->stop(), 0);
  for (int i = 0; i < 100; ++i) {
    write_one(rng);
    std::this_thread::sleep_for(50ms);  // writers keep committing while the broker is down
  }
  std::this_thread::sleep_for(5s);  // 10 s in all
  EXPECT_GT(pending_rows(), 0);
  ASSERT_TRUE(broker_->start()) << broker_->last_output();
  ASSERT_TRUE(wait_drained()) << pending_rows() << " row(s) still pending";
  EXPECT_EQ(relay.stop(), 0);
  verify();
}

TEST_P(OutboxRelayProcessTest, StandbyRelayTakesOverWhenTheLeaderIsKilled) {
  RelayProcess a(relay_args({}, "6000"), dir_ + "/relay-a.log");
  RelayProcess b(relay_args({}, "6000"), dir_ + "/relay-b.log");
  a.start();
  ASSERT_TRUE(wait_owner(a.pid())) << "lease: " << lease_owner();
  b.start();
  std::mt19937_64 rng(test_seed());
  for (int i = 0; i < 100; ++i) write_one(rng);
  ASSERT_TRUE(wait_drained());
  const std::string b_pid = ":" + std::to_string(b.pid()) + ":";
  EXPECT_EQ(lease_owner().find(b_pid), std::string::npos)
      << "the standby must not lead while A lives";
  a.kill9();
  for (int i = 0; i < 100; ++i) write_one(rng);
  ASSERT_TRUE(wait_owner(b.pid())) << "lease: " << lease_owner();
  ASSERT_TRUE(wait_drained());
  // And back: B stops cleanly (releasing the lease), a new A takes over at once.
  EXPECT_EQ(b.stop(), 0);
  a.start();
  ASSERT_TRUE(wait_owner(a.pid())) << "lease: " << lease_owner();
  for (int i = 0; i < 50; ++i) write_one(rng);
  ASSERT_TRUE(wait_drained());
  EXPECT_EQ(a.stop(), 0);
  verify();
}

INSTANTIATE_TEST_SUITE_P(Stores, OutboxRelayProcessTest,
                         ::testing::Values(sql::Dialect::kSqlite, sql::Dialect::kPostgres),
                         [](const auto& info) {
                           return std::string(info.param == sql::Dialect::kSqlite ? "Sqlite"
                                                                                  : "Postgres");
                         });

}  // namespace
}  // namespace wharf
