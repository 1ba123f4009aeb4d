// One partition's log: a sequence of segments plus the idempotent-producer table, with appends
// made durable by group commit and recovery on open.
//
// Threads: any number of threads may call append(), read() and the offset queries at once. One
// mutex guards the segment list, offsets and producer table; appends write under it, then wait
// for a sync outside it. Under sync.policy=always the first waiter runs fdatasync for everything
// written so far while later appenders keep writing, so one sync covers many appends (group
// commit). A failed sync fences the partition: every later append fails with kFenced until the
// partition is reopened, which recovers from what is durable. The sync is never retried.
//
// Visibility: under `always`, readers see only synced batches (high watermark = durable end), so
// a consumer can never read a record that a crash could take back. Under `interval` and `none`
// the high watermark is the log end and the docs say what a crash can lose.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/ids.h"
#include "base/result.h"
#include "io/file_system.h"
#include "storage/producer_state.h"
#include "storage/segment.h"
#include "storage/topic_config.h"

namespace wharf::storage {

struct AppendResult {
  Offset base_offset;
  Offset last_offset;
  std::int64_t log_append_time_ms = -1;  // -1 unless the topic uses LogAppendTime
  Offset log_start_offset;
  bool duplicate = false;  // an idempotent retry answered with its original offsets
};

struct ReadResult {
  ByteBuffer records;  // whole record batches, as stored (read without zero-filling first)
  Offset high_watermark;
  Offset log_start_offset;
};

// What open() found and did; printed by the broker at start-up and checked by tests.
struct RecoveryReport {
  bool clean_shutdown = false;
  std::int64_t segments = 0;
  std::uint64_t bytes_scanned = 0;
  std::uint64_t torn_bytes_truncated = 0;
  std::string torn_tail_reason;
  std::int64_t producers = 0;
  std::int64_t snapshot_offset = -1;  // -1: producer state rebuilt from the log start
};

class Partition {
 public:
  // Opens (creating if empty) the partition in `dir` and recovers it. Corruption before the
  // tail is refused with kCorruption naming file and position.
  [[nodiscard]] static Result<std::unique_ptr<Partition>> open(io::FileSystem& fs, std::string dir,
                                                               TopicConfig config,
                                                               const Clock& clock);
  ~Partition();
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;

  // Validates `batch` (one record batch v2, exactly), assigns offsets by patching it in place,
  // appends it and returns once it is durable under the topic's sync policy. An idempotent
  // retry of one of the producer's last five batches returns the original offsets. When the
  // topic's compression.type names a codec other than the batch's, a recompressed copy is
  // patched and appended instead and `batch` is left as it was sent.
  [[nodiscard]] Result<AppendResult> append(MutableByteView batch);
  // For callers that do not keep the patched bytes.
  [[nodiscard]] Result<AppendResult> append(Bytes&& batch) {
    return append(MutableByteView(batch));
  }

  // Whole batches from the one containing `from`, up to max_bytes but at least one batch.
  // `from` == high watermark gives no bytes; outside [log start, high watermark] is kOutOfRange.
  [[nodiscard]] Result<ReadResult> read(Offset from, std::size_t max_bytes);

  // The base offset of the first batch whose max timestamp is >= timestamp_ms (batch
  // granularity), or nullopt if there is none below the high watermark.
  [[nodiscard]] Result<std::optional<Offset>> offset_for_timestamp(std::int64_t timestamp_ms);

  Offset log_start_offset() const;
  Offset high_watermark() const;
  Offset log_end_offset() const;
  std::uint64_t size_bytes() const;
  std::size_t segment_count() const;
  bool fenced() const;
  const RecoveryReport& recovery_report() const { return recovery_; }
  const std::string& dir() const { return dir_; }

