// The sparse offset index and the time index of one segment.
//
// Both are kept in memory (a sorted vector) and appended to their files lazily: entries reach
// the file on flush(), which the segment calls at roll, at clean shutdown and periodically. An
// index is never needed for durability: on an unclean start the active segment's indexes are
// rebuilt from the log, and a missing or inconsistent index of any segment is rebuilt too
// (docs/formats/segment-index.md). Owned by a Segment; guarded by its partition's lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "io/file_system.h"
#include "storage/limits.h"

namespace wharf::storage {

struct OffsetIndexEntry {
  std::uint32_t relative_offset;  // offset - segment base offset
  std::uint32_t position;         // byte position of the batch in the .log file
};

struct TimeIndexEntry {
  std::int64_t timestamp_ms;      // the segment's max timestamp up to and including this batch
  std::uint32_t relative_offset;  // the batch that first reached it
};

inline constexpr std::size_t kOffsetIndexEntryBytes = 8;
inline constexpr std::size_t kTimeIndexEntryBytes = 12;

// The most entries an index of a log of `log_bytes` can hold: one per batch, and a batch is at
// least its header. Without a log at hand, the largest segment's.
std::size_t index_entries_max(std::uint64_t log_bytes = kSegmentBytesMax);

template <typename Entry>
class SparseIndex {
 public:
  const std::vector<Entry>& entries() const { return entries_; }
  void add(const Entry& e) { entries_.push_back(e); }
  void clear() {
    entries_.clear();
    persisted_ = 0;
    rewrite_ = true;
  }
  // Drops entries whose relative offset is >= `relative_offset` (truncation on recovery).
  void truncate_from(std::uint32_t relative_offset);

  // Appends the entries not yet in `file` (or rewrites it after clear/truncate).
  [[nodiscard]] Status flush(io::File& file);
  // Loads entries from `file`; fails (kCorruption) on a partial entry or non-increasing order.
  // A file of more than `entries_max` entries is kCorruption, refused before it is read: a
  // segment indexes each batch at most once, so its log's size bounds its index's
  // (index_entries_max).
  [[nodiscard]] Status load(io::File& file, std::size_t entries_max);

 private:
  std::vector<Entry> entries_;
  std::size_t persisted_ = 0;
  bool rewrite_ = false;
};

using OffsetIndex = SparseIndex<OffsetIndexEntry>;
using TimeIndex = SparseIndex<TimeIndexEntry>;

// The last offset-index entry at or before `relative_offset`, if any.
std::optional<OffsetIndexEntry> floor_entry(const OffsetIndex& index,
                                            std::uint32_t relative_offset);

}  // namespace wharf::storage
