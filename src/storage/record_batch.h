// Kafka record batch v2: parsing, validation, in-place patching and building.
//
// The broker stores the bytes a producer sent, unchanged except for header fields: base_offset
// and partition_leader_epoch (outside the CRC), and max_timestamp (and, for LogAppendTime
// topics, the timestamp-type bit), which are rewritten on append with a recomputed CRC, as
// Kafka does. So the records on disk are the records on the wire and a fetch sends file bytes
// without re-encoding (docs/formats/record-batch-v2.md has the layout). The one exception is a
// topic whose compression.type names another codec: the append stores a recompressed copy
// (compression.h, recompress_batch), whose records decompress to the same bytes. Pure functions;
// no I/O, no threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "base/bytes.h"
#include "base/ids.h"
#include "base/result.h"
#include "storage/limits.h"

namespace wharf::storage {

// Byte positions of the v2 header fields (DefaultRecordBatch.java).
namespace batch_layout {
inline constexpr std::size_t kBaseOffset = 0;             // int64
inline constexpr std::size_t kLength = 8;                 // int32: bytes after this field
inline constexpr std::size_t kPartitionLeaderEpoch = 12;  // int32
inline constexpr std::size_t kMagic = 16;                 // int8, = 2
inline constexpr std::size_t kCrc = 17;                   // uint32, CRC-32C of [kAttributes, end)
inline constexpr std::size_t kAttributes = 21;            // int16
inline constexpr std::size_t kLastOffsetDelta = 23;       // int32
inline constexpr std::size_t kBaseTimestamp = 27;         // int64
inline constexpr std::size_t kMaxTimestamp = 35;          // int64
inline constexpr std::size_t kProducerId = 43;            // int64
inline constexpr std::size_t kProducerEpoch = 51;         // int16
inline constexpr std::size_t kBaseSequence = 53;          // int32
inline constexpr std::size_t kRecordCount = 57;           // int32
inline constexpr std::size_t kHeaderBytes = 61;           // records start here
// The framing before what `length` counts: base offset (8) and length (4), Kafka's
// LOG_OVERHEAD. A batch occupies kLogOverheadBytes + length bytes.
inline constexpr std::size_t kLogOverheadBytes = kLength + sizeof(std::int32_t);
static_assert(kLogOverheadBytes == 12 && kLogOverheadBytes == kPartitionLeaderEpoch);
// `length` counts everything after itself; the smallest legal value is a batch with no records.
inline constexpr std::int32_t kLengthMin = kHeaderBytes - kLogOverheadBytes;
}  // namespace batch_layout

enum class Compression : std::uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };

namespace batch_attributes {
inline constexpr std::int16_t kCompressionMask = 0x07;
inline constexpr std::int16_t kLogAppendTime = 0x08;
inline constexpr std::int16_t kTransactional = 0x10;
inline constexpr std::int16_t kControl = 0x20;
}  // namespace batch_attributes

// The fixed header of one batch, decoded.
struct BatchHeader {
  Offset base_offset;
  std::int32_t length = 0;  // bytes after the length field
  std::int32_t partition_leader_epoch = 0;
  std::int8_t magic = 0;
  std::uint32_t crc = 0;
  std::int16_t attributes = 0;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = 0;
  std::int64_t max_timestamp = 0;
  ProducerId producer_id = kNoProducerId;
  ProducerEpoch producer_epoch = kNoProducerEpoch;
  std::int32_t base_sequence = -1;
  std::int32_t record_count = 0;

  std::size_t total_bytes() const {
    return static_cast<std::size_t>(length) + batch_layout::kLogOverheadBytes;
  }
  Offset last_offset() const { return base_offset + last_offset_delta; }
  Offset next_offset() const { return base_offset + (last_offset_delta + 1); }
  Compression compression() const {
    return static_cast<Compression>(attributes & batch_attributes::kCompressionMask);
  }
  bool is_control() const { return attributes & batch_attributes::kControl; }
  bool is_transactional() const { return attributes & batch_attributes::kTransactional; }
  bool has_producer_id() const { return producer_id.value() >= 0; }
  // Sequence of the last record, wrapping at INT32_MAX as Kafka does.
  std::int32_t last_sequence() const;
};

