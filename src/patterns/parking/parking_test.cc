// Per-key parking on SQLite and on a real PostgreSQL server: a failed key's later messages wait
// while other keys flow, and a release hands them over in order before anything newer.
#include "wharf/parking.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "base/admin_routes.h"
#include "base/metrics.h"
#include "tests/support/postgres_environment.h"
#include "wharf/reliability.h"
#include "wharf/sql/open.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

auto* const g_postgres = test::register_postgres_environment();

class ParkingTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto url = test::fresh_database_url(GetParam(), *g_postgres, "parking", &dir_);
    ASSERT_TRUE(url) << url.error().to_string();
    auto db = sql::open(*url);
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = std::move(*db);
    auto parking = KeyParking::open(*db_);
    ASSERT_TRUE(parking) << parking.error().to_string();
    parking_ = std::move(*parking);
  }
  void TearDown() override {
    parking_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<KeyParking> parking_;
};

Message keyed(std::string key, std::string payload) {
  Message m;
  m.type = "t";
  m.key = std::move(key);
  m.payload = std::move(payload);
  return m;
}

TEST_P(ParkingTest, AFailedKeyWaitsWhileOthersFlowThenIsReleasedInOrder) {
  Bus bus = *Bus::open(MemoryOptions{.default_partitions = 1});
  ASSERT_TRUE(bus->ensure_topic("orders", 1));
  std::vector<Message> first;
  for (int i = 1; i <= 3; ++i) {
    first.push_back(keyed("bad", "bad-" + std::to_string(i)));
    first.push_back(keyed("good", "good-" + std::to_string(i)));
  }
  first.push_back(keyed("\xff\x00 binary key", "binary-1"));  // keys are bytes
  ASSERT_TRUE(bus->publish("orders", std::move(first)));

  std::atomic<bool> broken{true};
  std::mutex mu;
  std::vector<std::string> handled;
  Router router(bus, {.group = "inventory", .key_concurrency = 2, .commit_interval = 5ms});
  router.use(dead_letter());
  router.use(parking_->middleware());
  router.on_message("orders", "t", [&](const Message& m, Context&) -> Status {
    if (m.key == "bad" && broken) return fail(ErrorCode::kUnavailable, "warehouse offline");
    std::lock_guard lock(mu);
    handled.push_back(m.payload);
    return ok();
  });
  auto seen = [&](const std::string& p) {
    std::lock_guard lock(mu);
    return std::find(handled.begin(), handled.end(), p) != handled.end();
  };
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  for (int i = 0; i < 2000 && !(seen("good-3") && seen("binary-1")); ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(seen("good-3")) << "other keys must keep flowing";
  // bad-1 failed: dead-lettered, key parked; bad-2 and bad-3 wait in the table.
  std::vector<ParkedKey> parked;
  for (int i = 0; i < 2000; ++i) {
    parked = parking_->list("inventory").value_or(std::vector<ParkedKey>{});
    if (parked.size() == 1 && parked[0].messages == 2) break;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].key, "bad");
  EXPECT_EQ(parked[0].topic, "orders");
  EXPECT_EQ(parked[0].state, "parked");
  EXPECT_EQ(parked[0].messages, 2);
  EXPECT_NE(parked[0].reason.find("warehouse offline"), std::string::npos);
  auto route = admin_routes::find("/v1/parked-keys");
  ASSERT_TRUE(route) << "KeyParking registers its admin endpoint";
  auto body = (*route)();
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_NE(body->find("\"key\": \"bad\""), std::string::npos) << *body;
  EXPECT_NE(body->find("\"waiting\": 2"), std::string::npos) << *body;
  const std::string scrape = metrics::registry().render_prometheus();
  EXPECT_NE(scrape.find("wharf_parked_keys{group=\"inventory\",topic=\"orders\"} 1"),
            std::string::npos)
      << scrape;
  auto waiting = parking_->messages("inventory", "orders", "bad");
  ASSERT_TRUE(waiting);
  ASSERT_EQ(waiting->size(), 2u);
  EXPECT_EQ((*waiting)[0].payload, "bad-2");
  EXPECT_EQ((*waiting)[1].payload, "bad-3");
  EXPECT_FALSE(seen("bad-1") || seen("bad-2") || seen("bad-3"));

  // A newer message of the parked key joins the queue.
  ASSERT_TRUE(bus.publish("orders", keyed("bad", "bad-4")));
  for (int i = 0;
       i < 2000 &&
       parking_->messages("inventory", "orders", "bad").value_or(std::vector<Message>{}).size() < 3;
       ++i) {
    std::this_thread::sleep_for(5ms);
  }
  broken = false;
  EXPECT_EQ(parking_->release("inventory", "orders", "nobody", bus).error().code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(parking_->release("inventory", "orders", "bad", bus));
  ASSERT_TRUE(bus.publish("orders", keyed("bad", "bad-5")));
  for (int i = 0; i < 2000 && !seen("bad-5"); ++i) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  t.join();
  std::vector<std::string> bad_order;
  for (const auto& p : handled) {
    if (p.starts_with("bad-")) bad_order.push_back(p);
  }
  EXPECT_EQ(bad_order, (std::vector<std::string>{"bad-2", "bad-3", "bad-4", "bad-5"}));
  EXPECT_TRUE(parking_->list().value_or(std::vector<ParkedKey>{{}}).empty())
      << "the key is free again";
  // The message that parked the key went to the dead-letter topic.
  auto sub = bus->subscribe({.group = "reader", .topics = {"orders.dlq"}});
  auto dead = (*sub)->poll(10, 100ms);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().payload, "bad-1");
}

