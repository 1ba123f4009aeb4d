// Pipelined appends (append_async) and waiting readers (wait_for, watch).
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "io/fault_file_system.h"
#include "io/memory_file_system.h"
#include "storage/partition.h"
#include "tests/support/compressed_batch.h"
#include "tests/support/manual_runner.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

struct Outcome {
  bool called = false;
  Status status = ok();
};

class PartitionAsyncTest : public ::testing::Test {
 protected:
  std::shared_ptr<Partition> open(TopicConfig config = {}) {
    auto p = Partition::open(fault_, "/data/t/0", config, clock_);
    EXPECT_TRUE(p.has_value()) << p.error().to_string();
    return p ? std::shared_ptr<Partition>(std::move(*p)) : nullptr;
  }
  Result<AppendResult> put_async(Partition& p, Bytes batch, Outcome& out) {
    return p.append_async(MutableByteView(batch), runner_.runner(), [&out](Status s) {
      EXPECT_FALSE(out.called) << "the callback runs once";
      out.called = true;
      out.status = std::move(s);
    });
  }

  io::MemoryFileSystem mem_;
  io::FaultFileSystem fault_{mem_};
  ManualClock clock_;
  test::ManualRunner runner_;
};

TEST_F(PartitionAsyncTest, PipelinedAppendsAreWrittenInOrderAndShareOneSync) {
  auto p = open();
  const auto syncs_before = fault_.syncs();
  std::vector<Outcome> outcomes(10);
  for (int i = 0; i < 10; ++i) {
    auto r = put_async(*p, test::deterministic_batch(1, i, 64, 1), outcomes[i]);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(r->base_offset, Offset(i)) << "offsets follow the call order";
    EXPECT_FALSE(outcomes[i].called) << "not durable before a sync";
  }
  EXPECT_EQ(p->log_end_offset(), Offset(10));
  EXPECT_EQ(p->high_watermark(), Offset(0)) << "readers see only durable batches";
  EXPECT_EQ(fault_.syncs(), syncs_before) << "no sync on the appending thread";
  EXPECT_EQ(runner_.run_all(), 1) << "one scheduled sync task for all ten";
  EXPECT_EQ(fault_.syncs(), syncs_before + 1);
  for (const auto& o : outcomes) {
    EXPECT_TRUE(o.called);
    EXPECT_TRUE(o.status.has_value());
  }
  EXPECT_EQ(p->high_watermark(), Offset(10));
  // What was acknowledged survives a crash.
  p.reset();
  mem_.crash();
  auto again = open();
  EXPECT_EQ(again->log_end_offset(), Offset(10));
}

TEST_F(PartitionAsyncTest, AFailedSyncFailsEveryWaiterAndFencesThePartition) {
  auto p = open();
  Outcome a, b;
  ASSERT_TRUE(put_async(*p, test::simple_batch("a"), a).has_value());
  ASSERT_TRUE(put_async(*p, test::simple_batch("b"), b).has_value());
  fault_.fail_nth_sync(1);
  runner_.run_all();
  ASSERT_TRUE(a.called && b.called);
  EXPECT_EQ(a.status.error().code(), ErrorCode::kFenced);
  EXPECT_EQ(b.status.error().code(), ErrorCode::kFenced);
  EXPECT_TRUE(p->fenced());
  EXPECT_EQ(p->high_watermark(), Offset(0));
  Outcome c;
  EXPECT_EQ(put_async(*p, test::simple_batch("c"), c).error().code(), ErrorCode::kFenced);
  EXPECT_FALSE(c.called) << "no callback when the append itself fails";
}

TEST_F(PartitionAsyncTest, ABlockingAppendsSyncCompletesTheAsyncWaitersItCovers) {
  auto p = open();
  Outcome a;
  ASSERT_TRUE(put_async(*p, test::simple_batch("a"), a).has_value());
  const auto syncs_before = fault_.syncs();
  ASSERT_TRUE(p->append(test::simple_batch("b")).has_value());
  EXPECT_TRUE(a.called && a.status.has_value());
  EXPECT_EQ(fault_.syncs(), syncs_before + 1);
  runner_.run_all();
  EXPECT_EQ(fault_.syncs(), syncs_before + 1) << "the queued task finds nothing to sync";
  EXPECT_EQ(p->high_watermark(), Offset(2));
}

