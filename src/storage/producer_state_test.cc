#include "storage/producer_state.h"

#include <gtest/gtest.h>

namespace wharf::storage {
namespace {

BatchHeader batch(std::int64_t pid, std::int16_t epoch, std::int32_t seq, std::int32_t count,
                  std::int64_t base_offset) {
  BatchHeader h;
  h.producer_id = ProducerId(pid);
  h.producer_epoch = ProducerEpoch(epoch);
  h.base_sequence = seq;
  h.record_count = count;
  h.last_offset_delta = count - 1;
  h.base_offset = Offset(base_offset);
  h.max_timestamp = 1000 + base_offset;
  return h;
}

bool accepted(const Result<SequenceCheck>& r) {
  return r.has_value() && std::holds_alternative<SequenceAccepted>(*r);
}

TEST(ProducerState, UnknownProducerAcceptsAnySequence) {
  ProducerStateTable t;
  EXPECT_TRUE(accepted(t.check(batch(1, 0, 42, 1, 0))));
}

TEST(ProducerState, RetryOfAnyOfTheLastFiveBatchesIsADuplicateWithOriginalOffsets) {
  ProducerStateTable t;
  for (int i = 0; i < 7; ++i) {
    auto b = batch(1, 0, i * 2, 2, 100 + i * 2);
    ASSERT_TRUE(accepted(t.check(b))) << i;
    t.update(b);
  }
  for (int i = 2; i < 7; ++i) {
    auto r = t.check(batch(1, 0, i * 2, 2, 999));
    ASSERT_TRUE(r.has_value());
    auto* dup = std::get_if<SequenceDuplicate>(&*r);
    ASSERT_NE(dup, nullptr) << i;
    EXPECT_EQ(dup->original.first_offset, Offset(100 + i * 2));
    EXPECT_EQ(dup->original.last_offset, Offset(101 + i * 2));
  }
  // Batch 0 fell out of the window: it is neither a duplicate nor in order.
  EXPECT_EQ(t.check(batch(1, 0, 0, 2, 999)).error().code(), ErrorCode::kOutOfOrderSequence);
}

TEST(ProducerState, GapIsOutOfOrderAndNextSequenceIsAccepted) {
  ProducerStateTable t;
  t.update(batch(1, 0, 0, 3, 0));
  EXPECT_TRUE(accepted(t.check(batch(1, 0, 3, 1, 3))));
  EXPECT_EQ(t.check(batch(1, 0, 5, 1, 3)).error().code(), ErrorCode::kOutOfOrderSequence);
}

TEST(ProducerState, OlderEpochIsFencedAndNewEpochMustStartAtZero) {
  ProducerStateTable t;
  t.update(batch(1, 3, 0, 1, 0));
  EXPECT_EQ(t.check(batch(1, 2, 1, 1, 1)).error().code(), ErrorCode::kInvalidProducerEpoch);
  EXPECT_EQ(t.check(batch(1, 4, 5, 1, 1)).error().code(), ErrorCode::kOutOfOrderSequence);
  auto fresh = batch(1, 4, 0, 1, 1);
  EXPECT_TRUE(accepted(t.check(fresh)));
  t.update(fresh);
  EXPECT_EQ(t.find(ProducerId(1))->epoch, ProducerEpoch(4));
  EXPECT_EQ(t.find(ProducerId(1))->batches.size(), 1u);
}

TEST(ProducerState, SequenceWrapsFromInt32MaxToZero) {
  ProducerStateTable t;
  t.update(batch(1, 0, std::numeric_limits<std::int32_t>::max(), 1, 0));
  EXPECT_TRUE(accepted(t.check(batch(1, 0, 0, 1, 1))));
}

TEST(ProducerState, SnapshotRoundTripsAndDetectsCorruption) {
  ProducerStateTable t;
  for (int p = 1; p <= 3; ++p) {
    for (int i = 0; i < p * 3; ++i)
      t.update(batch(p, static_cast<std::int16_t>(p), i, 1, p * 100 + i));
  }
  Bytes snap = t.encode_snapshot(Offset(77));
  auto decoded = ProducerStateTable::decode_snapshot(snap);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
  EXPECT_EQ(decoded->first, Offset(77));
  const auto* e = decoded->second.find(ProducerId(3));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->epoch, ProducerEpoch(3));
  ASSERT_EQ(e->batches.size(), 5u);
  EXPECT_EQ(e->batches.back().last_offset, Offset(308));
  for (std::size_t i = 0; i < snap.size(); ++i) {
    Bytes bad = snap;
    bad[i] ^= std::byte{0x40};
    EXPECT_FALSE(ProducerStateTable::decode_snapshot(bad).has_value()) << "flip at " << i;
  }
  for (std::size_t n = 0; n < snap.size(); ++n) {
    EXPECT_FALSE(ProducerStateTable::decode_snapshot(ByteView(snap).first(n)).has_value()) << n;
  }
}

TEST(ProducerState, ExpiryForgetsIdleProducers) {
  ProducerStateTable t;
  t.update(batch(1, 0, 0, 1, 0));     // timestamp 1000
  t.update(batch(2, 0, 0, 1, 5000));  // timestamp 6000
  t.expire(2000);
  EXPECT_EQ(t.find(ProducerId(1)), nullptr);
  EXPECT_NE(t.find(ProducerId(2)), nullptr);
}

}  // namespace
}  // namespace wharf::storage

