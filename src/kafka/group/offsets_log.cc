#include "kafka/group/offsets_log.h"

#include <map>

#include "base/log.h"

namespace wharf::kafka::group {
namespace {

// A batch of offset records stays well below max.message.bytes.
constexpr std::size_t kBatchBytesTarget = 512 * 1024;

storage::Record to_record(const OffsetRecord& r, std::int64_t now_ms) {
  storage::Record rec;
  rec.key = encode_offset_key(r);
  rec.value = encode_offset_value(r);
  rec.timestamp_ms = now_ms;
  return rec;
}

}  // namespace

Result<std::unique_ptr<OffsetsLog>> OffsetsLog::open(storage::LogManager& log, std::int32_t partitions,
                                                     std::uint64_t compact_bytes) {
  const std::string topic(kOffsetsTopic);
  auto info = log.topic(topic);
  if (!info) {
    auto created = log.create_topic(topic, partitions, {{"sync.policy", "always"}});
    if (!created && created.error().code() != ErrorCode::kAlreadyExists) return fail(created.error());
    info = log.topic(topic);
  }
  if (!info) return fail(ErrorCode::kInternal, "{} could not be created", topic);
  std::unique_ptr<OffsetsLog> out(new OffsetsLog());
  out->compact_bytes_ = compact_bytes;
  for (std::int32_t p = 0; p < info->partitions; ++p) {
    WHARF_ASSIGN_OR_RETURN(auto part, log.partition(topic, PartitionId(p)));
    auto entry = std::make_unique<Part>();
    entry->partition = std::move(part);
    entry->compact_at_bytes = compact_bytes;
    out->parts_.push_back(std::move(entry));
  }
  return out;
}

Status OffsetsLog::read_raw(storage::Partition& p,
                            const std::function<void(const storage::Record&)>& fn) {
  Offset at = p.log_start_offset();
  while (at < p.high_watermark()) {
    WHARF_ASSIGN_OR_RETURN(auto read, p.read(at, 1 << 20));
    if (read.records.empty()) break;
    std::size_t pos = 0;
    while (pos < read.records.size()) {
      WHARF_ASSIGN_OR_RETURN(auto h, storage::parse_header(ByteView(read.records).subspan(pos)));
      auto records = storage::read_records(ByteView(read.records).subspan(pos, h.total_bytes()));
      if (!records) {
        WHARF_LOG_WARN("{}: skipping unreadable batch at offset {}: {}", p.dir(), h.base_offset,
                       records.error().to_string());
      } else {
        for (const auto& rec : *records) {
          if (rec.key) fn(rec);
        }
      }
      pos += h.total_bytes();
      at = h.next_offset();
    }
  }
  return ok();
}

Status OffsetsLog::read_all(storage::Partition& p, const std::function<void(const OffsetRecord&)>& fn) {
  return read_raw(p, [&](const storage::Record& rec) {
    std::optional<ByteView> value;
    if (rec.value) value = ByteView(*rec.value);
    auto decoded = decode_offset_record(*rec.key, value);
    if (!decoded) {
      WHARF_LOG_WARN("{}: skipping malformed offset record at {}: {}", p.dir(), rec.offset,
                     decoded.error().to_string());
    } else if (*decoded) {
      fn(**decoded);
    }
  });
}

Status OffsetsLog::load(const std::function<void(const OffsetRecord&)>& fn) {
  for (auto& part : parts_) {
    std::shared_lock lock(part->mu);
    WHARF_RETURN_IF_ERROR(read_all(*part->partition, fn));
  }
  return ok();
}

Status OffsetsLog::append(const std::vector<OffsetRecord>& records) {
  std::map<std::int32_t, std::vector<storage::Record>> by_partition;
  const auto now = SystemClock::instance().now_ms();
  for (const auto& r : records) {
    by_partition[offsets_partition_for(r.group, partitions())].push_back(to_record(r, now));
  }
  return append_records(std::move(by_partition));
}

Status OffsetsLog::append(const std::vector<GroupMetadataRecord>& records) {
  std::map<std::int32_t, std::vector<storage::Record>> by_partition;
  const auto now = SystemClock::instance().now_ms();
  for (const auto& r : records) {
    storage::Record rec;
    rec.key = encode_group_metadata_key(r.group);
    rec.value = encode_group_metadata_value(r);
    rec.timestamp_ms = now;
    by_partition[offsets_partition_for(r.group, partitions())].push_back(std::move(rec));
  }
  return append_records(std::move(by_partition));
}

Status OffsetsLog::append_records(std::map<std::int32_t, std::vector<storage::Record>> by_partition) {
  for (auto& [index, recs] : by_partition) {
    Part& part = *parts_[static_cast<std::size_t>(index)];
    std::shared_lock lock(part.mu);
    WHARF_RETURN_IF_ERROR(part.partition->append(storage::build_batch(recs)));
  }
  return ok();
}

Result<int> OffsetsLog::compact_if_needed() {
  int compacted = 0;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (parts_[i]->partition->size_bytes() < parts_[i]->compact_at_bytes) continue;
    WHARF_RETURN_IF_ERROR(compact(static_cast<std::int32_t>(i)));
    ++compacted;
  }
  return compacted;
}