TEST_P(ParkingTest, ReasonsWithAnyBytesAreStored) {
  Bus bus = *Bus::open(MemoryOptions{.default_partitions = 1});
  Message m = keyed("\xff key", "x");
  m.topic = "orders";
  m.id = new_message_id();
  Context ctx(m, bus, "g", {});
  const std::string reason = std::string("bad bytes \xff\xfe ") + std::string(32 * 1024, 'r');
  Handler failing = [&](const Message&, Context&) -> Status {
    return fail(ErrorCode::kInternal, "{}", reason);
  };
  EXPECT_FALSE(parking_->middleware()(failing)(m, ctx));
  auto keys = parking_->list("g");
  ASSERT_TRUE(keys) << keys.error().to_string();
  ASSERT_EQ(keys->size(), 1u) << "the key was not parked";
  // Bounded at 4,096 bytes before repair; each of the two invalid bytes becomes U+FFFD (3 bytes).
  EXPECT_EQ((*keys)[0].reason.size(), 4096u + 2 * 2);
  EXPECT_NE((*keys)[0].reason.find("bad bytes"), std::string::npos);
}

// The endpoint end to end: a service on the embedded transport with an admin listener serves
// the keys its KeyParking holds at /v1/parked-keys.
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)::write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST_P(ParkingTest, TheServicesAdminApiListsParkedKeys) {
  if (GetParam() != "sqlite")
    GTEST_SKIP() << "the endpoint does not depend on the store; checked once, on SQLite";
  const int port = free_port();
  EmbeddedOptions o;
  o.data_dir = dir_ + "/log";
  o.admin = "127.0.0.1:" + std::to_string(port);
  auto bus = Bus::open(o);
  ASSERT_TRUE(bus) << bus.error().to_string();
  Message m = keyed("order-42", "x");
  m.topic = "orders";
  m.partition = 0;
  m.offset = 7;
  m.id = new_message_id();
  Context ctx(m, *bus, "inventory", {});
  Handler failing = [](const Message&, Context&) -> Status {
    return fail(ErrorCode::kUnavailable, "stock service down");
  };
  EXPECT_FALSE(parking_->middleware()(failing)(m, ctx));
  const std::string response = http_get(port, "/v1/parked-keys");
  EXPECT_NE(response.find("200 OK"), std::string::npos) << response;
  EXPECT_NE(response.find("\"key\": \"order-42\""), std::string::npos) << response;
  EXPECT_NE(response.find("stock service down"), std::string::npos) << response;
  ASSERT_TRUE((*bus)->close());
}

INSTANTIATE_TEST_SUITE_P(Stores, ParkingTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wharf
