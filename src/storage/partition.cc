#include "storage/partition.h"

#include <algorithm>
#include <charconv>

#include "base/crc32c.h"
#include "base/log.h"
#include "base/metrics.h"
#include "storage/compression.h"
#include "storage/limits.h"

namespace wharf::storage {
namespace {

metrics::Histogram& sync_latency() {
  static auto& h = metrics::registry()
                       .histogram("wharf_log_sync_duration_seconds",
                                  "Time one fdatasync of a partition log took (group commit: one "
                                  "sync covers many appends).")
                       .with({});
  return h;
}

metrics::Counter& producer_state_evictions() {
  static auto& c = metrics::registry()
                       .counter("wharf_producer_state_evicted_total",
                                "Producers a partition forgot because it held "
                                "kProducersPerPartitionMax (100,000) already; their next batches "
                                "are checked as a new producer's.")
                       .with({});
  return c;
}

constexpr std::string_view kCleanShutdownFile = "clean_shutdown";
constexpr std::uint32_t kCleanMagic = 0x57435331;  // "WCS1"
constexpr std::size_t kCleanBytes = 4 + 4 + 8 + 8 + 8;
constexpr std::size_t kSnapshotsKept = 2;
// DeleteRecords' log start (docs/formats/log-start-offset.md): magic, CRC-32C of the offset,
// the offset.
constexpr std::string_view kLogStartFile = "log_start_offset";
constexpr std::uint32_t kLogStartMagic = 0x574c5331;  // "WLS1"
constexpr std::size_t kLogStartBytes = 4 + 4 + 8;
constexpr std::string_view kCleanedSuffix = ".cleaned";

struct CleanMarker {
  Offset log_end;
  Offset active_base;
  std::uint64_t active_size;
};

Bytes encode_marker(const CleanMarker& m) {
  Bytes out;
  append_be<std::uint32_t>(out, kCleanMagic);
  append_be<std::uint32_t>(out, 0);
  append_be<std::int64_t>(out, m.log_end.value());
  append_be<std::int64_t>(out, m.active_base.value());
  append_be<std::uint64_t>(out, m.active_size);
  store_be<std::uint32_t>(out, 4, crc32c::value(ByteView(out).subspan(8)));
  return out;
}

std::optional<CleanMarker> decode_marker(ByteView in) {
  if (in.size() != kCleanBytes || load_be<std::uint32_t>(in, 0) != kCleanMagic ||
      load_be<std::uint32_t>(in, 4) != crc32c::value(in.subspan(8))) {
    return std::nullopt;
  }
  return CleanMarker{Offset(load_be<std::int64_t>(in, 8)), Offset(load_be<std::int64_t>(in, 16)),
                     load_be<std::uint64_t>(in, 24)};
}

Bytes encode_log_start(Offset offset) {
  Bytes out;
  append_be<std::uint32_t>(out, kLogStartMagic);
  append_be<std::uint32_t>(out, 0);
  append_be<std::int64_t>(out, offset.value());
  store_be<std::uint32_t>(out, 4, crc32c::value(ByteView(out).subspan(8)));
  return out;
}

std::optional<Offset> decode_log_start(ByteView in) {
  if (in.size() != kLogStartBytes || load_be<std::uint32_t>(in, 0) != kLogStartMagic ||
      load_be<std::uint32_t>(in, 4) != crc32c::value(in.subspan(8)) ||
      load_be<std::int64_t>(in, 8) < 0) {
    return std::nullopt;
  }
  return Offset(load_be<std::int64_t>(in, 8));
}

// "00000000000000000042.log" -> (42, ".log"); nullopt for anything else.
std::optional<std::pair<Offset, std::string>> parse_file_name(const std::string& name) {
  if (name.size() < 21 || name[20] != '.') return std::nullopt;
  std::int64_t base = 0;
  auto [ptr, ec] = std::from_chars(name.data(), name.data() + 20, base);
  if (ec != std::errc() || ptr != name.data() + 20 || base < 0) return std::nullopt;
  return std::make_pair(Offset(base), name.substr(20));
}

}  // namespace

Partition::Partition(io::FileSystem& fs, std::string dir, TopicConfig config, const Clock& clock)
    : fs_(fs), dir_(std::move(dir)), clock_(clock), config_(std::move(config)) {}

Partition::~Partition() = default;

Result<std::unique_ptr<Partition>> Partition::open(io::FileSystem& fs, std::string dir,
                                                   TopicConfig config, const Clock& clock) {
  std::unique_ptr<Partition> p(new Partition(fs, std::move(dir), std::move(config), clock));
  auto status = p->recover();
  if (!status)
    return fail(std::move(status).error().with_context(fmt::format("partition {}", p->dir_)));
  return p;
}

Status Partition::recover() {
  std::lock_guard lock(mu_);
  WHARF_RETURN_IF_ERROR(io::create_dirs_durable(fs_, dir_));
  WHARF_ASSIGN_OR_RETURN(auto names, fs_.list_dir(dir_));

  std::vector<Offset> logs, snapshots;
  std::vector<std::pair<Offset, std::string>> indexes;
  bool has_marker = false;
  bool has_log_start = false;
  bool removed_leftovers = false;
  for (const std::string& name : names) {
    if (name == kCleanShutdownFile) {
      has_marker = true;
      continue;
    }
    if (name == kLogStartFile) {
      has_log_start = true;
      continue;
    }
    if (name.ends_with(".tmp")) {  // an atomic write that never reached its rename
      WHARF_RETURN_IF_ERROR(fs_.remove(io::join_path(dir_, name)));
      continue;
    }
    if (name.ends_with(kCleanedSuffix)) {
      // A compaction swap that did not finish: before the `.log.cleaned` rename (the commit
      // point) the original log is in place; after it only index files remain, and indexes
      // missing from the new log are rebuilt below. Either way the leftovers go.
      WHARF_LOG_INFO("{}: removing {} left by an interrupted compaction", dir_, name);
      WHARF_RETURN_IF_ERROR(fs_.remove(io::join_path(dir_, name)));
      removed_leftovers = true;
      continue;
    }
    auto parsed = parse_file_name(name);
    if (!parsed) {
      WHARF_LOG_WARN("{}: ignoring unknown file {}", dir_, name);
      continue;
    }
    if (parsed->second == ".log")
      logs.push_back(parsed->first);
    else if (parsed->second == ".snapshot")
      snapshots.push_back(parsed->first);
    else if (parsed->second == ".index" || parsed->second == ".timeindex")
      indexes.push_back(*parsed);
    else
      WHARF_LOG_WARN("{}: ignoring unknown file {}", dir_, name);
  }
  if (removed_leftovers) WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir_));
  std::sort(logs.begin(), logs.end());
  std::sort(snapshots.begin(), snapshots.end());
  for (const auto& [base, ext] : indexes) {  // indexes whose log was removed by retention
    if (!std::binary_search(logs.begin(), logs.end(), base)) {
      WHARF_RETURN_IF_ERROR(fs_.remove(io::join_path(dir_, segment_file_name(base, ext))));
    }
  }

  std::optional<CleanMarker> marker;
  if (has_marker) {
    const std::string path = io::join_path(dir_, std::string(kCleanShutdownFile));
    auto bytes = io::read_file(fs_, path, kMetadataFileBytesMax);
    if (bytes) marker = decode_marker(*bytes);
    if (!marker) WHARF_LOG_WARN("{}: clean-shutdown marker is unreadable; recovering fully", dir_);
    // From here on a crash must trigger a full recovery: the marker goes before any write.
    WHARF_RETURN_IF_ERROR(fs_.remove(path));
    WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir_));
  }

  const std::int64_t now = clock_.now_ms();
  if (logs.empty()) {
    WHARF_ASSIGN_OR_RETURN(auto seg, Segment::create(fs_, dir_, Offset(0), now));
    seg->set_index_interval_bytes(config_.index_interval_bytes);
    segments_.push_back(std::move(seg));
  }
  for (std::size_t i = 0; i < logs.size(); ++i) {
    WHARF_ASSIGN_OR_RETURN(auto seg, Segment::open(fs_, dir_, logs[i]));
    seg->set_index_interval_bytes(config_.index_interval_bytes);
    const bool active = i + 1 == logs.size();
    if (!segments_.empty() && segments_.back()->next_offset() != seg->base_offset()) {
      return fail(ErrorCode::kCorruption, "{} ends at offset {} but the next segment starts at {}",
                  segments_.back()->log_path(), segments_.back()->next_offset(),
                  seg->base_offset());
    }
    const bool trusted_clean = marker && marker->active_base == seg->base_offset() &&
                               marker->active_size == seg->size_bytes();
    if (!active || trusted_clean) {
      WHARF_RETURN_IF_ERROR(seg->load_trusted(now));
      if (active && seg->next_offset() != marker->log_end) {
        return fail(ErrorCode::kCorruption, "{}: ends at offset {}, clean-shutdown marker says {}",
                    seg->log_path(), seg->next_offset(), marker->log_end);
      }
      recovery_.clean_shutdown = active;
    } else {
      WHARF_ASSIGN_OR_RETURN(ScanOutcome scan, seg->scan(now, nullptr));
      recovery_.bytes_scanned += scan.file_bytes;
      if (scan.valid_bytes < scan.file_bytes) {
        // Torn tail or corruption? A torn write leaves nothing valid after it; a complete,
        // CRC-valid batch anywhere after the bad one means bytes in the middle went bad. Every
        // position is tried, not only where the bad batch's length points: that length may be
        // the damaged field.
        WHARF_ASSIGN_OR_RETURN(
            auto valid_after,
            seg->find_valid_batch_after(FilePosition(scan.valid_bytes), scan.next_offset));
        if (valid_after) {
          return fail(
              ErrorCode::kCorruption,
              "{} position {}: {}; a valid batch follows at position {}, so this is corruption in "
              "the middle of the log, not a torn write. Refusing to serve this partition: nothing "
              "was changed on disk. Restore the partition from a backup, or cut the log at the "
              "damaged batch with `wharf repair --data-dir DIR --file {} --position {}` (which "
              "keeps "
              "the cut bytes in a side file); `wharf check-data` lists every problem",
              seg->log_path(), scan.valid_bytes, scan.tail_problem, valid_after->value(),
              seg->log_path(), scan.valid_bytes);
        }
        WHARF_LOG_WARN("{}: truncating a torn tail of {} bytes at position {} ({})",
                       seg->log_path(), scan.file_bytes - scan.valid_bytes, scan.valid_bytes,
                       scan.tail_problem);
        recovery_.torn_bytes_truncated = scan.file_bytes - scan.valid_bytes;
        recovery_.torn_tail_reason = scan.tail_problem;
        WHARF_RETURN_IF_ERROR(seg->truncate_to(scan.valid_bytes, scan.next_offset));
      }
      // What we recovered may still sit only in the page cache; make it durable before serving.
      WHARF_RETURN_IF_ERROR(seg->sync());
      WHARF_RETURN_IF_ERROR(seg->flush_indexes());
    }
    segments_.push_back(std::move(seg));
  }
  recovery_.segments = static_cast<std::int64_t>(segments_.size());
  log_end_ = segments_.back()->next_offset();
  durable_end_ = log_end_;
  if (has_log_start) {
    const std::string path = io::join_path(dir_, std::string(kLogStartFile));
    auto bytes = io::read_file(fs_, path, kMetadataFileBytesMax);
    auto floor = bytes ? decode_log_start(*bytes) : std::nullopt;
    if (!floor) {
      // Written atomically with a CRC, so this is damage: records below it are served again
      // rather than the partition refused (nothing is lost by ignoring it).
      WHARF_LOG_WARN("{}: ignoring an unreadable {} file", dir_, kLogStartFile);
    } else {
      // Under interval or none a crash can take back records below a DeleteRecords offset.
      log_start_floor_ = std::min(*floor, log_end_);
    }
  }
  return recover_producer_state(snapshots);
}

