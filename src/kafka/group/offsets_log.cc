#include "kafka/group/offsets_log.h"

#include <map>

#include "base/log.h"

namespace wharf::kafka::group {
namespace {

// Bytes of records per appended batch, well below max.message.bytes (1 MiB).
constexpr std::size_t kBatchBytesTarget = 512 * 1024;

storage::Record to_record(const OffsetRecord& r, std::int64_t now_ms) {
  storage::Record rec;
  rec.key = encode_offset_key(r);
  rec.value = encode_offset_value(r);
  rec.timestamp_ms = now_ms;
  return rec;
}

}  // namespace

Result<std::unique_ptr<OffsetsLog>> OffsetsLog::open(storage::LogManager& log,
                                                     std::int32_t partitions, const Clock& clock) {
  const std::string topic(kOffsetsTopic);
  // Kafka's settings for the topic: compacted, 100 MiB segments (offsets.topic.segment.bytes).
  const std::map<std::string, std::string> config{
      {"sync.policy", "always"}, {"cleanup.policy", "compact"}, {"segment.bytes", "104857600"}};
  auto info = log.topic(topic);
  if (!info) {
    auto created = log.create_topic(topic, partitions, config);
    if (!created && created.error().code() != ErrorCode::kAlreadyExists)
      return fail(created.error());
    info = log.topic(topic);
  } else if (info->overrides.find("cleanup.policy") == info->overrides.end()) {
    // Written by a version that compacted the topic itself: same records, same layout; from
    // now on the log cleaner compacts it.
    WHARF_RETURN_IF_ERROR(log.alter_config(topic, config));
    info = log.topic(topic);
  }
  if (!info) return fail(ErrorCode::kInternal, "{} could not be created", topic);
  std::unique_ptr<OffsetsLog> out(new OffsetsLog(clock));
  for (std::int32_t p = 0; p < info->partitions; ++p) {
    WHARF_ASSIGN_OR_RETURN(auto part, log.partition(topic, PartitionId(p)));
    auto entry = std::make_unique<Part>();
    entry->partition = std::move(part);
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
    auto walked = storage::for_each_batch(read.records, [&](ByteView batch) -> Status {
      WHARF_ASSIGN_OR_RETURN(auto h, storage::parse_header(batch));
      auto records = storage::read_records(batch);
      if (!records) {
        WHARF_LOG_WARN("{}: skipping unreadable batch at offset {}: {}", p.dir(), h.base_offset,
                       records.error().to_string());
      } else {
        for (const auto& rec : *records) {
          if (rec.key) fn(rec);
        }
      }
      at = h.next_offset();
      return ok();
    });
    if (!walked) return fail(std::move(walked).error());
    if (*walked != read.records.size()) {  // Partition::read serves whole batches only
      return fail(ErrorCode::kCorruption, "{}: a partial batch at offset {}", p.dir(), at);
    }
  }
  return ok();
}

Status OffsetsLog::read_all(storage::Partition& p,
                            const std::function<void(const OffsetRecord&)>& fn) {
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
  for (auto& part : parts_) WHARF_RETURN_IF_ERROR(read_all(*part->partition, fn));
  return ok();
}

Status OffsetsLog::append(const std::vector<OffsetRecord>& records) {
  std::map<std::int32_t, std::vector<storage::Record>> by_partition;
  const auto now = clock_->now_ms();
  for (const auto& r : records) {
    by_partition[offsets_partition_for(r.group, partitions())].push_back(to_record(r, now));
  }
  return append_records(std::move(by_partition));
}

Status OffsetsLog::append(const std::vector<GroupMetadataRecord>& records) {
  std::map<std::int32_t, std::vector<storage::Record>> by_partition;
  const auto now = clock_->now_ms();
  for (const auto& r : records) {
    storage::Record rec;
    rec.key = encode_group_metadata_key(r.group);
    rec.value = encode_group_metadata_value(r);
    rec.timestamp_ms = now;
    by_partition[offsets_partition_for(r.group, partitions())].push_back(std::move(rec));
  }
  return append_records(std::move(by_partition));
}

Status OffsetsLog::append_records(
    std::map<std::int32_t, std::vector<storage::Record>> by_partition) {
  for (auto& [index, recs] : by_partition) {
    Part& part = *parts_[static_cast<std::size_t>(index)];
    // Batches of at most kBatchBytesTarget (and at least one record each): the group metadata
    // of many groups, handed over at once, stays within the storage engine's batch limit.
    std::vector<storage::Record> batch;
    std::size_t bytes = 0;
    for (auto& rec : recs) {
      const std::size_t size = rec.key->size() + (rec.value ? rec.value->size() : 0) + 16;
      if (!batch.empty() && bytes + size > kBatchBytesTarget) {
        WHARF_RETURN_IF_ERROR(part.partition->append(storage::build_batch(batch)));
        batch.clear();
        bytes = 0;
      }
      bytes += size;
      batch.push_back(std::move(rec));
    }
    if (!batch.empty()) WHARF_RETURN_IF_ERROR(part.partition->append(storage::build_batch(batch)));
  }
  return ok();
}

}  // namespace wharf::kafka::group
