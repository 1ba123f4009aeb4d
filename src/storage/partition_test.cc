#include "storage/partition.h"

#include <thread>

#include <gtest/gtest.h>

#include "base/metrics.h"
#include "io/fault_file_system.h"
#include "io/memory_file_system.h"
#include "storage/compression.h"
#include "tests/support/compressed_batch.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

class PartitionTest : public ::testing::Test {
 protected:
  std::unique_ptr<Partition> open(TopicConfig config = {}) {
    auto p = Partition::open(fault_, "/data/t/0", config, clock_);
    EXPECT_TRUE(p.has_value()) << p.error().to_string();
    return p ? std::move(*p) : nullptr;
  }
  static Result<AppendResult> put(Partition& p, Bytes batch) { return p.append(batch); }

  io::MemoryFileSystem mem_;
  io::FaultFileSystem fault_{mem_};
  ManualClock clock_;
};

TEST_F(PartitionTest, AppendAssignsConsecutiveOffsetsAndReadReturnsTheSameBytes) {
  // (The bytes read back also pass check_batch_crc in read(): the epoch is outside the CRC.)
  auto p = open();
  std::vector<Bytes> written;
  Offset expected(0);
  for (int i = 0; i < 20; ++i) {
    Bytes b = test::deterministic_batch(1, i);
    auto h = parse_header(b);
    auto r = put(*p, b);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(r->base_offset, expected);
    EXPECT_EQ(r->last_offset, expected + h->last_offset_delta);
    EXPECT_EQ(h->partition_leader_epoch, -1) << "as producers send it";
    patch_base_offset(b, expected);
    // Stored in leader epoch 0, as Kafka writes its leader's epoch over the producer's.
    patch_partition_leader_epoch(b, kStoredLeaderEpoch);
    written.push_back(b);
    expected = r->last_offset + 1;
  }
  EXPECT_EQ(p->log_end_offset(), expected);
  EXPECT_EQ(p->high_watermark(), expected);
  auto read = p->read(Offset(0), 1 << 20);
  ASSERT_TRUE(read.has_value());
  Bytes all;
  for (const auto& b : written) append(all, b);
  EXPECT_EQ(read->records, all);
}

TEST_F(PartitionTest, ReadStartsAtTheBatchContainingTheOffsetAndHonoursMaxBytes) {
  auto p = open();
  std::vector<Offset> bases;
  for (int i = 0; i < 10; ++i) {
    auto r = put(*p, test::deterministic_batch(2, i, 200, 3));
    ASSERT_TRUE(r.has_value());
    bases.push_back(r->base_offset);
  }
  const Offset inside = bases[4] + 0;  // first offset of batch 4
  auto one = p->read(inside, 1);       // max_bytes below one batch: still one whole batch (KIP-74)
  ASSERT_TRUE(one.has_value());
  auto hs = test::headers_of(one->records);
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].base_offset, bases[4]);
  auto from_last_record = p->read(bases[5] - 1, 1);  // last offset of batch 4
  ASSERT_TRUE(from_last_record.has_value());
  EXPECT_EQ(test::headers_of(from_last_record->records)[0].base_offset, bases[4]);
  auto some = p->read(bases[2], 3 * 300);
  ASSERT_TRUE(some.has_value());
  EXPECT_LE(some->records.size(), 3u * 300);
  EXPECT_GE(test::headers_of(some->records).size(), 1u);
}

