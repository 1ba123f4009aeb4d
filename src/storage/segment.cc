#include "storage/segment.h"

#include <algorithm>
#include <array>

#include "base/log.h"
#include "storage/limits.h"

namespace wharf::storage {
namespace bl = batch_layout;

std::string segment_file_name(Offset base_offset, std::string_view extension) {
  return fmt::format("{:020}{}", base_offset.value(), extension);
}

Segment::Segment(io::FileSystem& fs, std::string dir, Offset base_offset, std::string suffix)
    : fs_(fs),
      dir_(std::move(dir)),
      suffix_(std::move(suffix)),
      base_offset_(base_offset),
      next_offset_(base_offset) {}

Result<std::shared_ptr<Segment>> Segment::create(io::FileSystem& fs, const std::string& dir,
                                                 Offset base_offset, std::int64_t now_ms,
                                                 std::string_view suffix) {
  std::shared_ptr<Segment> s(new Segment(fs, dir, base_offset, std::string(suffix)));
  auto path = [&](std::string_view ext) {
    return io::join_path(dir, segment_file_name(base_offset, ext) + std::string(suffix));
  };
  WHARF_ASSIGN_OR_RETURN(s->log_, fs.open(path(".log"), io::OpenMode::kTruncate));
  WHARF_ASSIGN_OR_RETURN(s->index_file_, fs.open(path(".index"), io::OpenMode::kTruncate));
  WHARF_ASSIGN_OR_RETURN(s->time_index_file_, fs.open(path(".timeindex"), io::OpenMode::kTruncate));
  // The new files' directory entries must be durable before any ack depends on them.
  WHARF_RETURN_IF_ERROR(fs.sync_dir(dir));
  s->created_ms_ = now_ms;
  return s;
}

Result<std::shared_ptr<Segment>> Segment::open(io::FileSystem& fs, const std::string& dir,
                                               Offset base_offset) {
  std::shared_ptr<Segment> s(new Segment(fs, dir, base_offset));
  auto path = [&](std::string_view ext) {
    return io::join_path(dir, segment_file_name(base_offset, ext));
  };
  WHARF_ASSIGN_OR_RETURN(s->log_, fs.open(path(".log"), io::OpenMode::kReadWrite));
  WHARF_ASSIGN_OR_RETURN(s->index_file_, fs.open(path(".index"), io::OpenMode::kCreate));
  WHARF_ASSIGN_OR_RETURN(s->time_index_file_, fs.open(path(".timeindex"), io::OpenMode::kCreate));
  WHARF_ASSIGN_OR_RETURN(s->size_, s->log_->size());
  return s;
}

void Segment::reset_indexes() {
  index_.clear();
  time_index_.clear();
  bytes_since_index_ = 0;
  max_timestamp_ms_ = -1;
}

void Segment::index_batch(const BatchHeader& h, std::uint64_t position) {
  max_timestamp_ms_ = std::max(max_timestamp_ms_, h.max_timestamp);
  const bool first = index_.entries().empty();
  if (first || bytes_since_index_ >= index_interval_bytes_) {
    const auto rel = static_cast<std::uint32_t>(h.base_offset - base_offset_);
    index_.add({rel, static_cast<std::uint32_t>(position)});
    const auto& t = time_index_.entries();
    if (t.empty() || max_timestamp_ms_ > t.back().timestamp_ms) {
      time_index_.add({max_timestamp_ms_, rel});
    }
    bytes_since_index_ = 0;
  }
  bytes_since_index_ += h.total_bytes();
}

Status Segment::append(ByteView batch, const BatchHeader& h) {
  WHARF_CHECK(h.base_offset == next_offset_, "batch base {} != segment next {}", h.base_offset,
              next_offset_);
  WHARF_CHECK(batch.size() == h.total_bytes());
  WHARF_RETURN_IF_ERROR(log_->write_at(FilePosition(size_), batch));
  index_batch(h, size_);
  if (size_ == 0) created_ms_ = std::max<std::int64_t>(created_ms_, 0);
  size_ += batch.size();
  next_offset_ = h.next_offset();
  return ok();
}

Status Segment::sync() { return log_->sync(); }

Status Segment::flush_indexes() {
  WHARF_RETURN_IF_ERROR(index_.flush(*index_file_));
  return time_index_.flush(*time_index_file_);
}

Status Segment::sync_indexes() {
  WHARF_RETURN_IF_ERROR(flush_indexes());
  WHARF_RETURN_IF_ERROR(index_file_->sync());
  return time_index_file_->sync();
}

Status Segment::remove_files() {
  // The log goes first: an index left without its log is an orphan that open() deletes, while
  // a log left without its index is simply re-indexed.
  for (std::string_view ext : {".log", ".index", ".timeindex"}) {
    auto status = fs_.remove(io::join_path(dir_, segment_file_name(base_offset_, ext) + suffix_));
    if (!status && status.error().code() != ErrorCode::kNotFound) return status;
  }
  return fs_.sync_dir(dir_);
}

Result<BatchHeader> Segment::header_at(FilePosition position) {
  std::array<std::byte, bl::kHeaderBytes> raw;
  WHARF_RETURN_IF_ERROR(io::read_exact(*log_, position, raw));
  auto h = parse_header(raw);
  if (!h) {
    // Stored bytes that do not parse are corruption, whatever the parser called them.
    return fail(ErrorCode::kCorruption, "{} at position {}: {}", log_->path(), position,
                h.error().message());
  }
  return h;
}

Status Segment::load_trusted(std::int64_t now_ms) {
  created_ms_ = now_ms;
  auto rebuild = [&](std::string_view why) -> Status {
    WHARF_LOG_WARN("{}: rebuilding indexes ({})", log_->path(), why);
    reset_indexes();
    std::uint64_t pos = 0;
    next_offset_ = base_offset_;
    while (pos < size_) {
      if (size_ - pos < bl::kHeaderBytes) break;
      auto h = header_at(FilePosition(pos));
      if (!h && h.error().code() != ErrorCode::kCorruption) return fail(std::move(h).error());
      if (!h || h->base_offset != next_offset_ || pos + h->total_bytes() > size_) break;
      index_batch(*h, pos);
      pos += h->total_bytes();
      next_offset_ = h->next_offset();
    }
    if (pos != size_) {
      return fail(ErrorCode::kCorruption,
                  "{}: batch chain breaks at position {} of {} (offset {}); the segment was "
                  "complete when it was rolled, so this is corruption",
                  log_->path(), pos, size_, next_offset_);
    }
    return flush_indexes();
  };
  auto loaded = index_.load(*index_file_, index_entries_max(size_));
  if (loaded) loaded = time_index_.load(*time_index_file_, index_entries_max(size_));
  if (!loaded) return rebuild(loaded.error().message());
  if (size_ > 0 && index_.entries().empty()) return rebuild("index is empty");
  if (size_ == 0) {
    if (!index_.entries().empty()) return rebuild("index has entries for an empty log");
    return ok();
  }
  // Walk from the last indexed batch to the end: it must land exactly on the end of the file.
  const OffsetIndexEntry last = index_.entries().back();
  if (last.position >= size_) return rebuild("index points past the end of the log");
  auto h = header_at(FilePosition(last.position));
  if (!h || h->base_offset != base_offset_ + last.relative_offset) {
    return rebuild("last index entry does not point at its batch");
  }
  std::uint64_t pos = last.position;
  Offset next = h->base_offset;
  while (pos < size_) {
    auto hh = header_at(FilePosition(pos));
    if (!hh || hh->base_offset != next || pos + hh->total_bytes() > size_) {
      return rebuild("batch chain after the last index entry is broken");
    }
    pos += hh->total_bytes();
    next = hh->next_offset();
  }
  next_offset_ = next;
  max_timestamp_ms_ =
      time_index_.entries().empty() ? -1 : time_index_.entries().back().timestamp_ms;
  // Batches after the last time-index entry may carry a larger timestamp; read their headers.
  for (pos = last.position; pos < size_;) {
    auto hh = header_at(FilePosition(pos));
    if (!hh) return fail(std::move(hh).error());
    max_timestamp_ms_ = std::max(max_timestamp_ms_, hh->max_timestamp);
    pos += hh->total_bytes();
  }
  return ok();
}

Result<ScanOutcome> Segment::scan(std::int64_t now_ms,
                                  const std::function<void(const BatchHeader&)>& on_batch) {
  created_ms_ = now_ms;
  reset_indexes();
  WHARF_ASSIGN_OR_RETURN(std::uint64_t file_bytes, log_->size());
  ScanOutcome out;
  out.file_bytes = file_bytes;
  out.next_offset = base_offset_;
  Bytes chunk;
  std::uint64_t chunk_start = 0;  // file position of chunk[0]
  std::uint64_t pos = 0;
  auto ensure = [&](std::uint64_t need) -> Status {
    // Makes [pos, pos + need) available in `chunk`. REQUIRES pos + need <= file_bytes.
    if (pos >= chunk_start && pos + need <= chunk_start + chunk.size()) return ok();
    const std::uint64_t want =
        std::max<std::uint64_t>(need, std::min<std::uint64_t>(kScanChunkBytes, file_bytes - pos));
    chunk.resize(want);
    chunk_start = pos;
    return io::read_exact(*log_, FilePosition(pos), chunk);
  };
  while (pos < file_bytes) {
    if (file_bytes - pos < bl::kHeaderBytes) {
      out.tail_problem =
          fmt::format("{} bytes at the end are too few for a batch header", file_bytes - pos);
      break;
    }
    WHARF_RETURN_IF_ERROR(ensure(bl::kHeaderBytes));
    ByteView view(chunk);
    auto h = parse_header(view.subspan(pos - chunk_start, bl::kHeaderBytes));
    if (!h) {
      out.tail_problem = h.error().message();
      break;
    }
    if (h->total_bytes() > kBatchBytesHardMax) {
      out.tail_problem =
          fmt::format("batch length {} above the hard limit {}", h->length, kBatchBytesHardMax);
      break;
    }
    if (pos + h->total_bytes() > file_bytes) {
      out.tail_problem =
          fmt::format("batch of {} bytes runs past the end of the file", h->total_bytes());
      break;
    }
    WHARF_RETURN_IF_ERROR(ensure(h->total_bytes()));
    view = ByteView(chunk);
    auto checked = check_batch_crc(view.subspan(pos - chunk_start, h->total_bytes()));
    if (!checked) {
      out.tail_problem = checked.error().message();
      break;
    }
    if (h->base_offset != out.next_offset) {
      out.tail_problem =
          fmt::format("batch has base offset {}, expected {}", h->base_offset, out.next_offset);
      break;
    }
    if (on_batch) on_batch(*h);
    index_batch(*h, pos);
    pos += h->total_bytes();
    out.next_offset = h->next_offset();
    out.batches++;
  }
  out.valid_bytes = pos;
  size_ = file_bytes;
  next_offset_ = out.next_offset;
  return out;
}

Result<bool> Segment::valid_batch_at(FilePosition position, Offset expected) {
  WHARF_ASSIGN_OR_RETURN(std::uint64_t file_bytes, log_->size());
  if (position.value() + bl::kHeaderBytes > file_bytes) return false;
  auto h = header_at(position);
  if (!h || h->base_offset != expected || h->total_bytes() > kBatchBytesHardMax ||
      position.value() + h->total_bytes() > file_bytes) {
    return false;
  }
  Bytes raw(h->total_bytes());
  WHARF_RETURN_IF_ERROR(io::read_exact(*log_, position, raw));
  return check_batch_crc(raw).has_value();
}

Result<std::optional<FilePosition>> Segment::find_valid_batch_after(FilePosition from,
                                                                    Offset offset_min) {
  WHARF_ASSIGN_OR_RETURN(std::uint64_t file_bytes, log_->size());
  Bytes chunk;
  std::uint64_t pos = from.value() + 1;
  while (pos + bl::kHeaderBytes <= file_bytes) {
    // Each chunk overlaps the next by a header, so that no header is split between two.
    const std::uint64_t chunk_bytes = std::min<std::uint64_t>(kScanChunkBytes, file_bytes - pos);
    chunk.resize(chunk_bytes);
    WHARF_RETURN_IF_ERROR(io::read_exact(*log_, FilePosition(pos), chunk));
    const std::size_t last_start = chunk.size() - bl::kHeaderBytes;
    for (std::size_t i = 0; i <= last_start; ++i) {
      // Cheap filters first: magic, a plausible length, an offset not before the bad batch.
      if (chunk[i + bl::kMagic] != std::byte{2}) continue;
      const std::int32_t length = load_be<std::int32_t>(chunk, i + bl::kLength);
      if (length < bl::kLengthMin) continue;
      const std::uint64_t total = static_cast<std::uint64_t>(length) + bl::kLogOverheadBytes;
      if (total > kBatchBytesHardMax || pos + i + total > file_bytes) continue;
      const Offset base(load_be<std::int64_t>(chunk, i + bl::kBaseOffset));
      if (base < offset_min) continue;
      Bytes raw(total);
      WHARF_RETURN_IF_ERROR(io::read_exact(*log_, FilePosition(pos + i), raw));
      if (check_batch_crc(raw)) return FilePosition(pos + i);
    }
    pos += last_start + 1;
  }
  return std::optional<FilePosition>{};
}

Status Segment::truncate_to(std::uint64_t valid_bytes, Offset next_offset) {
  WHARF_RETURN_IF_ERROR(log_->truncate(valid_bytes));
  WHARF_RETURN_IF_ERROR(log_->sync());
  size_ = valid_bytes;
  next_offset_ = next_offset;
  const auto rel = static_cast<std::uint32_t>(next_offset - base_offset_);
  index_.truncate_from(rel);
  time_index_.truncate_from(rel);
  return flush_indexes();
}

Result<FilePosition> Segment::find_position(Offset offset) {
  WHARF_CHECK(offset >= base_offset_ && offset < next_offset_);
  const auto rel = static_cast<std::uint32_t>(offset - base_offset_);
  std::uint64_t pos = 0;
  Offset expected = base_offset_;
  if (auto e = floor_entry(index_, rel)) {
    pos = e->position;
    expected = base_offset_ + e->relative_offset;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool consistent = true;
    while (pos < size_) {
      auto h = header_at(FilePosition(pos));
      if (!h || h->base_offset != expected) {
        consistent = false;
        break;
      }
      if (h->last_offset() >= offset) return FilePosition(pos);
      pos += h->total_bytes();
      expected = h->next_offset();
    }
    if (consistent) break;
    // The index disagrees with the log: fall back to walking from the start of the segment.
    WHARF_LOG_WARN("{}: index entry for offset {} is inconsistent; scanning from the start",
                   log_->path(), offset);
    pos = 0;
    expected = base_offset_;
  }
  return fail(ErrorCode::kCorruption, "{}: offset {} not found by walking batch headers",
              log_->path(), offset);
}

Result<std::optional<std::pair<FilePosition, BatchHeader>>> Segment::find_timestamp(
    std::int64_t timestamp_ms, Offset from) {
  if (size_ == 0 || max_timestamp_ms_ < timestamp_ms) return std::nullopt;
  // Every batch up to and including a time-index entry's batch has a timestamp <= the entry's;
  // so the answer lies after the last entry below the target.
  std::uint64_t pos = 0;
  Offset expected = base_offset_;
  const auto& t = time_index_.entries();
  auto it = std::lower_bound(
      t.begin(), t.end(), timestamp_ms,
      [](const TimeIndexEntry& e, std::int64_t ts) { return e.timestamp_ms < ts; });
  if (it != t.begin()) {
    const Offset after = base_offset_ + std::prev(it)->relative_offset;
    WHARF_ASSIGN_OR_RETURN(FilePosition p, find_position(after));
    pos = p.value();
    expected = after;
  }
  if (from > expected && from < next_offset_) {  // skip to the batch holding `from`
    WHARF_ASSIGN_OR_RETURN(FilePosition p, find_position(from));
    if (p.value() > pos) {
      WHARF_ASSIGN_OR_RETURN(BatchHeader h, header_at(p));
      pos = p.value();
      expected = h.base_offset;
    }
  }
  while (pos < size_) {
    WHARF_ASSIGN_OR_RETURN(BatchHeader h, header_at(FilePosition(pos)));
    if (h.base_offset != expected) {
      return fail(ErrorCode::kCorruption, "{}: batch at {} has base offset {}, expected {}",
                  log_->path(), pos, h.base_offset, expected);
    }
    if (h.max_timestamp >= timestamp_ms && h.last_offset() >= from) {
      return std::make_pair(FilePosition(pos), h);
    }
    pos += h.total_bytes();
    expected = h.next_offset();
  }
  return std::nullopt;
}

Result<ByteBuffer> Segment::read(FilePosition from, std::size_t max_bytes, std::uint64_t limit) {
  if (from.value() >= limit) return ByteBuffer{};
  const std::uint64_t available = limit - from.value();
  WHARF_ASSIGN_OR_RETURN(BatchHeader first, header_at(from));
  if (first.total_bytes() > available || first.total_bytes() > kBatchBytesHardMax) {
    return fail(ErrorCode::kCorruption, "{}: batch at {} runs past the readable end {}",
                log_->path(), from, limit);
  }
  // At least the first whole batch, even when it is larger than max_bytes (KIP-74).
  const std::uint64_t want =
      std::min<std::uint64_t>(available, std::max<std::uint64_t>(max_bytes, first.total_bytes()));
  ByteBuffer out(static_cast<std::size_t>(want));  // not zero-filled: read_exact fills it all
  WHARF_RETURN_IF_ERROR(io::read_exact(*log_, from, out));
  // Trim a partial trailing batch: clients cope with one, but whole batches are simpler to test.
  std::size_t whole = 0;
  auto walked = for_each_batch(out, [&whole](ByteView batch) { whole += batch.size(); });
  // After a malformed length only the batches before it are whole; callers check each batch.
  out.resize(walked ? *walked : whole);
  return out;
}

}  // namespace wharf::storage
