#include "storage/record_batch.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>
#include <variant>

#include "base/crc32c.h"
#include "base/varint.h"
#include "storage/compression.h"
#include "storage/record_reader.h"

namespace wharf::storage {
namespace bl = batch_layout;

std::int32_t BatchHeader::last_sequence() const {
  if (base_sequence < 0) return -1;
  const std::int64_t last = static_cast<std::int64_t>(base_sequence) + last_offset_delta;
  if (last > std::numeric_limits<std::int32_t>::max()) {
    return static_cast<std::int32_t>(last - std::numeric_limits<std::int32_t>::max() - 1);
  }
  return static_cast<std::int32_t>(last);
}

Result<BatchHeader> parse_header(ByteView bytes) {
  if (bytes.size() < bl::kHeaderBytes) {
    return fail(ErrorCode::kCorruptMessage, "record batch header needs {} bytes, have {}",
                bl::kHeaderBytes, bytes.size());
  }
  BatchHeader h;
  h.base_offset = Offset(load_be<std::int64_t>(bytes, bl::kBaseOffset));
  h.length = load_be<std::int32_t>(bytes, bl::kLength);
  h.partition_leader_epoch = load_be<std::int32_t>(bytes, bl::kPartitionLeaderEpoch);
  h.magic = load_be<std::int8_t>(bytes, bl::kMagic);
  h.crc = load_be<std::uint32_t>(bytes, bl::kCrc);
  h.attributes = load_be<std::int16_t>(bytes, bl::kAttributes);
  h.last_offset_delta = load_be<std::int32_t>(bytes, bl::kLastOffsetDelta);
  h.base_timestamp = load_be<std::int64_t>(bytes, bl::kBaseTimestamp);
  h.max_timestamp = load_be<std::int64_t>(bytes, bl::kMaxTimestamp);
  h.producer_id = ProducerId(load_be<std::int64_t>(bytes, bl::kProducerId));
  h.producer_epoch = ProducerEpoch(load_be<std::int16_t>(bytes, bl::kProducerEpoch));
  h.base_sequence = load_be<std::int32_t>(bytes, bl::kBaseSequence);
  h.record_count = load_be<std::int32_t>(bytes, bl::kRecordCount);
  if (h.magic != 2) {
    return fail(ErrorCode::kUnsupported, "record batch magic {} (only v2 batches are accepted)",
                h.magic);
  }
  if (h.length < bl::kLengthMin) {
    return fail(ErrorCode::kCorruptMessage, "record batch length {} below the minimum {}", h.length,
                bl::kLengthMin);
  }
  return h;
}

Result<std::optional<std::size_t>> framed_batch_bytes(ByteView bytes) {
  if (bytes.size() < bl::kLogOverheadBytes) return std::nullopt;
  const std::int32_t length = load_be<std::int32_t>(bytes, bl::kLength);
  if (length < bl::kLengthMin) {
    return fail(ErrorCode::kCorruptMessage, "record batch length {} below the minimum {}", length,
                bl::kLengthMin);
  }
  // At most INT32_MAX + 12: no overflow in a size_t.
  const std::size_t total = static_cast<std::size_t>(length) + bl::kLogOverheadBytes;
  if (total > bytes.size()) return std::nullopt;
  return total;
}

std::uint32_t compute_crc(ByteView batch) { return crc32c::value(batch.subspan(bl::kAttributes)); }

Result<BatchHeader> check_batch_crc(ByteView bytes) {
  WHARF_ASSIGN_OR_RETURN(BatchHeader h, parse_header(bytes));
  if (h.total_bytes() != bytes.size()) {
    return fail(ErrorCode::kCorruptMessage, "record batch length says {} bytes, have {}",
                h.total_bytes(), bytes.size());
  }
  const std::uint32_t crc = compute_crc(bytes);
  if (crc != h.crc) {
    return fail(ErrorCode::kCorruptMessage,
                "record batch CRC-32C mismatch: stored {:#010x}, computed {:#010x}", h.crc, crc);
  }
  return h;
}

namespace {

// Client-chosen values: add as Kafka's Java longs do, wrapping instead of overflowing
// (undefined in C++).
std::int64_t wrapping_add(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

// Bytes a record must leave after its end for scan_fast, which checks positions against the
// record's end only where a length moves them. Of a record that lies about its length, the reads
// end at most 9 bytes past its end: the timestamp delta, the offset delta and the key length (at
// most 3 bytes each) are read before any position is checked; the key length's check then
// leaves the position at most 1 byte past the end (a null there), the value length's likewise,
// and a header count above 0 needs 2 bytes left per header. 16 leaves room; the tests show a
// slack of 8 reading past the buffer.
constexpr std::ptrdiff_t kFastSlack = 16;

// scan_fast's header loop, out of line: inlined, it slowed the records without headers by a
// third.
[[gnu::noinline]] bool scan_fast_headers(const std::byte*& q, const std::byte* record_end,
                                         std::int32_t header_count) {
  using record_varint::decode_short;
  for (std::int32_t h = 0; h < header_count; ++h) {
    std::int32_t name_length = 0, value_length = 0;
    // A read here ends at most 3 bytes past the record's end (a null value moves nothing, and
    // a name past the end is refused before the next read).
    if (!decode_short(q, name_length) || name_length < 0 || name_length > record_end - q) {
      return false;
    }
    q += name_length;
    if (!decode_short(q, value_length) || value_length < -1 || value_length > record_end - q) {
      return false;
    }
    q += std::max(value_length, 0);
  }
  return true;
}

// The validating walk's fast path: the common record, checked with as few instructions as
// possible, on raw pointers and with no error text (the walk is most of the engine's own CPU
// time on an append of small records, docs/benchmarks.md): every varint of at most three bytes,
// and kFastSlack bytes after it. True when record `i` at `p` is such a record and well-formed
// (then `p` moves past it); false for anything else, good or bad, and walk_records<false> then
// judges it and every record after it.
[[gnu::always_inline]] inline bool scan_fast(const std::byte*& p, const std::byte* end,
                                             std::int32_t i, std::int64_t base_timestamp,
                                             std::int64_t& max_timestamp, std::int32_t& null_keys) {
  using record_varint::decode_short;
  if (end - p < kFastSlack) return false;
  const std::byte* q = p;
  std::int32_t length = 0;
  if (!decode_short(q, length)) return false;
  if (length <= 0 || length > end - q - kFastSlack) return false;
  const std::byte* const record_end = q + length;
  q += 1;  // attributes
  std::int64_t timestamp_delta = 0;
  std::int32_t offset_delta = 0, key_length = 0, value_length = 0, header_count = 0;
  if (!decode_short(q, timestamp_delta) || !decode_short(q, offset_delta) || offset_delta != i ||
      !decode_short(q, key_length) || key_length < -1 || key_length > record_end - q) {
    return false;
  }
  q += std::max(key_length, 0);
  if (!decode_short(q, value_length) || value_length < -1 || value_length > record_end - q) {
    return false;
  }
  q += std::max(value_length, 0);
  if (!decode_short(q, header_count) || header_count < 0 || header_count > (record_end - q) / 2) {
    return false;
  }
  if (header_count != 0 && !scan_fast_headers(q, record_end, header_count)) return false;
  if (q != record_end) return false;
  null_keys += key_length < 0;
  max_timestamp = std::max(max_timestamp, wrapping_add(base_timestamp, timestamp_delta));
  p = record_end;
  return true;
}

// Walks `count` uncompressed records in `body`. Every length is checked against the bytes left
// before it is used. With kBuild, on_record(Record&&) gets each record with its key, value and
// headers copied; without, on_record(timestamp_delta, key_null) gets only what validation needs,
// and nothing is built or copied: the append path only checks the framing (docs/benchmarks.md
// has what building cost there).
//
// Offset deltas: a produced batch has 0..count-1 (`sparse_last_delta` < 0). A stored batch that
// compaction rewrote keeps its records' original deltas, so they only increase and stay at or
// below the batch's last offset delta (pass it as `sparse_last_delta`).
//
// `first` and `start`: the walk begins at record `first`, at byte `start` of `body` (validation
// hands on where its fast path stopped).
template <bool kBuild, typename OnRecord>
Status walk_records(ByteView body, std::int32_t count, OnRecord&& on_record,
                    std::int32_t sparse_last_delta = -1, std::int32_t first = 0,
                    std::size_t start = 0) {
  RecordReader batch(body, start);
  std::int32_t previous_delta = -1;
  for (std::int32_t i = first; i < count; ++i) {
    std::int32_t length = 0;
    if (!batch.next(length)) {
      return fail(ErrorCode::kCorruptMessage, "record length: malformed varint at byte {}",
                  batch.pos());
    }
    if (length < 0 || static_cast<std::size_t>(length) > batch.left()) {
      return fail(ErrorCode::kCorruptMessage, "record {} length {} exceeds the {} bytes left", i,
                  length, batch.left());
    }
    if (length == 0) return fail(ErrorCode::kCorruptMessage, "record {} is empty", i);
    const ByteView bytes = body.subspan(batch.pos(), static_cast<std::size_t>(length));
    batch.skip(static_cast<std::size_t>(length));
    RecordReader rec(bytes, 1);  // after the attributes byte
    std::int64_t timestamp_delta = 0;
    if (!rec.next(timestamp_delta)) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad timestamp delta", i);
    }
    std::int32_t offset_delta = 0;
    if (!rec.next(offset_delta)) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad offset delta", i);
    }
    if (sparse_last_delta < 0 && offset_delta != i) {
      return fail(ErrorCode::kInvalidRecord, "record {} has offset delta {}, expected {}", i,
                  offset_delta, i);
    }
    if (sparse_last_delta >= 0 &&
        (offset_delta <= previous_delta || offset_delta > sparse_last_delta)) {
      return fail(ErrorCode::kCorruptMessage,
                  "record {} has offset delta {}, not between {} and the last delta {}", i,
                  offset_delta, previous_delta, sparse_last_delta);
    }
    previous_delta = offset_delta;
    std::int32_t key_length = 0, value_length = 0, header_count = 0;
    std::size_t key_start = 0, value_start = 0;
    if (!rec.next_field(key_length, key_start) || !rec.next_field(value_length, value_start)) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad key or value length", i);
    }
    if (!rec.next(header_count) || header_count < 0) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad header count", i);
    }
    // Each header needs at least two bytes, so a count above that is a lie; check before looping.
    if (static_cast<std::size_t>(header_count) > rec.left() / 2) {
      return fail(ErrorCode::kCorruptMessage, "record {}: header count {} exceeds its bytes", i,
                  header_count);
    }
    [[maybe_unused]] auto field = [&](std::int32_t field_length, std::size_t start) {
      return field_length < 0
                 ? std::optional<Bytes>()
                 : Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(start),
                         bytes.begin() + static_cast<std::ptrdiff_t>(start) + field_length);
    };
    std::conditional_t<kBuild, Record, std::monostate> record;
    for (std::int32_t h = 0; h < header_count; ++h) {
      std::int32_t name_length = 0, header_value_length = 0;
      std::size_t name_start = 0, header_value_start = 0;
      if (!rec.next_field(name_length, name_start) ||
          !rec.next_field(header_value_length, header_value_start)) {
        return fail(ErrorCode::kCorruptMessage, "record {}: bad header length", i);
      }
      if (name_length < 0) return fail(ErrorCode::kCorruptMessage, "record {}: null header key", i);
      if constexpr (kBuild) {
        record.headers.emplace_back(
            std::string(as_chars(bytes.subspan(name_start, static_cast<std::size_t>(name_length)))),
            field(header_value_length, header_value_start));
      }
    }
    if (rec.left() != 0) {
      return fail(ErrorCode::kCorruptMessage, "record {}: {} stray bytes after its headers", i,
                  rec.left());
    }
    if constexpr (kBuild) {
      record.timestamp_ms = timestamp_delta;
      record.offset = Offset(offset_delta);
      record.key = field(key_length, key_start);
      record.value = field(value_length, value_start);
      on_record(std::move(record));
    } else {
      on_record(timestamp_delta, key_length < 0);
    }
  }
  if (batch.left() != 0) {
    return fail(ErrorCode::kCorruptMessage, "{} bytes after the last of {} records", batch.left(),
                count);
  }
  return ok();
}

}  // namespace