// Decodes the 61-byte header (batch_layout::kHeaderBytes). Checks only that enough bytes are
// present and that magic == 2; nothing about the CRC or the records. REQUIRES nothing of `bytes`.
[[nodiscard]] Result<BatchHeader> parse_header(ByteView bytes);

// The size of the batch at the front of `bytes`, from its length field alone: nullopt when
// `bytes` holds less than the whole batch (fewer than kLogOverheadBytes, or fewer than the
// length says: a partial batch at the end of a read), kCorruptMessage when the length is below
// kLengthMin (no batch is that short, so nothing after it can be framed). Reads nothing else:
// not the magic, not the CRC. REQUIRES nothing of `bytes`.
[[nodiscard]] Result<std::optional<std::size_t>> framed_batch_bytes(ByteView bytes);

// Walks the whole batches at the front of `bytes` (batches one after another, as a segment
// stores them and a fetch sends them), calling f(ByteView batch) with exactly each batch's
// bytes. Only the framing is read (framed_batch_bytes); `f` parses or checks what it needs.
// `f` returns void, bool (false stops the walk before that batch) or Status (an error stops the
// walk and is returned as is). The walk also stops at a partial batch at the end. Returns the
// bytes of the batches walked (where it stopped); kCorruptMessage, naming the position, for a
// length below kLengthMin.
template <typename F>
[[nodiscard]] Result<std::size_t> for_each_batch(ByteView bytes, F&& f) {
  using R = std::invoke_result_t<F&, ByteView>;
  static_assert(std::is_void_v<R> || std::is_same_v<R, bool> || std::is_same_v<R, Status>,
                "for_each_batch: f returns void, bool or Status");
  std::size_t pos = 0;
  for (;;) {
    auto framed = framed_batch_bytes(bytes.subspan(pos));
    if (!framed)
      return fail(std::move(framed).error().with_context(fmt::format("at byte {}", pos)));
    if (!*framed) return pos;
    const ByteView batch = bytes.subspan(pos, **framed);
    if constexpr (std::is_void_v<R>) {
      f(batch);
    } else if constexpr (std::is_same_v<R, bool>) {
      if (!f(batch)) return pos;
    } else {
      WHARF_RETURN_IF_ERROR(f(batch));
    }
    pos += batch.size();
  }
}

struct ValidationLimits {
  std::size_t batch_bytes_max = 1'048'588;  // Kafka's max.message.bytes default
  // Budget for the records of a compressed batch once decompressed (limits.h).
  std::size_t decompressed_bytes_max = kDecompressedBatchBytesMax;
};

// Full validation of one batch occupying exactly `bytes`: header fields, length, CRC-32C,
// record count against last_offset_delta and the framing of every record (lengths, varints,
// offset deltas 0..n-1); a compressed batch is decompressed first (within
// decompressed_bytes_max) and its records checked the same way. Errors: kCorruptMessage
// (framing, CRC, undecodable compressed data), kInvalidRecord (Kafka rules, or expanding past
// the budget), kMessageTooLarge, kUnsupported (magic, codec).
[[nodiscard]] Result<BatchHeader> validate_batch(ByteView bytes, const ValidationLimits& limits);

// validate_batch and what its walk over the records learned.
struct ValidatedBatch {
  BatchHeader header;  // as stored in the bytes
  // The largest record timestamp (base_timestamp + each record's delta, wrapping as Java longs
  // do): what Kafka makes a CreateTime batch's max_timestamp on produce, whatever the client
  // wrote there (some leave -1).
  std::int64_t records_max_timestamp = 0;
  // Records whose key is null (refused on compacted topics, as Kafka does).
  std::int32_t null_key_records = 0;
};
[[nodiscard]] Result<ValidatedBatch> validate_batch_records(ByteView bytes,
                                                            const ValidationLimits& limits);

// CRC check only (recovery's fast path): header sane, length fits, CRC matches.
[[nodiscard]] Result<BatchHeader> check_batch_crc(ByteView bytes);

std::uint32_t compute_crc(ByteView batch);

