// Router behaviour on the memory transport: ordering, commits only after handling, lanes that
// stop on failure while others flow, backpressure bounds, rebalancing and batch handlers. The
// same contracts on the real transports are in tests/conformance/.
#include "wharf/router.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "wharf/middleware.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

Message msg(std::string key, std::string payload) {
  Message m;
  m.type = "t";
  m.key = std::move(key);
  m.payload = std::move(payload);
  return m;
}

Bus memory_bus() {
  auto bus = Bus::open(MemoryOptions{.default_partitions = 4});
  EXPECT_TRUE(bus);
  return *bus;
}

// Runs the router on a thread until `done` returns true (checked every 5 ms, at most 20 s),
// then stops it and returns run()'s status.
template <typename Done>
Status run_until(Router& router, Done done) {
  std::stop_source stop;
  Status result = ok();
  std::thread t([&] { result = router.run(stop.get_token()); });
  for (int i = 0; i < 4000 && !done(); ++i) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  t.join();
  return result;
}

TEST(Router, DeliversEveryMessageInKeyOrderAcrossParallelLanes) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("orders", 4));
  std::vector<Message> batch;
  for (int i = 0; i < 2000; ++i)
    batch.push_back(msg("k" + std::to_string(i % 50), std::to_string(i)));
  ASSERT_TRUE(bus->publish("orders", std::move(batch)));

  Router router(bus,
                {.group = "g", .concurrency = 4, .key_concurrency = 4, .commit_interval = 10ms});
  std::mutex mu;
  std::map<std::string, std::vector<int>> seen;
  std::atomic<int> count{0};
  router.on_message("orders", "t", [&](const Message& m, Context&) -> Status {
    std::lock_guard lock(mu);
    seen[m.key].push_back(std::stoi(m.payload));
    ++count;
    return ok();
  });
  ASSERT_TRUE(run_until(router, [&] { return count.load() >= 2000; }));
  EXPECT_EQ(count.load(), 2000);
  for (auto& [key, values] : seen) {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end())) << key;
    EXPECT_EQ(values.size(), 40u) << key;
  }
  // Everything handled is committed: a new member of the group starts at the end.
  auto sub = bus->subscribe({.group = "g", .topics = {"orders"}});
  ASSERT_TRUE(sub);
  auto again = (*sub)->poll(10, 100ms);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << "a handled message was delivered again after a clean stop";
}

TEST(Router, FanOutEachGroupSeesEveryMessage) {
  Bus bus = memory_bus();
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(bus.publish("orders", msg("k" + std::to_string(i), "x")));
  std::atomic<int> a{0}, b{0};
  Router ra(bus, {.group = "a"});
  Router rb(bus, {.group = "b", .concurrency = 2});
  ra.on_message("orders", "*", [&](const Message&, Context&) -> Status {
    ++a;
    return ok();
  });
  rb.on_message("orders", "*", [&](const Message&, Context&) -> Status {
    ++b;
    return ok();
  });
  std::stop_source stop;
  std::thread ta([&] { EXPECT_TRUE(ra.run(stop.get_token())); });
  std::thread tb([&] { EXPECT_TRUE(rb.run(stop.get_token())); });
  for (int i = 0; i < 4000 && (a < 100 || b < 100); ++i) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  ta.join();
  tb.join();
  EXPECT_EQ(a.load(), 100);
  EXPECT_EQ(b.load(), 100);
}

