// One segment of a partition's log: `<base_offset>.log` holding record batch v2 bytes back to
// back, with its sparse `.index` (offset -> position) and `.timeindex` (timestamp -> offset).
// docs/formats/segment.md describes the files.
//
// A Segment is owned by its Partition through a shared_ptr, so that a reader holding one can
// finish reading even if retention removes the segment meanwhile. Every mutating call is made
// under the partition's lock; positional reads (read_at on the file) may run concurrently with
// appends because bytes below a size observed under the lock never change.
//
// Durability: append() hands bytes to the OS; sync() makes them durable. Indexes are never
// synced on the append path: they are rebuilt from the log when they cannot be trusted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/byte_buffer.h"
#include "base/ids.h"
#include "base/result.h"
#include "io/file_system.h"
#include "storage/index.h"
#include "storage/record_batch.h"

namespace wharf::storage {

std::string segment_file_name(Offset base_offset, std::string_view extension);

// What a full scan of a segment found.
struct ScanOutcome {
  Offset next_offset;             // one past the last good batch
  std::uint64_t valid_bytes = 0;  // position just after the last good batch
  std::uint64_t file_bytes = 0;   // size of the file when scanned
  std::int64_t batches = 0;
  std::string tail_problem;  // why the bytes after valid_bytes were rejected, if any
};

class Segment {
 public:
  // Creates the three files (replacing leftovers of an interrupted roll) and syncs `dir`.
  // `suffix` is appended to every file name: the log cleaner writes a segment's replacement as
  // `<base>.log.cleaned` etc. (docs/formats/compaction.md).
  [[nodiscard]] static Result<std::shared_ptr<Segment>> create(io::FileSystem& fs,
                                                               const std::string& dir,
                                                               Offset base_offset,
                                                               std::int64_t now_ms,
                                                               std::string_view suffix = {});
  // Opens an existing segment without reading it; call load_trusted() or scan() next.
  [[nodiscard]] static Result<std::shared_ptr<Segment>> open(io::FileSystem& fs,
                                                             const std::string& dir,
                                                             Offset base_offset);

  // For a segment that was synced whole (not the active one of an unclean shutdown): loads the
  // indexes, checks them against the log, rebuilds them if they are missing or inconsistent,
  // and finds the end by walking batch headers from the last index entry. A header chain that
  // does not end exactly at the end of the file is corruption.
  [[nodiscard]] Status load_trusted(std::int64_t now_ms);

  // Reads every batch from the start, checking each CRC, and rebuilds both indexes. Stops at
  // the first bad batch; the caller decides whether that is a torn tail (truncate) or
  // corruption (refuse). `on_batch` sees each good batch's header (producer-state replay).
  [[nodiscard]] Result<ScanOutcome> scan(std::int64_t now_ms,
                                         const std::function<void(const BatchHeader&)>& on_batch);
  // True if a complete, CRC-valid batch with base offset `expected` starts at `position`.
  [[nodiscard]] Result<bool> valid_batch_at(FilePosition position, Offset expected);
  // The first position after `from` where a complete, CRC-valid batch with base offset at or
  // above `offset_min` starts, if any. Looks at every byte position, so that a damaged length
  // field (which hides where the next batch starts) cannot pass for a torn tail. Reads in
  // kScanChunkBytes chunks: memory is bounded whatever the file's size.
  [[nodiscard]] Result<std::optional<FilePosition>> find_valid_batch_after(FilePosition from,
                                                                           Offset offset_min);
  // Cuts the log at `valid_bytes` (after a scan found a torn tail) and syncs it.
  [[nodiscard]] Status truncate_to(std::uint64_t valid_bytes, Offset next_offset);

  // Writes one batch whose base offset is already patched to next_offset().
  [[nodiscard]] Status append(ByteView batch, const BatchHeader& header);
  [[nodiscard]] Status sync();
  [[nodiscard]] Status flush_indexes();
  [[nodiscard]] Status sync_indexes();
  [[nodiscard]] Status remove_files();

  // The position of the batch that contains `offset` (REQUIRES base <= offset < next_offset()).
  [[nodiscard]] Result<FilePosition> find_position(Offset offset);
  // Position of the first batch whose max timestamp is >= timestamp_ms and whose last offset is
  // >= `from` (the log start: batches wholly below it are gone), with its header; nullopt if
  // none in this segment.
  [[nodiscard]] Result<std::optional<std::pair<FilePosition, BatchHeader>>> find_timestamp(
      std::int64_t timestamp_ms, Offset from = Offset(0));
  // Whole batches starting at `from`, up to `max_bytes` (but at least one batch) and ending at
  // or before `limit` (a position observed under the partition lock). The buffer is read into
  // without being zeroed first.
  [[nodiscard]] Result<ByteBuffer> read(FilePosition from, std::size_t max_bytes,
                                        std::uint64_t limit);

  Offset base_offset() const { return base_offset_; }
  Offset next_offset() const { return next_offset_; }
  std::uint64_t size_bytes() const { return size_; }
  std::int64_t max_timestamp_ms() const { return max_timestamp_ms_; }
  std::int64_t created_ms() const { return created_ms_; }
  bool empty() const { return size_ == 0; }
  const std::string& log_path() const { return log_->path(); }
  const std::string& suffix() const { return suffix_; }
  void set_index_interval_bytes(std::uint32_t v) { index_interval_bytes_ = v; }

 private:
  Segment(io::FileSystem& fs, std::string dir, Offset base_offset, std::string suffix = {});
  void index_batch(const BatchHeader& header, std::uint64_t position);
  void reset_indexes();
  [[nodiscard]] Result<BatchHeader> header_at(FilePosition position);

  io::FileSystem& fs_;
  std::string dir_;
  std::string suffix_;  // "" for a live segment, ".cleaned" for a cleaner's replacement
  Offset base_offset_;
  Offset next_offset_;
  std::uint64_t size_ = 0;
  std::int64_t max_timestamp_ms_ = -1;
  std::int64_t created_ms_ = 0;
  std::uint32_t index_interval_bytes_ = 4096;
  std::uint64_t bytes_since_index_ = 0;
  std::unique_ptr<io::File> log_;
  std::unique_ptr<io::File> index_file_;
  std::unique_ptr<io::File> time_index_file_;
  OffsetIndex index_;
  TimeIndex time_index_;
};

}  // namespace wharf::storage
