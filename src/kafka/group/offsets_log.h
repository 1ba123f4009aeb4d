// Durable committed offsets and group metadata: the internal topic __consumer_offsets, written
// through the storage engine with sync.policy=always, in Kafka's own record layout
// (offsets_codec.h).
//
// The topic is compacted as Kafka's is: cleanup.policy=compact, so the storage engine's log
// cleaner keeps the latest record of every key (an offset, or a group's metadata) and drops
// tombstones after delete.retention.ms. load() resolves the rest (latest wins).
//
// Threads: blocking; call from storage threads. Appends to different partitions run in
// parallel and share syncs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "kafka/group/offsets_codec.h"
#include "storage/log_manager.h"

namespace wharf::kafka::group {

class OffsetsLog {
 public:
  // Creates the topic on first use with `partitions` partitions, compacted; a topic from an
  // older version (copy-forward compaction) gets the compacted configuration. Records are
  // stamped with `clock`'s wall time; it must outlive the log.
  [[nodiscard]] static Result<std::unique_ptr<OffsetsLog>> open(storage::LogManager& log,
                                                                std::int32_t partitions,
                                                                const Clock& clock);
  // Calls `fn` for every record in log order (start-up replay). Malformed records are skipped
  // with a warning; unreadable partitions are an error.
  [[nodiscard]] Status load(const std::function<void(const OffsetRecord&)>& fn);
  // Appends `records` (one batch per partition touched); returns once they are durable.
  [[nodiscard]] Status append(const std::vector<OffsetRecord>& records);
  // Appends group metadata records (GroupMetadataKey v2) the same way. The cleaner keeps the
  // latest record of each group; a tombstone removes it.
  [[nodiscard]] Status append(const std::vector<GroupMetadataRecord>& records);

  std::int32_t partitions() const { return static_cast<std::int32_t>(parts_.size()); }

 private:
  struct Part {
    std::shared_ptr<storage::Partition> partition;
  };
  explicit OffsetsLog(const Clock& clock) : clock_(&clock) {}
  // Every record with a key, in log order, as raw key and value.
  [[nodiscard]] Status read_raw(storage::Partition& p,
                                const std::function<void(const storage::Record&)>& fn);
  [[nodiscard]] Status read_all(storage::Partition& p,
                                const std::function<void(const OffsetRecord&)>& fn);
  [[nodiscard]] Status append_records(
      std::map<std::int32_t, std::vector<storage::Record>> by_partition);

  const Clock* clock_;  // record timestamps
  std::vector<std::unique_ptr<Part>> parts_;
};

}  // namespace wharf::kafka::group
