#include "storage/index.h"

#include <algorithm>

#include "storage/record_batch.h"

namespace wharf::storage {
namespace {

void encode(const OffsetIndexEntry& e, Bytes& out) {
  append_be<std::uint32_t>(out, e.relative_offset);
  append_be<std::uint32_t>(out, e.position);
}
void encode(const TimeIndexEntry& e, Bytes& out) {
  append_be<std::int64_t>(out, e.timestamp_ms);
  append_be<std::uint32_t>(out, e.relative_offset);
}
constexpr std::size_t entry_bytes(const OffsetIndexEntry*) { return kOffsetIndexEntryBytes; }
constexpr std::size_t entry_bytes(const TimeIndexEntry*) { return kTimeIndexEntryBytes; }

OffsetIndexEntry decode(ByteView b, std::size_t at, const OffsetIndexEntry*) {
  return {load_be<std::uint32_t>(b, at), load_be<std::uint32_t>(b, at + 4)};
}
TimeIndexEntry decode(ByteView b, std::size_t at, const TimeIndexEntry*) {
  return {load_be<std::int64_t>(b, at), load_be<std::uint32_t>(b, at + 8)};
}
bool increasing(const OffsetIndexEntry& a, const OffsetIndexEntry& b) {
  return b.relative_offset > a.relative_offset && b.position > a.position;
}
bool increasing(const TimeIndexEntry& a, const TimeIndexEntry& b) {
  return b.timestamp_ms > a.timestamp_ms && b.relative_offset > a.relative_offset;
}

}  // namespace

template <typename Entry>
void SparseIndex<Entry>::truncate_from(std::uint32_t relative_offset) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.relative_offset >= relative_offset; });
  if (it == entries_.end()) return;
  entries_.erase(it, entries_.end());
  persisted_ = 0;
  rewrite_ = true;
}

template <typename Entry>
Status SparseIndex<Entry>::flush(io::File& file) {
  constexpr std::size_t kBytes = entry_bytes(static_cast<const Entry*>(nullptr));
  if (rewrite_) {
    WHARF_RETURN_IF_ERROR(file.truncate(0));
    persisted_ = 0;
    rewrite_ = false;
  }
  if (persisted_ == entries_.size()) return ok();
  Bytes out;
  out.reserve((entries_.size() - persisted_) * kBytes);
  for (std::size_t i = persisted_; i < entries_.size(); ++i) encode(entries_[i], out);
  WHARF_RETURN_IF_ERROR(file.write_at(FilePosition(persisted_ * kBytes), out));
  persisted_ = entries_.size();
  return ok();
}

std::size_t index_entries_max(std::uint64_t log_bytes) {
  return static_cast<std::size_t>(log_bytes / batch_layout::kHeaderBytes + 1);
}

template <typename Entry>
Status SparseIndex<Entry>::load(io::File& file, std::size_t entries_max) {
  constexpr std::size_t kBytes = entry_bytes(static_cast<const Entry*>(nullptr));
  WHARF_ASSIGN_OR_RETURN(std::uint64_t size, file.size());
  if (size % kBytes != 0) {
    return fail(ErrorCode::kCorruption, "{}: size {} is not a multiple of {}", file.path(), size,
                kBytes);
  }
  if (size / kBytes > entries_max) {
    return fail(ErrorCode::kCorruption,
                "{}: {} entries, more than the {} its log can have (one per batch)", file.path(),
                size / kBytes, entries_max);
  }
  Bytes raw(size);
  WHARF_RETURN_IF_ERROR(io::read_exact(file, FilePosition(0), raw));
  std::vector<Entry> loaded;
  loaded.reserve(size / kBytes);
  for (std::size_t at = 0; at < size; at += kBytes) {
    Entry e = decode(raw, at, static_cast<const Entry*>(nullptr));
    if (!loaded.empty() && !increasing(loaded.back(), e)) {
      return fail(ErrorCode::kCorruption, "{}: entry {} is not after the one before it",
                  file.path(), at / kBytes);
    }
    loaded.push_back(e);
  }
  entries_ = std::move(loaded);
  persisted_ = entries_.size();
  rewrite_ = false;
  return ok();
}

template class SparseIndex<OffsetIndexEntry>;
template class SparseIndex<TimeIndexEntry>;

std::optional<OffsetIndexEntry> floor_entry(const OffsetIndex& index,
                                            std::uint32_t relative_offset) {
  const auto& e = index.entries();
  auto it = std::upper_bound(
      e.begin(), e.end(), relative_offset,
      [](std::uint32_t r, const OffsetIndexEntry& x) { return r < x.relative_offset; });
  if (it == e.begin()) return std::nullopt;
  return *std::prev(it);
}

}  // namespace wharf::storage