  // Syncs what was written (the interval flusher calls this). Fences on failure.
  [[nodiscard]] Status sync();
  // Deletes whole old segments by retention.ms and retention.bytes; never the active one.
  [[nodiscard]] Result<int> enforce_retention();
  // Starts a new active segment at the log end (if the active one is not empty).
  [[nodiscard]] Status roll();
  // Deletes every whole segment that ends at or below `offset` (never the active one); the log
  // start moves to the first remaining segment. Used to drop records copied forward.
  [[nodiscard]] Result<int> delete_segments_before(Offset offset);
  // Kafka's DeleteRecords: moves the log start up to `offset` (records below it are no longer
  // served, even inside a batch that straddles it) and deletes the whole segments below it.
  // Durable before it returns: the new log start is written to the partition's
  // `log_start_offset` file (docs/formats/log-start-offset.md) and kept across restarts.
  // `offset` above the high watermark is kOutOfRange; at or below the log start it changes
  // nothing. Returns the log start afterwards.
  [[nodiscard]] Result<Offset> advance_log_start(Offset offset);
  void set_config(const TopicConfig& config);
  TopicConfig config() const;

  // For the log cleaner (log_cleaner.h). The closed segments it may rewrite now, oldest first:
  // every segment but the active one, wholly below the high watermark, stopping at the first
  // newer than min.compaction.lag.ms. An active segment older than segment.ms is rolled first
  // so an idle topic's last records get compacted too. Empty unless cleanup.policy has
  // compact.
  [[nodiscard]] Result<std::vector<std::shared_ptr<Segment>>> cleanable_segments();
  // Swaps `cleaned` (a fully written and synced `.cleaned` segment covering the same offsets)
  // in for `old`, crash-safely (docs/formats/compaction.md). If `old` is no longer in the log
  // (retention removed it, or the partition closed) the cleaned files are removed instead and
  // false is returned.
  [[nodiscard]] Result<bool> replace_segment(const std::shared_ptr<Segment>& old,
                                             const std::shared_ptr<Segment>& cleaned);
  // The topic is being deleted: the cleaner creates and renames no more files in `dir` (its
  // directory is about to be removed under it). Appends and reads are unaffected.
  void retire();
  // An empty `<base>.log.cleaned` segment (and indexes) for the cleaner to write into;
  // kShuttingDown once the partition is closed or retired.
  [[nodiscard]] Result<std::shared_ptr<Segment>> create_cleaned_segment(Offset base_offset);
  // The cleaner's bookkeeping, in memory only (a restart makes the whole log dirty once).
  struct CleanerState {
    Offset cleaned_to;                      // records below were cleaned by the last run
    std::int64_t tombstone_expiry_ms = -1;  // when a kept tombstone becomes removable; -1 none
  };
  CleanerState cleaner_state() const;
  void set_cleaner_state(const CleanerState& state);

  // Clean shutdown: sync the log and indexes, snapshot producer state, write the clean-shutdown
  // marker. The partition refuses appends afterwards.
  [[nodiscard]] Status close();

  // A copy of the idempotent-producer table (DescribeProducers).
  ProducerStateTable producer_state() const;

  // Tests: the producer table as recovered.
  const ProducerStateTable& producer_state_for_test() const { return producers_; }

 private:
  Partition(io::FileSystem& fs, std::string dir, TopicConfig config, const Clock& clock);
  [[nodiscard]] Status recover();
  [[nodiscard]] Status recover_producer_state(const std::vector<Offset>& snapshots);
  [[nodiscard]] Status roll_locked();
  [[nodiscard]] Status write_snapshot_locked();
  [[nodiscard]] Status wait_durable(std::unique_lock<std::mutex>& lock, Offset target);
  void fence_locked(const Error& error);
  Offset high_watermark_locked() const;
  // The first segment's base offset, or the DeleteRecords floor if that is higher.
  Offset log_start_locked() const;
  [[nodiscard]] Status write_log_start_locked(Offset offset);
  std::shared_ptr<Segment> segment_for_locked(Offset offset) const;

  io::FileSystem& fs_;
  const std::string dir_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable durable_cv_;
  TopicConfig config_;
  std::vector<std::shared_ptr<Segment>> segments_;  // ascending base offset; back() is active
  ProducerStateTable producers_;
  Offset log_end_;
  Offset log_start_floor_{0};  // set by advance_log_start, from the log_start_offset file
  Offset durable_end_;
  bool sync_in_flight_ = false;
  bool closed_ = false;
  bool retired_ = false;  // see retire()
  std::optional<Error> fenced_;
  RecoveryReport recovery_;
  CleanerState cleaner_state_;
};

}  // namespace wharf::storage
