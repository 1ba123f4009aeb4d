// One conformance suite for every transport (memory, embedded, kafka against a real
// `wharf serve`): what transport.h and router.h promise, checked the same way on each. A
// transport that cannot do a case says why and skips it (only the memory transport, which lives
// in one process, skips the cross-process crash).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/broker_process.h"
#include "wharf/router.h"
#include "wharf/transport.h"

#ifndef WHARF_TRANSPORT_CHILD_PATH
#error "WHARF_TRANSPORT_CHILD_PATH must name the child program"
#endif

namespace wharf {
namespace {

using namespace std::chrono_literals;

template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

Message keyed(const std::string& key, int seq) {
  Message m;
  m.type = "test.Seq";
  m.key = key;
  m.payload = std::to_string(seq);
  return m;
}

// Publishes `count` messages over `keys` keys in batches of 100; payload = sequence number.
void publish_seq(Bus& bus, const std::string& topic, int count, int keys, int first = 0) {
  std::vector<Message> batch;
  for (int i = first; i < first + count; ++i) {
    batch.push_back(keyed("key-" + std::to_string(i % keys), i));
    if (batch.size() == 100) {
      ASSERT_TRUE(bus->publish(topic, std::move(batch)));
      batch.clear();
    }
  }
  if (!batch.empty()) {
    ASSERT_TRUE(bus->publish(topic, std::move(batch)));
  }
}

// Handled messages of one or more routers: payload -> times, and per key the order seen.
struct Seen {
  std::mutex mu;
  std::map<int, int> times;
  std::map<std::string, std::vector<int>> by_key;
  Handler handler(std::chrono::microseconds work = 0us) {
    return [this, work](const Message& m, Context&) -> Status {
      if (work.count() > 0) std::this_thread::sleep_for(work);
      std::lock_guard lock(mu);
      ++times[std::stoi(m.payload)];
      by_key[m.key].push_back(std::stoi(m.payload));
      return ok();
    };
  }
  std::size_t distinct() {
    std::lock_guard lock(mu);
    return times.size();
  }
};

class RunningRouter {
 public:
  RunningRouter(Bus bus, RouterOptions options, const std::string& topic, Handler handler)
      : router_(std::move(bus), std::move(options)) {
    router_.on_message(topic, "*", std::move(handler));
    thread_ = std::thread([this] { status_ = router_.run(stop_.get_token()); });
  }
  ~RunningRouter() { stop(); }
  Status stop() {
    if (thread_.joinable()) {
      stop_.request_stop();
      thread_.join();
    }
    return status_;
  }
  Router& router() { return router_; }

 private:
  Router router_;
  std::stop_source stop_;
  std::thread thread_;
  Status status_ = ok();
};

class TransportConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string kind = GetParam();
    if (kind == "kafka") {
      broker_ = std::make_unique<test::BrokerProcess>(
          std::vector<std::string>{"--set", "group.initial.rebalance.delay.ms=0"});
      ASSERT_TRUE(broker_->start()) << broker_->last_output();
    } else if (kind == "embedded") {
      char tmpl[] = "/tmp/wharf-embedded-XXXXXX";
      ASSERT_NE(::mkdtemp(tmpl), nullptr);
      data_dir_ = tmpl;
    }
    bus_ = open();
  }
  void TearDown() override {
    if (bus_) (void)(*bus_)->close();
    bus_.reset();
    broker_.reset();
    if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_);
  }

  std::optional<Bus> open() {
    const std::string kind = GetParam();
    Result<Bus> bus = fail(ErrorCode::kInternal, "unknown transport");
    if (kind == "memory") {
      bus = Bus::open(MemoryOptions{});
    } else if (kind == "embedded") {
      EmbeddedOptions o;
      o.data_dir = data_dir_;
      o.broker_settings = {{"group.initial.rebalance.delay.ms", "0"}};
      bus = Bus::open(o);
    } else {
      KafkaOptions o;
      o.bootstrap = broker_->bootstrap();
      bus = Bus::open(o);
    }
    EXPECT_TRUE(bus) << bus.error().to_string();
    if (!bus) return std::nullopt;
    return *bus;
  }

  Bus& bus() { return *bus_; }

  std::unique_ptr<test::BrokerProcess> broker_;
  std::string data_dir_;
  std::optional<Bus> bus_;
};