namespace wharf::storage {
namespace {

// Producer ids are whatever clients write in their batches: the table stays within
// kProducersPerPartitionMax (and its snapshot within what a restart reads back) by forgetting the
// tenth whose last batches are oldest in the log when a new producer would pass it.
TEST(ProducerState, ANewProducerBeyondTheBoundForgetsTheLeastRecentlyActiveTenth) {
  ProducerStateTable t;
  const auto n = static_cast<std::int64_t>(kProducersPerPartitionMax);
  // Producer i last wrote at time 1000 + i (its batch's offset).
  for (std::int64_t i = 0; i < n; ++i) t.update(batch(i, 0, 0, 1, i));
  EXPECT_EQ(t.size(), kProducersPerPartitionMax);
  EXPECT_EQ(t.evicted(), 0u);
  // Producer 0 writes again: the most recently active now.
  t.update(batch(0, 0, 1, 1, n));
  EXPECT_EQ(t.size(), kProducersPerPartitionMax) << "a known producer adds nothing";

  t.update(batch(n, 0, 0, 1, n + 1));  // one more
  EXPECT_EQ(t.evicted(), kProducersPerPartitionMax / 10);
  EXPECT_EQ(t.size(), kProducersPerPartitionMax - kProducersPerPartitionMax / 10 + 1);
  EXPECT_NE(t.find(ProducerId(0)), nullptr) << "recently active: kept";
  EXPECT_EQ(t.find(ProducerId(1)), nullptr) << "the least recently active are forgotten";
  EXPECT_EQ(t.find(ProducerId(n / 10)), nullptr);
  EXPECT_NE(t.find(ProducerId(n / 10 + 1)), nullptr);
  EXPECT_NE(t.find(ProducerId(n)), nullptr) << "the new producer is recorded";
  // A forgotten producer is one with no state: any sequence is accepted.
  EXPECT_TRUE(accepted(t.check(batch(1, 0, 7, 1, n + 2))));

  // What is left fits the snapshot bound, and reads back.
  Bytes snapshot = t.encode_snapshot(Offset(n + 2));
  EXPECT_LE(snapshot.size(), ProducerStateTable::kSnapshotBytesMax);
  auto decoded = ProducerStateTable::decode_snapshot(snapshot);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
  EXPECT_EQ(decoded->second.size(), t.size());
}

TEST(ProducerState, EvictionFollowsTheLogNotTheTimestampsClientsWrite) {
  ProducerStateTable t;
  const auto n = static_cast<std::int64_t>(kProducersPerPartitionMax);
  for (std::int64_t i = 0; i < n; ++i) {
    BatchHeader h = batch(i, 0, 0, 1, i);
    h.max_timestamp = i < n / 2 ? 4'000'000'000'000 : 5;  // far future, then far past
    t.update(h);
  }
  EXPECT_FALSE(t.would_evict(batch(7, 0, 1, 1, n))) << "a known producer";
  EXPECT_TRUE(t.would_evict(batch(n, 0, 0, 1, n)));
  EXPECT_FALSE(t.would_evict(batch(-1, 0, 0, 1, n))) << "no producer id";
  t.update(batch(n, 0, 0, 1, n));
  EXPECT_EQ(t.evicted(), kProducersPerPartitionMax / 10);
  EXPECT_EQ(t.size(), kProducersPerPartitionMax - kProducersPerPartitionMax / 10 + 1);
  EXPECT_EQ(t.find(ProducerId(0)), nullptr) << "the oldest in the log, whatever its timestamp";
  EXPECT_NE(t.find(ProducerId(n - 1)), nullptr);
}

}  // namespace
}  // namespace wharf::storage
