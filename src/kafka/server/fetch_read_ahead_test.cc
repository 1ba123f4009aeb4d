// FetchReadAhead on a real Partition over the in-memory file system: what a take() serves is
// what a read would have, for exactly the read asked ahead; the budget is held only while bytes
// are; a queued read is cancelled by its take and a running one waited for.
#include "kafka/server/fetch_read_ahead.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "io/memory_file_system.h"
#include "tests/support/manual_runner.h"
#include "tests/support/storage_fixtures.h"
#include "tests/support/test_server.h"

namespace wharf::kafka {
namespace {

using namespace std::chrono_literals;

class FetchReadAheadTest : public ::testing::Test {
 protected:
  std::shared_ptr<storage::Partition> open(const std::string& dir) {
    auto p = storage::Partition::open(fs_, dir, storage::TopicConfig{}, clock_);
    EXPECT_TRUE(p.has_value()) << p.error().to_string();
    return p ? std::shared_ptr<storage::Partition>(std::move(*p)) : nullptr;
  }
  // Appends batches 0..n-1 of stream 1, one per call: batch i holds offsets from its base.
  void fill(storage::Partition& p, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = p.append(test::deterministic_batch(1, static_cast<std::uint64_t>(i)));
      ASSERT_TRUE(r.has_value()) << r.error().to_string();
    }
  }
  Bytes read_now(storage::Partition& p, Offset from, std::size_t max_bytes) {
    auto r = p.read(from, max_bytes);
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
    return r ? Bytes(r->records.begin(), r->records.end()) : Bytes();
  }
  std::shared_ptr<FetchReadAhead> read_ahead(storage::TaskRunner post) {
    return std::make_shared<FetchReadAhead>(budget_, std::move(post), clock_);
  }
  // A read ahead of `max_bytes` of `part` from `from`, run to the end: its bytes are held.
  std::shared_ptr<FetchReadAhead> held(std::shared_ptr<storage::Partition> part, Offset from,
                                       std::size_t max_bytes) {
    auto ra = read_ahead(runner_.runner());
    ra->start(std::move(part), from, max_bytes);
    EXPECT_EQ(runner_.run_all(), 1);
    return ra;
  }

