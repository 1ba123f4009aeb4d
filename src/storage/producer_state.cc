#include "storage/producer_state.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "base/crc32c.h"
#include "storage/limits.h"

namespace wharf::storage {
namespace {

constexpr std::uint32_t kSnapshotMagic = 0x57505331;  // "WPS1"
constexpr std::size_t kSnapshotHeaderBytes = 4 + 4 + 8 + 4;
constexpr std::size_t kEntryFixedBytes = 8 + 2 + 8 + 1;
constexpr std::size_t kBatchBytes = 4 + 4 + 8 + 8;
static_assert(ProducerStateTable::kSnapshotBytesMax ==
              kSnapshotHeaderBytes +
                  kProducersPerPartitionMax *
                      (kEntryFixedBytes + kProducerBatchesRetained * kBatchBytes));

std::int32_t next_sequence(std::int32_t last) {
  return last == std::numeric_limits<std::int32_t>::max() ? 0 : last + 1;
}

}  // namespace

Result<SequenceCheck> ProducerStateTable::check(const BatchHeader& b) const {
  if (!b.has_producer_id()) return SequenceAccepted{};
  auto it = producers_.find(b.producer_id);
  if (it == producers_.end()) return SequenceAccepted{};
  const ProducerEntry& e = it->second;
  if (b.producer_epoch < e.epoch) {
    return fail(ErrorCode::kInvalidProducerEpoch, "producer {} epoch {} is older than {}",
                b.producer_id, b.producer_epoch, e.epoch);
  }
  if (b.producer_epoch > e.epoch) {
    if (b.base_sequence != 0) {
      return fail(ErrorCode::kOutOfOrderSequence,
                  "producer {} new epoch {} must start at sequence 0, got {}", b.producer_id,
                  b.producer_epoch, b.base_sequence);
    }
    return SequenceAccepted{};
  }
  for (const ProducerBatch& pb : e.batches) {
    if (pb.first_sequence == b.base_sequence && pb.last_sequence == b.last_sequence()) {
      return SequenceDuplicate{pb};
    }
  }
  if (e.batches.empty()) return SequenceAccepted{};
  const std::int32_t expected = next_sequence(e.batches.back().last_sequence);
  if (b.base_sequence != expected) {
    return fail(ErrorCode::kOutOfOrderSequence,
                "producer {} epoch {}: sequence {} does not follow {} (expected {})", b.producer_id,
                b.producer_epoch, b.base_sequence, e.batches.back().last_sequence, expected);
  }
  return SequenceAccepted{};
}

void ProducerStateTable::update(const BatchHeader& b) {
  if (!b.has_producer_id()) return;
  if (would_evict(b)) evict_least_recent();
  ProducerEntry& e = producers_[b.producer_id];
  if (b.producer_epoch != e.epoch) {
    e.batches.clear();
    e.epoch = b.producer_epoch;
  }
  e.batches.push_back({b.base_sequence, b.last_sequence(), b.base_offset, b.last_offset()});
  while (e.batches.size() > kProducerBatchesRetained) e.batches.pop_front();
  e.last_timestamp_ms = std::max(e.last_timestamp_ms, b.max_timestamp);
}

bool ProducerStateTable::would_evict(const BatchHeader& b) const {
  return b.has_producer_id() && producers_.size() >= kProducersPerPartitionMax &&
         !producers_.contains(b.producer_id);
}

void ProducerStateTable::evict_least_recent() {
  // A tenth at a time, so a stream of new producer ids costs a scan per 10,000 of them. Ordered by
  // each producer's last offset: set by the broker, never equal for two producers, and the same
  // after a restart (a batch's timestamp is the client's to choose).
  const std::size_t k = std::max<std::size_t>(1, producers_.size() / 10);
  auto last_offset = [](const ProducerEntry& e) {
    return e.batches.empty() ? std::int64_t{-1} : e.batches.back().last_offset.value();
  };
  std::vector<std::pair<std::int64_t, ProducerId>> order;
  order.reserve(producers_.size());
  for (const auto& [id, e] : producers_) order.emplace_back(last_offset(e), id);
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k - 1), order.end());
  for (std::size_t i = 0; i < k; ++i) producers_.erase(order[i].second);
  evicted_ += k;
}

