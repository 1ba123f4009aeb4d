// Idempotent-producer state of one partition: for each producer id, its epoch and the sequence
// ranges and offsets of its last five batches (Kafka's ProducerStateEntry), so that a retried
// batch is recognised and answered with its original offsets, a gap is refused, and a stale
// epoch is fenced. docs/formats/producer-snapshot.md has the snapshot layout.
//
// Owned by a Partition and used under its lock. Durability: the table itself is memory; it is
// rebuilt on open from the newest valid snapshot plus the batch headers after it (v2 headers
// carry producer id, epoch and sequence), so nothing extra is synced on the append path.
// Snapshots are written atomically at segment roll and at clean shutdown.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <variant>

#include "base/ids.h"
#include "base/result.h"
#include "storage/limits.h"
#include "storage/record_batch.h"

namespace wharf::storage {

struct ProducerBatch {
  std::int32_t first_sequence;
  std::int32_t last_sequence;
  Offset first_offset;
  Offset last_offset;
};

struct ProducerEntry {
  ProducerEpoch epoch;
  std::int64_t last_timestamp_ms = -1;
  std::deque<ProducerBatch> batches;  // oldest first, at most kProducerBatchesRetained
};

// A batch to append (no decision), or a retry of one already stored.
struct SequenceAccepted {};
struct SequenceDuplicate {
  ProducerBatch original;
};
using SequenceCheck = std::variant<SequenceAccepted, SequenceDuplicate>;

class ProducerStateTable {
 public:
  // The largest snapshot decode_snapshot() accepts: kProducersPerPartitionMax producers, each
  // with kProducerBatchesRetained batches. A larger file is refused before it is read.
  static constexpr std::size_t kSnapshotBytesMax =
      20 + kProducersPerPartitionMax * (19 + kProducerBatchesRetained * 24);

  // Kafka's checkSequence rules (kafka-protocol.md §2.3): a duplicate of any retained batch is
  // reported with its original offsets; an older epoch is kInvalidProducerEpoch; a new epoch
  // must start at sequence 0; otherwise the first sequence must follow the last one; a producer
  // with no state accepts any sequence. Batches without a producer id are always accepted.
  [[nodiscard]] Result<SequenceCheck> check(const BatchHeader& batch) const;

  // Records an appended batch. REQUIRES: check() accepted it and it was written. A producer
  // new to a table that already holds kProducersPerPartitionMax first makes it forget the tenth
  // whose last batches are oldest in the log, so memory and snapshots stay bounded whatever
  // producer ids clients write; a forgotten producer is one with no state (check()).
  void update(const BatchHeader& batch);
  // Whether update(batch) would first forget producers (a scan of the whole table).
  bool would_evict(const BatchHeader& batch) const;

  // Forgets producers idle since before `cutoff_ms` (producer.id.expiration.ms).
  void expire(std::int64_t cutoff_ms);

  std::size_t size() const { return producers_.size(); }
  // Producers forgotten because the table was full, since it was made.
  std::uint64_t evicted() const { return evicted_; }
  const ProducerEntry* find(ProducerId id) const;
  const std::unordered_map<ProducerId, ProducerEntry>& producers() const { return producers_; }

  Bytes encode_snapshot(Offset offset) const;
  // Decodes a snapshot; fails with kCorruption on any inconsistency (bad CRC, truncation).
  [[nodiscard]] static Result<std::pair<Offset, ProducerStateTable>> decode_snapshot(
      ByteView bytes);

 private:
  void evict_least_recent();
  std::unordered_map<ProducerId, ProducerEntry> producers_;
  std::uint64_t evicted_ = 0;
};

}  // namespace wharf::storage