Status Partition::recover_producer_state(const std::vector<Offset>& snapshots) {
  // Newest usable snapshot at or below the log end; later ones describe truncated data.
  Offset replay_from = segments_.front()->base_offset();
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
    const std::string path = io::join_path(dir_, segment_file_name(*it, ".snapshot"));
    if (*it > log_end_ || *it < segments_.front()->base_offset()) {
      WHARF_RETURN_IF_ERROR(fs_.remove(path));
      continue;
    }
    auto bytes = io::read_file(fs_, path, ProducerStateTable::kSnapshotBytesMax);
    if (!bytes) {
      WHARF_LOG_WARN("{}: ignoring unreadable producer snapshot: {}", dir_,
                     bytes.error().to_string());
      continue;
    }
    auto decoded = ProducerStateTable::decode_snapshot(*bytes);
    if (!decoded || decoded->first != *it) {
      WHARF_LOG_WARN("{}: ignoring unusable producer snapshot {}", dir_, path);
      continue;
    }
    producers_ = std::move(decoded->second);
    replay_from = *it;
    recovery_.snapshot_offset = it->value();
    break;
  }
  // Replay batch headers from there: v2 headers carry producer id, epoch and sequences.
  for (const auto& seg : segments_) {
    if (seg->next_offset() <= replay_from || seg->empty()) continue;
    const Offset start = std::max(replay_from, seg->base_offset());
    WHARF_ASSIGN_OR_RETURN(FilePosition pos, seg->find_position(start));
    WHARF_ASSIGN_OR_RETURN(auto file, fs_.open(seg->log_path(), io::OpenMode::kReadOnly));
    std::uint64_t p = pos.value();
    std::array<std::byte, batch_layout::kHeaderBytes> raw;
    while (p < seg->size_bytes()) {
      WHARF_RETURN_IF_ERROR(io::read_exact(*file, FilePosition(p), raw));
      WHARF_ASSIGN_OR_RETURN(BatchHeader h, parse_header(raw));
      producers_.update(h);
      p += h.total_bytes();
    }
  }
  recovery_.producers = static_cast<std::int64_t>(producers_.size());
  return ok();
}

