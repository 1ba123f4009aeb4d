// The log cleaner: compaction of topics with cleanup.policy=compact. For each partition it maps
// every key in the closed segments to its latest offset, then rewrites each closed segment that
// holds a superseded record (or a tombstone older than delete.retention.ms) into a `.cleaned`
// copy and swaps that in crash-safely (Partition::replace_segment; docs/formats/compaction.md).
//
// Offsets are preserved: every batch is kept with its base offset and last offset delta, with
// only the records that survive (possibly none; consecutive empty batches without a producer id
// merge into one covering all their offsets), so offsets have gaps but the batch chain of a
// segment stays unbroken and recovery, indexes and fetches work unchanged.
//
// Threads: LogManager's background thread calls run_once(); a LogCleaner is not thread-safe.
// The active segment is never read or written. Reads of closed segments run outside the
// partition lock (closed segments never change); only the swap takes it. Reading and writing
// are throttled to `io_bytes_per_second` together.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "base/clock.h"
#include "base/result.h"
#include "storage/partition.h"

namespace wharf::storage {

struct CleanerOptions {
  // log.cleaner.io.max.bytes.per.second: bytes read plus written per second, over all
  // partitions. 0 means unthrottled (tests).
  std::uint64_t io_bytes_per_second = 32ull * 1024 * 1024;
  // Memory for the key -> latest offset map of one run (keys are stored whole, plus
  // kKeyMapEntryOverheadBytes each). A log with more distinct keys is cleaned in several runs,
  // oldest segments first.
  std::size_t key_map_bytes_max = 64ull * 1024 * 1024;
};

struct CleanStats {
  bool ran = false;  // false: nothing to do (ratio not reached, nothing cleanable)
  int segments_rewritten = 0;
  std::uint64_t bytes_cleaned = 0;  // size of the segments compacted (before)
  std::uint64_t bytes_read = 0;     // all reads of the run (the map pass and the rewrite)
  std::uint64_t bytes_written = 0;
  std::int64_t records_removed = 0;
  std::int64_t tombstones_kept = 0;
};

class LogCleaner {
 public:
  // `stopping` is polled while throttled so that shutdown is not delayed by a slow run.
  LogCleaner(CleanerOptions options, const Clock& clock, std::function<bool()> stopping = {});

  // Cleans `partition` if its policy has compact and it is dirty enough (min.cleanable.dirty.ratio
  // of the cleanable bytes were written since the last run, or a kept tombstone has expired).
  // Errors leave the log as it was (the partition may be fenced if a swap failed midway).
  [[nodiscard]] Result<CleanStats> clean(Partition& partition);

 private:
  // Blocks until `bytes` more of I/O fit the throttle (or stopping() is true).
  void throttle(std::uint64_t bytes);

  CleanerOptions options_;
  const Clock& clock_;
  std::function<bool()> stopping_;
  std::chrono::steady_clock::time_point window_start_{};
  std::uint64_t window_bytes_ = 0;
};

}  // namespace wharf::storage
