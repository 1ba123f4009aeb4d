#include "storage/log_manager.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "io/fault_file_system.h"
#include "io/forwarding_file_system.h"
#include "io/memory_file_system.h"
#include "storage/limits.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

class LogManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<LogManager> open() {
    LogManagerOptions o;
    o.data_dir = "/data";
    o.background = false;
    auto m = LogManager::open(fault_, o, clock_);
    EXPECT_TRUE(m.has_value()) << m.error().to_string();
    return m ? std::move(*m) : nullptr;
  }
  io::MemoryFileSystem mem_;
  io::FaultFileSystem fault_{mem_};
  ManualClock clock_;
};

TEST_F(LogManagerTest, TopicsPartitionsAndConfigsPersistAcrossRestarts) {
  auto m = open();
  auto info = m->create_topic("orders", 6, {{"retention.ms", "1000"}});
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_EQ(info->partitions, 6);
  ASSERT_TRUE(m->create_topic("payments", 1).has_value());
  auto p3 = m->partition("orders", PartitionId(3));
  ASSERT_TRUE(p3.has_value());
  ASSERT_TRUE((*p3)->append(test::simple_batch("hello")).has_value());
  ASSERT_TRUE(m->add_partitions("payments", 4).has_value());
  ASSERT_TRUE(m->alter_config("payments", {{"sync.policy", "none"}}).has_value());
  ASSERT_TRUE(m->close().has_value());
  m.reset();

  m = open();
  auto topics = m->topics();
  ASSERT_EQ(topics.size(), 2u);
  auto orders = m->topic("orders");
  EXPECT_EQ(orders->partitions, 6);
  EXPECT_EQ(orders->id, info->id);
  EXPECT_EQ(orders->config.retention_ms, 1000);
  EXPECT_EQ(m->topic("payments")->partitions, 4);
  EXPECT_EQ(m->topic("payments")->config.sync.kind, SyncPolicy::Kind::kNone);
  EXPECT_EQ((*m->partition("orders", PartitionId(3)))->log_end_offset(), Offset(1));
  EXPECT_EQ(m->partition("orders", PartitionId(6)).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(m->partition("nope", PartitionId(0)).error().code(), ErrorCode::kNotFound);
}

TEST_F(LogManagerTest, CreateRefusesBadNamesCountsConfigsAndDuplicates) {
  auto m = open();
  for (const char* bad : {"", ".", "..", "a/b", "a b", "ünï"}) {
    EXPECT_EQ(m->create_topic(bad, 1).error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(m->create_topic(std::string(250, 'a'), 1).has_value());
  EXPECT_TRUE(m->create_topic(std::string(249, 'a'), 1).has_value());
  EXPECT_EQ(m->create_topic("t", 0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(m->create_topic("t", 1, {{"segment.bytes", "x"}}).has_value());
  ASSERT_TRUE(m->create_topic("t", 1).has_value());
  EXPECT_EQ(m->create_topic("t", 1).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(m->add_partitions("t", 1).error().code(), ErrorCode::kInvalidArgument);
}

// No config value has a length limit of its own (a throttled-replicas list can be any length), so
// topic.json's size is checked before it is written: the next start reads at most
// kMetadataFileBytesMax of it, and would refuse to open the broker otherwise.
TEST_F(LogManagerTest, ConfigsThatWouldOutgrowTopicJsonAreRefusedAndChangeNothing) {
  std::string list;
  while (list.size() <= kMetadataFileBytesMax) list += "0:0,";
  list.pop_back();
  const std::map<std::string, std::string> huge = {
      {"follower.replication.throttled.replicas", list}};
  ASSERT_TRUE(TopicConfig::from_map(huge, {}).has_value()) << "the value itself is valid";
  auto m = open();
  auto created = m->create_topic("big", 1, huge);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(created.error().message().find("more than the 1048576"), std::string::npos)
      << created.error().message().substr(0, 200);
  EXPECT_FALSE(mem_.exists("/data/topics/big").value()) << "refused before anything was created";

  ASSERT_TRUE(m->create_topic("t", 1, {{"retention.ms", "1000"}}).has_value());
  auto altered = m->alter_config("t", huge);
  ASSERT_FALSE(altered.has_value());
  EXPECT_EQ(altered.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(m->topic("t")->overrides.at("retention.ms"), "1000") << "the old configs stand";
  m.reset();
  m = open();  // and the broker still starts on what was written
  EXPECT_EQ(m->topic("t")->overrides.at("retention.ms"), "1000");
}

TEST_F(LogManagerTest, TheCleanerCompactsOnlyCompactedTopicsAndDeleteStillWorks) {
  auto m = open();
  ASSERT_TRUE(
      m->create_topic("state", 1, {{"cleanup.policy", "compact"}, {"segment.bytes", "4096"}})
          .has_value());
  ASSERT_TRUE(m->create_topic("events", 1, {{"segment.bytes", "4096"}}).has_value());
  for (const char* topic : {"state", "events"}) {
    auto p = *m->partition(topic, PartitionId(0));
    for (int i = 0; i < 60; ++i) {
      Record r;
      r.key = to_bytes("k" + std::to_string(i % 5));
      r.value = Bytes(200, std::byte{'v'});
      r.timestamp_ms = clock_.now_ms();
      ASSERT_TRUE(p->append(build_batch({r})).has_value());
    }
    ASSERT_TRUE(p->roll().has_value());
  }
  const auto events_before = (*m->partition("events", PartitionId(0)))->size_bytes();
  const auto state_before = (*m->partition("state", PartitionId(0)))->size_bytes();
  EXPECT_GT(m->run_cleaner(), 0);
  EXPECT_LT((*m->partition("state", PartitionId(0)))->size_bytes(), state_before);
  EXPECT_EQ((*m->partition("events", PartitionId(0)))->size_bytes(), events_before);
  // A retired (deleted) partition is left alone by the cleaner; the delete removes everything.
  auto state = *m->partition("state", PartitionId(0));
  ASSERT_TRUE(m->delete_topic("state").has_value());
  LogCleaner cleaner(CleanerOptions{0, 1 << 20}, clock_);
  auto stats = cleaner.clean(*state);
  ASSERT_TRUE(stats.has_value());
  EXPECT_FALSE(stats->ran);
  EXPECT_FALSE(mem_.exists("/data/topics/state").value_or(true));
}

TEST_F(LogManagerTest, DeleteIsDurableAndTheNameCanBeReused) {
  auto m = open();
  ASSERT_TRUE(m->create_topic("gone", 2).has_value());
  ASSERT_TRUE((*m->partition("gone", PartitionId(0)))->append(test::simple_batch("x")).has_value());
  const auto old = m->try_partition("gone", PartitionId(1));
  ASSERT_TRUE(old.has_value()) << "nothing else holds the manager";
  EXPECT_EQ(*old, *m->partition("gone", PartitionId(1)));
  EXPECT_FALSE(m->try_partition("gone", PartitionId(2)).has_value());
  ASSERT_TRUE(m->delete_topic("gone").has_value());
  EXPECT_FALSE(m->topic("gone").has_value());
  EXPECT_FALSE(m->try_partition("gone", PartitionId(0)).has_value());
  m.reset();
  mem_.crash();
  m = open();
  EXPECT_FALSE(m->topic("gone").has_value());
  auto again = m->create_topic("gone", 1);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*m->partition("gone", PartitionId(0)))->log_end_offset(), Offset(0));
}

// Counts the files open through it: a partition holds its segments' files until it is
// destroyed, so the count says whether a partition is gone (not just queued).
class CountingFileSystem final : public io::ForwardingFileSystem {
 public:
  using io::ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    WHARF_ASSIGN_OR_RETURN(auto file, io::ForwardingFileSystem::open(path, mode));
    return std::unique_ptr<io::File>(new Counted(std::move(file), open_));
  }
  int open_files() const { return open_.load(); }

 private:
  class Counted final : public io::ForwardingFile {
   public:
    Counted(std::unique_ptr<io::File> inner, std::atomic<int>& count)
        : io::ForwardingFile(std::move(inner)), count_(count) {
      ++count_;
    }
    ~Counted() override { --count_; }

   private:
    std::atomic<int>& count_;
  };
  std::atomic<int> open_{0};
};

// A deleted topic's partition whose last owner is some other thread (a network thread, in the
// broker) is destroyed by the background thread, not by that owner; without a background thread,
// and after close, the last owner destroys it as usual.
TEST_F(LogManagerTest, TheBackgroundThreadDestroysPartitionsTheirLastOwnerLetsGo) {
  CountingFileSystem counting{mem_};
  LogManagerOptions o;
  o.data_dir = "/data";
  auto opened = LogManager::open(counting, o, clock_);
  ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
  auto& m = *opened;
  ASSERT_TRUE(m->create_topic("gone", 2).has_value());
  auto held = m->partition("gone", PartitionId(1));
  ASSERT_TRUE(held.has_value());
  ASSERT_TRUE(m->delete_topic("gone").has_value());
  // Partition 0's last owner was delete_topic itself: it is reaped too.
  held->reset();  // the last owner lets go on this thread
  // Not a timing assertion: the reaper runs at the background thread's next 5 ms tick; the
  // deadline only keeps a broken reaper from hanging the test.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (m->partitions_reaped() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(m->partitions_reaped(), 2u);
  EXPECT_EQ(counting.open_files(), 0) << "both partitions were destroyed, their files closed";

  ASSERT_TRUE(m->create_topic("late", 1).has_value());
  auto late = m->partition("late", PartitionId(0));
  ASSERT_TRUE(late.has_value());
  ASSERT_TRUE(m->delete_topic("late").has_value());
  ASSERT_TRUE(m->close().has_value());
  EXPECT_GT(counting.open_files(), 0) << "the test still holds the partition";
  late->reset();  // after close: destroyed here, by its last owner
  EXPECT_EQ(counting.open_files(), 0) << "destroyed at once, not queued";
  EXPECT_EQ(m->partitions_reaped(), 2u);
  m.reset();

  o.background = false;
  auto without = LogManager::open(counting, o, clock_);
  ASSERT_TRUE(without.has_value());
  ASSERT_TRUE((*without)->create_topic("other", 1).has_value());
  auto other = (*without)->partition("other", PartitionId(0));
  ASSERT_TRUE((*without)->delete_topic("other").has_value());
  EXPECT_GT(counting.open_files(), 0);
  other->reset();
  EXPECT_EQ(counting.open_files(), 0) << "no background thread: destroyed by its owner at once";
  EXPECT_EQ((*without)->partitions_reaped(), 0u);
}

TEST_F(LogManagerTest, MissingTopicJsonKeepsTheDataAndRebuildsTheMetadata) {
  // Issue 9, defect 4: a topic directory without topic.json and without a marker of an
  // interrupted create or delete is a topic whose metadata was lost, not garbage.
  auto m = open();
  ASSERT_TRUE(m->create_topic("orders", 3).has_value());
  ASSERT_TRUE(
      (*m->partition("orders", PartitionId(2)))->append(test::simple_batch("keep me")).has_value());
  ASSERT_TRUE(m->close().has_value());
  m.reset();
  ASSERT_TRUE(mem_.remove("/data/topics/orders/topic.json").has_value());
  m = open();
  ASSERT_NE(m, nullptr);
  auto t = m->topic("orders");
  ASSERT_TRUE(t.has_value()) << "the topic's data was deleted";
  EXPECT_EQ(t->partitions, 3);
  EXPECT_EQ((*m->partition("orders", PartitionId(2)))->log_end_offset(), Offset(1));
  EXPECT_TRUE(mem_.exists("/data/topics/orders/topic.json").value());
}

TEST_F(LogManagerTest, MissingTopicJsonWithUnclearPartitionsRefusesToStart) {
  auto m = open();
  ASSERT_TRUE(m->create_topic("orders", 3).has_value());
  ASSERT_TRUE(
      (*m->partition("orders", PartitionId(0)))->append(test::simple_batch("keep me")).has_value());
  ASSERT_TRUE(m->close().has_value());
  m.reset();
  ASSERT_TRUE(mem_.remove("/data/topics/orders/topic.json").has_value());
  ASSERT_TRUE(mem_.remove_all("/data/topics/orders/1").has_value());  // partitions 0 and 2 remain
  LogManagerOptions o;
  o.data_dir = "/data";
  o.background = false;
  auto refused = LogManager::open(fault_, o, clock_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(refused.error().message().find("/data/topics/orders"), std::string::npos);
  EXPECT_NE(refused.error().message().find("refusing to start"), std::string::npos);
  EXPECT_TRUE(mem_.exists("/data/topics/orders/0").value()) << "refusing must not delete anything";
}

TEST_F(LogManagerTest, CrashAtEveryStepOfDeleteLeavesTheTopicOrNone) {
  for (std::uint64_t n = 1; n <= 30; ++n) {
    io::MemoryFileSystem mem;
    io::FaultFileSystem fault(mem);
    LogManagerOptions o;
    o.data_dir = "/data";
    o.background = false;
    bool acked = false;
    {
      auto m = LogManager::open(fault, o, clock_);
      ASSERT_TRUE(m.has_value());
      ASSERT_TRUE((*m)->create_topic("orders", 2).has_value());
      ASSERT_TRUE((*(*m)->partition("orders", PartitionId(1)))
                      ->append(test::simple_batch("x"))
                      .has_value());
      fault.tear_nth_write(n, 0);
      fault.fail_nth_sync_dir(n);
      acked = (*m)->delete_topic("orders").has_value();
    }
    mem.crash();
    fault.revive();
    fault.clear_faults();
    auto m = LogManager::open(fault, o, clock_);
    ASSERT_TRUE(m.has_value()) << "n=" << n << ": " << m.error().to_string();
    auto t = (*m)->topic("orders");
    if (acked) {
      EXPECT_FALSE(t.has_value()) << "n=" << n << ": an acknowledged delete came back";
    }
    if (t) {
      EXPECT_EQ((*(*m)->partition("orders", PartitionId(1)))->log_end_offset(), Offset(1))
          << "n=" << n;
    }
  }
}

TEST_F(LogManagerTest, CrashAtEveryStepOfCreateLeavesNoTopicOrAWholeOne) {
  for (std::uint64_t n = 1; n <= 40; ++n) {
    io::MemoryFileSystem mem;
    io::FaultFileSystem fault(mem);
    LogManagerOptions o;
    o.data_dir = "/data";
    o.background = false;
    bool acked = false;
    {
      auto m = LogManager::open(fault, o, clock_);
      ASSERT_TRUE(m.has_value());
      fault.tear_nth_write(n, 3);
      fault.fail_nth_sync_dir(n);
      acked = (*m)->create_topic("orders", 3).has_value();
    }
    mem.crash();
    fault.revive();
    fault.clear_faults();
    auto m = LogManager::open(fault, o, clock_);
    ASSERT_TRUE(m.has_value()) << "n=" << n << ": " << m.error().to_string();
    auto t = (*m)->topic("orders");
    if (acked) {
      ASSERT_TRUE(t.has_value()) << "n=" << n << ": an acknowledged create was lost";
    }
    if (t) {
      EXPECT_EQ(t->partitions, 3);
      for (int p = 0; p < 3; ++p) {
        auto part = (*m)->partition("orders", PartitionId(p));
        ASSERT_TRUE(part.has_value());
        EXPECT_TRUE((*part)->append(test::simple_batch("ok")).has_value());
      }
    } else {
      EXPECT_TRUE((*m)->create_topic("orders", 3).has_value()) << "n=" << n;
    }
  }
}

TEST_F(LogManagerTest, IntervalPolicySyncsInTheBackgroundPass) {
  auto m = open();
  ASSERT_TRUE(m->create_topic("fast", 1, {{"sync.policy", "interval:10"}}).has_value());
  auto p = *m->partition("fast", PartitionId(0));
  const auto before = mem_.sync_count();
  ASSERT_TRUE(p->append(test::simple_batch("x")).has_value());
  EXPECT_EQ(mem_.sync_count(), before) << "interval policy does not sync on append";
  clock_.advance(std::chrono::milliseconds(20));
  m->run_interval_syncs();
  EXPECT_EQ(mem_.sync_count(), before + 1);
  p.reset();
  m.reset();  // closes cleanly
}

}  // namespace
}  // namespace wharf::storage