  test::ReadGate gate_;
  io::MemoryFileSystem mem_;
  test::GatedFileSystem fs_{mem_, gate_};
  ManualClock clock_;
  std::shared_ptr<ReadAheadBudget> budget_ = std::make_shared<ReadAheadBudget>(1 << 20);
  test::ManualRunner runner_;
};

Bytes bytes_of(const std::optional<ByteBuffer>& b) {
  return b ? Bytes(b->begin(), b->end()) : Bytes();
}

TEST_F(FetchReadAheadTest, ServesWhatAReadWouldAndHoldsTheBudgetOnlyWhileItHoldsTheBytes) {
  auto p = open("/data/t/0");
  fill(*p, 6);
  const auto first = test::headers_of(read_now(*p, Offset(0), 1));
  ASSERT_EQ(first.size(), 1u);
  const Offset from = first[0].next_offset();
  const Bytes expected = read_now(*p, from, 600);
  ASSERT_FALSE(expected.empty());
  auto ra = read_ahead(runner_.runner());
  ra->start(p, from, 600);
  EXPECT_EQ(budget_->used(), 600u) << "the limit is reserved while the read is queued";
  EXPECT_EQ(runner_.run_all(), 1);
  EXPECT_EQ(budget_->used(), expected.size()) << "then only what was read is held";
  auto got = ra->take(*p, from, 600, p->high_watermark());
  EXPECT_EQ(bytes_of(got), expected);
  EXPECT_EQ(budget_->used(), 0u);
  EXPECT_FALSE(ra->take(*p, from, 600, p->high_watermark()).has_value()) << "served once";
}

TEST_F(FetchReadAheadTest, ADifferentReadGetsNothingAndLeavesTheReadAheadForItsOwn) {
  auto p = open("/data/t/0");
  auto other = open("/data/t/1");
  fill(*p, 4);
  fill(*other, 4);
  auto ra = held(p, Offset(1), 500);
  const Offset hw = p->high_watermark();
  EXPECT_FALSE(ra->take_finished(*p, Offset(2), 500, hw).has_value());
  EXPECT_FALSE(ra->take_finished(*p, Offset(1), 499, hw).has_value());
  EXPECT_FALSE(ra->take_finished(*other, Offset(1), 500, hw).has_value());
  EXPECT_FALSE(ra->take(*p, Offset(2), 500, hw).has_value()) << "another offset";
  EXPECT_FALSE(ra->take(*p, Offset(1), 499, hw).has_value()) << "another limit";
  EXPECT_FALSE(ra->take(*other, Offset(1), 500, hw).has_value()) << "another partition";
  EXPECT_EQ(bytes_of(ra->take(*p, Offset(1), 500, hw)), read_now(*p, Offset(1), 500));
  EXPECT_FALSE(ra->take_finished(*p, Offset(1), 500, hw).has_value()) << "taken";
  // take_finished serves a finished read as take does.
  auto again = held(p, Offset(1), 500);
  EXPECT_EQ(bytes_of(again->take_finished(*p, Offset(1), 500, hw)), read_now(*p, Offset(1), 500));
  EXPECT_EQ(budget_->used(), 0u);
}

TEST_F(FetchReadAheadTest, AnotherPartitionObjectForTheSameDirectoryGetsNothing) {
  // A topic deleted and created again under the same name is another Partition object.
  auto p = open("/data/t/0");
  fill(*p, 4);
  auto ra = held(p, Offset(1), 500);
  ASSERT_TRUE(p->close().has_value());
  p.reset();  // only the read ahead keeps the old object now
  auto reopened = open("/data/t/0");
  EXPECT_FALSE(ra->take(*reopened, Offset(1), 500, reopened->high_watermark()).has_value());
}

TEST_F(FetchReadAheadTest, RecordsAreCutAtTheHighWatermarkTheFetchSees) {
  auto p = open("/data/t/0");
  fill(*p, 5);
  const Bytes all = read_now(*p, Offset(0), 64 << 10);
  const auto headers = test::headers_of(all);
  ASSERT_EQ(headers.size(), 5u);
  auto ra = held(p, Offset(0), 64 << 10);
  // As if the high watermark stood at the third batch's base (a topic switched to `always`).
  auto got = ra->take(*p, Offset(0), 64 << 10, headers[2].base_offset);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(test::headers_of(bytes_of(got)).size(), 2u);
  EXPECT_EQ(got->size(), headers[0].total_bytes() + headers[1].total_bytes());
  // Nothing below it: nothing served, and counted as dropped, not used.
  const double used_before = read_ahead_used().value();
  const double dropped_before = read_ahead_dropped().value();
  auto none = held(p, Offset(0), 64 << 10);
  EXPECT_FALSE(none->take(*p, Offset(0), 64 << 10, Offset(0)).has_value());
  EXPECT_EQ(read_ahead_used().value(), used_before);
  EXPECT_EQ(read_ahead_dropped().value(), dropped_before + 1);
  EXPECT_EQ(budget_->used(), 0u);
}

// A read that throws (only an allocation can) still ends, held and empty: a take() gets nothing
// instead of waiting for ever, the budget is given back, and the next read ahead works.
TEST_F(FetchReadAheadTest, AReadThatThrowsEndsEmptyAndGivesTheBudgetBack) {
  auto p = open("/data/t/0");
  fill(*p, 3);
  auto ra = read_ahead(runner_.runner());
  gate_.throw_next(1);
  ra->start(p, Offset(0), 500);
  EXPECT_EQ(runner_.run_all(), 1) << "the read ran and threw inside the task";
  EXPECT_FALSE(ra->take(*p, Offset(0), 500, p->high_watermark()).has_value());
  EXPECT_EQ(budget_->used(), 0u);
  ra->start(p, Offset(0), 500);
  EXPECT_EQ(runner_.run_all(), 1);
  EXPECT_EQ(bytes_of(ra->take(*p, Offset(0), 500, p->high_watermark())),
            read_now(*p, Offset(0), 500));
}

TEST_F(FetchReadAheadTest, AQueuedReadIsCancelledByItsTakeAndThenReadsNothing) {
  auto p = open("/data/t/0");
  fill(*p, 3);
  auto ra = read_ahead(runner_.runner());
  ra->start(p, Offset(1), 500);
  EXPECT_FALSE(ra->take_finished(*p, Offset(1), 500, p->high_watermark()).has_value());
  EXPECT_EQ(budget_->used(), 500u) << "take_finished leaves a queued read queued";
  EXPECT_FALSE(ra->take(*p, Offset(1), 500, p->high_watermark()).has_value())
      << "the caller reads now rather than wait for the queue";
  EXPECT_EQ(budget_->used(), 0u);
  EXPECT_EQ(runner_.run_all(), 1);
  EXPECT_EQ(budget_->used(), 0u) << "the cancelled task held nothing";
  EXPECT_FALSE(ra->take(*p, Offset(1), 500, p->high_watermark()).has_value());
}

TEST_F(FetchReadAheadTest, ATakeWaitsForTheMatchingReadThatIsRunning) {
  auto p = open("/data/t/0");
  fill(*p, 3);
  const Bytes expected = read_now(*p, Offset(1), 500);
  // Read now: the running read holds the partition while it finds its first batch.
  const Offset hw = p->high_watermark();
  std::vector<std::thread> threads;
  auto ra = read_ahead([&threads](std::function<void()> f) {
    threads.emplace_back(std::move(f));
    return true;
  });
  gate_.close();
  ra->start(p, Offset(1), 500);
  ASSERT_TRUE(gate_.wait_for_reader(10s)) << "the read ahead is running, held at the gate";
  auto finished =
      std::async(std::launch::async, [&] { return ra->take_finished(*p, Offset(1), 500, hw); });
  const bool returned = finished.wait_for(10s) == std::future_status::ready;
  if (!returned) gate_.open();  // so that the test can end
  ASSERT_TRUE(returned) << "take_finished never waits";
  EXPECT_FALSE(finished.get().has_value());
  auto taken = std::async(std::launch::async, [&] { return ra->take(*p, Offset(1), 500, hw); });
  EXPECT_EQ(taken.wait_for(50ms), std::future_status::timeout) << "it waits for the read";
  gate_.open();
  EXPECT_EQ(bytes_of(taken.get()), expected);
  for (auto& t : threads) t.join();
  EXPECT_EQ(budget_->used(), 0u);
}

TEST_F(FetchReadAheadTest, NothingStartsBeyondTheBudgetOrItsShareOrOnAStoppedServer) {
  auto p = open("/data/t/0");
  fill(*p, 3);
  auto small_budget = std::make_shared<ReadAheadBudget>(160);  // 20 bytes per connection
  auto small = std::make_shared<FetchReadAhead>(small_budget, runner_.runner(), clock_);
  small->start(p, Offset(1), 500);
  EXPECT_EQ(runner_.run_all(), 0) << "500 bytes are more than a connection's share of 160";
  EXPECT_EQ(small_budget->used(), 0u);

  // A first batch larger than the limit is served whole (KIP-74) if the budget has room...
  const Bytes batch = read_now(*p, Offset(1), 1);
  ASSERT_GT(batch.size(), 160u);
  auto roomy = read_ahead(runner_.runner());
  roomy->start(p, Offset(1), 10);
  EXPECT_EQ(runner_.run_all(), 1);
  EXPECT_EQ(budget_->used(), batch.size()) << "all of it is held, beyond the 10 reserved";
  EXPECT_EQ(bytes_of(roomy->take(*p, Offset(1), 10, p->high_watermark())), batch);
  EXPECT_EQ(budget_->used(), 0u);
  // ...and dropped, its reservation given back, if not.
  small->start(p, Offset(1), 10);
  EXPECT_EQ(runner_.run_all(), 1);
  EXPECT_EQ(small_budget->used(), 0u);
  EXPECT_FALSE(small->take(*p, Offset(1), 10, p->high_watermark()).has_value());

  runner_.refuse = true;
  auto refused = read_ahead(runner_.runner());
  refused->start(p, Offset(1), 500);
  EXPECT_EQ(budget_->used(), 0u) << "a refused post gives its reservation back";
}

TEST_F(FetchReadAheadTest, HeldBytesAreDroppedWhenReplacedWhenOldAndWhenTheConnectionEnds) {
  auto p = open("/data/t/0");
  fill(*p, 3);
  {
    auto first = held(p, Offset(1), 500);
    EXPECT_GT(budget_->used(), 0u);
    first->start(p, Offset(2), 500);  // drops what the first read holds
    runner_.run_all();
    EXPECT_EQ(budget_->used(), read_now(*p, Offset(2), 500).size());
  }
  EXPECT_EQ(budget_->used(), 0u) << "a connection's read-ahead gives its bytes back when it ends";

  auto ra = held(p, Offset(1), 500);
  const std::size_t held_bytes = budget_->used();
  clock_.advance(FetchReadAhead::kHeldMax);
  ra->expire();
  EXPECT_EQ(budget_->used(), held_bytes) << "kept for kHeldMax";
  clock_.advance(1ms);
  ra->expire();
  EXPECT_EQ(budget_->used(), 0u) << "then dropped";
  EXPECT_FALSE(ra->take(*p, Offset(1), 500, p->high_watermark()).has_value());

  ra->start(p, Offset(1), 500);
  runner_.run_all();
  clock_.advance(FetchReadAhead::kHeldMax + 1ms);
  EXPECT_FALSE(ra->take(*p, Offset(1), 500, p->high_watermark()).has_value())
      << "a Fetch that comes too late reads for itself";
  EXPECT_EQ(budget_->used(), 0u);
}

}  // namespace
}  // namespace wharf::kafka
