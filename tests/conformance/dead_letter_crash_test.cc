// SIGKILL between a dead letter's publish and the source commit loses nothing. A consumer
// process (transport_child ... dlq) handles a topic in which some messages are poison; it is
// killed at seeded random moments, again and again, then one last consumer finishes. Every good
// message must have been handled and every poison message must be in the dead-letter topic, at
// least once each (a kill after the dead letter but before the commit may repeat it, with the
// same id). The handler is slowed (300 µs a message) so that kills land mid-stream.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/broker_process.h"
#include "wharf/transport.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

std::set<std::string> read_lines(const std::string& path) {
  std::set<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.insert(line);
  }
  return out;
}

TEST(DeadLetterCrash, KilledConsumersLoseNeitherGoodMessagesNorDeadLetters) {
  const char* seed_env = std::getenv("WHARF_TEST_SEED");
  const unsigned seed = seed_env ? static_cast<unsigned>(std::strtoul(seed_env, nullptr, 10))
                                 : std::random_device{}();
  std::printf("WHARF_TEST_SEED=%u\n", seed);
  std::mt19937 rng(seed);
  test::BrokerProcess broker({"--set", "group.initial.rebalance.delay.ms=0"});
  ASSERT_TRUE(broker.start()) << broker.last_output();
  KafkaOptions ko;
  ko.bootstrap = broker.bootstrap();
  auto bus = Bus::open(ko);
  ASSERT_TRUE(bus) << bus.error().to_string();
  ASSERT_TRUE((*bus)->ensure_topic("work", 3));
  constexpr int kTotal = 3000;
  std::set<std::string> good, poison;
  std::vector<Message> batch;
  for (int i = 0; i < kTotal; ++i) {
    Message m;
    m.type = "t";
    m.key = "k" + std::to_string(i % 30);
    m.payload = (i % 10 == 3 ? "poison-" : "good-") + std::to_string(i);
    (i % 10 == 3 ? poison : good).insert(m.payload);
    batch.push_back(std::move(m));
  }
  ASSERT_TRUE((*bus)->publish("work", std::move(batch)));

  char out_tmpl[] = "/tmp/wharf-dlq-crash-XXXXXX";
  const int fd = ::mkstemp(out_tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto run_child = [&](std::optional<std::chrono::milliseconds> kill_after) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(WHARF_TRANSPORT_CHILD_PATH, WHARF_TRANSPORT_CHILD_PATH, "kafka",
              broker.bootstrap().c_str(), "dlq-group", "work", out_tmpl, "dlq",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (kill_after) {
      // Kill mid-stream: once this child is handling (a killed member's partitions come back
      // only after its session times out), after a seeded extra delay.
      const std::size_t before = read_lines(out_tmpl).size();
      for (int i = 0; i < 600 && read_lines(out_tmpl).size() == before; ++i)
        std::this_thread::sleep_for(50ms);
      std::this_thread::sleep_for(*kill_after);
      ::kill(pid, SIGKILL);
    } else {
      // The last run: until every good message is handled, then SIGKILL too (the child never
      // stops by itself; what it committed is irrelevant once everything is accounted for).
      for (int i = 0; i < 1800 && read_lines(out_tmpl).size() < good.size(); ++i)
        std::this_thread::sleep_for(100ms);
      std::this_thread::sleep_for(2s);  // let the last dead letters be published
      ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
  };
  constexpr int kKills = 4;
  for (int i = 0; i < kKills; ++i) {
    const auto after = std::chrono::milliseconds(rng() % 400);
    run_child(after);
    std::printf("kill %d after %lld ms: %zu good handled so far\n", i + 1,
                static_cast<long long>(after.count()), read_lines(out_tmpl).size());
  }
  run_child(std::nullopt);
  const std::set<std::string> handled = read_lines(out_tmpl);
  std::filesystem::remove(out_tmpl);
  std::filesystem::remove(std::string(out_tmpl) + ".commits");
  for (const auto& g : good) EXPECT_TRUE(handled.contains(g)) << g << " was never handled";
  EXPECT_EQ(handled.size(), good.size()) << "something other than a good message was handled";

  // Every poison message reached the dead-letter topic, with the same id each time it appears.
  auto sub = (*bus)->subscribe({.group = "dlq-reader", .topics = {"work.dlq"}});
  ASSERT_TRUE(sub);
  std::map<std::string, std::set<std::string>> ids_by_payload;
  for (int i = 0; i < 300; ++i) {
    auto got = (*sub)->poll(10000, 200ms);
    ASSERT_TRUE(got);
    for (const auto& m : *got) ids_by_payload[m.payload].insert(m.id);
    if (ids_by_payload.size() >= poison.size() && got->empty()) break;
  }
  (*sub)->close();
  for (const auto& p : poison) {
    auto it = ids_by_payload.find(p);
    ASSERT_NE(it, ids_by_payload.end()) << p << " never reached the dead-letter topic";
    EXPECT_EQ(it->second.size(), 1u) << p << ": repeated dead letters must carry the same id";
  }
  EXPECT_EQ(ids_by_payload.size(), poison.size());
  ASSERT_TRUE((*bus)->close());
}

}  // namespace
}  // namespace wharf