void Partition::fence_locked(const Error& error) {
  if (!fenced_) {
    WHARF_LOG_ERROR("{}: fenced after a failed sync, refusing writes until reopened: {}", dir_,
                    error.to_string());
    fenced_ = make_error(ErrorCode::kFenced,
                         "partition {} is fenced after a failed sync ({}); "
                         "reopen it to recover from what is durable",
                         dir_, error.message());
  }
  release_all_locked(fail(*fenced_));
}

Status Partition::wait_durable(std::unique_lock<std::mutex>& lock, Offset target) {
  while (durable_end_ < target) {
    if (fenced_) return fail(*fenced_);
    if (sync_in_flight_) {
      durable_cv_.wait(lock);
      continue;
    }
    WHARF_RETURN_IF_ERROR(sync_once(lock));
  }
  return ok();
}

Status Partition::sync_once(std::unique_lock<std::mutex>& lock) {
  // Lead a sync covering everything written so far; appends keep writing meanwhile.
  sync_in_flight_ = true;
  const Offset covered = log_end_;
  std::shared_ptr<Segment> active = segments_.back();
  lock.unlock();
  const auto started = std::chrono::steady_clock::now();
  Status synced = active->sync();
  sync_latency().observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  lock.lock();
  sync_in_flight_ = false;
  if (!synced) {
    fence_locked(synced.error());
    return fail(*fenced_);
  }
  durable_end_ = std::max(durable_end_, covered);
  advanced_locked();
  return ok();
}