TEST(Router, AFailingMessageStopsOnlyItsLaneAndIsNeverCommittedPast) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("orders", 1));
  // One partition, two key lanes: "bad" fails until allowed; "good" keeps flowing.
  std::vector<Message> batch;
  batch.push_back(msg("bad", "0"));
  for (int i = 1; i <= 50; ++i) batch.push_back(msg("good", std::to_string(i)));
  ASSERT_TRUE(bus->publish("orders", std::move(batch)));
  std::atomic<bool> allow{false};
  std::atomic<int> good{0}, bad_attempts{0};
  Router router(
      bus, {.group = "g", .key_concurrency = 2, .commit_interval = 5ms, .redelivery_delay = 5ms});
  router.on_message("orders", "t", [&](const Message& m, Context&) -> Status {
    if (m.key == "bad") {
      ++bad_attempts;
      if (!allow) return fail(ErrorCode::kUnavailable, "not yet");
      return ok();
    }
    ++good;
    return ok();
  });
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  for (int i = 0; i < 4000 && (good < 50 || bad_attempts < 3); ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(good.load(), 50) << "the other key's lane must keep flowing";
  EXPECT_GE(bad_attempts.load(), 3) << "the failed message is handed again";
  EXPECT_GE(router.stats().failed, 2u);
  stop.request_stop();  // stop while "bad" still fails: nothing may be committed past it
  t.join();
  auto sub = bus->subscribe({.group = "g", .topics = {"orders"}});
  ASSERT_TRUE(sub);
  auto again = (*sub)->poll(100, 200ms);
  ASSERT_TRUE(again);
  ASSERT_FALSE(again->empty());
  EXPECT_EQ(again->front().offset, 0) << "the commit went past an unhandled message";
  (*sub)->close();

  // Once the failure clears, the message is handled and the partition is committed to the end.
  allow = true;
  Router second(
      bus, {.group = "g", .key_concurrency = 2, .commit_interval = 5ms, .redelivery_delay = 5ms});
  std::atomic<int> handled{0};
  second.on_message("orders", "t", [&](const Message&, Context&) -> Status {
    ++handled;
    return ok();
  });
  ASSERT_TRUE(run_until(second, [&] { return handled.load() >= 51; }));
  EXPECT_EQ(handled.load(), 51) << "at least once: everything after the last commit comes again";
}

// Commits keep coming while a worker is busy (the poller does not sleep past commit_interval),
// on_commit reports each acknowledged one, and none passes the message still being handled.
TEST(Router, CommitsWhileAHandlerIsBusyAndReportsEachOne) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("orders", 1));
  std::vector<Message> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(msg("k", std::to_string(i)));
  ASSERT_TRUE(bus->publish("orders", std::move(batch)));
  std::atomic<bool> release{false};
  std::mutex mu;
  std::vector<std::int64_t> reported;
  RouterOptions options{.group = "g", .commit_interval = 5ms};
  options.on_commit = [&](const std::map<TopicPartition, std::int64_t>& offsets) {
    std::lock_guard lock(mu);
    for (const auto& [tp, next] : offsets) reported.push_back(next);
  };
  Router router(bus, std::move(options));
  router.on_message("orders", "t", [&](const Message& m, Context&) -> Status {
    while (m.payload == "6" && !release) std::this_thread::sleep_for(1ms);
    return ok();
  });
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  auto last = [&] {
    std::lock_guard lock(mu);
    return reported.empty() ? std::int64_t{-1} : reported.back();
  };
  for (int i = 0; i < 4000 && last() < 6; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(last(), 6) << "the six handled messages were not committed while the seventh ran";
  release = true;
  stop.request_stop();
  t.join();
  EXPECT_EQ(last(), 10) << "a clean stop commits everything handled";
  std::lock_guard lock(mu);
  EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
}

TEST(Router, BackpressureHoldsTheInFlightBound) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("orders", 4));
  std::vector<Message> batch;
  for (int i = 0; i < 3000; ++i) batch.push_back(msg("k" + std::to_string(i), "x"));
  ASSERT_TRUE(bus->publish("orders", std::move(batch)));
  std::atomic<int> count{0};
  Router router(bus, {.group = "g",
                      .concurrency = 2,
                      .poll_batch_max = 500,
                      .in_flight_max = 100,
                      .partition_in_flight_max = 40});
  router.on_message("orders", "t", [&](const Message&, Context&) -> Status {
    std::this_thread::sleep_for(50us);
    ++count;
    return ok();
  });
  ASSERT_TRUE(run_until(router, [&] { return count.load() >= 3000; }));
  EXPECT_EQ(count.load(), 3000);
  EXPECT_LE(router.stats().in_flight_max_seen, 100u);
  EXPECT_GT(router.stats().in_flight_max_seen, 0u);
}

TEST(Router, BytesBoundPausesPartitions) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("big", 2));
  std::vector<Message> batch;
  for (int i = 0; i < 200; ++i)
    batch.push_back(msg("k" + std::to_string(i), std::string(10000, 'x')));
  ASSERT_TRUE(bus->publish("big", std::move(batch)));
  std::atomic<int> count{0};
  std::atomic<bool> release{false};
  Router router(bus, {.group = "g", .poll_batch_max = 50, .in_flight_bytes_max = 100000});
  router.on_message("big", "t", [&](const Message&, Context&) -> Status {
    while (!release) std::this_thread::sleep_for(1ms);
    ++count;
    return ok();
  });
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  for (int i = 0; i < 400 && router.stats().paused_partitions < 2; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(router.stats().paused_partitions, 2u)
      << "both partitions pause while the bytes bound is exceeded";
  release = true;
  for (int i = 0; i < 4000 && count < 200; ++i) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  t.join();
  EXPECT_EQ(count.load(), 200);
  EXPECT_EQ(router.stats().paused_partitions, 0u);
}