// Patch fields the CRC does not cover.
void patch_base_offset(MutableByteView batch, Offset base_offset);
void patch_partition_leader_epoch(MutableByteView batch, std::int32_t epoch);
// The partition leader epoch every appended batch is stored with, whatever the producer sent
// (usually -1), as Kafka writes its leader's epoch there. One node never changes leader, so it is
// 0: the epoch Metadata, Fetch and OffsetForLeaderEpoch report.
inline constexpr std::int32_t kStoredLeaderEpoch = 0;
// Sets max_timestamp and recomputes the CRC (which covers it); leaves the bytes alone if the
// field already holds that value.
void set_max_timestamp(MutableByteView batch, std::int64_t max_timestamp);
// Switches a batch to LogAppendTime: sets the attribute bit and max_timestamp, then recomputes
// the CRC (both fields are covered by it).
void apply_log_append_time(MutableByteView batch, std::int64_t timestamp_ms);

// One record as producers see it; used by the builder and the uncompressed-record reader.
struct Record {
  std::optional<Bytes> key;
  std::optional<Bytes> value;
  std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
  std::int64_t timestamp_ms = 0;
  Offset offset;  // filled in by readers
};

struct BatchOptions {
  ProducerId producer_id = kNoProducerId;
  ProducerEpoch producer_epoch = kNoProducerEpoch;
  std::int32_t base_sequence = -1;
  std::int32_t partition_leader_epoch = -1;
  bool transactional = false;
};

// Builds an uncompressed v2 batch with base_offset 0 and a correct CRC.
// REQUIRES: !records.empty().
Bytes build_batch(const std::vector<Record>& records, const BatchOptions& options = {});

// Decodes the records of an uncompressed batch (validated or not: errors are returned). Offset
// deltas may have gaps (a batch rewritten by compaction keeps its records' original offsets).
[[nodiscard]] Result<std::vector<Record>> read_records(ByteView batch);

// A record's offset and timestamp: what ListOffsets by time answers.
struct TimestampedOffset {
  Offset offset;
  std::int64_t timestamp_ms = -1;
  friend bool operator==(const TimestampedOffset&, const TimestampedOffset&) = default;
};

// The first record of `batch` (one whole batch, already CRC-checked) whose timestamp is >=
// timestamp_ms and whose offset is >= offset_min: the search inside a batch of Kafka's
// FileRecords.searchForTimestamp. A record's timestamp is base_timestamp + its delta (wrapping
// as Java longs do), or the batch's max_timestamp for every record of a LogAppendTime batch. A
// compressed batch is decompressed within kDecompressedBatchBytesMax; a compacted one may have
// gaps. nullopt if no record qualifies. Errors: kCorruptMessage for records that do not decode,
// or what decompress returns.
[[nodiscard]] Result<std::optional<TimestampedOffset>> find_record_by_timestamp(
    ByteView batch, std::int64_t timestamp_ms, Offset offset_min);

// One record of a batch, without copying: what the log cleaner needs to decide on it.
struct RecordView {
  ByteView bytes;  // the whole record, its length varint included, as stored
  std::int32_t offset_delta = 0;
  std::int64_t timestamp_delta = 0;
  std::optional<ByteView> key;  // nullopt: a null key
  bool null_value = false;      // a tombstone
};
// Walks `count` uncompressed records (`records` = the bytes after the batch header, or the
// decompressed records of a compressed batch). Offset deltas must increase and stay at or below
// `last_offset_delta`. Every length is checked before use; errors are kCorruptMessage.
[[nodiscard]] Status for_each_record_view(ByteView records, std::int32_t count,
                                          std::int32_t last_offset_delta,
                                          const std::function<void(const RecordView&)>& fn);
// A copy of `batch`'s header followed by `records` (uncompressed record bytes, as RecordView
// hands them out), with length, record count and CRC recomputed and the compression bits
// cleared. Base offset, last offset delta, timestamps and producer fields are kept, so the
// batch still covers the same offsets (compaction). REQUIRES: batch holds a whole header.
Bytes rebuild_batch(ByteView batch, ByteView records, std::int32_t record_count);

}  // namespace wharf::storage