Result<BatchHeader> validate_batch(ByteView bytes, const ValidationLimits& limits) {
  WHARF_ASSIGN_OR_RETURN(ValidatedBatch v, validate_batch_records(bytes, limits));
  return v.header;
}

Result<ValidatedBatch> validate_batch_records(ByteView bytes, const ValidationLimits& limits) {
  if (bytes.size() > limits.batch_bytes_max) {
    return fail(ErrorCode::kMessageTooLarge,
                "record batch of {} bytes exceeds max.message.bytes {}", bytes.size(),
                limits.batch_bytes_max);
  }
  WHARF_ASSIGN_OR_RETURN(BatchHeader h, check_batch_crc(bytes));
  if (static_cast<std::uint8_t>(h.compression()) > static_cast<std::uint8_t>(Compression::kZstd)) {
    return fail(ErrorCode::kUnsupported, "unknown compression codec {}",
                static_cast<int>(h.compression()));
  }
  if (h.record_count <= 0) {
    return fail(ErrorCode::kInvalidRecord, "record batch with record count {}", h.record_count);
  }
  if (h.last_offset_delta != h.record_count - 1) {
    return fail(ErrorCode::kInvalidRecord, "last offset delta {} does not match record count {}",
                h.last_offset_delta, h.record_count);
  }
  if (h.has_producer_id() && h.base_sequence < 0) {
    return fail(ErrorCode::kInvalidRecord, "idempotent batch with negative base sequence {}",
                h.base_sequence);
  }
  ValidatedBatch v{h, std::numeric_limits<std::int64_t>::min()};
  // The fast walk takes the records it can; from the first it does not, the full walk decides
  // (and says what is wrong).
  auto walk = [&](ByteView records) -> Status {
    const std::byte* p = records.data();
    const std::byte* const end = p + records.size();
    std::int32_t i = 0;
    while (i < h.record_count &&
           scan_fast(p, end, i, h.base_timestamp, v.records_max_timestamp, v.null_key_records)) {
      ++i;
    }
    if (i == h.record_count && p == end) return ok();
    return walk_records<false>(
        records, h.record_count,
        [&](std::int64_t timestamp_delta, bool key_null) {
          v.null_key_records += key_null;
          v.records_max_timestamp =
              std::max(v.records_max_timestamp, wrapping_add(h.base_timestamp, timestamp_delta));
        },
        /*sparse_last_delta=*/-1, i, static_cast<std::size_t>(p - records.data()));
  };
  if (h.compression() == Compression::kNone) {
    WHARF_RETURN_IF_ERROR(walk(bytes.subspan(bl::kHeaderBytes)));
  } else {
    // As Kafka: a compressed batch is decompressed and its records checked like any others, so
    // a record count that lies (and would move the log end by it) is refused.
    auto records =
        decompress(h.compression(), bytes.subspan(bl::kHeaderBytes), limits.decompressed_bytes_max);
    if (!records) {
      const auto code = records.error().code() == ErrorCode::kMessageTooLarge
                            ? ErrorCode::kInvalidRecord
                            : records.error().code();
      return fail(code, "compressed records: {}", records.error().message());
    }
    auto walked = walk(*records);
    if (!walked)
      return fail(walked.error().code(), "compressed records: {}", walked.error().message());
  }
  return v;
}

