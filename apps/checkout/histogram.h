// A latency histogram for the checkout load run: many threads record() into one LatencyHistogram
// at once (relaxed atomics, no locks, no allocation), and a reporting thread takes snapshot()s
// whose differences give per-second series. Nothing here is persisted.
//
// Buckets are log-linear: values below 256 µs are exact; above that every power of two is split
// into 128 equal buckets, so a bucket is at most 1/128 of its lower bound wide and the midpoint
// that percentile() returns is within 0.4% of any value in the bucket. The range ends at
// kMaxMicros (about 71 minutes); larger values are recorded as kMaxMicros, negatives as 0.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace wharf::checkout {

class LatencyHistogram {
 public:
  // 2^32 - 1 µs: comfortably above the 1,000 s a run may need, and 3,328 buckets (26 KiB).
  static constexpr std::int64_t kMaxMicros = (std::int64_t{1} << 32) - 1;
  static constexpr std::size_t kSubBucketBits = 7;
  static constexpr std::size_t kBucketCount = 26 * (std::size_t{1} << kSubBucketBits);

  // Which bucket holds `micros`, after clamping to [0, kMaxMicros].
  static std::size_t bucket_index(std::int64_t micros);
  // Smallest and largest value bucket `index` holds, both inclusive.
  static std::int64_t bucket_lower(std::size_t index);
  static std::int64_t bucket_upper(std::size_t index);

  // A plain copy of the counts at one moment. An empty (default) snapshot holds no buckets.
  class Snapshot {
   public:
    Snapshot() = default;

    std::uint64_t count() const { return count_; }
    // Midpoint of the bucket holding rank ceil(p / 100 * count()), clamped to max(); the top
    // rank is max() itself. p outside [0, 100] is clamped. 0 if empty.
    std::int64_t percentile(double p) const;
    std::int64_t max() const { return max_; }
    double mean() const;
    std::uint64_t bucket_count(std::size_t index) const {
      return index < counts_.size() ? counts_[index] : 0;
    }

    // What was recorded after `earlier` was taken (counts subtract, saturating at 0 should
    // `earlier` not be earlier). The delta's max() is the upper bound of its highest non-empty
    // bucket, capped by this snapshot's exact max.
    Snapshot delta(const Snapshot& earlier) const;

   private:
    friend class LatencyHistogram;

    std::vector<std::uint64_t> counts_;  // kBucketCount entries, or none
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::int64_t max_ = 0;
  };

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Any thread; lock-free and allocation-free.
  void record(std::int64_t micros);
  // `n` values of `micros` at once (rebuilding a histogram another process saved).
  void record(std::int64_t micros, std::uint64_t n);

  // Readers see each bucket's latest value, not one consistent cut across buckets while
  // record() runs concurrently; count() is the sum of the buckets.
  std::uint64_t count() const;
  std::int64_t percentile(double p) const { return snapshot().percentile(p); }
  std::int64_t max() const { return max_.load(std::memory_order_relaxed); }
  double mean() const;
  Snapshot snapshot() const;

  // Adds `other`'s counts to this one; safe against concurrent record() on either.
  void merge_from(const LatencyHistogram& other);
  // Zeroes everything. Records that race with reset() may be partly kept (e.g. counted in a
  // bucket but not in the sum); reset between runs, not during one.
  void reset();

 private:
  std::array<std::atomic<std::uint64_t>, kBucketCount> buckets_{};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::int64_t> max_{0};
};

}  // namespace wharf::checkout
