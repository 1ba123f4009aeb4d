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
// Pipelining: append_async() returns once the batch is written and calls back when it is durable,
// so a caller can write the next batch while the sync runs; the syncs its waiters need run as
// tasks on the caller's runner (a thread pool), one sync per task, so many partitions share the
// pool fairly. A blocking append() that leads a sync also completes the asynchronous waiters it
// covers.
//
// Readers that wait for data: wait_for() blocks until the high watermark passes an offset, and
// watch() calls back when it does (the Kafka server's parked fetches use it).
//
// Visibility: under `always`, readers see only synced batches (high watermark = durable end), so
// a consumer can never read a record that a crash could take back. Under `interval` and `none`
// the high watermark is the log end and the docs say what a crash can lose.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
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
#include "storage/record_batch.h"
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

// Runs a task on some other thread (a thread pool's post). append_async() hands it the syncs
// that its callbacks wait for. Returns false when it cannot run the task (its pool is gone): the
// task is dropped, and the partition syncs on the appending thread instead, or, for a sync that
// a completed sync wanted next, at the next append or close().
using TaskRunner = std::function<bool(std::function<void()>)>;
// Called once an asynchronous append is durable (ok) or can never be (the fence's error, or
// kShuttingDown). Runs with the partition's lock held, on whichever thread completed the sync:
// it must be short and must not call into the partition (post the work elsewhere).
using DurableCallback = std::function<void(Status)>;

class Partition : public std::enable_shared_from_this<Partition> {
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
  // As append(), but returns once the batch is written (offsets assigned, readable once
  // durable), without waiting for the sync. `durable` is called exactly once unless an error is
  // returned: before this returns when nothing is left to wait for (sync.policy interval or
  // none, or a duplicate whose original is durable), else when a sync covers the batch. That
  // sync runs as a task on `run`; a partition not owned by a shared_ptr (tests) runs it on this
  // thread before returning. Appends from one caller are written in call order, so a producer's
  // pipelined batches keep their order.
  [[nodiscard]] Result<AppendResult> append_async(MutableByteView batch, const TaskRunner& run,
                                                  DurableCallback durable);
  // As append_async(), for a thread that must not block (the network thread), and only under
  // sync.policy none or interval: never waits for the lock, a sync or a new segment. Returns
  // nullopt, having written nothing and left `durable` as it was, when the policy is always (or
  // interval with its sync running), the lock is held, the partition is closed or fenced, the
  // batch is compressed or needs recompressing, the append would roll a segment or make the
  // producer table forget producers, or there is no shared owner and `run` to sync on; the caller
  // then uses append_async() on a thread that may block. A batch that fails validation is
  // refused here as there.
  [[nodiscard]] std::optional<Result<AppendResult>> try_append_async(MutableByteView batch,
                                                                     const TaskRunner& run,
                                                                     DurableCallback& durable);

  // Blocks until the high watermark is above `offset` (the record at `offset` is readable), the
  // timeout passes, or the partition is closed, fenced or retired. Returns the high watermark
  // then.
  Offset wait_for(Offset offset, std::chrono::milliseconds timeout);
  // Calls `woken` once, when the high watermark rises above `above` (at once if it already is),
  // or the partition is closed, fenced or retired. It runs with the partition's lock held, on the
  // thread that moved the high watermark: it must be short and must not call into the partition.
  // Returns an id for unwatch(), which is a no-op once `woken` has run.
  using WatchId = std::uint64_t;
  WatchId watch(Offset above, std::function<void()> woken);
  void unwatch(WatchId id);

  // Whole batches from the one containing `from`, up to max_bytes but at least one batch.
  // `from` == high watermark gives no bytes; outside [log start, high watermark] is kOutOfRange.
  [[nodiscard]] Result<ReadResult> read(Offset from, std::size_t max_bytes);