void Partition::advanced_locked() {
  durable_cv_.notify_all();
  hw_cv_.notify_all();
  if (!durable_waiters_.empty()) {
    std::size_t kept = 0;
    for (auto& w : durable_waiters_) {
      if (w.target <= durable_end_) {
        w.done(ok());
      } else {
        if (&durable_waiters_[kept] != &w) durable_waiters_[kept] = std::move(w);  // no self-move
        ++kept;
      }
    }
    durable_waiters_.resize(kept);
    if (!durable_waiters_.empty()) {
      schedule_sync_locked();
    } else {
      sync_runner_ = nullptr;  // the caller's pool need not outlive its last append
    }
  }
  if (!watchers_.empty()) {
    const Offset hw = high_watermark_locked();
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      if (hw > it->second.above) {
        it->second.woken();
        it = watchers_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

bool Partition::schedule_sync_locked() {
  // A sync in flight is followed by advanced_locked(), which schedules the next one if needed.
  if (sync_in_flight_ || sync_scheduled_ || !sync_runner_ || durable_waiters_.empty()) return true;
  auto self = weak_from_this().lock();
  if (!self) return true;  // not shared-owned: append_async syncs on the caller's thread instead
  sync_scheduled_ = true;
  if (sync_runner_([self = std::move(self)] { self->run_scheduled_sync(); })) return true;
  // Refused (the runner's pool is gone): nothing is scheduled, and a runner that refuses once
  // is not asked again.
  sync_scheduled_ = false;
  sync_runner_ = nullptr;
  return false;
}

void Partition::run_scheduled_sync() {
  // One sync per task: a busy partition re-posts rather than keep a pool thread, so many
  // partitions share the pool.
  std::unique_lock lock(mu_);
  sync_scheduled_ = false;
  if (sync_in_flight_ || durable_waiters_.empty() || fenced_) return;
  (void)sync_once(lock);  // a failure fences the partition and fails the waiters
}

void Partition::release_all_locked(const Status& status) {
  for (auto& w : durable_waiters_) w.done(status);
  durable_waiters_.clear();
  sync_runner_ = nullptr;
  for (auto& [_, w] : watchers_) w.woken();
  watchers_.clear();
  durable_cv_.notify_all();
  hw_cv_.notify_all();
}

Offset Partition::wait_for(Offset offset, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  hw_cv_.wait_for(lock, timeout, [&] {
    return closed_ || retired_ || fenced_.has_value() || high_watermark_locked() > offset;
  });
  return high_watermark_locked();
}

Partition::WatchId Partition::watch(Offset above, std::function<void()> woken) {
  std::lock_guard lock(mu_);
  const WatchId id = next_watch_id_++;
  if (closed_ || retired_ || fenced_ || high_watermark_locked() > above) {
    woken();
    return id;
  }
  watchers_.emplace(id, Watcher{above, std::move(woken)});
  return id;
}

void Partition::unwatch(WatchId id) {
  std::lock_guard lock(mu_);
  watchers_.erase(id);
}

Status Partition::roll_locked() {
  std::shared_ptr<Segment> old = segments_.back();
  // The old segment must be complete on disk before a new one follows it: recovery trusts
  // every segment but the last.
  if (auto s = old->sync(); !s) {
    fence_locked(s.error());
    return fail(*fenced_);
  }
  WHARF_RETURN_IF_ERROR(old->sync_indexes());
  durable_end_ = std::max(durable_end_, log_end_);
  advanced_locked();
  WHARF_RETURN_IF_ERROR(write_snapshot_locked());
  WHARF_ASSIGN_OR_RETURN(auto seg, Segment::create(fs_, dir_, log_end_, clock_.now_ms()));
  seg->set_index_interval_bytes(config_.index_interval_bytes);
  segments_.push_back(std::move(seg));
  return ok();
}

Status Partition::write_snapshot_locked() {
  const Bytes snapshot = producers_.encode_snapshot(log_end_);
  WHARF_RETURN_IF_ERROR(io::write_file_atomic(
      fs_, io::join_path(dir_, segment_file_name(log_end_, ".snapshot")), snapshot));
  // Keep the newest few; older ones are never needed again.
  WHARF_ASSIGN_OR_RETURN(auto names, fs_.list_dir(dir_));
  std::vector<Offset> snaps;
  for (const auto& name : names) {
    auto parsed = parse_file_name(name);
    if (parsed && parsed->second == ".snapshot") snaps.push_back(parsed->first);
  }
  std::sort(snaps.begin(), snaps.end());
  for (std::size_t i = 0; i + kSnapshotsKept < snaps.size(); ++i) {
    WHARF_RETURN_IF_ERROR(
        fs_.remove(io::join_path(dir_, segment_file_name(snaps[i], ".snapshot"))));
  }
  return ok();
}

struct Partition::Prepared {
  ValidatedBatch validated;
  BatchHeader header;
  Bytes recompressed;  // empty unless the topic's codec differs from the batch's
};

Result<Partition::Prepared> Partition::prepare(MutableByteView batch) {
  std::size_t batch_bytes_max = 0;
  Recompression recompression;
  {
    std::lock_guard config_lock(mu_);
    if (closed_) return fail(ErrorCode::kShuttingDown, "partition {} is closed", dir_);
    if (fenced_) return fail(*fenced_);
    batch_bytes_max = config_.max_message_bytes;
    // Read on every append: AlterConfigs may change compression.type at any time.
    recompression = config_.recompression();
  }
  // Validation reads only the batch (and decompresses a compressed one): outside the lock, so
  // concurrent appends to this partition are not serialised behind a decompression.
  Prepared out;
  WHARF_ASSIGN_OR_RETURN(out.validated,
                         validate_batch_records(batch, ValidationLimits{batch_bytes_max}));
  out.header = out.validated.header;
  // As Kafka: a topic whose compression.type names a codec stores every data batch with it; the
  // records, offsets, timestamps and producer fields stay as sent. Outside the lock too.
  if (needs_recompression(out.header, recompression)) {
    WHARF_ASSIGN_OR_RETURN(out.recompressed,
                           recompress_batch(batch, recompression, batch_bytes_max));
    WHARF_ASSIGN_OR_RETURN(out.header, parse_header(out.recompressed));
  }
  return out;
}

Result<AppendResult> Partition::append(MutableByteView batch) {
  std::unique_lock lock(mu_, std::defer_lock);
  Offset target;
  WHARF_ASSIGN_OR_RETURN(AppendResult result, write(batch, lock, target));
  if (config_.sync.kind == SyncPolicy::Kind::kAlways) {
    WHARF_RETURN_IF_ERROR(wait_durable(lock, target));
  }
  return result;
}

Result<AppendResult> Partition::append_async(MutableByteView batch, const TaskRunner& run,
                                             DurableCallback durable) {
  std::unique_lock lock(mu_, std::defer_lock);
  Offset target;
  WHARF_ASSIGN_OR_RETURN(AppendResult result, write(batch, lock, target));
  await_durable_locked(lock, target, run, std::move(durable));
  return result;
}

std::optional<Result<AppendResult>> Partition::try_append_async(MutableByteView batch,
                                                                const TaskRunner& run,
                                                                DurableCallback& durable) {
  // Without a runner and a shared owner the sync would run on this thread.
  if (!run || weak_from_this().expired()) return std::nullopt;
  std::unique_lock lock(mu_, std::defer_lock);
  // What this thread may do, read under the lock, and read again after validation (outside the
  // lock): AlterConfigs may change the topic meanwhile.
  auto may_write_here = [&]() -> std::optional<std::size_t> {
    if (closed_ || fenced_) return std::nullopt;
    // Under `always` the answer waits for a sync anyway, and a write on a thread that also reads
    // requests can be held up by that sync's journal commit: measured slower at 50,000 records/s
    // (decision 0009, Added later). Under `interval`, likewise while its sync runs.
    if (config_.sync.kind == SyncPolicy::Kind::kAlways || sync_in_flight_) return std::nullopt;
    return config_.max_message_bytes;
  };
  if (!lock.try_lock()) return std::nullopt;
  const auto batch_bytes_max = may_write_here();
  if (!batch_bytes_max) return std::nullopt;
  lock.unlock();
  // A compressed batch is decompressed to be validated: more work than its size says.
  auto sent = parse_header(batch);
  if (!sent || sent->compression() != Compression::kNone) return std::nullopt;
  // Validation outside the lock, as append() does.
  auto validated = validate_batch_records(batch, ValidationLimits{*batch_bytes_max});
  if (!validated) return Result<AppendResult>(fail(validated.error()));
  if (!lock.try_lock() || may_write_here() != batch_bytes_max) return std::nullopt;
  // Neither a recompression, nor a segment to start (a sync and new files), nor a full producer
  // table to sweep: each is work for a thread that may block.
  const std::int64_t now = clock_.now_ms();
  if (needs_recompression(validated->header, config_.recompression()) ||
      rolls_locked(batch.size(), validated->header.record_count, now) ||
      producers_.would_evict(validated->header)) {
    return std::nullopt;
  }
  Offset target;
  auto result = write_locked(batch, validated->header, *validated, target, now);
  if (result) await_durable_locked(lock, target, run, std::move(durable));
  return result;
}

void Partition::await_durable_locked(std::unique_lock<std::mutex>& lock, Offset target,
                                     const TaskRunner& run, DurableCallback durable) {
  if (config_.sync.kind != SyncPolicy::Kind::kAlways || durable_end_ >= target) {
    durable(ok());
    return;
  }
  durable_waiters_.push_back({target, std::move(durable)});
  if (run && !weak_from_this().expired()) {
    sync_runner_ = run;
    if (schedule_sync_locked()) return;
  }
  // No runner (or it refused the task), or no shared owner to keep this partition alive for a
  // task: sync here. The waiter gets the outcome (a failed sync fences and fails it); the write
  // itself succeeded.
  (void)wait_durable(lock, target);
}

bool Partition::rolls_locked(std::size_t bytes, std::int32_t records, std::int64_t now_ms) const {
  const Segment& active = *segments_.back();
  return !active.empty() && (active.size_bytes() + bytes > config_.segment_bytes ||
                             now_ms - active.created_ms() >= config_.segment_ms ||
                             (log_end_ - active.base_offset()) + records > kSegmentOffsetsMax);
}

Result<AppendResult> Partition::write(MutableByteView batch, std::unique_lock<std::mutex>& lock,
                                      Offset& target) {
  WHARF_ASSIGN_OR_RETURN(Prepared prepared, prepare(batch));
  if (!prepared.recompressed.empty()) batch = MutableByteView(prepared.recompressed);
  lock.lock();
  return write_locked(batch, prepared.header, prepared.validated, target, clock_.now_ms());
}

Result<AppendResult> Partition::write_locked(MutableByteView batch, BatchHeader h,
                                             const ValidatedBatch& validated, Offset& target,
                                             std::int64_t now) {
  if (closed_) return fail(ErrorCode::kShuttingDown, "partition {} is closed", dir_);
  if (fenced_) return fail(*fenced_);
  if (h.is_control()) {
    return fail(ErrorCode::kInvalidRecord, "clients may not write control batches");
  }
  if (config_.cleanup_compact && validated.null_key_records > 0) {
    // As Kafka: compaction keeps the latest record per key, so a record without one is refused.
    return fail(ErrorCode::kInvalidRecord,
                "compacted topic cannot accept a record without a key ({} of {} in the batch)",
                validated.null_key_records, h.record_count);
  }
  WHARF_ASSIGN_OR_RETURN(SequenceCheck seq, producers_.check(h));
  AppendResult result;
  if (auto* dup = std::get_if<SequenceDuplicate>(&seq)) {
    result.base_offset = dup->original.first_offset;
    result.last_offset = dup->original.last_offset;
    result.duplicate = true;
    result.log_start_offset = log_start_locked();
    target = result.last_offset + 1;  // the original may still be waiting for its sync
    return result;
  }

  std::shared_ptr<Segment> active = segments_.back();
  if (rolls_locked(batch.size(), h.record_count, now)) {
    WHARF_RETURN_IF_ERROR(roll_locked());
    active = segments_.back();
  }

  patch_base_offset(batch, log_end_);
  patch_partition_leader_epoch(batch, kStoredLeaderEpoch);
  h.base_offset = log_end_;
  h.partition_leader_epoch = kStoredLeaderEpoch;
  if (config_.log_append_time) {
    apply_log_append_time(batch, now);
    h.max_timestamp = now;
    result.log_append_time_ms = now;
  } else if (h.max_timestamp != validated.records_max_timestamp) {
    // As Kafka: a CreateTime batch's max_timestamp is what its records say, not what the client
    // wrote (some write -1); the time index, ListOffsets by time and retention all read it.
    set_max_timestamp(batch, validated.records_max_timestamp);
    h.max_timestamp = validated.records_max_timestamp;
  }
  // A failed write (ENOSPC, EIO) leaves log_end_ where it was, so the next append overwrites
  // whatever part of this one reached the file; recovery would cut it as a torn tail.
  WHARF_RETURN_IF_ERROR(active->append(batch, h));
  log_end_ = h.next_offset();
  const std::uint64_t evicted_before = producers_.evicted();
  producers_.update(h);
  if (producers_.evicted() != evicted_before) {
    // One sweep per 10,000 new producer ids past the bound, so this line is rare.
    const std::uint64_t forgotten = producers_.evicted() - evicted_before;
    producer_state_evictions().inc(forgotten);
    WHARF_LOG_WARN(
        "{}: more than {} producers: forgot the {} whose last batches are oldest; they may "
        "resend any sequence (as after producer.id.expiration.ms)",
        dir_, kProducersPerPartitionMax, forgotten);
  }
  result.base_offset = h.base_offset;
  result.last_offset = h.last_offset();
  result.log_start_offset = log_start_locked();
  target = log_end_;
  // Under interval and none the new batch is readable now.
  if (config_.sync.kind != SyncPolicy::Kind::kAlways) advanced_locked();
  return result;
}

Status Partition::sync() {
  std::unique_lock lock(mu_);
  if (fenced_) return fail(*fenced_);
  return wait_durable(lock, log_end_);
}

Offset Partition::log_start_locked() const {
  return std::max(segments_.front()->base_offset(), log_start_floor_);
}

Offset Partition::high_watermark_locked() const {
  return config_.sync.kind == SyncPolicy::Kind::kAlways ? durable_end_ : log_end_;
}

std::shared_ptr<Segment> Partition::segment_for_locked(Offset offset) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](Offset o, const auto& s) { return o < s->base_offset(); });
  if (it == segments_.begin()) return nullptr;
  return *std::prev(it);
}