void patch_base_offset(MutableByteView batch, Offset base_offset) {
  WHARF_CHECK(batch.size() >= bl::kHeaderBytes);
  store_be<std::int64_t>(batch, bl::kBaseOffset, base_offset.value());
}

void patch_partition_leader_epoch(MutableByteView batch, std::int32_t epoch) {
  WHARF_CHECK(batch.size() >= bl::kHeaderBytes);
  store_be<std::int32_t>(batch, bl::kPartitionLeaderEpoch, epoch);
}

void set_max_timestamp(MutableByteView batch, std::int64_t max_timestamp) {
  WHARF_CHECK(batch.size() >= bl::kHeaderBytes);
  if (load_be<std::int64_t>(batch, bl::kMaxTimestamp) == max_timestamp) return;
  store_be<std::int64_t>(batch, bl::kMaxTimestamp, max_timestamp);
  store_be<std::uint32_t>(batch, bl::kCrc, compute_crc(batch));
}

void apply_log_append_time(MutableByteView batch, std::int64_t timestamp_ms) {
  WHARF_CHECK(batch.size() >= bl::kHeaderBytes);
  auto attributes = load_be<std::int16_t>(batch, bl::kAttributes);
  store_be<std::int16_t>(batch, bl::kAttributes,
                         static_cast<std::int16_t>(attributes | batch_attributes::kLogAppendTime));
  store_be<std::int64_t>(batch, bl::kMaxTimestamp, timestamp_ms);
  store_be<std::uint32_t>(batch, bl::kCrc, compute_crc(batch));
}