TEST_F(PartitionAsyncTest, ADuplicateWaitsForItsOriginalToBeDurable) {
  auto p = open();
  const Bytes batch = test::simple_batch("a", 1, BatchOptions{ProducerId(7), ProducerEpoch(0), 0});
  Outcome first, retry;
  ASSERT_TRUE(put_async(*p, batch, first).has_value());
  auto r = put_async(*p, batch, retry);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->duplicate);
  EXPECT_EQ(r->base_offset, Offset(0));
  EXPECT_FALSE(retry.called) << "the original is not durable yet";
  runner_.run_all();
  EXPECT_TRUE(first.called && retry.called);
  // Once durable, a further retry is answered at once.
  Outcome later;
  ASSERT_TRUE(put_async(*p, batch, later).has_value());
  EXPECT_TRUE(later.called);
}

TEST_F(PartitionAsyncTest, WithoutAnOwnerOrUnderOtherPoliciesTheCallbackRunsBeforeReturning) {
  {
    auto owned = Partition::open(fault_, "/data/u/0", {}, clock_);
    ASSERT_TRUE(owned.has_value());
    Outcome o;
    ASSERT_TRUE(put_async(**owned, test::simple_batch("x"), o).has_value());
    EXPECT_TRUE(o.called && o.status.has_value()) << "no shared owner: synced on this thread";
    EXPECT_TRUE(runner_.tasks.empty());
    EXPECT_EQ((*owned)->high_watermark(), Offset(1));
  }
  auto none = open(*TopicConfig::from_map({{"sync.policy", "none"}}));
  ASSERT_NE(none, nullptr);
  Outcome o;
  ASSERT_TRUE(put_async(*none, test::simple_batch("y"), o).has_value());
  EXPECT_TRUE(o.called && o.status.has_value());
  EXPECT_TRUE(runner_.tasks.empty());
  EXPECT_EQ(none->high_watermark(), Offset(1));
}