TEST_F(PartitionTest, ReadAtHighWatermarkIsEmptyAndBeyondIsOutOfRange) {
  auto p = open();
  ASSERT_TRUE(put(*p, test::simple_batch("a")).has_value());
  auto at = p->read(Offset(1), 100);
  ASSERT_TRUE(at.has_value());
  EXPECT_TRUE(at->records.empty());
  EXPECT_EQ(at->high_watermark, Offset(1));
  EXPECT_EQ(p->read(Offset(2), 100).error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(p->read(Offset(-1), 100).error().code(), ErrorCode::kOutOfRange);
}

TEST_F(PartitionTest, ConcurrentAppendsShareSyncs) {
  auto p = open();
  constexpr int kThreads = 8, kPerThread = 50;
  const auto syncs_before = mem_.sync_count();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Bytes b = test::deterministic_batch(t, i, 64, 1);
        if (!p->append(b)) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(p->log_end_offset(), Offset(kThreads * kPerThread));
  const auto syncs = mem_.sync_count() - syncs_before;
  EXPECT_GE(syncs, 1u);
  EXPECT_LE(syncs, static_cast<std::uint64_t>(kThreads * kPerThread));
  // Every acknowledged batch is durable: after a crash all of them are still there.
  p.reset();
  mem_.crash();
  auto again = open();
  EXPECT_EQ(again->log_end_offset(), Offset(kThreads * kPerThread));
}

TEST_F(PartitionTest, TheReaderViewShowsWhatTheAccessorsShow) {
  auto p = open();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(put(*p, test::simple_batch("v")).has_value());
  ASSERT_TRUE(p->advance_log_start(Offset(2)).has_value());
  auto view = p->try_reader_view();
  ASSERT_TRUE(view.has_value()) << "nothing else holds the partition";
  EXPECT_FALSE(view->fenced);
  EXPECT_EQ(view->high_watermark, Offset(4));
  EXPECT_EQ(view->log_start_offset, Offset(2));
  EXPECT_EQ(view->recompression_target, std::nullopt) << "compression.type=producer";
  const auto blocking = p->reader_view();
  EXPECT_EQ(blocking.high_watermark, view->high_watermark);
  EXPECT_EQ(blocking.log_start_offset, view->log_start_offset);
  p->set_config(*TopicConfig::from_map({{"compression.type", "zstd"}}));
  EXPECT_EQ(p->try_reader_view()->recompression_target, Compression::kZstd);
}

TEST_F(PartitionTest, FailedSyncFencesThePartitionAndIsNeverRetried) {
  auto p = open();
  ASSERT_TRUE(put(*p, test::simple_batch("durable")).has_value());
  fault_.fail_nth_sync(1);
  const auto syncs_before = fault_.syncs();
  auto r = put(*p, test::simple_batch("lost"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kFenced);
  EXPECT_TRUE(p->fenced());
  ASSERT_TRUE(p->try_reader_view().has_value());
  EXPECT_TRUE(p->try_reader_view()->fenced);
  auto again = put(*p, test::simple_batch("refused"));
  EXPECT_EQ(again.error().code(), ErrorCode::kFenced);
  EXPECT_EQ(fault_.syncs(), syncs_before + 1) << "no sync after the failed one";
  EXPECT_EQ(p->high_watermark(), Offset(1)) << "the unsynced batch is never shown to readers";
  // Reopen recovers from what is durable: the acknowledged batch only.
  p.reset();
  mem_.crash();
  fault_.revive();
  auto reopened = open();
  EXPECT_EQ(reopened->log_end_offset(), Offset(1));
  EXPECT_FALSE(reopened->fenced());
}

TEST_F(PartitionTest, FailedWriteIsReportedWithoutFencingAndLeavesNoGap) {
  auto p = open();
  ASSERT_TRUE(put(*p, test::simple_batch("one")).has_value());
  fault_.short_write_nth(1, 10);
  auto r = put(*p, test::simple_batch("two"));
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(p->fenced());
  fault_.fail_nth_write(1, ErrorCode::kNoSpace);
  EXPECT_EQ(put(*p, test::simple_batch("three")).error().code(), ErrorCode::kNoSpace);
  auto ok = put(*p, test::simple_batch("four"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->base_offset, Offset(1));
  p.reset();
  mem_.crash();
  auto reopened = open();
  auto read = reopened->read(Offset(0), 1 << 20);
  ASSERT_TRUE(read.has_value());
  auto recs =
      read_records(ByteView(read->records).first(test::headers_of(read->records)[0].total_bytes()));
  ASSERT_EQ(test::headers_of(read->records).size(), 2u);
  EXPECT_EQ(reopened->log_end_offset(), Offset(2));
}

TEST_F(PartitionTest, RollsBySizeAndByAge) {
  auto p = open(*TopicConfig::from_map({{"segment.bytes", "4096"}, {"segment.ms", "60000"}}));
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(put(*p, test::deterministic_batch(3, i, 300, 1)).has_value());
  const auto by_size = p->segment_count();
  EXPECT_GE(by_size, 3u);
  clock_.advance(std::chrono::minutes(2));
  ASSERT_TRUE(put(*p, test::simple_batch("x")).has_value());
  ASSERT_TRUE(put(*p, test::simple_batch("y")).has_value());
  clock_.advance(std::chrono::minutes(2));
  ASSERT_TRUE(put(*p, test::simple_batch("z")).has_value());
  EXPECT_EQ(p->segment_count(), by_size + 2);
  auto all = p->read(Offset(0), 1 << 20);  // a read stays within one segment
  ASSERT_TRUE(all.has_value());
  EXPECT_FALSE(all->records.empty());
  auto last = p->read(Offset(41), 1 << 20);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(test::headers_of(last->records).back().base_offset, Offset(41));
}

TEST_F(PartitionTest, RetentionDeletesOldSegmentsBySizeAndTimeButNeverTheActiveOne) {
  auto p = open(*TopicConfig::from_map({{"segment.bytes", "4096"}, {"retention.bytes", "8192"}}));
  for (int i = 0; i < 60; ++i)
    ASSERT_TRUE(put(*p, test::deterministic_batch(4, i, 300, 1)).has_value());
  const auto before = p->segment_count();
  auto removed = p->enforce_retention();
  ASSERT_TRUE(removed.has_value());
  EXPECT_GT(*removed, 0);
  EXPECT_EQ(p->segment_count(), before - static_cast<std::size_t>(*removed));
  EXPECT_LE(p->size_bytes(), 8192u + 4096u);
  EXPECT_GT(p->log_start_offset(), Offset(0));
  EXPECT_EQ(p->read(Offset(0), 100).error().code(), ErrorCode::kOutOfRange);
  auto first = p->read(p->log_start_offset(), 100);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(test::headers_of(first->records)[0].base_offset, p->log_start_offset());

  p->set_config(*TopicConfig::from_map({{"segment.bytes", "4096"}, {"retention.ms", "1000"}}));
  clock_.set_ms(1'700'000'000'000 + 10 * 60 * 1000);  // fixture timestamps are near 1.7e12
  ASSERT_TRUE(p->enforce_retention().has_value());
  EXPECT_EQ(p->segment_count(), 1u);
  EXPECT_EQ(p->log_start_offset(),
            p->log_end_offset() - (p->log_end_offset() - p->log_start_offset()));
  // Reopening after retention keeps the new log start.
  const Offset start = p->log_start_offset();
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  EXPECT_EQ(open()->log_start_offset(), start);
}

// offset_for_timestamp's offset alone (nullopt: none, or an error, which the test reports).
std::optional<Offset> offset_at(Partition& p, std::int64_t timestamp_ms) {
  auto found = p.offset_for_timestamp(timestamp_ms);
  EXPECT_TRUE(found.has_value()) << found.error().to_string();
  if (!found || !*found) return std::nullopt;
  return (*found)->offset;
}

TEST_F(PartitionTest, OffsetForTimestampFindsTheFirstBatchAtOrAfter) {
  auto p =
      open(*TopicConfig::from_map({{"segment.bytes", "4096"}, {"index.interval.bytes", "100"}}));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(put(*p, test::simple_batch(std::string(200, 'v'), 1000 + i * 10)).has_value());
  }
  EXPECT_EQ(offset_at(*p, 0), Offset(0));
  EXPECT_EQ(offset_at(*p, 1000), Offset(0));
  EXPECT_EQ(offset_at(*p, 1001), Offset(1));
  EXPECT_EQ(offset_at(*p, 1250), Offset(25));
  EXPECT_EQ(offset_at(*p, 1490), Offset(49));
  EXPECT_EQ(offset_at(*p, 1491), std::nullopt);
  auto found = p->offset_for_timestamp(1001);
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_EQ((*found)->timestamp_ms, 1010) << "the record's own timestamp";
}

// Batches of four records each; record i (offset i) at time 1000 + 10 * i, except that the
// third batch's records are all at 2000..2003 and stored gzip-compressed.
class OffsetForTimestampTest : public PartitionTest {
 protected:
  void SetUp() override {
    auto config = TopicConfig::from_map({{"segment.bytes", "4096"}, {"index.interval.bytes", "1"}});
    ASSERT_TRUE(config.has_value()) << config.error().to_string();
    config_ = *config;
    p_ = open(config_);
    ASSERT_NE(p_, nullptr);
    for (int b = 0; b < 5; ++b) {
      std::vector<Record> in(4);
      for (int i = 0; i < 4; ++i) {
        in[static_cast<std::size_t>(i)].value = to_bytes(std::string(300, 'v'));
        in[static_cast<std::size_t>(i)].timestamp_ms = b == 2 ? 2000 + i : 1000 + 10 * (4 * b + i);
      }
      Bytes batch = build_batch(in);
      if (b == 2) batch = test::compress_batch(batch, Compression::kGzip);
      auto r = put(*p_, batch);
      ASSERT_TRUE(r.has_value()) << r.error().to_string();
      ASSERT_EQ(r->base_offset, Offset(4 * b));
    }
    ASSERT_GT(p_->segment_count(), 1u) << "the search crosses segments";
  }
  std::optional<TimestampedOffset> at(std::int64_t timestamp_ms) {
    auto found = p_->offset_for_timestamp(timestamp_ms);
    EXPECT_TRUE(found.has_value()) << found.error().to_string();
    return found ? *found : std::nullopt;
  }
  TopicConfig config_;
  std::unique_ptr<Partition> p_;
};

using T = TimestampedOffset;

TEST_F(OffsetForTimestampTest, AnswersTheRecordInsideTheBatch) {
  EXPECT_EQ(at(0), (T{Offset(0), 1000}));
  EXPECT_EQ(at(1011), (T{Offset(2), 1020}));
  EXPECT_EQ(at(1030), (T{Offset(3), 1030}));
  EXPECT_EQ(at(1041), (T{Offset(5), 1050}));
  EXPECT_EQ(at(1070), (T{Offset(7), 1070}));
}

TEST_F(OffsetForTimestampTest, AnswersTheRecordInsideACompressedBatch) {
  // Batch 1 ends at 1070 and batch 2 (gzip) holds 2000..2003: its max is the first >= 1071.
  EXPECT_EQ(at(1071), (T{Offset(8), 2000}));
  EXPECT_EQ(at(2001), (T{Offset(9), 2001}));
  EXPECT_EQ(at(2003), (T{Offset(11), 2003}));
}

TEST_F(OffsetForTimestampTest, ATimeBetweenBatchesAnswersTheNextBatchThatReachesIt) {
  // Batch 0 ends at 1030, batch 1 starts at 1040.
  EXPECT_EQ(at(1031), (T{Offset(4), 1040})) << "the next batch's first record";
  // Batch 3 (offsets 12..15) is back at 1120..1150, after batch 2 reached 2003: the first batch
  // in offset order whose max timestamp reaches the time is batch 2, as Kafka answers.
  EXPECT_EQ(at(1150), (T{Offset(8), 2000}));
  EXPECT_EQ(at(1500), (T{Offset(8), 2000}));
}

TEST_F(OffsetForTimestampTest, BeyondTheNewestRecordThereIsNone) {
  EXPECT_EQ(at(2004), std::nullopt);
  EXPECT_EQ(at(std::numeric_limits<std::int64_t>::max()), std::nullopt);
}

TEST_F(OffsetForTimestampTest, ALogStartInsideABatchSkipsTheRecordsBelowIt) {
  auto moved = p_->advance_log_start(Offset(9));
  ASSERT_TRUE(moved.has_value()) << moved.error().to_string();
  // Batches 0 and 1 (below the log start) may share a segment with batch 2: never their times.
  EXPECT_EQ(at(0), (T{Offset(9), 2001})) << "offset 8 is below the log start";
  EXPECT_EQ(at(1100), (T{Offset(9), 2001}));
  EXPECT_EQ(at(2002), (T{Offset(10), 2002}));
  // Reopening reads the log start back and answers the same.
  ASSERT_TRUE(p_->close().has_value());
  p_ = open(config_);
  ASSERT_NE(p_, nullptr);
  EXPECT_EQ(at(0), (T{Offset(9), 2001}));
}

TEST_F(PartitionTest, AppendStoresTheMaxTimestampOfTheRecordsWhateverTheClientWrote) {
  auto p = open();
  ASSERT_TRUE(put(*p, test::simple_batch("first", 1000)).has_value());
  // A client that leaves max_timestamp at -1 (as some do): records at 2000..2002.
  std::vector<Record> in(3);
  for (int i = 0; i < 3; ++i) {
    in[static_cast<std::size_t>(i)].value = to_bytes("v");
    in[static_cast<std::size_t>(i)].timestamp_ms = 2000 + i;
  }
  Bytes b = build_batch(in);
  store_be<std::int64_t>(b, batch_layout::kMaxTimestamp, -1);
  store_be<std::uint32_t>(b, batch_layout::kCrc, compute_crc(b));
  auto r = put(*p, b);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->base_offset, Offset(1));
  EXPECT_EQ(r->log_append_time_ms, -1);

  EXPECT_EQ(offset_at(*p, 1500), Offset(1));
  EXPECT_EQ(offset_at(*p, 2002), Offset(3)) << "the record at 2002";
  EXPECT_EQ(offset_at(*p, 2003), std::nullopt);
  auto read = p->read(Offset(1), 1 << 20);
  ASSERT_TRUE(read.has_value()) << read.error().to_string();
  auto stored = check_batch_crc(read->records);
  ASSERT_TRUE(stored.has_value()) << stored.error().to_string();
  EXPECT_EQ(stored->max_timestamp, 2002);
  EXPECT_EQ(stored->base_timestamp, 2000);

  // The time index rebuilt from the file at reopening sees the same.
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  auto reopened = open();
  EXPECT_EQ(offset_at(*reopened, 1500), Offset(1));
}

TEST_F(PartitionTest, IdempotentRetryReturnsOriginalOffsetsAndGapsAreRefused) {
  auto p = open();
  BatchOptions o{ProducerId(9), ProducerEpoch(0), 0};
  ASSERT_TRUE(put(*p, test::simple_batch("filler")).has_value());
  auto first = put(*p, test::simple_batch("a", 1, o));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->base_offset, Offset(1));
  auto retry = put(*p, test::simple_batch("a", 1, o));
  ASSERT_TRUE(retry.has_value());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->base_offset, Offset(1));
  EXPECT_EQ(p->log_end_offset(), Offset(2));
  o.base_sequence = 5;
  EXPECT_EQ(put(*p, test::simple_batch("gap", 1, o)).error().code(),
            ErrorCode::kOutOfOrderSequence);
  EXPECT_EQ(p->log_end_offset(), Offset(2)) << "a refused batch is not written";
  o.base_sequence = 1;
  EXPECT_EQ(put(*p, test::simple_batch("next", 1, o))->base_offset, Offset(2));
}