Status OffsetsLog::compact(std::int32_t index) {
  Part& part = *parts_[static_cast<std::size_t>(index)];
  std::unique_lock lock(part.mu);
  storage::Partition& p = *part.partition;
  // Latest record per key, from the log itself: nothing else appends while we hold the lock.
  std::map<std::tuple<std::string, std::string, std::int32_t>, OffsetRecord> live;
  WHARF_RETURN_IF_ERROR(read_all(p, [&](const OffsetRecord& r) {
    auto key = std::make_tuple(r.group, r.topic, r.partition);
    if (r.value) live[key] = r;
    else live.erase(key);
  }));
  // And the latest group metadata record of each group (raw: it is copied as it is).
  std::map<std::string, storage::Record> groups;
  WHARF_RETURN_IF_ERROR(read_raw(p, [&](const storage::Record& rec) {
    std::optional<ByteView> value;
    if (rec.value) value = ByteView(*rec.value);
    auto decoded = decode_group_metadata_record(*rec.key, value);
    if (!decoded || !*decoded) return;
    if ((*decoded)->value)
      groups[(*decoded)->group] = rec;
    else
      groups.erase((*decoded)->group);
  }));
  const std::uint64_t before = p.size_bytes();
  WHARF_RETURN_IF_ERROR(p.roll());
  const Offset copy_start = p.log_end_offset();
  const auto now = SystemClock::instance().now_ms();
  std::vector<storage::Record> batch;
  std::size_t batch_bytes = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return ok();
    WHARF_RETURN_IF_ERROR(p.append(storage::build_batch(batch)));
    batch.clear();
    batch_bytes = 0;
    return ok();
  };
  for (const auto& [_, r] : live) {
    batch.push_back(to_record(r, now));
    batch_bytes += batch.back().key->size() + batch.back().value->size() + 16;
    if (batch_bytes >= kBatchBytesTarget) WHARF_RETURN_IF_ERROR(flush());
  }
  for (const auto& [_, rec] : groups) {
    storage::Record copy;
    copy.key = rec.key;
    copy.value = rec.value;
    copy.timestamp_ms = now;
    batch_bytes += copy.key->size() + copy.value->size() + 16;
    batch.push_back(std::move(copy));
    if (batch_bytes >= kBatchBytesTarget) WHARF_RETURN_IF_ERROR(flush());
  }
  WHARF_RETURN_IF_ERROR(flush());
  WHARF_ASSIGN_OR_RETURN(int removed, p.delete_segments_before(copy_start));
  const std::uint64_t after = p.size_bytes();
  // Never compact again before the log has at least doubled its live size.
  part.compact_at_bytes = std::max<std::uint64_t>(compact_bytes_, 2 * after);
  WHARF_LOG_INFO("{}: compacted {} bytes to {} ({} live offsets, {} segments removed)", p.dir(), before,
                 after, live.size(), removed);
  return ok();
}

}  // namespace wharf::kafka::group
