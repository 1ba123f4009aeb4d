// LatencyHistogram against exact answers: percentiles of random data against a sorted-vector
// oracle, concurrent record() against a single-threaded twin, snapshot deltas, merging and the
// clamps at both ends. Seeded: WHARF_TEST_SEED picks the seed, which is printed on failure.
#include "checkout/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace wharf::checkout {
namespace {

std::uint64_t test_seed() {
  const char* env = std::getenv("WHARF_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20261130;
}

// Log-uniform over [1 µs, 1,000 s], so every power of two gets about the same share.
std::vector<std::int64_t> random_latencies(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> exponent(0.0, 9.0);
  std::vector<std::int64_t> out(n);
  for (auto& v : out) v = static_cast<std::int64_t>(std::llround(std::pow(10.0, exponent(rng))));
  return out;
}

// Nearest rank, the definition percentile() documents.
std::int64_t oracle_percentile(const std::vector<std::int64_t>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

void expect_within_one_percent(std::int64_t actual, std::int64_t expected) {
  EXPECT_LE(std::abs(static_cast<double>(actual - expected)), 0.01 * static_cast<double>(expected))
      << "actual " << actual << " expected " << expected;
}

TEST(LatencyHistogram, BucketsTileTheRangeWithoutGapsAndStayWithinOnePercent) {
  EXPECT_EQ(LatencyHistogram::bucket_lower(0), 0);
  for (std::size_t i = 0; i + 1 < LatencyHistogram::kBucketCount; ++i) {
    ASSERT_EQ(LatencyHistogram::bucket_upper(i) + 1, LatencyHistogram::bucket_lower(i + 1)) << i;
    const std::int64_t lower = LatencyHistogram::bucket_lower(i);
    const std::int64_t width = LatencyHistogram::bucket_upper(i) - lower + 1;
    // Exact below 256 µs; above, no wider than 1/128 of the bucket's smallest value.
    ASSERT_TRUE(width == 1 || width * 128 <= lower) << i;
    ASSERT_EQ(LatencyHistogram::bucket_index(lower), i);
    ASSERT_EQ(LatencyHistogram::bucket_index(LatencyHistogram::bucket_upper(i)), i);
  }
  EXPECT_EQ(LatencyHistogram::bucket_upper(LatencyHistogram::kBucketCount - 1),
            LatencyHistogram::kMaxMicros);
  EXPECT_GE(LatencyHistogram::kMaxMicros, std::int64_t{1'000'000'000});
}

TEST(LatencyHistogram, PercentilesMatchSortedOracleWithinOnePercent) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE(::testing::Message() << "WHARF_TEST_SEED=" << seed);
  std::vector<std::int64_t> values = random_latencies(seed, 200'000);
  LatencyHistogram h;
  for (std::int64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());

  ASSERT_EQ(h.count(), values.size());
  EXPECT_EQ(h.max(), values.back());
  const double exact_mean =
      static_cast<double>(std::accumulate(values.begin(), values.end(), std::int64_t{0})) /
      static_cast<double>(values.size());
  EXPECT_NEAR(h.mean(), exact_mean, exact_mean * 1e-12);

  const LatencyHistogram::Snapshot s = h.snapshot();
  for (double p : {0.0, 0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
    SCOPED_TRACE(::testing::Message() << "p" << p);
    expect_within_one_percent(h.percentile(p), oracle_percentile(values, p));
    EXPECT_EQ(s.percentile(p), h.percentile(p));
  }
  EXPECT_EQ(h.percentile(100), values.back());  // the top rank is the exact max
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::int64_t v = 0; v < 256; ++v) h.record(v);
  EXPECT_EQ(h.percentile(0), 0);
  EXPECT_EQ(h.percentile(50), 127);  // rank 128 of 256
  EXPECT_EQ(h.percentile(100), 255);
}

TEST(LatencyHistogram, ConcurrentRecordFromFourThreadsCountsEveryValue) {
  constexpr int kThreads = 4;
  constexpr std::int64_t kPerThread = 250'000;
  auto value = [](int t, std::int64_t i) { return (i * 7919 + t * 104729) % 5'000'000; };

  LatencyHistogram shared;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&shared, &value, t] {
      for (std::int64_t i = 0; i < kPerThread; ++i) shared.record(value(t, i));
    });
  }
  for (auto& th : threads) th.join();

  LatencyHistogram serial;
  for (int t = 0; t < kThreads; ++t) {
    for (std::int64_t i = 0; i < kPerThread; ++i) serial.record(value(t, i));
  }
  EXPECT_EQ(shared.count(), std::uint64_t{kThreads * kPerThread});
  EXPECT_EQ(shared.max(), serial.max());
  EXPECT_DOUBLE_EQ(shared.mean(), serial.mean());
  const auto a = shared.snapshot(), b = serial.snapshot();
  for (std::size_t i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    ASSERT_EQ(a.bucket_count(i), b.bucket_count(i)) << "bucket " << i;
  }
}

TEST(LatencyHistogram, DeltaHoldsOnlyWhatWasRecordedBetweenSnapshots) {
  LatencyHistogram h;
  for (int i = 0; i < 1000; ++i) h.record(5'000'000);  // a slow first second
  const auto first = h.snapshot();
  LatencyHistogram only_second;
  for (std::int64_t v = 1000; v < 3000; ++v) {
    h.record(v);
    only_second.record(v);
  }
  const auto second = h.snapshot();

  const auto d = second.delta(first);
  EXPECT_EQ(d.count(), 2000u);
  EXPECT_DOUBLE_EQ(d.mean(), only_second.mean());
  for (double p : {0.0, 50.0, 99.0}) EXPECT_EQ(d.percentile(p), only_second.percentile(p)) << p;
  // Max is approximated by the highest non-empty bucket, not taken from the slow first second.
  EXPECT_GE(d.max(), 2999);
  EXPECT_LE(d.max(), LatencyHistogram::bucket_upper(LatencyHistogram::bucket_index(2999)));

  const auto nothing = second.delta(second);
  EXPECT_EQ(nothing.count(), 0u);
  EXPECT_EQ(nothing.max(), 0);
  EXPECT_EQ(nothing.percentile(99), 0);
  EXPECT_EQ(second.delta(LatencyHistogram::Snapshot{}).count(), second.count());
}

TEST(LatencyHistogram, MergeAddsCountsSumsAndMax) {
  LatencyHistogram a, b, both;
  for (std::int64_t v = 1; v <= 1000; ++v) {
    a.record(v * 10);
    both.record(v * 10);
  }
  for (std::int64_t v = 1; v <= 500; ++v) {
    b.record(v * 1000);
    both.record(v * 1000);
  }
  a.merge_from(b);
  EXPECT_EQ(a.count(), 1500u);
  EXPECT_EQ(a.max(), 500'000);
  EXPECT_DOUBLE_EQ(a.mean(), both.mean());
  for (double p : {1.0, 50.0, 90.0, 99.9}) EXPECT_EQ(a.percentile(p), both.percentile(p)) << p;
  EXPECT_EQ(b.count(), 500u);  // the source is untouched
}

TEST(LatencyHistogram, ClampsNegativesToZeroAndHugeValuesToTheTop) {
  LatencyHistogram h;
  h.record(-42);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.percentile(100), 0);
  EXPECT_EQ(LatencyHistogram::bucket_index(-1), 0u);

  h.record(std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(h.max(), LatencyHistogram::kMaxMicros);
  EXPECT_EQ(h.percentile(100), LatencyHistogram::kMaxMicros);
  EXPECT_EQ(LatencyHistogram::bucket_index(std::numeric_limits<std::int64_t>::max()),
            LatencyHistogram::kBucketCount - 1);
  EXPECT_DOUBLE_EQ(h.mean(), static_cast<double>(LatencyHistogram::kMaxMicros) / 2);

  LatencyHistogram thousand_s;
  thousand_s.record(1'000'000'000);
  thousand_s.record(999'000'000);
  expect_within_one_percent(thousand_s.percentile(50), 999'000'000);
}

TEST(LatencyHistogram, EmptyAndResetAnswerZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  const LatencyHistogram::Snapshot empty;
  EXPECT_EQ(empty.percentile(99), 0);
  EXPECT_EQ(empty.mean(), 0.0);

  for (int i = 0; i < 10; ++i) h.record(1234);
  ASSERT_EQ(h.count(), 10u);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  h.record(7);
  EXPECT_EQ(h.percentile(50), 7);
}

TEST(LatencyHistogram, PercentileArgumentOutsideRangeIsClamped) {
  LatencyHistogram h;
  for (std::int64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(-5), 1);
  EXPECT_EQ(h.percentile(250), 100);
  EXPECT_EQ(h.percentile(std::numeric_limits<double>::quiet_NaN()), 1);
}

}  // namespace
}  // namespace wharf::checkout