Bytes build_batch(const std::vector<Record>& records, const BatchOptions& options) {
  WHARF_CHECK(!records.empty());
  const std::int64_t base_ts = records.front().timestamp_ms;
  std::int64_t max_ts = base_ts;
  Bytes body;
  auto put_field = [](Bytes& out, const std::optional<Bytes>& v) {
    if (!v) {
      varint::append_varint(out, -1);
      return;
    }
    varint::append_varint(out, static_cast<std::int32_t>(v->size()));
    append(out, *v);
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    max_ts = std::max(max_ts, r.timestamp_ms);
    Bytes rec;
    rec.push_back(std::byte{0});  // record attributes: unused in v2
    varint::append_varlong(rec, r.timestamp_ms - base_ts);
    varint::append_varint(rec, static_cast<std::int32_t>(i));
    put_field(rec, r.key);
    put_field(rec, r.value);
    varint::append_varint(rec, static_cast<std::int32_t>(r.headers.size()));
    for (const auto& [name, value] : r.headers) {
      put_field(rec, to_bytes(name));
      put_field(rec, value);
    }
    varint::append_varint(body, static_cast<std::int32_t>(rec.size()));
    append(body, rec);
  }
  Bytes out;
  out.reserve(bl::kHeaderBytes + body.size());
  out.resize(bl::kHeaderBytes);
  store_be<std::int64_t>(out, bl::kBaseOffset, 0);
  store_be<std::int32_t>(
      out, bl::kLength,
      static_cast<std::int32_t>(bl::kHeaderBytes - bl::kPartitionLeaderEpoch + body.size()));
  store_be<std::int32_t>(out, bl::kPartitionLeaderEpoch, options.partition_leader_epoch);
  store_be<std::int8_t>(out, bl::kMagic, 2);
  std::int16_t attributes = options.transactional ? batch_attributes::kTransactional : 0;
  store_be<std::int16_t>(out, bl::kAttributes, attributes);
  store_be<std::int32_t>(out, bl::kLastOffsetDelta, static_cast<std::int32_t>(records.size() - 1));
  store_be<std::int64_t>(out, bl::kBaseTimestamp, base_ts);
  store_be<std::int64_t>(out, bl::kMaxTimestamp, max_ts);
  store_be<std::int64_t>(out, bl::kProducerId, options.producer_id.value());
  store_be<std::int16_t>(out, bl::kProducerEpoch, options.producer_epoch.value());
  store_be<std::int32_t>(out, bl::kBaseSequence, options.base_sequence);
  store_be<std::int32_t>(out, bl::kRecordCount, static_cast<std::int32_t>(records.size()));
  append(out, body);
  store_be<std::uint32_t>(out, bl::kCrc, compute_crc(out));
  return out;
}