// The metric's value in the process-wide registry (0 before its first use).
double metric_value(const std::string& name) {
  const std::string text = metrics::registry().render_prometheus();
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + name.size() + 2));
}

// Past kProducersPerPartitionMax a partition forgets the tenth of its producers whose last
// batches are oldest (producer_state_test.cc has the order): operators see it counted.
TEST_F(PartitionTest, ForgottenProducersAreCountedAndCheckedAsNewOnes) {
  auto p = open(*TopicConfig::from_map({{"sync.policy", "none"}}));
  const double before = metric_value("wharf_producer_state_evicted_total");
  const auto n = static_cast<std::int64_t>(kProducersPerPartitionMax);
  for (std::int64_t id = 1; id <= n; ++id) {
    ASSERT_TRUE(put(*p, test::simple_batch("p", 1, {ProducerId(id), ProducerEpoch(0), 0})));
  }
  EXPECT_EQ(metric_value("wharf_producer_state_evicted_total"), before);
  // Producer 1 retries its batch: known, so a duplicate.
  auto retry = put(*p, test::simple_batch("p", 1, {ProducerId(1), ProducerEpoch(0), 0}));
  ASSERT_TRUE(retry.has_value());
  EXPECT_TRUE(retry->duplicate);
  ASSERT_TRUE(put(*p, test::simple_batch("p", 1, {ProducerId(n + 1), ProducerEpoch(0), 0})));
  EXPECT_EQ(metric_value("wharf_producer_state_evicted_total"),
            before + static_cast<double>(kProducersPerPartitionMax / 10));
  // Producer 2 was among the oldest: forgotten, its retry is written again as a new producer's.
  auto forgotten = put(*p, test::simple_batch("p", 1, {ProducerId(2), ProducerEpoch(0), 0}));
  ASSERT_TRUE(forgotten.has_value());
  EXPECT_FALSE(forgotten->duplicate);
  EXPECT_EQ(forgotten->base_offset, Offset(n + 1));
}