Result<ReadResult> Partition::read(Offset from, std::size_t max_bytes) {
  std::shared_ptr<Segment> seg;
  ReadResult result;
  std::uint64_t limit = 0;
  FilePosition position;
  {
    std::lock_guard lock(mu_);
    result.high_watermark = high_watermark_locked();
    result.log_start_offset = log_start_locked();
    if (from < result.log_start_offset || from > result.high_watermark) {
      return fail(ErrorCode::kOutOfRange, "offset {} is outside [{}, {}]", from,
                  result.log_start_offset, result.high_watermark);
    }
    if (from == result.high_watermark) return result;
    seg = segment_for_locked(from);
    WHARF_CHECK(seg != nullptr);
    if (from >= seg->next_offset()) return result;  // an empty active segment at the end
    WHARF_ASSIGN_OR_RETURN(position, seg->find_position(from));
    limit = seg->size_bytes();
  }
  WHARF_ASSIGN_OR_RETURN(result.records, seg->read(position, max_bytes, limit));
  // Bytes below the size seen under the lock are complete; drop any batch at or beyond the
  // high watermark (written but not yet durable under `always`). Each batch served is checked
  // first (length and CRC-32C): closed segments are trusted at start without a scan, so damage
  // there is caught here, and is never sent to a consumer. Served batches stop before a bad one;
  // a bad first batch is an error naming the file and offset.
  std::size_t keep = 0;
  while (keep + batch_layout::kHeaderBytes <= result.records.size()) {
    const auto rest = ByteView(result.records).subspan(keep);
    const Offset base(load_be<std::int64_t>(rest, batch_layout::kBaseOffset));
    if (base >= result.high_watermark) break;
    const std::int32_t length = load_be<std::int32_t>(rest, batch_layout::kLength);
    const bool complete =
        length >= batch_layout::kLengthMin &&
        static_cast<std::size_t>(length) + batch_layout::kLogOverheadBytes <= rest.size();
    if (!complete && length >= batch_layout::kLengthMin && keep > 0)
      break;  // a partial batch at the end
    auto checked =
        complete ? check_batch_crc(rest.first(static_cast<std::size_t>(length) +
                                              batch_layout::kLogOverheadBytes))
                 : Result<BatchHeader>(fail(ErrorCode::kCorruption, "length field {}", length));
    if (!checked) {
      if (keep > 0) break;
      return fail(ErrorCode::kCorruption,
                  "{}: the batch at offset {} (read from offset {}) is damaged: {}",
                  seg->log_path(), base, from, checked.error().message());
    }
    keep += static_cast<std::size_t>(length) + batch_layout::kLogOverheadBytes;
  }
  result.records.resize(keep);
  return result;
}