Result<std::vector<Record>> read_records(ByteView batch) {
  WHARF_ASSIGN_OR_RETURN(BatchHeader h, parse_header(batch));
  if (h.total_bytes() != batch.size()) {
    return fail(ErrorCode::kCorruptMessage, "batch length {} does not match {} bytes",
                h.total_bytes(), batch.size());
  }
  if (h.compression() != Compression::kNone) {
    return fail(ErrorCode::kUnsupported, "reading compressed records needs the codec layer");
  }
  if (h.record_count < 0 ||
      static_cast<std::size_t>(h.record_count) > batch.size() - bl::kHeaderBytes) {
    return fail(ErrorCode::kCorruptMessage, "record count {} exceeds the batch's bytes",
                h.record_count);
  }
  std::vector<Record> out;
  out.reserve(static_cast<std::size_t>(h.record_count));
  WHARF_RETURN_IF_ERROR(walk_records<true>(
      batch.subspan(bl::kHeaderBytes), h.record_count,
      [&](Record&& r) {
        r.timestamp_ms = wrapping_add(h.base_timestamp, r.timestamp_ms);
        r.offset = Offset(wrapping_add(h.base_offset.value(), r.offset.value()));
        out.push_back(std::move(r));
      },
      std::max(h.last_offset_delta, 0)));
  return out;
}