TEST(Router, PartitionsMoveToANewMemberAndNothingIsLost) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("orders", 4));
  std::mutex mu;
  std::map<std::string, int> seen;
  auto handler = [&](const Message& m, Context&) -> Status {
    std::this_thread::sleep_for(100us);
    std::lock_guard lock(mu);
    ++seen[m.payload];
    return ok();
  };
  // A small in-flight bound keeps the backlog in the transport, where a rebalance can move it.
  Router r1(bus, {.group = "g", .in_flight_max = 50, .commit_interval = 5ms});
  Router r2(bus, {.group = "g", .in_flight_max = 50, .commit_interval = 5ms});
  r1.on_message("orders", "t", handler);
  r2.on_message("orders", "t", handler);
  std::stop_source s1, s2;
  std::thread t1([&] { EXPECT_TRUE(r1.run(s1.get_token())); });
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(bus.publish("orders", msg("k" + std::to_string(i), std::to_string(i))));
  std::thread t2([&] { EXPECT_TRUE(r2.run(s2.get_token())); });
  for (int i = 1000; i < 2000; ++i)
    ASSERT_TRUE(bus.publish("orders", msg("k" + std::to_string(i), std::to_string(i))));
  auto all_seen = [&] {
    std::lock_guard lock(mu);
    return seen.size() >= 2000;
  };
  for (int i = 0; i < 4000 && !all_seen(); ++i) std::this_thread::sleep_for(5ms);
  s2.request_stop();  // r2 leaves: its partitions go back to r1
  t2.join();
  for (int i = 2000; i < 2500; ++i)
    ASSERT_TRUE(bus.publish("orders", msg("k" + std::to_string(i), std::to_string(i))));
  auto done = [&] {
    std::lock_guard lock(mu);
    return seen.size() >= 2500;
  };
  for (int i = 0; i < 4000 && !done(); ++i) std::this_thread::sleep_for(5ms);
  s1.request_stop();
  t1.join();
  ASSERT_EQ(seen.size(), 2500u);
  int duplicates = 0;
  for (auto& [k, n] : seen) duplicates += n - 1;
  // The memory transport hands a partition over only after the old owner committed it.
  EXPECT_EQ(duplicates, 0);
  EXPECT_GE(r1.stats().rebalances, 2u);
  EXPECT_GT(r2.stats().handled, 0u) << "the second member took partitions";
}

TEST(Router, BatchHandlersGetPerMessageResults) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("rows", 1));
  std::vector<Message> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(msg("", std::to_string(i)));
  ASSERT_TRUE(bus->publish("rows", std::move(batch)));
  std::mutex mu;
  std::vector<int> done;
  std::atomic<bool> failed_once{false};
  std::atomic<std::size_t> biggest{0};
  Router router(bus, {.group = "g", .batch_max = 32, .redelivery_delay = 1ms});
  router.on_batch("rows", [&](const std::vector<const Message*>& ms, Context&) {
    biggest = std::max(biggest.load(), ms.size());
    std::vector<Status> out;
    std::lock_guard lock(mu);
    for (const Message* m : ms) {
      const int v = std::stoi(m->payload);
      if (v == 50 && !failed_once.exchange(true)) {
        out.push_back(fail(ErrorCode::kConflict, "try again"));
        continue;  // later results are ignored: the lane stops at the first error
      }
      done.push_back(v);
      out.push_back(ok());
    }
    return out;
  });
  ASSERT_TRUE(run_until(router, [&] {
    std::lock_guard lock(mu);
    return std::find(done.begin(), done.end(), 99) != done.end() && done.size() >= 100;
  }));
  EXPECT_LE(biggest.load(), 32u);
  // 51..(end of that batch) were processed once before the failure was seen and once after:
  // the batch contract says results after an error are handed again.
  std::map<int, int> counts;
  for (int v : done) ++counts[v];
  for (int v = 0; v < 100; ++v) EXPECT_GE(counts[v], 1) << v;
  for (int v = 0; v < 50; ++v) EXPECT_EQ(counts[v], 1) << v;
}