// try_append_async (the network thread's produce) writes as append_async does, or writes nothing
// and leaves the callback to the caller's append_async when it would have to wait or sync.
TEST_F(PartitionAsyncTest, TryAppendWritesAsAppendAsyncDoesOrLeavesTheBatchUntouched) {
  const std::map<std::string, std::string> interval{{"segment.bytes", "4096"},
                                                    {"sync.policy", "interval:60000"}};
  auto p = open(*TopicConfig::from_map(interval));
  ASSERT_NE(p, nullptr);
  Outcome first;
  DurableCallback cb = [&first](Status s) {
    first.called = true;
    first.status = std::move(s);
  };
  Bytes a = test::simple_batch(std::string(3000, 'a'));
  auto r = p->try_append_async(MutableByteView(a), runner_.runner(), cb);
  ASSERT_TRUE(r.has_value()) << "the lock is free and the empty segment does not roll";
  ASSERT_TRUE(r->has_value()) << r->error().to_string();
  EXPECT_EQ((*r)->base_offset, Offset(0));
  EXPECT_TRUE(first.called && first.status.has_value()) << "nothing to wait for under interval";
  EXPECT_TRUE(runner_.tasks.empty());
  EXPECT_EQ(p->high_watermark(), Offset(1));

  // A second 3000-byte batch would start a new segment (a sync and new files): left alone.
  Bytes b = test::simple_batch(std::string(3000, 'b'));
  Outcome second;
  DurableCallback cb2 = [&second](Status s) {
    second.called = true;
    second.status = std::move(s);
  };
  EXPECT_FALSE(p->try_append_async(MutableByteView(b), runner_.runner(), cb2).has_value());
  EXPECT_TRUE(static_cast<bool>(cb2)) << "the callback is still the caller's";
  EXPECT_EQ(p->log_end_offset(), Offset(1)) << "nothing written";
  ASSERT_TRUE(p->append_async(MutableByteView(b), runner_.runner(), std::move(cb2)).has_value());
  runner_.run_all();
  EXPECT_TRUE(second.called && second.status.has_value());
  EXPECT_EQ(p->high_watermark(), Offset(2));

  // A damaged batch is refused here as append_async refuses it.
  Bytes bad = test::simple_batch("c");
  bad.back() ^= std::byte{1};
  DurableCallback unused = [](Status) { ADD_FAILURE() << "a refused batch has no callback"; };
  auto refused = p->try_append_async(MutableByteView(bad), runner_.runner(), unused);
  ASSERT_TRUE(refused.has_value());
  ASSERT_FALSE(refused->has_value());
  EXPECT_EQ(refused->error().code(), ErrorCode::kCorruptMessage);
  EXPECT_TRUE(static_cast<bool>(unused)) << "a refused batch leaves the callback to the caller";
  EXPECT_EQ(p->log_end_offset(), Offset(2));

  // A compressed batch is decompressed to be validated: more work than its size says.
  Bytes z = test::compress_batch(test::simple_batch("z"), Compression::kZstd);
  EXPECT_FALSE(p->try_append_async(MutableByteView(z), runner_.runner(), unused).has_value());
  // No runner: the sync would have to run on this thread.
  Bytes c = test::simple_batch("c");
  EXPECT_FALSE(p->try_append_async(MutableByteView(c), TaskRunner{}, unused).has_value());
  // A batch the topic's compression.type recompresses: left to a thread that may block.
  auto zstd = interval;
  zstd["compression.type"] = "zstd";
  p->set_config(*TopicConfig::from_map(zstd));
  EXPECT_FALSE(p->try_append_async(MutableByteView(c), runner_.runner(), unused).has_value());
  // Under sync.policy=always the answer waits for a sync anyway: left to the storage path.
  p->set_config(*TopicConfig::from_map({{"segment.bytes", "4096"}}));
  EXPECT_FALSE(p->try_append_async(MutableByteView(c), runner_.runner(), unused).has_value());
  EXPECT_EQ(p->log_end_offset(), Offset(2));
  p->set_config(*TopicConfig::from_map(interval));
  Outcome third;
  DurableCallback cb3 = [&third](Status s) { third.called = s.has_value(); };
  auto written = p->try_append_async(MutableByteView(c), runner_.runner(), cb3);
  ASSERT_TRUE(written.has_value() && written->has_value()) << "the same batch, written now";
  EXPECT_EQ((*written)->base_offset, Offset(2));
  EXPECT_TRUE(third.called);
}

// The network thread's two entry points only try the partition's lock. A watcher's callback runs
// with that lock held (watch's contract), so from another thread inside it both must give up,
// and with the lock free both go ahead.
TEST_F(PartitionAsyncTest, TryAppendAndTryReaderViewGiveUpWhileTheLockIsHeld) {
  auto p = open(*TopicConfig::from_map({{"sync.policy", "none"}}));
  ASSERT_NE(p, nullptr);
  std::optional<bool> append_gave_up, view_gave_up;
  DurableCallback unused = [](Status) { ADD_FAILURE() << "nothing is written"; };
  Bytes x = test::simple_batch("x");
  p->watch(Offset(0), [&] {
    std::thread other([&] {
      append_gave_up = !p->try_append_async(MutableByteView(x), runner_.runner(), unused);
      view_gave_up = !p->try_reader_view().has_value();
    });
    other.join();
  });
  ASSERT_TRUE(p->append(test::simple_batch("a")).has_value());  // wakes the watcher, lock held
  EXPECT_EQ(append_gave_up, std::optional<bool>(true));
  EXPECT_EQ(view_gave_up, std::optional<bool>(true));
  EXPECT_TRUE(static_cast<bool>(unused)) << "the callback is still the caller's";
  EXPECT_EQ(p->log_end_offset(), Offset(1)) << "only the blocking append wrote";

  DurableCallback written = [](Status s) { EXPECT_TRUE(s.has_value()); };
  auto r = p->try_append_async(MutableByteView(x), runner_.runner(), written);
  ASSERT_TRUE(r.has_value() && r->has_value()) << "the lock is free again";
  EXPECT_EQ((*r)->base_offset, Offset(1));
  auto view = p->try_reader_view();
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->high_watermark, Offset(2));
}