Result<std::optional<TimestampedOffset>> Partition::offset_for_timestamp(
    std::int64_t timestamp_ms) {
  std::shared_ptr<Segment> seg;
  FilePosition position;
  BatchHeader header;
  Offset log_start;
  std::uint64_t limit = 0;
  {
    std::lock_guard lock(mu_);
    const Offset hwm = high_watermark_locked();
    log_start = log_start_locked();
    for (const auto& s : segments_) {
      if (s->base_offset() >= hwm) break;
      if (s->next_offset() <= log_start) continue;
      WHARF_ASSIGN_OR_RETURN(auto found, s->find_timestamp(timestamp_ms, log_start));
      if (found) {
        if (found->second.base_offset >= hwm) return std::nullopt;
        seg = s;
        position = found->first;
        header = found->second;
        limit = s->size_bytes();
        break;
      }
    }
  }
  if (!seg) return std::nullopt;
  // A batch that straddles the log start: its records below it are gone.
  const Offset offset_min = std::max(header.base_offset, log_start);
  WHARF_ASSIGN_OR_RETURN(ByteBuffer batch, seg->read(position, 1, limit));  // exactly one batch
  auto checked = check_batch_crc(batch);
  auto found = checked ? find_record_by_timestamp(batch, timestamp_ms, offset_min)
                       : Result<std::optional<TimestampedOffset>>(fail(std::move(checked).error()));
  if (!found) {
    return fail(ErrorCode::kCorruption, "{}: the batch at offset {} is damaged: {}",
                seg->log_path(), header.base_offset, found.error().message());
  }
  if (*found) return found;
  return std::optional<TimestampedOffset>({offset_min, header.max_timestamp});
}

