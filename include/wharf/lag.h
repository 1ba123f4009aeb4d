// Consumer lag and partition skew arithmetic, in one place for the broker (admin metrics), the
// `wharf group describe` command, the pattern library's router metrics and the applications.
// Lag is how many records a consumer is behind a partition's high watermark; skew is the largest
// partition's lag over the mean lag of the topic's partitions (1.0 = even, 3.0 = the worst
// partition is three times the average, 0 = nothing to compare). Pure functions and a value
// type; header-only so that every layer may use it; any thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

namespace wharf::lag {

// Records between `position` (the next offset the consumer will read, i.e. its committed
// offset) and `high_watermark`. Never negative: a commit read after a stale watermark can be
// ahead of it.
constexpr std::int64_t partition_lag(std::int64_t high_watermark, std::int64_t position) {
  if (position >= high_watermark) return 0;
  // Both are offsets (>= 0 in practice); saturate rather than overflow on nonsense input.
  if (position < 0 && high_watermark > std::numeric_limits<std::int64_t>::max() + position) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return high_watermark - position;
}

// largest / mean, or 0 when the mean is not positive (no lag anywhere is "even", not infinite).
constexpr double skew(double largest, double mean) { return mean > 0 ? largest / mean : 0; }

// Accumulates the lags of one topic's partitions. The sum saturates at the int64 maximum.
struct LagSummary {
  std::int64_t max = 0;
  std::int64_t sum = 0;
  std::int64_t count = 0;

  constexpr void add(std::int64_t lag) {
    lag = std::max<std::int64_t>(0, lag);
    max = std::max(max, lag);
    sum = lag > std::numeric_limits<std::int64_t>::max() - sum
              ? std::numeric_limits<std::int64_t>::max()
              : sum + lag;
    ++count;
  }
  constexpr double mean() const {
    return count > 0 ? static_cast<double>(sum) / static_cast<double>(count) : 0;
  }
  constexpr double skew() const { return lag::skew(static_cast<double>(max), mean()); }
};

}  // namespace wharf::lag
