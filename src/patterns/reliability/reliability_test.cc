// retry() and dead_letter() on the memory transport.
#include "wharf/reliability.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

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

template <typename Done>
void run_until(Router& router, Done done) {
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  for (int i = 0; i < 4000 && !done(); ++i) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  t.join();
}

std::vector<Message> read_all(Bus& bus, const std::string& topic) {
  auto sub = bus->subscribe(
      {.group = "reader-" + topic + std::to_string(reinterpret_cast<std::uintptr_t>(&bus)),
       .topics = {topic}});
  EXPECT_TRUE(sub);
  auto got = (*sub)->poll(100000, 100ms);
  EXPECT_TRUE(got);
  (*sub)->close();
  return got ? *got : std::vector<Message>{};
}

TEST(Retry, BacksOffExponentiallyWithJitterThenGivesUp) {
  std::vector<std::chrono::milliseconds> waits;
  RetryOptions o{.attempts_max = 4, .backoff_initial = 100ms, .backoff_max = 1000ms, .jitter = 0.2};
  o.sleep = [&](std::chrono::milliseconds d, std::stop_token) { waits.push_back(d); };
  int calls = 0;
  Handler always_down = [&](const Message&, Context&) -> Status {
    ++calls;
    return fail(ErrorCode::kUnavailable, "down");
  };
  Message m = msg("k", "x");
  Bus bus = *Bus::open(MemoryOptions{});
  Context ctx(m, bus, "g", {});
  Status s = retry(o)(always_down)(m, ctx);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(calls, 4);
  ASSERT_EQ(waits.size(), 3u);
  const int nominal[] = {100, 200, 400};
  for (int i = 0; i < 3; ++i) {
    EXPECT_GE(waits[i].count(), nominal[i] * 8 / 10) << i;
    EXPECT_LE(waits[i].count(), nominal[i] * 12 / 10) << i;
  }
  EXPECT_EQ(backoff_delay(o, 10), 1000ms) << "capped at backoff_max";
}

TEST(Retry, PermanentErrorsAreNotRetriedAndSuccessStopsRetrying) {
  RetryOptions o;
  o.sleep = [](std::chrono::milliseconds, std::stop_token) {};
  int calls = 0;
  Handler bad_payload = [&](const Message&, Context&) -> Status {
    ++calls;
    return fail(ErrorCode::kInvalidArgument, "not JSON");
  };
  Message m = msg("k", "x");
  Bus bus = *Bus::open(MemoryOptions{});
  Context ctx(m, bus, "g", {});
  EXPECT_FALSE(retry(o)(bad_payload)(m, ctx));
  EXPECT_EQ(calls, 1);

  calls = 0;
  Handler second_time_lucky = [&](const Message&, Context&) -> Status {
    return ++calls < 2 ? fail(ErrorCode::kConflict, "busy") : ok();
  };
  EXPECT_TRUE(retry(o)(second_time_lucky)(m, ctx));
  EXPECT_EQ(calls, 2);

  calls = 0;
  o.retryable = [](const Error& e) {
    return e.code() == ErrorCode::kInvalidArgument;
  };  // by predicate
  EXPECT_FALSE(retry(o)(bad_payload)(m, ctx));
  EXPECT_EQ(calls, 5);
}

