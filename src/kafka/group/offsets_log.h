// Durable committed offsets: the internal topic __consumer_offsets, written through the
// storage engine with sync.policy=always, in Kafka's own record layout (offsets_codec.h).
//
// Growth is bounded by copy-forward compaction: when a partition passes its threshold, the
// latest record of every live key is read back from the log, appended again after a roll, and
// every older segment is deleted. A crash in between leaves duplicates of the same values,
// which load() resolves (latest wins), never a lost commit.
//
// Threads: blocking; call from storage threads. Appends to different partitions run in
// parallel and share syncs; compaction of a partition excludes appends to that partition.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "base/result.h"
#include "kafka/group/offsets_codec.h"
#include "storage/log_manager.h"

namespace wharf::kafka::group {

class OffsetsLog {
 public:
  // Creates the topic on first use with `partitions` partitions.
  [[nodiscard]] static Result<std::unique_ptr<OffsetsLog>> open(storage::LogManager& log, std::int32_t partitions,
                                                                std::uint64_t compact_bytes);
  // Calls `fn` for every record in log order (start-up replay). Malformed records are skipped
  // with a warning; unreadable partitions are an error.
  [[nodiscard]] Status load(const std::function<void(const OffsetRecord&)>& fn);
  // Appends `records` (one batch per partition touched); returns once they are durable.
  [[nodiscard]] Status append(const std::vector<OffsetRecord>& records);
  // Appends group metadata records (GroupMetadataKey v2) the same way. Compaction keeps the
  // latest record of each group; a tombstone removes it.
  [[nodiscard]] Status append(const std::vector<GroupMetadataRecord>& records);
  // Compacts partitions past their threshold; returns how many were compacted.
  [[nodiscard]] Result<int> compact_if_needed();
  [[nodiscard]] Status compact(std::int32_t partition);

  std::int32_t partitions() const { return static_cast<std::int32_t>(parts_.size()); }

 private:
  struct Part {
    std::shared_ptr<storage::Partition> partition;
    std::shared_mutex mu;  // shared: appends; exclusive: compaction
    std::uint64_t compact_at_bytes = 0;
  };
  OffsetsLog() = default;
  // Every record with a key, in log order, as raw key and value.
  [[nodiscard]] Status read_raw(storage::Partition& p,
                                const std::function<void(const storage::Record&)>& fn);
  [[nodiscard]] Status read_all(storage::Partition& p, const std::function<void(const OffsetRecord&)>& fn);
  [[nodiscard]] Status append_records(std::map<std::int32_t, std::vector<storage::Record>> by_partition);

  std::uint64_t compact_bytes_ = 0;
  std::vector<std::unique_ptr<Part>> parts_;
};

}  // namespace wharf::kafka::group