TEST_P(TransportConformance, EnvelopeSurvivesTheTransport) {
  ASSERT_TRUE(bus()->ensure_topic("env", 3));
  Message m;
  m.type = "test.Envelope";
  m.version = 4;
  m.key = "order-9";
  m.aggregate_id = "order-9";
  m.correlation_id = "corr-1";
  m.causation_id = "cause-1";
  m.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  m.source = "conformance";
  m.payload = std::string("{\"bytes\":\"\\u00ff\"}");
  m.headers = {{"x-attempt", "3"}};
  ASSERT_TRUE(bus().publish("env", m));
  std::mutex mu;
  std::optional<Message> got;
  RunningRouter r(bus(), {.group = "env"}, "env", [&](const Message& in, Context&) -> Status {
    std::lock_guard lock(mu);
    got = in;
    return ok();
  });
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard lock(mu);
    return got.has_value();
  }));
  ASSERT_TRUE(r.stop());
  EXPECT_EQ(got->id.size(), 36u) << "publish fills a UUIDv7";
  EXPECT_EQ(got->type, m.type);
  EXPECT_EQ(got->version, 4);
  EXPECT_EQ(got->key, m.key);
  EXPECT_EQ(got->aggregate_id, m.aggregate_id);
  EXPECT_EQ(got->correlation_id, m.correlation_id);
  EXPECT_EQ(got->causation_id, m.causation_id);
  EXPECT_EQ(got->traceparent, m.traceparent);
  EXPECT_EQ(got->source, m.source);
  EXPECT_EQ(got->payload, m.payload);
  EXPECT_EQ(got->header("x-attempt"), "3");
  EXPECT_GT(got->timestamp_ms, 0);
  EXPECT_EQ(got->topic, "env");
  EXPECT_EQ(got->partition, partition_of_key("order-9", 3));
  EXPECT_EQ(got->offset, 0);
}

TEST_P(TransportConformance, FanOutEveryGroupGetsEveryMessageInKeyOrder) {
  ASSERT_TRUE(bus()->ensure_topic("fan", 4));
  publish_seq(bus(), "fan", 600, 20);
  Seen seen[3];
  std::vector<std::unique_ptr<RunningRouter>> routers;
  for (int g = 0; g < 3; ++g) {
    routers.push_back(std::make_unique<RunningRouter>(
        bus(),
        RouterOptions{.group = "fan-" + std::to_string(g), .concurrency = 2, .key_concurrency = 2},
        "fan", seen[g].handler()));
  }
  for (auto& s : seen) EXPECT_TRUE(wait_for([&] { return s.distinct() >= 600; })) << s.distinct();
  for (auto& r : routers) EXPECT_TRUE(r->stop());
  for (auto& s : seen) {
    EXPECT_EQ(s.times.size(), 600u);
    for (auto& [key, order] : s.by_key)
      EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << key;
  }
}

TEST_P(TransportConformance, ConsumersOfOneGroupShareThePartitions) {
  ASSERT_TRUE(bus()->ensure_topic("shared", 6));
  Seen seen;
  std::vector<std::unique_ptr<RunningRouter>> routers;
  for (int i = 0; i < 3; ++i) {
    routers.push_back(std::make_unique<RunningRouter>(
        bus(), RouterOptions{.group = "shared", .commit_interval = 50ms}, "shared",
        seen.handler(100us)));
  }
  // Publish while the group forms, then again once it has formed (each member owns some of the
  // six partitions and together all): everything arrives at least once, and with the group
  // stable every member gets a share of the second round.
  publish_seq(bus(), "shared", 1500, 60);
  EXPECT_TRUE(wait_for([&] { return seen.distinct() >= 1500; })) << seen.distinct();
  EXPECT_TRUE(wait_for([&] {
    std::size_t total = 0;
    for (auto& r : routers) {
      const std::size_t owned = r->router().stats().assigned_partitions;
      if (owned == 0) return false;
      total += owned;
    }
    return total == 6;
  })) << "the group did not settle with every member owning partitions";
  std::uint64_t before[3];
  for (int i = 0; i < 3; ++i) before[i] = routers[i]->router().stats().handled;
  publish_seq(bus(), "shared", 300, 60, 1500);
  EXPECT_TRUE(wait_for([&] { return seen.distinct() >= 1800; })) << seen.distinct();
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(routers[i]->router().stats().handled, before[i])
        << "member " << i << " got none of six partitions";
  }
  for (auto& r : routers) EXPECT_TRUE(r->stop());
  EXPECT_EQ(seen.times.size(), 1800u);
}