Offset Partition::log_start_offset() const {
  std::lock_guard lock(mu_);
  return log_start_locked();
}
Offset Partition::high_watermark() const {
  std::lock_guard lock(mu_);
  return high_watermark_locked();
}
Offset Partition::log_end_offset() const {
  std::lock_guard lock(mu_);
  return log_end_;
}
std::uint64_t Partition::size_bytes() const {
  std::lock_guard lock(mu_);
  std::uint64_t total = 0;
  for (const auto& s : segments_) total += s->size_bytes();
  return total;
}
std::size_t Partition::segment_count() const {
  std::lock_guard lock(mu_);
  return segments_.size();
}
Partition::ReaderView Partition::reader_view_locked() const {
  return ReaderView{fenced_.has_value(), high_watermark_locked(), log_start_locked(),
                    config_.recompression().target};
}

Partition::ReaderView Partition::reader_view() const {
  std::lock_guard lock(mu_);
  return reader_view_locked();
}

std::optional<Partition::ReaderView> Partition::try_reader_view() const {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  return reader_view_locked();
}

bool Partition::fenced() const {
  std::lock_guard lock(mu_);
  return fenced_.has_value();
}
void Partition::set_config(const TopicConfig& config) {
  std::lock_guard lock(mu_);
  config_ = config;
  for (auto& s : segments_) s->set_index_interval_bytes(config.index_interval_bytes);
}
TopicConfig Partition::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

Result<int> Partition::enforce_retention() {
  std::lock_guard lock(mu_);
  if (fenced_ || closed_) return 0;
  if (!config_.cleanup_delete) return 0;  // cleanup.policy=compact: only the cleaner removes
  int removed = 0;
  std::uint64_t total = 0;
  for (const auto& s : segments_) total += s->size_bytes();
  const std::int64_t now = clock_.now_ms();
  while (segments_.size() > 1) {
    const auto& oldest = segments_.front();
    const bool too_old = config_.retention_ms >= 0 && oldest->max_timestamp_ms() >= 0 &&
                         now - oldest->max_timestamp_ms() > config_.retention_ms;
    const bool too_big =
        config_.retention_bytes >= 0 &&
        total - oldest->size_bytes() >= static_cast<std::uint64_t>(config_.retention_bytes);
    if (!too_old && !too_big) break;
    // Segments below the high watermark only: never delete what a reader has not been shown.
    if (oldest->next_offset() > high_watermark_locked()) break;
    WHARF_RETURN_IF_ERROR(oldest->remove_files());
    total -= oldest->size_bytes();
    segments_.erase(segments_.begin());
    ++removed;
  }
  return removed;
}

Status Partition::roll() {
  std::lock_guard lock(mu_);
  if (fenced_) return fail(*fenced_);
  if (closed_) return fail(ErrorCode::kShuttingDown, "partition {} is closed", dir_);
  if (segments_.back()->empty()) return ok();
  return roll_locked();
}

Result<int> Partition::delete_segments_before(Offset offset) {
  std::lock_guard lock(mu_);
  if (fenced_) return fail(*fenced_);
  int removed = 0;
  while (segments_.size() > 1 && segments_.front()->next_offset() <= offset &&
         segments_.front()->next_offset() <= high_watermark_locked()) {
    WHARF_RETURN_IF_ERROR(segments_.front()->remove_files());
    segments_.erase(segments_.begin());
    ++removed;
  }
  return removed;
}

Status Partition::write_log_start_locked(Offset offset) {
  return io::write_file_atomic(fs_, io::join_path(dir_, std::string(kLogStartFile)),
                               encode_log_start(offset));
}

Result<Offset> Partition::advance_log_start(Offset offset) {
  std::lock_guard lock(mu_);
  if (fenced_) return fail(*fenced_);
  if (closed_) return fail(ErrorCode::kShuttingDown, "partition {} is closed", dir_);
  const Offset hwm = high_watermark_locked();
  if (offset > hwm || offset < Offset(0)) {
    return fail(ErrorCode::kOutOfRange, "offset {} is outside [0, {}] (the high watermark)", offset,
                hwm);
  }
  if (offset <= log_start_locked()) return log_start_locked();
  // Durable first: a crash after this point keeps the new log start; one before it keeps the
  // old one and every segment.
  WHARF_RETURN_IF_ERROR(write_log_start_locked(offset));
  log_start_floor_ = offset;
  while (segments_.size() > 1 && segments_.front()->next_offset() <= offset) {
    WHARF_RETURN_IF_ERROR(segments_.front()->remove_files());
    segments_.erase(segments_.begin());
  }
  return log_start_locked();
}

ProducerStateTable Partition::producer_state() const {
  std::lock_guard lock(mu_);
  return producers_;
}

Result<std::vector<std::shared_ptr<Segment>>> Partition::cleanable_segments() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Segment>> out;
  if (fenced_ || closed_ || retired_ || !config_.cleanup_compact) return out;
  const std::int64_t now = clock_.now_ms();
  const auto& active = segments_.back();
  if (!active->empty() && now - active->created_ms() >= config_.segment_ms) {
    WHARF_RETURN_IF_ERROR(roll_locked());
  }
  const std::int64_t lag_ms = config_.min_compaction_lag_ms();
  const Offset hwm = high_watermark_locked();
  for (std::size_t i = 0; i + 1 < segments_.size(); ++i) {
    const auto& seg = segments_[i];
    if (seg->next_offset() > hwm) break;
    // Kafka's rule: a segment holding a record newer than the lag stops the cleanable range.
    if (lag_ms > 0 && seg->max_timestamp_ms() > now - lag_ms) break;
    out.push_back(seg);
  }
  return out;
}