void ProducerStateTable::expire(std::int64_t cutoff_ms) {
  std::erase_if(producers_,
                [&](const auto& kv) { return kv.second.last_timestamp_ms < cutoff_ms; });
}

const ProducerEntry* ProducerStateTable::find(ProducerId id) const {
  auto it = producers_.find(id);
  return it == producers_.end() ? nullptr : &it->second;
}

Bytes ProducerStateTable::encode_snapshot(Offset offset) const {
  Bytes out;
  append_be<std::uint32_t>(out, kSnapshotMagic);
  append_be<std::uint32_t>(out, 0);  // CRC placeholder
  append_be<std::int64_t>(out, offset.value());
  append_be<std::uint32_t>(out, static_cast<std::uint32_t>(producers_.size()));
  for (const auto& [id, e] : producers_) {
    append_be<std::int64_t>(out, id.value());
    append_be<std::int16_t>(out, e.epoch.value());
    append_be<std::int64_t>(out, e.last_timestamp_ms);
    append_be<std::uint8_t>(out, static_cast<std::uint8_t>(e.batches.size()));
    for (const ProducerBatch& b : e.batches) {
      append_be<std::int32_t>(out, b.first_sequence);
      append_be<std::int32_t>(out, b.last_sequence);
      append_be<std::int64_t>(out, b.first_offset.value());
      append_be<std::int64_t>(out, b.last_offset.value());
    }
  }
  store_be<std::uint32_t>(out, 4, crc32c::value(ByteView(out).subspan(8)));
  return out;
}

Result<std::pair<Offset, ProducerStateTable>> ProducerStateTable::decode_snapshot(ByteView in) {
  if (in.size() < kSnapshotHeaderBytes) {
    return fail(ErrorCode::kCorruption, "producer snapshot of {} bytes is truncated", in.size());
  }
  if (load_be<std::uint32_t>(in, 0) != kSnapshotMagic) {
    return fail(ErrorCode::kCorruption, "producer snapshot has a bad magic number");
  }
  if (load_be<std::uint32_t>(in, 4) != crc32c::value(in.subspan(8))) {
    return fail(ErrorCode::kCorruption, "producer snapshot CRC mismatch");
  }
  const Offset offset(load_be<std::int64_t>(in, 8));
  const std::uint32_t count = load_be<std::uint32_t>(in, 16);
  if (count > kProducersPerPartitionMax ||
      count > (in.size() - kSnapshotHeaderBytes) / kEntryFixedBytes) {
    return fail(ErrorCode::kCorruption, "producer snapshot claims {} producers", count);
  }
  ProducerStateTable table;
  std::size_t pos = kSnapshotHeaderBytes;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (in.size() - pos < kEntryFixedBytes) {
      return fail(ErrorCode::kCorruption, "producer snapshot truncated in entry {}", i);
    }
    const ProducerId id(load_be<std::int64_t>(in, pos));
    ProducerEntry e;
    e.epoch = ProducerEpoch(load_be<std::int16_t>(in, pos + 8));
    e.last_timestamp_ms = load_be<std::int64_t>(in, pos + 10);
    const std::uint8_t batches = load_be<std::uint8_t>(in, pos + 18);
    pos += kEntryFixedBytes;
    if (batches > kProducerBatchesRetained || in.size() - pos < batches * kBatchBytes) {
      return fail(ErrorCode::kCorruption, "producer snapshot entry {} has {} batches", i, batches);
    }
    for (std::uint8_t k = 0; k < batches; ++k) {
      e.batches.push_back({load_be<std::int32_t>(in, pos), load_be<std::int32_t>(in, pos + 4),
                           Offset(load_be<std::int64_t>(in, pos + 8)),
                           Offset(load_be<std::int64_t>(in, pos + 16))});
      pos += kBatchBytes;
    }
    table.producers_.emplace(id, std::move(e));
  }
  if (pos != in.size()) {
    return fail(ErrorCode::kCorruption, "producer snapshot has {} trailing bytes", in.size() - pos);
  }
  return std::make_pair(offset, std::move(table));
}

}  // namespace wharf::storage