TEST_F(PartitionTest, LogAppendTimeIsStampedAndReturned) {
  clock_.set_ms(5'000'000);
  auto p = open(*TopicConfig::from_map({{"message.timestamp.type", "LogAppendTime"}}));
  auto r = put(*p, test::simple_batch("t", 1));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->log_append_time_ms, 5'000'000);
  auto read = p->read(Offset(0), 1000);
  EXPECT_EQ(test::headers_of(read->records)[0].max_timestamp, 5'000'000);
}

TEST_F(PartitionTest, ControlBatchesAndInvalidBatchesAreRefusedWithoutWriting) {
  auto p = open();
  Bytes control = test::simple_batch("c");
  store_be<std::int16_t>(control, batch_layout::kAttributes, batch_attributes::kControl);
  store_be<std::uint32_t>(control, batch_layout::kCrc, compute_crc(control));
  EXPECT_EQ(put(*p, control).error().code(), ErrorCode::kInvalidRecord);
  Bytes corrupt = test::simple_batch("c");
  corrupt.back() ^= std::byte{1};
  EXPECT_EQ(put(*p, corrupt).error().code(), ErrorCode::kCorruptMessage);
  EXPECT_EQ(p->log_end_offset(), Offset(0));
}

TEST_F(PartitionTest, NoneAndIntervalPoliciesShowWrittenDataAndDoNotSyncOnAppend) {
  auto p = open(*TopicConfig::from_map({{"sync.policy", "none"}}));
  const auto before = mem_.sync_count();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(put(*p, test::simple_batch("n")).has_value());
  EXPECT_EQ(mem_.sync_count(), before);
  EXPECT_EQ(p->high_watermark(), Offset(10));
  ASSERT_TRUE(p->sync().has_value());
  EXPECT_EQ(mem_.sync_count(), before + 1);
  // A crash without the sync would lose the unsynced tail: that is what `none` risks.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(put(*p, test::simple_batch("n")).has_value());
  p.reset();
  mem_.crash();
  EXPECT_EQ(open()->log_end_offset(), Offset(10));
}

}  // namespace
}  // namespace wharf::storage