TEST_P(TransportConformance, CleanStopCommitsWhatWasHandledAndNothingMore) {
  ASSERT_TRUE(bus()->ensure_topic("stop", 1));
  publish_seq(bus(), "stop", 100, 1);
  std::atomic<int> handled{0};
  {
    // Handles 0..49; 50 fails every time, so nothing at or after it may be committed.
    RunningRouter r(bus(), {.group = "stop", .redelivery_delay = 5ms, .drain_timeout = 2s}, "stop",
                    [&](const Message& m, Context&) -> Status {
                      if (std::stoi(m.payload) >= 50) return fail(ErrorCode::kUnavailable, "down");
                      ++handled;
                      return ok();
                    });
    ASSERT_TRUE(wait_for([&] { return handled.load() >= 50 && r.router().stats().failed >= 2; }));
    ASSERT_TRUE(r.stop());
  }
  Seen next;
  RunningRouter r2(bus(), {.group = "stop"}, "stop", next.handler());
  ASSERT_TRUE(wait_for([&] { return next.distinct() >= 50; }));
  ASSERT_TRUE(r2.stop());
  EXPECT_EQ(next.times.begin()->first, 50)
      << "the next member starts exactly after what was handled";
  EXPECT_EQ(next.times.size(), 50u);
  for (auto& [seq, n] : next.times) EXPECT_EQ(n, 1) << seq;
}

TEST_P(TransportConformance, BackpressureHoldsTheInFlightBound) {
  ASSERT_TRUE(bus()->ensure_topic("bp", 4));
  publish_seq(bus(), "bp", 3000, 100);
  Seen seen;
  RunningRouter r(
      bus(),
      {.group = "bp", .concurrency = 2, .in_flight_max = 200, .partition_in_flight_max = 100}, "bp",
      seen.handler(100us));
  EXPECT_TRUE(wait_for([&] { return seen.distinct() >= 3000; })) << seen.distinct();
  ASSERT_TRUE(r.stop());
  const RouterStats stats = r.router().stats();
  EXPECT_LE(stats.in_flight_max_seen, 200u);
  EXPECT_GT(stats.in_flight_max_seen, 1u);
}