TEST_F(PartitionAsyncTest, TryAppendLeavesAFencedOrUnownedPartitionToTheBlockingPath) {
  const auto none = *TopicConfig::from_map({{"sync.policy", "none"}});
  auto owned = Partition::open(fault_, "/data/u/0", none, clock_);
  ASSERT_TRUE(owned.has_value());
  DurableCallback unused = [](Status) { ADD_FAILURE() << "nothing is written"; };
  Bytes x = test::simple_batch("x");
  EXPECT_FALSE((*owned)->try_append_async(MutableByteView(x), runner_.runner(), unused).has_value())
      << "no shared owner to keep it alive for a sync task";

  auto p = open(none);
  ASSERT_NE(p, nullptr);
  Bytes y = test::simple_batch("y");
  DurableCallback durable = [](Status s) { EXPECT_TRUE(s.has_value()); };
  auto first = p->try_append_async(MutableByteView(y), runner_.runner(), durable);
  ASSERT_TRUE(first.has_value() && first->has_value()) << "written while not fenced";
  fault_.fail_nth_sync(1);
  ASSERT_FALSE(p->sync().has_value());
  ASSERT_TRUE(p->fenced());
  EXPECT_FALSE(p->try_append_async(MutableByteView(x), runner_.runner(), unused).has_value())
      << "append_async gives the fenced error";
}