namespace wharf::storage {
namespace {

TEST_F(PartitionTest, RollAndDeleteSegmentsBeforeMoveTheLogStartToASegmentBoundary) {
  auto p = open();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(put(*p, test::simple_batch("old")).has_value());
  ASSERT_TRUE(p->roll().has_value());
  ASSERT_TRUE(p->roll().has_value()) << "rolling an empty active segment is a no-op";
  EXPECT_EQ(p->segment_count(), 2u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(put(*p, test::simple_batch("new")).has_value());
  EXPECT_EQ(p->delete_segments_before(Offset(4)).value(), 0)
      << "offset 4 is inside the first segment";
  EXPECT_EQ(p->delete_segments_before(Offset(5)).value(), 1);
  EXPECT_EQ(p->log_start_offset(), Offset(5));
  EXPECT_EQ(p->delete_segments_before(Offset(100)).value(), 0) << "never the active segment";
  auto r = p->read(Offset(5), 1 << 20);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(test::headers_of(r->records).size(), 3u);
}

// The records section of one stored batch, decompressed.
Bytes stored_records(ByteView batch) {
  auto h = parse_header(batch);
  EXPECT_TRUE(h.has_value());
  const ByteView body = batch.subspan(batch_layout::kHeaderBytes);
  if (h->compression() == Compression::kNone) return Bytes(body.begin(), body.end());
  auto out = decompress(h->compression(), body, kDecompressedBatchBytesMax);
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  return out ? *out : Bytes{};
}

TEST_F(PartitionTest, CompressionTypeStoresEachBatchWithTheTopicsCodecAndTheSameRecords) {
  // Producer codec -> topic codec, each pair once, into one partition whose config changes
  // between appends (AlterConfigs): the codec is read at each append.
  const std::vector<std::pair<Compression, std::string>> cases = {
      {Compression::kLz4, "gzip"},
      {Compression::kZstd, "snappy"},
      {Compression::kNone, "lz4"},
      {Compression::kGzip, "zstd"},
      {Compression::kSnappy, "uncompressed"},
      {Compression::kGzip, "producer"},
      {Compression::kZstd, "zstd"}};
  const std::vector<Compression> expected = {
      Compression::kGzip, Compression::kSnappy, Compression::kLz4, Compression::kZstd,
      Compression::kNone, Compression::kGzip,   Compression::kZstd};
  auto p = open();
  std::vector<Bytes> sent;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [codec, type] = cases[i];
    SCOPED_TRACE(type);
    p->set_config(*TopicConfig::from_map({{"compression.type", type}}));
    BatchOptions options;
    options.producer_id = ProducerId(9);
    options.producer_epoch = ProducerEpoch(1);
    options.base_sequence = static_cast<std::int32_t>(i) * 4;
    // Four records each, so the sequences above follow one another.
    std::vector<Record> rs(4);
    for (int r = 0; r < 4; ++r) {
      rs[r].key = to_bytes("k" + std::to_string(i) + "-" + std::to_string(r));
      rs[r].value = to_bytes(std::string(300, static_cast<char>('a' + r)));
      rs[r].timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 10 + r;
    }
    Bytes batch = build_batch(rs, options);
    if (codec != Compression::kNone) batch = test::compress_batch(batch, codec);
    sent.push_back(batch);
    auto r = put(*p, batch);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(r->base_offset, Offset(static_cast<std::int64_t>(i) * 4));
  }
  auto read = p->read(Offset(0), 1 << 20);
  ASSERT_TRUE(read.has_value());
  const auto headers = test::headers_of(read->records);
  ASSERT_EQ(headers.size(), cases.size());
  std::size_t pos = 0;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    SCOPED_TRACE(cases[i].second);
    const ByteView stored = ByteView(read->records).subspan(pos, headers[i].total_bytes());
    pos += headers[i].total_bytes();
    ASSERT_TRUE(check_batch_crc(stored).has_value());
    EXPECT_EQ(headers[i].compression(), expected[i]);
    EXPECT_EQ(headers[i].base_offset, Offset(static_cast<std::int64_t>(i) * 4));
    EXPECT_EQ(headers[i].record_count, 4);
    EXPECT_EQ(headers[i].producer_id, ProducerId(9));
    EXPECT_EQ(headers[i].base_sequence, static_cast<std::int32_t>(i) * 4);
    EXPECT_EQ(headers[i].max_timestamp, 1'700'000'000'000 + static_cast<std::int64_t>(i) * 10 + 3);
    EXPECT_EQ(stored_records(stored), stored_records(sent[i]));
    if (cases[i].first == expected[i]) {  // kept: the bytes sent, but for offset and epoch
      Bytes same = sent[i];
      patch_base_offset(same, headers[i].base_offset);
      patch_partition_leader_epoch(same, kStoredLeaderEpoch);
      EXPECT_EQ(Bytes(stored.begin(), stored.end()), same);
    }
  }
  // A retry of a recompressed batch is still recognised as a duplicate by its sequence.
  p->set_config(*TopicConfig::from_map({{"compression.type", "uncompressed"}}));
  auto retry = put(*p, sent.back());
  ASSERT_TRUE(retry.has_value()) << retry.error().to_string();
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->base_offset, Offset(24));
  EXPECT_EQ(p->log_end_offset(), Offset(28));
}

TEST_F(PartitionTest, BatchTooLargeOnceRecompressedIsRefusedWithoutWriting) {
  std::vector<Record> rs(100);
  for (auto& r : rs) r.value = Bytes(1000);  // zeros: ~1 KiB as gzip, ~100 KiB uncompressed
  const Bytes gz = test::compress_batch(build_batch(rs), Compression::kGzip);
  auto p = open(*TopicConfig::from_map(
      {{"compression.type", "uncompressed"}, {"max.message.bytes", "50000"}}));
  auto r = put(*p, gz);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kMessageTooLarge) << r.error().to_string();
  EXPECT_EQ(p->log_end_offset(), Offset(0));
  // The same batch kept as sent fits.
  p->set_config(
      *TopicConfig::from_map({{"compression.type", "lz4"}, {"max.message.bytes", "50000"}}));
  ASSERT_TRUE(put(*p, gz).has_value());
  EXPECT_EQ(p->log_end_offset(), Offset(100));
}

}  // namespace
}  // namespace wharf::storage