Result<bool> Partition::replace_segment(const std::shared_ptr<Segment>& old,
                                        const std::shared_ptr<Segment>& cleaned) {
  WHARF_CHECK(
      cleaned->base_offset() == old->base_offset() && cleaned->next_offset() == old->next_offset(),
      "cleaned segment [{}, {}) does not cover [{}, {})", cleaned->base_offset(),
      cleaned->next_offset(), old->base_offset(), old->next_offset());
  std::lock_guard lock(mu_);
  auto it = std::find(segments_.begin(), segments_.end(), old);
  if (retired_) return false;  // the directory is being removed with everything in it
  if (fenced_ || closed_ || it == segments_.end() || std::next(it) == segments_.end()) {
    WHARF_RETURN_IF_ERROR(cleaned->remove_files());
    return false;
  }
  // docs/formats/compaction.md, "Swap". The `.cleaned` files are synced and their directory
  // entries durable (Segment::create synced the directory; the cleaner synced the files).
  const Offset base = old->base_offset();
  auto path = [&](std::string_view ext, std::string_view suffix) {
    return io::join_path(dir_, segment_file_name(base, ext) + std::string(suffix));
  };
  // Any failure from here on fences the partition: a failed sync_dir is never retried, and a
  // reopen resolves whichever state the directory is in.
  std::shared_ptr<Segment> reopened;
  auto swap = [&]() -> Status {
    // 1. The old indexes go first, durably: from here on the log is re-indexed at open, so the
    //    new log can never be paired with the old log's indexes.
    for (std::string_view ext : {".index", ".timeindex"}) {
      auto removed = fs_.remove(path(ext, ""));
      if (!removed && removed.error().code() != ErrorCode::kNotFound) return removed;
    }
    WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir_));
    // 2. The commit point: the cleaned log replaces the old one in one rename.
    WHARF_RETURN_IF_ERROR(fs_.rename(path(".log", kCleanedSuffix), path(".log", "")));
    WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir_));
    // 3. The new indexes (a crash before this leaves them to be rebuilt at open).
    for (std::string_view ext : {".index", ".timeindex"}) {
      WHARF_RETURN_IF_ERROR(fs_.rename(path(ext, kCleanedSuffix), path(ext, "")));
    }
    WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir_));
    WHARF_ASSIGN_OR_RETURN(reopened, Segment::open(fs_, dir_, base));
    reopened->set_index_interval_bytes(config_.index_interval_bytes);
    WHARF_RETURN_IF_ERROR(reopened->load_trusted(clock_.now_ms()));
    if (reopened->next_offset() != old->next_offset()) {
      return fail(ErrorCode::kCorruption, "{}: ends at offset {} after compaction, not {}",
                  reopened->log_path(), reopened->next_offset(), old->next_offset());
    }
    return ok();
  };
  if (auto swapped = swap(); !swapped) {
    fence_locked(swapped.error());
    return fail(std::move(swapped).error().with_context(
        fmt::format("swapping in the compacted segment {}", base)));
  }
  *it = std::move(reopened);  // readers holding `old` keep reading its (unlinked) file
  return true;
}

void Partition::retire() {
  std::lock_guard lock(mu_);
  retired_ = true;
  // Readers waiting for records that will never come (a parked fetch) find out now.
  for (auto& [_, w] : watchers_) w.woken();
  watchers_.clear();
  hw_cv_.notify_all();
}

Result<std::shared_ptr<Segment>> Partition::create_cleaned_segment(Offset base_offset) {
  // Under the lock, so that no file is created after retire() returns.
  std::lock_guard lock(mu_);
  if (closed_ || retired_ || fenced_) {
    return fail(ErrorCode::kShuttingDown, "partition {} is closed, deleted or fenced", dir_);
  }
  WHARF_ASSIGN_OR_RETURN(auto seg,
                         Segment::create(fs_, dir_, base_offset, clock_.now_ms(), kCleanedSuffix));
  seg->set_index_interval_bytes(config_.index_interval_bytes);
  return seg;
}

Partition::CleanerState Partition::cleaner_state() const {
  std::lock_guard lock(mu_);
  return cleaner_state_;
}

void Partition::set_cleaner_state(const CleanerState& state) {
  std::lock_guard lock(mu_);
  cleaner_state_ = state;
}

Status Partition::close() {
  std::unique_lock lock(mu_);
  if (closed_) return ok();
  closed_ = true;
  if (fenced_) return fail(*fenced_);  // no marker: the next open recovers fully
  while (sync_in_flight_) durable_cv_.wait(lock);
  auto& active = segments_.back();
  Status synced = active->sync();
  if (synced) {
    durable_end_ = log_end_;
    advanced_locked();  // asynchronous appends covered by this sync are durable
  }
  // Whatever still waits (the sync failed) never becomes durable; readers wake up.
  release_all_locked(synced ? Status(fail(ErrorCode::kShuttingDown, "partition {} is closed", dir_))
                            : synced);
  WHARF_RETURN_IF_ERROR(synced);
  WHARF_RETURN_IF_ERROR(active->sync_indexes());
  WHARF_RETURN_IF_ERROR(write_snapshot_locked());
  const Bytes marker = encode_marker({log_end_, active->base_offset(), active->size_bytes()});
  return io::write_file_atomic(fs_, io::join_path(dir_, std::string(kCleanShutdownFile)), marker);
}

}  // namespace wharf::storage