TEST(DeadLetter, APoisonMessageReachesTheDlqAfterNAttemptsWhileOtherKeysFlow) {
  ManualClock clock(1'764'000'000'000);
  Bus bus = *Bus::open(MemoryOptions{.clock = &clock, .default_partitions = 1});
  ASSERT_TRUE(bus->ensure_topic("orders", 1));
  std::vector<Message> batch;
  for (int i = 0; i < 40; ++i)
    batch.push_back(msg(i == 5 ? "poison" : "k" + std::to_string(i % 4), std::to_string(i)));
  ASSERT_TRUE(bus->publish("orders", std::move(batch)));
  std::atomic<int> poison_calls{0}, handled{0};
  Router router(
      bus, {.group = "inventory", .key_concurrency = 4, .commit_interval = 5ms, .clock = &clock});
  router.use(dead_letter({.clock = &clock}));
  RetryOptions ro{.attempts_max = 3, .clock = &clock};
  ro.sleep = [&](std::chrono::milliseconds d, std::stop_token) {
    clock.advance(d);
    std::this_thread::sleep_for(2ms);
  };
  router.use(retry(ro));
  router.on_message("orders", "t", [&](const Message& m, Context&) -> Status {
    if (m.key == "poison") {
      ++poison_calls;
      return fail(ErrorCode::kUnavailable, "inventory service refused order {}", m.payload);
    }
    ++handled;
    return ok();
  });
  run_until(router,
            [&] { return handled.load() >= 39 && read_all(bus, "orders.dlq").size() == 1; });
  EXPECT_EQ(handled.load(), 39);
  EXPECT_EQ(poison_calls.load(), 3);
  auto dead = read_all(bus, "orders.dlq");
  ASSERT_EQ(dead.size(), 1u);
  const Message& d = dead[0];
  auto original = read_all(bus, "orders")[5];
  EXPECT_EQ(d.id, original.id) << "a dead letter keeps the message id";
  EXPECT_EQ(d.key, "poison");
  EXPECT_EQ(d.payload, "5");
  EXPECT_EQ(d.header(kHeaderDlqTopic), "orders");
  EXPECT_EQ(d.header(kHeaderDlqPartition), "0");
  EXPECT_EQ(d.header(kHeaderDlqOffset), "5");
  EXPECT_EQ(d.header(kHeaderDlqGroup), "inventory");
  EXPECT_EQ(d.header(kHeaderDlqErrorClass), "unavailable");
  EXPECT_EQ(d.header(kHeaderDlqErrorMessage), "inventory service refused order 5");
  EXPECT_EQ(d.header(kHeaderDlqAttempts), "3");
  auto first = std::stoll(std::string(*d.header(kHeaderDlqFirstFailure)));
  auto last = std::stoll(std::string(*d.header(kHeaderDlqLastFailure)));
  EXPECT_GE(first, 1'764'000'000'000);
  EXPECT_GT(last, first) << "the clock moved by the backoff between the first and last failure";
  // The source is committed past the poison message: a new member starts at the end.
  auto sub = bus->subscribe({.group = "inventory", .topics = {"orders"}});
  auto again = (*sub)->poll(100, 100ms);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

// A transport whose publishes to one topic fail the first `failures` times.
class FlakyPublish final : public Transport {
 public:
  FlakyPublish(std::shared_ptr<Transport> inner, std::string topic, int failures)
      : inner_(std::move(inner)), topic_(std::move(topic)), failures_(failures) {}
  Status publish(const std::string& topic, std::vector<Message> messages) override {
    if (topic == topic_ && failures_-- > 0) return fail(ErrorCode::kUnavailable, "broker down");
    return inner_->publish(topic, std::move(messages));
  }
  Result<std::unique_ptr<Subscription>> subscribe(SubscribeOptions o) override {
    return inner_->subscribe(std::move(o));
  }
  Status ensure_topic(const std::string& t, std::int32_t p) override {
    return inner_->ensure_topic(t, p);
  }
  Result<std::int32_t> partition_count(const std::string& t) override {
    return inner_->partition_count(t);
  }
  Result<std::map<TopicPartition, std::int64_t>> end_offsets(const std::string& t) override {
    return inner_->end_offsets(t);
  }
  Status close() override { return inner_->close(); }
  std::string_view name() const override { return "flaky"; }
  std::string kafka_address() const override { return ""; }

 private:
  std::shared_ptr<Transport> inner_;
  std::string topic_;
  std::atomic<int> failures_;
};

TEST(DeadLetter, AFailedDeadLetterPublishIsNotCommittedAndComesAgain) {
  Bus inner = *Bus::open(MemoryOptions{.default_partitions = 1});
  Bus bus(std::make_shared<FlakyPublish>(inner.shared(), "orders.dlq", 2));
  ASSERT_TRUE(bus.publish("orders", msg("k", "poison")));
  std::atomic<int> calls{0};
  Router router(bus, {.group = "g", .redelivery_delay = 1ms});
  router.use(dead_letter());
  router.on_message("orders", "t", [&](const Message&, Context&) -> Status {
    ++calls;
    return fail(ErrorCode::kInvalidArgument, "poison");
  });
  run_until(router, [&] { return read_all(inner, "orders.dlq").size() == 1; });
  EXPECT_EQ(read_all(inner, "orders.dlq").size(), 1u);
  EXPECT_EQ(calls.load(), 3)
      << "two failed dead-letter publishes, each handed again, then one that worked";
  EXPECT_EQ(router.stats().failed, 2u);
}

TEST(DeadLetter, LongUtf8ErrorMessagesAreCutOnACharacterBoundary) {
  Bus bus = *Bus::open(MemoryOptions{.default_partitions = 1});
  ASSERT_TRUE(bus.publish("t", msg("k", "x")));
  Router router(bus, {.group = "g"});
  router.use(dead_letter());
  std::string long_message;
  for (int i = 0; i < 3000; ++i) long_message += "é";  // 2 bytes each: 6000 bytes
  router.on_message("t", "t", [&](const Message&, Context&) -> Status {
    return fail(ErrorCode::kInternal, "{}", long_message);
  });
  run_until(router, [&] { return read_all(bus, "t.dlq").size() == 1; });
  auto dead = read_all(bus, "t.dlq");
  ASSERT_EQ(dead.size(), 1u);
  std::string header(*dead[0].header(kHeaderDlqErrorMessage));
  EXPECT_LE(header.size(), kDlqErrorMessageBytesMax + 3);
  EXPECT_TRUE(header.ends_with("…"));
  EXPECT_EQ((header.size() - 3) % 2, 0u) << "cut inside a two-byte character";
}

TEST(RetryTopics, FailuresMoveThroughTheLevelsWithoutHoldingUpThePartition) {
  ManualClock clock(1'764'000'000'000);
  Bus bus = *Bus::open(MemoryOptions{.clock = &clock, .default_partitions = 1});
  ASSERT_TRUE(bus->ensure_topic("orders", 1));
  std::vector<Message> batch;
  batch.push_back(msg("flaky", "flaky"));    // fails twice, then works (from .retry.2)
  batch.push_back(msg("poison", "poison"));  // always fails: .retry.1, .retry.2, then the DLQ
  for (int i = 0; i < 20; ++i) batch.push_back(msg("k" + std::to_string(i), std::to_string(i)));
  ASSERT_TRUE(bus->publish("orders", std::move(batch)));
  std::mutex mu;
  std::vector<std::string> handled;  // payload@topic
  std::map<std::string, int> calls;
  Router router(bus, {.group = "g", .commit_interval = 5ms, .clock = &clock});
  router.on_message("orders", "t", [&](const Message& m, Context&) -> Status {
    std::lock_guard lock(mu);
    const int n = ++calls[m.payload];
    if (m.payload == "poison" || (m.payload == "flaky" && n <= 2))
      return fail(ErrorCode::kUnavailable, "try later");
    handled.push_back(m.payload + "@" + m.topic);
    return ok();
  });
  router.use(dead_letter({.clock = &clock}));
  router.use(retry_topics(
      router, "orders",
      {.delays = {std::chrono::minutes(1), std::chrono::minutes(10)}, .clock = &clock}));
  EXPECT_EQ(bus->partition_count("orders.retry.1").value_or(0), 1)
      << "retry topics are created with the topic's partitions";
  std::stop_source stop;
  std::thread t([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  auto count = [&] {
    std::lock_guard lock(mu);
    return handled.size();
  };
  // Without the clock moving, everything else is handled: the failures do not hold up the
  // partition, and nothing is retried before it is due.
  for (int i = 0; i < 2000 && count() < 20; ++i) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(50ms);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(handled.size(), 20u);
    EXPECT_EQ(calls["flaky"], 1);
    EXPECT_EQ(calls["poison"], 1);
  }
  EXPECT_EQ(read_all(bus, "orders.retry.1").size(), 2u);
  clock.advance(std::chrono::minutes(1));  // level 1 due: both fail again, to level 2
  // Waits are bounded generously (10 s): under a loaded full test run a second was too short.
  for (int i = 0; i < 2000 && read_all(bus, "orders.retry.2").size() < 2; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(read_all(bus, "orders.retry.2").size(), 2u);
  clock.advance(std::chrono::minutes(10));  // level 2 due: flaky works, poison is dead-lettered
  for (int i = 0; i < 2000 && (count() < 21 || read_all(bus, "orders.dlq").empty()); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  stop.request_stop();
  t.join();
  EXPECT_EQ(calls["flaky"], 3);
  EXPECT_EQ(calls["poison"], 3);
  EXPECT_NE(std::find(handled.begin(), handled.end(), "flaky@orders.retry.2"), handled.end());
  auto dead = read_all(bus, "orders.dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].payload, "poison");
  EXPECT_EQ(dead[0].header(kHeaderDlqTopic), "orders");
  EXPECT_EQ(dead[0].header(kHeaderDlqOffset), "1") << "the original place, not the retry topic's";
  EXPECT_EQ(dead[0].header(kHeaderDlqAttempts), "3");
  EXPECT_EQ(dead[0].header(kHeaderDlqFirstFailure), "1764000000000");
  auto original = read_all(bus, "orders")[1];
  EXPECT_EQ(dead[0].id, original.id);
  EXPECT_EQ(router.stats().failed, 0u) << "waiting for a due time is not a failure";
}

TEST(DeadLetterPurge, ACursorHidesPurgedDeadLettersAndNeverMovesBack) {
  Bus bus = *Bus::open(MemoryOptions{.default_partitions = 1});
  ASSERT_TRUE(bus.publish("t", msg("k", "x")));
  Router router(bus, {.group = "g"});
  router.use(dead_letter());
  router.on_message("t", "t", [](const Message&, Context&) -> Status {
    return fail(ErrorCode::kInternal, "no");
  });
  std::vector<Message> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(msg("k", std::to_string(i)));
  ASSERT_TRUE(bus->publish("t", std::move(batch)));
  run_until(router, [&] { return read_all(bus, "t.dlq").size() == 5; });
  auto count = [&] {
    int n = 0;
    EXPECT_TRUE(scan_dead_letters(bus, "t.dlq", {}, [&](const DeadLetter&) -> Status {
      ++n;
      return ok();
    }));
    return n;
  };
  ASSERT_EQ(count(), 5);
  EXPECT_EQ(purge_dead_letters(bus, "t.dlq",
                               std::map<TopicPartition, std::int64_t>{{{"t.dlq", 0}, 2}}, true)
                .value_or(-1),
            2);
  EXPECT_EQ(count(), 5) << "a dry run moved the cursor";
  EXPECT_EQ(
      purge_dead_letters(bus, "t.dlq", std::map<TopicPartition, std::int64_t>{{{"t.dlq", 0}, 2}})
          .value_or(-1),
      2);
  EXPECT_EQ(count(), 3);
  EXPECT_EQ(
      purge_dead_letters(bus, "t.dlq", std::map<TopicPartition, std::int64_t>{{{"t.dlq", 0}, 1}})
          .value_or(-1),
      0)
      << "the cursor never moves back";
  EXPECT_EQ(count(), 3);
  auto replayed = replay_dead_letters(bus, "t.dlq", {}, {.dry_run = true});
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->matched, 3) << "replay skips purged dead letters";
  EXPECT_EQ(purge_dead_letters(bus, "t.dlq", std::nullopt).value_or(-1), 3);
  EXPECT_EQ(count(), 0);
  EXPECT_FALSE(
      purge_dead_letters(bus, "t.dlq", std::map<TopicPartition, std::int64_t>{{{"t.dlq", 7}, 1}}));
}

TEST(DeadLetterReplay, ReplaysWhatTheFilterKeepsToTheOriginalTopicWithTheSameIds) {
  Bus bus = *Bus::open(MemoryOptions{.default_partitions = 2});
  ASSERT_TRUE(bus->ensure_topic("orders", 2));
  std::vector<Message> batch;
  for (int i = 0; i < 30; ++i) batch.push_back(msg("k" + std::to_string(i % 3), std::to_string(i)));
  ASSERT_TRUE(bus->publish("orders", std::move(batch)));
  // Every message fails: multiples of 3 as "unavailable", others as "invalid argument".
  Router router(bus, {.group = "billing"});
  router.use(dead_letter());
  router.on_message("orders", "t", [](const Message& m, Context&) -> Status {
    if (std::stoi(m.payload) % 3 == 0) return fail(ErrorCode::kUnavailable, "payments down");
    return fail(ErrorCode::kInvalidArgument, "bad order");
  });
  run_until(router, [&] { return read_all(bus, "orders.dlq").size() == 30; });
  ASSERT_EQ(read_all(bus, "orders.dlq").size(), 30u);
  // Something that is not a dead letter in the topic is skipped and counted.
  ASSERT_TRUE(bus.publish("orders.dlq", msg("x", "not a dead letter")));

  std::vector<DeadLetter> listed;
  DeadLetterFilter unavailable{.error_class = "unavailable"};
  ASSERT_TRUE(scan_dead_letters(bus, "orders.dlq", unavailable, [&](const DeadLetter& d) -> Status {
    listed.push_back(d);
    return ok();
  }));
  ASSERT_EQ(listed.size(), 10u);
  for (const auto& d : listed) {
    EXPECT_EQ(d.original_topic, "orders");
    EXPECT_EQ(d.group, "billing");
    EXPECT_EQ(d.error_message, "payments down");
    EXPECT_EQ(d.attempts, 1);
  }

  auto dry = replay_dead_letters(bus, "orders.dlq", unavailable, {.dry_run = true});
  ASSERT_TRUE(dry) << dry.error().to_string();
  EXPECT_EQ(dry->matched, 10);
  EXPECT_EQ(dry->replayed, 0);
  EXPECT_EQ(dry->invalid, 1);
  EXPECT_EQ(dry->scanned, 31);
  EXPECT_EQ(read_all(bus, "orders").size(), 30u) << "a dry run published";

  std::int64_t last_progress = 0;
  auto stats = replay_dead_letters(
      bus, "orders.dlq", {.error_class = "unavailable", .key = "k0"},
      {.rate_per_s = 1000, .progress = [&](std::int64_t n, std::int64_t) { last_progress = n; }});
  ASSERT_TRUE(stats) << stats.error().to_string();
  EXPECT_EQ(stats->replayed, 10) << "k0 is exactly the multiples of 3";
  EXPECT_EQ(last_progress, 10);
  auto orders = read_all(bus, "orders");
  ASSERT_EQ(orders.size(), 40u);
  std::map<std::string, std::string> original_ids;
  for (std::size_t i = 0; i < 30; ++i) original_ids[orders[i].payload] = orders[i].id;
  for (const auto& m : orders) {
    if (!m.header(kHeaderReplayedFrom)) continue;
    EXPECT_EQ(std::stoi(m.payload) % 3, 0);
    EXPECT_EQ(m.id, original_ids[m.payload]) << "a replay keeps the id";
    EXPECT_EQ(m.key, "k0");
    EXPECT_FALSE(m.header(kHeaderDlqErrorClass)) << "dead-letter headers were replayed";
    EXPECT_TRUE(m.header(kHeaderReplayedFrom)->starts_with("orders.dlq/"));
  }
  auto other = replay_dead_letters(bus, "orders.dlq", {.error_class = "invalid argument"},
                                   {.to_topic = "orders.fixed"});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->replayed, 20);
  EXPECT_EQ(read_all(bus, "orders.fixed").size(), 20u);
}

}  // namespace
}  // namespace wharf