Status for_each_record_view(ByteView records, std::int32_t count, std::int32_t last_offset_delta,
                            const std::function<void(const RecordView&)>& fn) {
  RecordReader batch(records);
  std::int32_t previous_delta = -1;
  for (std::int32_t i = 0; i < count; ++i) {
    const std::size_t start = batch.pos();
    std::int32_t length = 0;
    if (!batch.next(length) || length < 1 || static_cast<std::size_t>(length) > batch.left()) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad length at byte {}", i, start);
    }
    const std::size_t record_start = batch.pos();
    batch.skip(static_cast<std::size_t>(length));
    RecordReader rec(records.subspan(record_start, static_cast<std::size_t>(length)), 1);
    RecordView view;
    view.bytes = records.subspan(start, batch.pos() - start);
    if (!rec.next(view.timestamp_delta)) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad timestamp delta", i);
    }
    if (!rec.next(view.offset_delta) || view.offset_delta <= previous_delta ||
        view.offset_delta > last_offset_delta) {
      return fail(ErrorCode::kCorruptMessage, "record {}: offset delta out of order", i);
    }
    previous_delta = view.offset_delta;
    std::int32_t key_length = 0;
    std::size_t key_start = 0;
    if (!rec.next_field(key_length, key_start)) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad key length", i);
    }
    if (key_length >= 0) {
      view.key = rec.bytes().subspan(key_start, static_cast<std::size_t>(key_length));
    }
    std::int32_t value_length = 0;
    if (!rec.next(value_length) || value_length < -1) {
      return fail(ErrorCode::kCorruptMessage, "record {}: bad value length", i);
    }
    view.null_value = value_length == -1;
    fn(view);
  }
  if (batch.left() != 0) {
    return fail(ErrorCode::kCorruptMessage, "{} bytes after the last of {} records", batch.left(),
                count);
  }
  return ok();
}

Result<std::optional<TimestampedOffset>> find_record_by_timestamp(ByteView batch,
                                                                  std::int64_t timestamp_ms,
                                                                  Offset offset_min) {
  WHARF_ASSIGN_OR_RETURN(BatchHeader h, parse_header(batch));
  if (h.total_bytes() != batch.size()) {
    return fail(ErrorCode::kCorruptMessage, "batch length {} does not match {} bytes",
                h.total_bytes(), batch.size());
  }
  const ByteView body = batch.subspan(bl::kHeaderBytes);
  Bytes decompressed;
  if (h.compression() != Compression::kNone) {
    WHARF_ASSIGN_OR_RETURN(decompressed,
                           decompress(h.compression(), body, kDecompressedBatchBytesMax));
  }
  const bool log_append_time = h.attributes & batch_attributes::kLogAppendTime;
  std::optional<TimestampedOffset> found;
  WHARF_RETURN_IF_ERROR(for_each_record_view(
      h.compression() == Compression::kNone ? body : ByteView(decompressed), h.record_count,
      h.last_offset_delta, [&](const RecordView& r) {
        if (found) return;
        const std::int64_t timestamp =
            log_append_time ? h.max_timestamp : wrapping_add(h.base_timestamp, r.timestamp_delta);
        const Offset offset(wrapping_add(h.base_offset.value(), r.offset_delta));
        if (timestamp >= timestamp_ms && offset >= offset_min) found = {offset, timestamp};
      }));
  return found;
}

Bytes rebuild_batch(ByteView batch, ByteView records, std::int32_t record_count) {
  WHARF_CHECK(batch.size() >= bl::kHeaderBytes);
  Bytes out(batch.begin(), batch.begin() + bl::kHeaderBytes);
  append(out, records);
  store_be<std::int32_t>(out, bl::kLength,
                         static_cast<std::int32_t>(out.size() - bl::kPartitionLeaderEpoch));
  const auto attributes = load_be<std::int16_t>(out, bl::kAttributes);
  store_be<std::int16_t>(
      out, bl::kAttributes,
      static_cast<std::int16_t>(attributes & ~batch_attributes::kCompressionMask));
  store_be<std::int32_t>(out, bl::kRecordCount, record_count);
  store_be<std::uint32_t>(out, bl::kCrc, compute_crc(out));
  return out;
}

}  // namespace wharf::storage