// The child program runs a router that appends "seq\n" to a file for each handled message; the
// test SIGKILLs it mid-stream, then finishes with a router of its own in the same group. Every
// message must be handled at least once across the two; what the child committed must not come
// again (the next member starts at or after the committed offsets, never before the last run).
TEST_P(TransportConformance, AtLeastOnceAcrossAConsumerKilledWithSigkill) {
  const std::string kind = GetParam();
  if (kind == "memory") {
    GTEST_SKIP() << "the memory transport lives inside one process: killing it loses it by design";
  }
  const char* seed_env = std::getenv("WHARF_TEST_SEED");
  const unsigned seed = seed_env ? static_cast<unsigned>(std::strtoul(seed_env, nullptr, 10))
                                 : std::random_device{}();
  std::printf("WHARF_TEST_SEED=%u\n", seed);
  std::mt19937 rng(seed);
  const int total = 3000;
  ASSERT_TRUE(bus()->ensure_topic("crash", 4));
  publish_seq(bus(), "crash", total, 50);
  std::string target = kind == "kafka" ? broker_->bootstrap() : data_dir_;
  if (kind == "embedded") {
    // The child hosts the log itself: this process lets go of the data directory first.
    ASSERT_TRUE((*bus_)->close());
    bus_.reset();
  }
  char out_tmpl[] = "/tmp/wharf-crash-out-XXXXXX";
  const int out_fd = ::mkstemp(out_tmpl);
  ASSERT_GE(out_fd, 0);
  ::close(out_fd);
  const int kill_after = 300 + static_cast<int>(rng() % 1500);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl(WHARF_TRANSPORT_CHILD_PATH, WHARF_TRANSPORT_CHILD_PATH, kind.c_str(), target.c_str(),
            "crash-group", "crash", out_tmpl, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string commits_path = std::string(out_tmpl) + ".commits";
  auto lines = [&] {
    std::ifstream in(out_tmpl);
    std::vector<int> v;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() != '\n') v.push_back(std::atoi(line.c_str()));
    }
    return v;
  };
  // The highest next offset per partition the transport acknowledged to the child.
  auto acknowledged = [&] {
    std::ifstream in(commits_path);
    std::map<std::int32_t, std::int64_t> out;
    std::string word;
    while (in >> word) {
      const auto eq = word.find('=');
      if (eq == std::string::npos) continue;
      const auto p = static_cast<std::int32_t>(std::stol(word.substr(0, eq)));
      out[p] = std::max(out[p], static_cast<std::int64_t>(std::stoll(word.substr(eq + 1))));
    }
    return out;
  };
  auto progress_committed = [&] {
    for (const auto& [p, next] : acknowledged()) {
      if (next > 0) return true;
    }
    return false;
  };
  // Killed once it has handled kill_after messages and had a commit past the start
  // acknowledged, so the test does not depend on how fast the child reaches its first commit.
  const bool reached = wait_for(
      [&] { return static_cast<int>(lines().size()) >= kill_after && progress_committed(); }, 90s);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const std::map<std::int32_t, std::int64_t> acked = acknowledged();
  ASSERT_TRUE(reached) << "the child handled " << lines().size() << " messages and had "
                       << acked.size() << " partitions' commits acknowledged";
  const std::vector<int> child = lines();
  std::filesystem::remove(out_tmpl);
  std::filesystem::remove(commits_path);
  std::printf("child handled %zu messages before SIGKILL (target %d)\n", child.size(), kill_after);

  if (kind == "embedded") bus_ = open();  // recovery of the killed process's log
  ASSERT_TRUE(bus_);
  // Every commit acknowledged before the kill survived it.
  auto committed = bus()->committed_offsets("crash-group", "crash");
  ASSERT_TRUE(committed) << committed.error().to_string();
  for (const auto& [p, next] : acked) {
    auto it = committed->find(TopicPartition{"crash", p});
    ASSERT_NE(it, committed->end()) << "partition " << p << ": acknowledged commit lost";
    EXPECT_GE(it->second, next) << "partition " << p << ": acknowledged commit lost";
  }
  Seen rest;
  RunningRouter r(bus(), {.group = "crash-group"}, "crash", rest.handler());
  std::set<int> all(child.begin(), child.end());
  EXPECT_TRUE(wait_for(
      [&] {
        std::lock_guard lock(rest.mu);
        std::set<int> u = all;
        for (auto& [seq, n] : rest.times) u.insert(seq);
        return static_cast<int>(u.size()) >= total;
      },
      90s));
  ASSERT_TRUE(r.stop());
  for (auto& [seq, n] : rest.times) all.insert(seq);
  EXPECT_EQ(static_cast<int>(all.size()), total) << "messages lost across the crash";
  // Redelivery is bounded by what the child had not committed: never the whole stream again.
  std::int64_t skipped = 0;
  for (const auto& [p, next] : acked) skipped += next;
  EXPECT_LE(static_cast<int>(rest.times.size()), total - skipped)
      << "messages below the committed offsets came again";
}

INSTANTIATE_TEST_SUITE_P(Transports, TransportConformance,
                         ::testing::Values("memory", "embedded", "kafka"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wharf