  // ListOffsets by time: the first record at or above the log start whose timestamp is >=
  // timestamp_ms, with that timestamp (find_record_by_timestamp inside the first batch whose
  // max timestamp is >= it; if no record there qualifies, as in a compacted batch, that batch's
  // first offset at or above the log start and its max timestamp). nullopt if no batch below the
  // high watermark qualifies. A damaged batch is kCorruption.
  [[nodiscard]] Result<std::optional<TimestampedOffset>> offset_for_timestamp(
      std::int64_t timestamp_ms);

  Offset log_start_offset() const;
  Offset high_watermark() const;
  // What a reader checks before serving records, read in one go. try_reader_view() gives
  // nullopt, without waiting, if another thread holds the partition (a write, a segment roll's
  // sync): for a thread that must not block (the network thread).
  struct ReaderView {
    bool fenced = false;
    Offset high_watermark;
    Offset log_start_offset;
    std::optional<Compression> recompression_target;  // compression.type's codec, if it names one
  };
  ReaderView reader_view() const;
  std::optional<ReaderView> try_reader_view() const;
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
  // directory is about to be removed under it), and watchers and wait_for() wake (now and from
  // now on). Appends and reads are unaffected.
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
  // The part of append() under the lock: checks, roll, offsets, the write, at time `now` (the
  // clock read once, so a caller that checked rolls_locked() at `now` sees no roll). Sets
  // `target` to the offset the batch is durable at (for a duplicate, its original's end).
  [[nodiscard]] Result<AppendResult> write_locked(MutableByteView batch, BatchHeader h,
                                                  const ValidatedBatch& validated, Offset& target,
                                                  std::int64_t now);
  // Whether appending `bytes` holding `records` records at `now_ms` starts a new segment.
  bool rolls_locked(std::size_t bytes, std::int32_t records, std::int64_t now_ms) const;
  // After a batch is written up to `target`: `durable` is called now if nothing is left to
  // wait for, else queued for a sync on `run` (or synced on this thread when there is none).
  void await_durable_locked(std::unique_lock<std::mutex>& lock, Offset target,
                            const TaskRunner& run, DurableCallback durable);
  // Validation and recompression, outside the lock (see append()).
  struct Prepared;
  [[nodiscard]] Result<Prepared> prepare(MutableByteView batch);
  // prepare(), then takes `lock` (on mu_, not held) and writes: what append() and
  // append_async() share. `lock` is held on return unless prepare() failed.
  [[nodiscard]] Result<AppendResult> write(MutableByteView batch,
                                           std::unique_lock<std::mutex>& lock, Offset& target);
  [[nodiscard]] Status wait_durable(std::unique_lock<std::mutex>& lock, Offset target);
  // Leads one sync of everything written so far. REQUIRES: no sync in flight.
  [[nodiscard]] Status sync_once(std::unique_lock<std::mutex>& lock);
  // The durable end or high watermark may have moved: completes the asynchronous waiters and
  // watchers now satisfied, wakes blocked readers, and schedules a sync for waiters still
  // pending when none is in flight or scheduled.
  void advanced_locked();
  // False only if the runner refused the task (nothing is scheduled then).
  bool schedule_sync_locked();
  void run_scheduled_sync();
  // Completes every asynchronous waiter and watcher with `status` (fence, close).
  void release_all_locked(const Status& status);
  void fence_locked(const Error& error);
  Offset high_watermark_locked() const;
  ReaderView reader_view_locked() const;
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
  struct DurableWaiter {
    Offset target;
    DurableCallback done;
  };
  std::vector<DurableWaiter> durable_waiters_;  // asynchronous appends not yet durable
  TaskRunner sync_runner_;         // from the latest append_async; cleared when no waiter is left
  bool sync_scheduled_ = false;    // a run_scheduled_sync task is queued
  std::condition_variable hw_cv_;  // wait_for
  struct Watcher {
    Offset above;
    std::function<void()> woken;
  };
  std::map<WatchId, Watcher> watchers_;
  WatchId next_watch_id_ = 1;
  bool closed_ = false;
  bool retired_ = false;  // see retire()
  std::optional<Error> fenced_;
  RecoveryReport recovery_;
  CleanerState cleaner_state_;
};

}  // namespace wharf::storage
