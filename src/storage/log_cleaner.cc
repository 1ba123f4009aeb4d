#include "storage/log_cleaner.h"

#include <algorithm>
#include <limits>
#include <string>
#include <thread>
#include <unordered_map>

#include "base/log.h"
#include "base/metrics.h"
#include "storage/compression.h"
#include "storage/limits.h"

namespace wharf::storage {
namespace {
namespace bl = batch_layout;

// Each map entry costs its key plus roughly this much (hash node, offset, bucket pointer).
constexpr std::size_t kKeyMapEntryOverheadBytes = 64;
// Closed segments are read this many bytes at a time (at least one whole batch).
constexpr std::size_t kCleanerReadBytes = 1024 * 1024;

struct CleanerMetrics {
  metrics::Counter& runs;
  metrics::Counter& bytes_cleaned;
  metrics::Counter& bytes_written;
  metrics::Counter& records_removed;
  metrics::Gauge& last_run_seconds;
};

CleanerMetrics& cleaner_metrics() {
  auto& r = metrics::registry();
  static CleanerMetrics m{
      r.counter("wharf_log_cleaner_runs_total",
                "Compaction runs of the log cleaner that rewrote or checked segments.")
          .with({}),
      r.counter("wharf_log_cleaner_bytes_cleaned_total",
                "Bytes of closed segments the log cleaner read to compact them.")
          .with({}),
      r.counter("wharf_log_cleaner_bytes_written_total",
                "Bytes of compacted segments the log cleaner wrote.")
          .with({}),
      r.counter(
           "wharf_log_cleaner_records_removed_total",
           "Records compaction removed (superseded values, expired tombstones, keyless records).")
          .with({}),
      r.gauge("wharf_log_cleaner_last_run_duration_seconds",
              "Wall-clock duration of the log cleaner's last run on a partition.")
          .with({}),
  };
  return m;
}

using KeyMap = std::unordered_map<std::string, Offset>;

// The records of one stored batch, uncompressed (a compressed batch is decompressed within
// kDecompressedBatchBytesMax).
Result<Bytes> batch_records(ByteView batch, const BatchHeader& h) {
  const ByteView body = batch.subspan(bl::kHeaderBytes);
  if (h.compression() == Compression::kNone) return Bytes(body.begin(), body.end());
  return decompress(h.compression(), body, kDecompressedBatchBytesMax);
}

// Calls fn(batch bytes, header) for every batch of a closed segment, reading in chunks.
Status for_each_segment_batch(Segment& seg, const std::function<void(std::uint64_t)>& on_read,
                              const std::function<Status(ByteView, const BatchHeader&)>& fn) {
  std::uint64_t pos = 0;
  const std::uint64_t end = seg.size_bytes();
  while (pos < end) {
    WHARF_ASSIGN_OR_RETURN(ByteBuffer chunk, seg.read(FilePosition(pos), kCleanerReadBytes, end));
    if (chunk.empty()) {
      return fail(ErrorCode::kCorruption, "{}: no whole batch at position {}", seg.log_path(), pos);
    }
    on_read(chunk.size());
    std::size_t at = 0;
    std::optional<Error> stopped;  // by a damaged batch or by fn
    auto walked = for_each_batch(chunk, [&](ByteView batch) {
      // Closed segments were never CRC-checked at open; a damaged batch stops the run.
      auto checked = check_batch_crc(batch);
      if (!checked) {
        stopped = make_error(ErrorCode::kCorruption, "{} position {}: {}", seg.log_path(), pos + at,
                             checked.error().message());
        return false;
      }
      if (auto s = fn(batch, *checked); !s) {
        stopped = std::move(s).error();
        return false;
      }
      at += batch.size();
      return true;
    });
    if (stopped) return fail(std::move(*stopped));
    // Segment::read hands out whole batches only, so anything left over is damage.
    if (!walked || *walked != chunk.size()) {
      return fail(ErrorCode::kCorruption, "{}: bad batch at position {}", seg.log_path(), pos + at);
    }
    pos += chunk.size();
  }
  return ok();
}

}  // namespace

LogCleaner::LogCleaner(CleanerOptions options, const Clock& clock, std::function<bool()> stopping)
    : options_(options), clock_(clock), stopping_(std::move(stopping)) {
  cleaner_metrics();  // registered at start, so a scrape shows them at 0 before the first run
}

void LogCleaner::throttle(std::uint64_t bytes) {
  if (options_.io_bytes_per_second == 0) return;
  using namespace std::chrono;
  auto now = steady_clock::now();
  if (now - window_start_ >= seconds(1)) {
    window_start_ = now;
    window_bytes_ = 0;
  }
  window_bytes_ += bytes;
  // Over budget: wait out the windows this I/O used up, in short slices so a stop is prompt.
  while (window_bytes_ > options_.io_bytes_per_second) {
    if (stopping_ && stopping_()) return;
    std::this_thread::sleep_for(milliseconds(50));
    now = steady_clock::now();
    if (now - window_start_ >= seconds(1)) {
      window_bytes_ -= std::min(window_bytes_, options_.io_bytes_per_second);
      window_start_ = now;
    }
  }
}

Result<CleanStats> LogCleaner::clean(Partition& partition) {
  CleanStats stats;
  const TopicConfig config = partition.config();
  if (!config.cleanup_compact) return stats;
  WHARF_ASSIGN_OR_RETURN(auto segments, partition.cleanable_segments());
  if (segments.empty()) return stats;
  const Partition::CleanerState state = partition.cleaner_state();
  const std::int64_t now_ms = clock_.now_ms();
  std::uint64_t total_bytes = 0, dirty_bytes = 0;
  for (const auto& seg : segments) {
    total_bytes += seg->size_bytes();
    if (seg->next_offset() > state.cleaned_to) dirty_bytes += seg->size_bytes();
  }
  const bool tombstones_due = state.tombstone_expiry_ms >= 0 && now_ms >= state.tombstone_expiry_ms;
  const double ratio = config.min_cleanable_dirty_ratio();
  if (!tombstones_due && (dirty_bytes == 0 || static_cast<double>(dirty_bytes) <
                                                  ratio * static_cast<double>(total_bytes))) {
    return stats;
  }
  const auto started = std::chrono::steady_clock::now();
  stats.ran = true;
  auto count_read = [&](std::uint64_t n) {
    stats.bytes_read += n;
    throttle(n);
  };

  // 1. Key -> latest offset, as Kafka: over the dirty segments (written since the last run),
  //    oldest first, within the memory budget. Every entry names a record that exists, so a
  //    partial map is still safe: it only removes records that a later one with the same key
  //    supersedes. (After a restart, or when only a tombstone is due, the whole log is mapped.)
  std::size_t first_dirty = 0;
  while (first_dirty < segments.size() &&
         segments[first_dirty]->next_offset() <= state.cleaned_to) {
    ++first_dirty;
  }
  if (first_dirty == segments.size()) first_dirty = 0;
  KeyMap latest;
  std::size_t map_bytes = 0;
  std::size_t mapped_end = first_dirty;  // segments [first_dirty, mapped_end) fully mapped
  bool full = false;
  for (std::size_t i = first_dirty; i < segments.size(); ++i) {
    WHARF_RETURN_IF_ERROR(for_each_segment_batch(
        *segments[i], count_read, [&](ByteView batch, const BatchHeader& h) -> Status {
          if (h.is_control() || h.record_count == 0) return ok();
          WHARF_ASSIGN_OR_RETURN(Bytes records, batch_records(batch, h));
          return for_each_record_view(
              records, h.record_count, h.last_offset_delta, [&](const RecordView& r) {
                if (!r.key) return;
                const Offset offset = h.base_offset + r.offset_delta;
                std::string key(as_chars(*r.key));
                auto it = latest.find(key);
                if (it != latest.end()) {
                  it->second = offset;  // costs nothing: known keys follow to their latest
                  return;
                }
                const std::size_t cost = key.size() + kKeyMapEntryOverheadBytes;
                if (map_bytes + cost > options_.key_map_bytes_max) {
                  full = true;
                  return;
                }
                map_bytes += cost;
                latest.emplace(std::move(key), offset);
              });
        }));
    if (full) break;
    mapped_end = i + 1;
  }
  // The cleaned range: from the log start to the end of the mapped segments (at least the
  // first dirty one, even if the map filled inside it).
  const std::size_t clean_end = std::max(mapped_end, first_dirty + 1);
  if (full) {
    WHARF_LOG_INFO("{}: key map full ({} keys); compacting up to segment {} this run",
                   partition.dir(), latest.size(), segments[clean_end - 1]->base_offset());
  }
  segments.resize(clean_end);
  for (const auto& seg : segments) stats.bytes_cleaned += seg->size_bytes();

  // 2. Rewrite each segment that has something to remove, oldest first (so a tombstone is
  //    never removed while an older value of its key is still in an earlier segment).
  const std::int64_t delete_retention_ms = config.delete_retention_ms();
  std::int64_t tombstone_expiry_ms = -1;
  auto keep_record = [&](const RecordView& r, const BatchHeader& h, bool count_tombstones) {
    if (!r.key) return false;  // as Kafka's cleaner: a record without a key is not kept
    const Offset offset = h.base_offset + r.offset_delta;
    auto it = latest.find(std::string(as_chars(*r.key)));
    if (it != latest.end() && it->second > offset) return false;
    if (r.null_value) {
      const std::int64_t timestamp = h.base_timestamp + r.timestamp_delta;
      const std::int64_t expiry =
          timestamp > std::numeric_limits<std::int64_t>::max() - delete_retention_ms
              ? std::numeric_limits<std::int64_t>::max()
              : timestamp + delete_retention_ms;
      if (expiry <= now_ms) return false;
      if (count_tombstones) {
        ++stats.tombstones_kept;
        tombstone_expiry_ms =
            tombstone_expiry_ms < 0 ? expiry : std::min(tombstone_expiry_ms, expiry);
      }
    }
    return true;
  };
  for (const auto& seg : segments) {
    std::int64_t removable = 0;
    WHARF_RETURN_IF_ERROR(for_each_segment_batch(
        *seg, count_read, [&](ByteView batch, const BatchHeader& h) -> Status {
          if (h.is_control() || h.record_count == 0) return ok();
          WHARF_ASSIGN_OR_RETURN(Bytes records, batch_records(batch, h));
          return for_each_record_view(records, h.record_count, h.last_offset_delta,
                                      [&](const RecordView& r) {
                                        if (!keep_record(r, h, true)) ++removable;
                                      });
        }));
    if (removable == 0) continue;
    WHARF_ASSIGN_OR_RETURN(auto cleaned, partition.create_cleaned_segment(seg->base_offset()));
    // Consecutive batches left empty (no records, no producer id, not control) are merged into
    // one empty batch covering all their offsets, so removed batches do not leave 61 bytes
    // each behind; an idempotent producer's batches stay apart (its state is read from them).
    Bytes pending;  // the empty batch being extended, if any
    auto write_out = [&](ByteView out) -> Status {
      WHARF_ASSIGN_OR_RETURN(BatchHeader out_header, parse_header(out));
      WHARF_RETURN_IF_ERROR(cleaned->append(out, out_header));
      stats.bytes_written += out.size();
      throttle(out.size());
      return ok();
    };
    auto flush_pending = [&]() -> Status {
      if (pending.empty()) return ok();
      store_be<std::uint32_t>(pending, batch_layout::kCrc, compute_crc(pending));
      Status s = write_out(pending);
      pending.clear();
      return s;
    };
    auto written = for_each_segment_batch(
        *seg, count_read, [&](ByteView batch, const BatchHeader& h) -> Status {
          Bytes rebuilt;
          std::int32_t kept_count = h.record_count;
          if (!h.is_control() && h.record_count > 0) {
            WHARF_ASSIGN_OR_RETURN(Bytes records, batch_records(batch, h));
            Bytes kept;
            kept_count = 0;
            WHARF_RETURN_IF_ERROR(for_each_record_view(records, h.record_count, h.last_offset_delta,
                                                       [&](const RecordView& r) {
                                                         if (!keep_record(r, h, false)) {
                                                           ++stats.records_removed;
                                                           return;
                                                         }
                                                         append(kept, r.bytes);
                                                         ++kept_count;
                                                       }));
            // An unchanged batch keeps its original (possibly compressed) bytes; a rewritten one
            // keeps its codec, as Kafka's cleaner does (at the codec's default level), so that
            // compaction never inflates a compressed topic. Should compressing fail, the kept
            // records stay uncompressed: the same records, only larger.
            if (kept_count != h.record_count) {
              rebuilt = rebuild_batch(batch, kept, kept_count);
              if (h.compression() != Compression::kNone && kept_count > 0) {
                auto compressed = recompress_batch(
                    rebuilt, Recompression{h.compression(), std::nullopt}, kBatchBytesHardMax);
                if (compressed) {
                  rebuilt = std::move(*compressed);
                } else {
                  WHARF_LOG_WARN("{}: batch at offset {} kept uncompressed: {}", partition.dir(),
                                 h.base_offset, compressed.error().to_string());
                }
              }
            }
          }
          const ByteView out = rebuilt.empty() ? batch : ByteView(rebuilt);
          if (kept_count == 0 && !h.is_control() && !h.has_producer_id()) {
            if (pending.empty()) {
              pending.assign(out.begin(), out.end());
            } else {
              const Offset base(load_be<std::int64_t>(pending, batch_layout::kBaseOffset));
              store_be<std::int32_t>(pending, batch_layout::kLastOffsetDelta,
                                     static_cast<std::int32_t>(h.last_offset() - base));
              store_be<std::int64_t>(
                  pending, batch_layout::kMaxTimestamp,
                  std::max(load_be<std::int64_t>(pending, batch_layout::kMaxTimestamp),
                           h.max_timestamp));
            }
            return ok();
          }
          WHARF_RETURN_IF_ERROR(flush_pending());
          return write_out(out);
        });
    if (written) written = flush_pending();
    if (written) written = cleaned->sync();
    if (written) written = cleaned->sync_indexes();
    if (!written) {
      auto removed = cleaned->remove_files();
      if (!removed) WHARF_LOG_WARN("{}: {}", partition.dir(), removed.error().to_string());
      return fail(
          std::move(written).error().with_context(fmt::format("compacting {}", seg->log_path())));
    }
    WHARF_ASSIGN_OR_RETURN(bool swapped, partition.replace_segment(seg, cleaned));
    if (!swapped) break;  // retention removed it or the partition closed: stop this run
    ++stats.segments_rewritten;
  }
  partition.set_cleaner_state({segments.back()->next_offset(), tombstone_expiry_ms});

  auto& m = cleaner_metrics();
  m.runs.inc();
  m.bytes_cleaned.inc(stats.bytes_cleaned);
  m.bytes_written.inc(stats.bytes_written);
  m.records_removed.inc(static_cast<std::uint64_t>(stats.records_removed));
  m.last_run_seconds.set(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (stats.segments_rewritten > 0) {
    WHARF_LOG_INFO("{}: compacted {} segment(s), {} record(s) removed, {} -> {} bytes",
                   partition.dir(), stats.segments_rewritten, stats.records_removed,
                   stats.bytes_cleaned, stats.bytes_written);
  }
  return stats;
}

}  // namespace wharf::storage