TEST_F(PartitionAsyncTest, TryAppendLeavesATimedRollARunningIntervalSyncAndAClosedPartitionAlone) {
  auto p =
      open(*TopicConfig::from_map({{"sync.policy", "interval:60000"}, {"segment.ms", "1000"}}));
  ASSERT_NE(p, nullptr);
  // A fresh callback per write: a successful try_append_async takes the one it is given.
  auto written = [] { return DurableCallback([](Status s) { EXPECT_TRUE(s.has_value()); }); };
  DurableCallback unused = [](Status) { ADD_FAILURE() << "nothing is written"; };
  Bytes a = test::simple_batch("a");
  DurableCallback w1 = written();
  auto first = p->try_append_async(MutableByteView(a), runner_.runner(), w1);
  ASSERT_TRUE(first.has_value() && first->has_value());

  // The segment is now as old as segment.ms: the next append starts a new one.
  clock_.advance(std::chrono::milliseconds(1000));
  Bytes b = test::simple_batch("b");
  EXPECT_FALSE(p->try_append_async(MutableByteView(b), runner_.runner(), unused).has_value());
  EXPECT_TRUE(static_cast<bool>(unused)) << "the callback is still the caller's";
  EXPECT_EQ(p->log_end_offset(), Offset(1));
  ASSERT_TRUE(p->append_async(MutableByteView(b), runner_.runner(), written()).has_value());

  // While the interval's sync runs (held here), a write could wait on its journal commit.
  fault_.hold_syncs();
  std::thread syncer([&] { EXPECT_TRUE(p->sync().has_value()); });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (fault_.syncs_waiting() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  ASSERT_EQ(fault_.syncs_waiting(), 1u);
  Bytes c = test::simple_batch("c");
  EXPECT_FALSE(p->try_append_async(MutableByteView(c), runner_.runner(), unused).has_value());
  fault_.release_syncs();
  syncer.join();
  DurableCallback w3 = written();
  auto third = p->try_append_async(MutableByteView(c), runner_.runner(), w3);
  ASSERT_TRUE(third.has_value() && third->has_value()) << "written once the sync is done";
  EXPECT_EQ((*third)->base_offset, Offset(2));

  ASSERT_TRUE(p->close().has_value());
  Bytes d = test::simple_batch("d");
  EXPECT_FALSE(p->try_append_async(MutableByteView(d), runner_.runner(), unused).has_value())
      << "closed: append_async gives the error";
}

TEST_F(PartitionAsyncTest, CloseSyncsWhatIsPendingAndCompletesItsWaiters) {
  auto p = open();
  Outcome o;
  ASSERT_TRUE(put_async(*p, test::simple_batch("x"), o).has_value());
  ASSERT_TRUE(p->close().has_value());
  EXPECT_TRUE(o.called && o.status.has_value());
  runner_.run_all();  // the scheduled task finds a closed partition
  p.reset();
  mem_.crash();
  EXPECT_EQ(open()->log_end_offset(), Offset(1));
}

TEST_F(PartitionAsyncTest, WatchFiresWhenTheHighWatermarkPassesAndNotAfterUnwatch) {
  auto p = open();
  int woken = 0, unwatched = 0;
  p->watch(Offset(0), [&] { ++woken; });
  const auto id = p->watch(Offset(0), [&] { ++unwatched; });
  p->unwatch(id);
  Outcome o;
  ASSERT_TRUE(put_async(*p, test::simple_batch("x"), o).has_value());
  EXPECT_EQ(woken, 0) << "written but not durable: nothing to read yet";
  runner_.run_all();
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(unwatched, 0);
  // Above the high watermark already: at once. Below it: waits.
  int at_once = 0, later = 0;
  p->watch(Offset(0), [&] { ++at_once; });
  p->watch(Offset(1), [&] { ++later; });
  EXPECT_EQ(at_once, 1);
  EXPECT_EQ(later, 0);
  ASSERT_TRUE(p->append(test::simple_batch("y")).has_value());
  EXPECT_EQ(later, 1);
  ASSERT_TRUE(p->append(test::simple_batch("z")).has_value());
  EXPECT_EQ(later, 1) << "a watch fires once";
  // Closing wakes whoever still waits.
  int closed = 0;
  p->watch(Offset(100), [&] { ++closed; });
  ASSERT_TRUE(p->close().has_value());
  EXPECT_EQ(closed, 1);
}

// A runner whose pool is gone (a stopped server's) refuses the sync: the append syncs on its own
// thread, and a later append with a working runner is scheduled as usual (nothing is left
// marked "scheduled" by the refused task).
TEST_F(PartitionAsyncTest, ARunnerThatRefusesTheSyncMakesTheAppendSyncItselfAndLeavesNothingStuck) {
  auto p = open();
  int refused = 0;
  Outcome first;
  Bytes batch = test::simple_batch("a");
  auto r = p->append_async(
      MutableByteView(batch),
      [&refused](std::function<void()>) {
        ++refused;
        return false;
      },
      [&first](Status s) {
        first.called = true;
        first.status = std::move(s);
      });
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(refused, 1);
  EXPECT_TRUE(first.called) << "synced on the appending thread";
  EXPECT_TRUE(first.status.has_value());
  EXPECT_EQ(p->high_watermark(), Offset(1));
  Outcome second;
  ASSERT_TRUE(put_async(*p, test::simple_batch("b"), second).has_value());
  EXPECT_FALSE(second.called);
  EXPECT_EQ(runner_.run_all(), 1) << "the next sync is scheduled on the working runner";
  EXPECT_TRUE(second.called);
  EXPECT_EQ(p->high_watermark(), Offset(2));
  ASSERT_TRUE(p->close().has_value());
}

TEST_F(PartitionAsyncTest, RetiringThePartitionOfADeletedTopicWakesItsWatchersAndWaiters) {
  auto p = open();
  int before = 0, after = 0;
  p->watch(Offset(0), [&] { ++before; });
  p->retire();
  EXPECT_EQ(before, 1) << "a watcher wakes when its topic is deleted";
  p->watch(Offset(0), [&] { ++after; });
  EXPECT_EQ(after, 1) << "and a watch placed afterwards fires at once";
  EXPECT_EQ(p->wait_for(Offset(0), std::chrono::hours(1)), Offset(0)) << "wait_for returns";
  ASSERT_TRUE(p->close().has_value());
}

TEST_F(PartitionAsyncTest, WaitForReturnsOnDataFromAnotherThreadOrAfterTheTimeout) {
  auto p = open();
  EXPECT_EQ(p->wait_for(Offset(0), std::chrono::milliseconds(1)), Offset(0)) << "timed out";
  std::thread writer([&] { ASSERT_TRUE(p->append(test::simple_batch("x")).has_value()); });
  // A generous bound: the test does not measure time, it only must not hang forever.
  const Offset hw = p->wait_for(Offset(0), std::chrono::seconds(60));
  writer.join();
  EXPECT_EQ(hw, Offset(1));
  std::thread closer([&] { ASSERT_TRUE(p->close().has_value()); });
  EXPECT_EQ(p->wait_for(Offset(5), std::chrono::seconds(60)), Offset(1));
  closer.join();
}

}  // namespace
}  // namespace wharf::storage