TEST(Router, UnknownTypesAreAckedOrFailedByOption) {
  Bus bus = memory_bus();
  ASSERT_TRUE(bus->ensure_topic("mixed", 1));
  Message other = msg("", "x");
  other.type = "other";
  ASSERT_TRUE(bus->publish("mixed", {msg("", "1"), other, msg("", "2")}));
  std::atomic<int> handled{0};
  Router router(bus, {.group = "g"});
  router.on_message("mixed", "t", [&](const Message&, Context&) -> Status {
    ++handled;
    return ok();
  });
  ASSERT_TRUE(run_until(router, [&] { return handled.load() >= 2; }));
  EXPECT_EQ(handled.load(), 2);
  EXPECT_EQ(router.stats().unknown, 1u);

  Router strict(bus, {.group = "strict",
                      .redelivery_delay = 1ms,
                      .drain_timeout = 50ms,
                      .ack_unknown_types = false});
  std::atomic<int> strict_handled{0};
  strict.on_message("mixed", "t", [&](const Message&, Context&) -> Status {
    ++strict_handled;
    return ok();
  });
  ASSERT_TRUE(run_until(strict, [&] { return strict.stats().failed >= 2; }));
  EXPECT_EQ(strict_handled.load(), 1) << "the unknown type blocks its lane";
}

TEST(Router, ContextPublishCarriesCorrelationAndCausation) {
  Bus bus = memory_bus();
  Message first = msg("k", "x");
  first.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  ASSERT_TRUE(bus.publish("in", first));
  Router router(bus, {.group = "g"});
  router.on_message("in", "t", [](const Message&, Context& ctx) -> Status {
    return ctx.publish("out", msg("k", "y"));
  });
  std::atomic<bool> got{false};
  Message out;
  Router reader(bus, {.group = "r"});
  reader.on_message("out", "*", [&](const Message& m, Context&) -> Status {
    out = m;
    got = true;
    return ok();
  });
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  ASSERT_TRUE(run_until(reader, [&] { return got.load(); }));
  stop.request_stop();
  t.join();
  ASSERT_TRUE(got);
  auto sub = bus->subscribe({.group = "peek", .topics = {"in"}});
  auto in = (*sub)->poll(1, 100ms);
  ASSERT_TRUE(in && in->size() == 1);
  EXPECT_EQ(out.causation_id, in->front().id);
  EXPECT_EQ(out.correlation_id, in->front().correlation_id);
  EXPECT_EQ(out.traceparent, first.traceparent);
}

TEST(Router, RedeliveryWaitsOnTheInjectedClock) {
  ManualClock clock;
  auto opened = Bus::open(MemoryOptions{.clock = &clock, .default_partitions = 1});
  ASSERT_TRUE(opened);
  Bus bus = *opened;
  ASSERT_TRUE(bus.publish("t", msg("k", "x")));
  std::atomic<int> attempts{0};
  Router router(bus, {.group = "g",
                      .redelivery_delay = std::chrono::hours(1),
                      .drain_timeout = 100ms,
                      .clock = &clock});
  router.on_message("t", "t", [&](const Message&, Context&) -> Status {
    return ++attempts < 2 ? fail(ErrorCode::kUnavailable, "first try fails") : ok();
  });
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  for (int i = 0; i < 2000 && attempts < 1; ++i) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(attempts.load(), 1) << "an hour of redelivery delay passed without the clock moving";
  clock.advance(std::chrono::minutes(61));
  for (int i = 0; i < 2000 && attempts < 2; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(attempts.load(), 2);
  for (int i = 0; i < 2000 && router.stats().handled < 1; ++i) std::this_thread::sleep_for(1ms);
  stop.request_stop();
  t.join();
  EXPECT_EQ(router.stats().handled, 1u);
}

TEST(Middleware, RecoverTurnsExceptionsIntoErrorsAndTimeoutSetsADeadline) {
  Message m = msg("k", "x");
  Bus bus = memory_bus();
  Context ctx(m, bus, "g", {});
  Handler throws = [](const Message&, Context&) -> Status { throw std::runtime_error("boom"); };
  Status s = recover()(throws)(m, ctx);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInternal);
  EXPECT_NE(s.error().message().find("boom"), std::string::npos);

  bool saw_deadline = false;
  Handler check = [&](const Message&, Context& c) -> Status {
    auto* d = c.get<Deadline>();
    saw_deadline = d != nullptr && !d->expired();
    return ok();
  };
  ASSERT_TRUE(timeout(10s)(check)(m, ctx));
  EXPECT_TRUE(saw_deadline);
  EXPECT_EQ(ctx.get<Deadline>(), nullptr) << "the deadline does not outlive the handler";
}

}  // namespace
}  // namespace wharf
