#include "checkout/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace wharf::checkout {
namespace {

constexpr std::size_t kSubBuckets = std::size_t{1} << LatencyHistogram::kSubBucketBits;

std::int64_t clamp_micros(std::int64_t micros) {
  return std::clamp<std::int64_t>(micros, 0, LatencyHistogram::kMaxMicros);
}

// Bucket i's width is 2^shift; the first 2 * kSubBuckets buckets are one value wide.
std::size_t bucket_shift(std::size_t index) {
  return index < 2 * kSubBuckets ? 0 : (index >> LatencyHistogram::kSubBucketBits) - 1;
}

void raise_max(std::atomic<std::int64_t>& max, std::int64_t value) {
  std::int64_t seen = max.load(std::memory_order_relaxed);
  while (value > seen && !max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::size_t LatencyHistogram::bucket_index(std::int64_t micros) {
  const auto v = static_cast<std::uint64_t>(clamp_micros(micros));
  // Keep the top kSubBucketBits + 1 bits: the leading one picks the power of two, the rest the
  // linear step inside it. Below 2 * kSubBuckets the shift is 0 and the index is the value.
  const int width = std::bit_width(v);
  const std::size_t shift =
      width > static_cast<int>(kSubBucketBits) + 1 ? width - kSubBucketBits - 1 : 0;
  return (shift << kSubBucketBits) + static_cast<std::size_t>(v >> shift);
}

std::int64_t LatencyHistogram::bucket_lower(std::size_t index) {
  index = std::min(index, kBucketCount - 1);
  const std::size_t shift = bucket_shift(index);
  return static_cast<std::int64_t>((index - (shift << kSubBucketBits)) << shift);
}

std::int64_t LatencyHistogram::bucket_upper(std::size_t index) {
  index = std::min(index, kBucketCount - 1);
  return bucket_lower(index) + (std::int64_t{1} << bucket_shift(index)) - 1;
}

void LatencyHistogram::record(std::int64_t micros) {
  const std::int64_t v = clamp_micros(micros);
  buckets_[bucket_index(v)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(static_cast<std::uint64_t>(v), std::memory_order_relaxed);
  raise_max(max_, v);
}

void LatencyHistogram::record(std::int64_t micros, std::uint64_t n) {
  if (n == 0) return;
  const std::int64_t v = clamp_micros(micros);
  buckets_[bucket_index(v)].fetch_add(n, std::memory_order_relaxed);
  sum_.fetch_add(static_cast<std::uint64_t>(v) * n, std::memory_order_relaxed);
  raise_max(max_, v);
}

std::uint64_t LatencyHistogram::count() const {
  std::uint64_t n = 0;
  for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
  return n;
}

double LatencyHistogram::mean() const {
  const std::uint64_t n = count();
  return n == 0
             ? 0.0
             : static_cast<double>(sum_.load(std::memory_order_relaxed)) / static_cast<double>(n);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot s;
  s.counts_.resize(kBucketCount);
  std::size_t highest = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    s.counts_[i] = buckets_[i].load(std::memory_order_relaxed);
    s.count_ += s.counts_[i];
    if (s.counts_[i] != 0) highest = i;
  }
  s.sum_ = sum_.load(std::memory_order_relaxed);
  // A record() may have bumped its bucket but not yet max_; never report a max below a value
  // the counts already hold.
  s.max_ = std::max(max_.load(std::memory_order_relaxed),
                    s.count_ == 0 ? std::int64_t{0} : bucket_lower(highest));
  return s;
}

void LatencyHistogram::merge_from(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    const std::uint64_t n = other.buckets_[i].load(std::memory_order_relaxed);
    if (n != 0) buckets_[i].fetch_add(n, std::memory_order_relaxed);
  }
  sum_.fetch_add(other.sum_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  raise_max(max_, other.max_.load(std::memory_order_relaxed));
}

void LatencyHistogram::reset() {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

std::int64_t LatencyHistogram::Snapshot::percentile(double p) const {
  if (count_ == 0) return 0;
  if (!(p >= 0.0)) p = 0.0;  // also catches NaN
  if (p > 100.0) p = 100.0;
  // Nearest rank, 1-based: p = 0 is the smallest value, p = 100 the largest.
  const auto wanted =
      static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  const std::uint64_t rank = std::clamp<std::uint64_t>(wanted, 1, count_);
  if (rank == count_) return max_;  // known exactly, unlike the top bucket's midpoint
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::int64_t lower = bucket_lower(i);
      const std::int64_t mid = lower + (bucket_upper(i) - lower) / 2;
      return std::min(mid, max_);
    }
  }
  return max_;  // unreachable while count_ is the sum of counts_
}

double LatencyHistogram::Snapshot::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

LatencyHistogram::Snapshot LatencyHistogram::Snapshot::delta(const Snapshot& earlier) const {
  Snapshot d;
  if (counts_.empty()) return d;
  d.counts_.resize(kBucketCount);
  std::size_t highest = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    const std::uint64_t before = earlier.bucket_count(i);
    d.counts_[i] = counts_[i] > before ? counts_[i] - before : 0;
    d.count_ += d.counts_[i];
    if (d.counts_[i] != 0) highest = i;
  }
  d.sum_ = sum_ > earlier.sum_ ? sum_ - earlier.sum_ : 0;
  d.max_ = d.count_ == 0 ? 0 : std::min(bucket_upper(highest), max_);
  return d;
}

}  // namespace wharf::checkout
