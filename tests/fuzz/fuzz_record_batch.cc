// libFuzzer target: arbitrary bytes as one Kafka v2 record batch, through the functions that
// read client-supplied batches: storage::validate_batch (every Produce) and
// storage::read_records (ListOffsets by timestamp, tools), and the log cleaner's
// storage::for_each_record_view and storage::rebuild_batch (compaction of stored batches), and
// what a topic's compression.type does to it: storage::recompress_batch into every other codec
// must give a batch that validates with the same records; ListOffsets' search inside a stored
// batch, storage::find_record_by_timestamp; and storage::for_each_batch, which walks a byte
// range of batches (a fetch, a segment read) by their length fields. Any crash, sanitizer report
// or huge allocation is a bug: a batch's bytes must only ever produce an error. The input's bytes
// also go through storage::compress with each codec and must come back from storage::decompress
// unchanged.
//
// Random bytes almost never carry a matching length field and CRC-32C, which would keep the
// fuzzer in the first few checks. So each input runs twice: as given, and with its length field
// and CRC patched to match, which lets the fuzzer reach the record framing. The two readers
// must also agree: an uncompressed batch that validates must read back with exactly
// record_count records at offsets base_offset.. in order.
//
// Build: see tests/fuzz/CMakeLists.txt. Seeds: tests/fuzz/corpus/record_batch/
// (write_record_batch_seeds).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "base/check.h"
#include "storage/compression.h"
#include "storage/record_batch.h"

namespace {

namespace bl = wharf::storage::batch_layout;

// A 64 KiB limit keeps max_len-sized inputs interesting for the size check too.
constexpr wharf::storage::ValidationLimits kLimits{.batch_bytes_max = 64 * 1024};

// The cleaner's walk over any records section must only ever return an error; on a batch that
// validated it must see every record, and keeping every other one must give a batch that reads
// back with exactly those offsets.
void check_compaction(wharf::ByteView bytes, const wharf::storage::BatchHeader* validated) {
  if (bytes.size() < bl::kHeaderBytes) return;
  const auto count = wharf::load_be<std::int32_t>(bytes, bl::kRecordCount);
  const auto last_delta = wharf::load_be<std::int32_t>(bytes, bl::kLastOffsetDelta);
  std::vector<wharf::storage::RecordView> views;
  auto walked = wharf::storage::for_each_record_view(
      bytes.subspan(bl::kHeaderBytes), count, last_delta,
      [&](const wharf::storage::RecordView& r) { views.push_back(r); });
  if (validated == nullptr || validated->compression() != wharf::storage::Compression::kNone) {
    return;
  }
  WHARF_CHECK(walked.has_value(), "a validated batch does not walk: {}",
              walked.error().to_string());
  WHARF_CHECK(views.size() == static_cast<std::size_t>(count));
  wharf::Bytes kept;
  std::vector<std::int64_t> kept_offsets;
  for (std::size_t i = 0; i < views.size(); i += 2) {
    wharf::append(kept, views[i].bytes);
    kept_offsets.push_back(static_cast<std::int64_t>(
        static_cast<std::uint64_t>(validated->base_offset.value()) +
        static_cast<std::uint64_t>(views[i].offset_delta)));  // wraps as Java longs do
  }
  const wharf::Bytes rebuilt =
      wharf::storage::rebuild_batch(bytes, kept, static_cast<std::int32_t>(kept_offsets.size()));
  WHARF_CHECK(wharf::storage::check_batch_crc(rebuilt).has_value());
  auto reread = wharf::storage::read_records(rebuilt);
  WHARF_CHECK(reread.has_value(), "a rebuilt batch does not read: {}", reread.error().to_string());
  WHARF_CHECK(reread->size() == kept_offsets.size());
  for (std::size_t i = 0; i < kept_offsets.size(); ++i) {
    WHARF_CHECK((*reread)[i].offset.value() == kept_offsets[i]);
  }
}

constexpr wharf::storage::Compression kCodecs[] = {
    wharf::storage::Compression::kNone, wharf::storage::Compression::kGzip,
    wharf::storage::Compression::kSnappy, wharf::storage::Compression::kLz4,
    wharf::storage::Compression::kZstd};

// The records section of a batch that validated, decompressed.
wharf::Bytes records_of(wharf::ByteView batch, wharf::storage::Compression codec) {
  const auto body = batch.subspan(bl::kHeaderBytes);
  if (codec == wharf::storage::Compression::kNone) return wharf::Bytes(body.begin(), body.end());
  auto out = wharf::storage::decompress(codec, body, wharf::storage::kDecompressedBatchBytesMax);
  WHARF_CHECK(out.has_value(), "a validated batch does not decompress: {}",
              out.error().to_string());
  return *out;
}

// A batch that validated, stored under every other codec: same header fields but the codec bits,
// length and CRC; the same records; or, only when it grows past the limit, kMessageTooLarge.
void check_recompression(wharf::ByteView bytes, const wharf::storage::BatchHeader& h) {
  const wharf::Bytes records = records_of(bytes, h.compression());
  for (auto codec : kCodecs) {
    const wharf::storage::Recompression to{codec, std::nullopt};
    if (!wharf::storage::needs_recompression(h, to)) continue;
    auto out = wharf::storage::recompress_batch(bytes, to, kLimits.batch_bytes_max);
    if (!out) {
      WHARF_CHECK(out.error().code() == wharf::ErrorCode::kMessageTooLarge,
                  "recompressing a validated batch failed: {}", out.error().to_string());
      continue;
    }
    auto again = wharf::storage::validate_batch(*out, kLimits);
    WHARF_CHECK(again.has_value(), "a recompressed batch does not validate: {}",
                again.error().to_string());
    WHARF_CHECK(again->compression() == codec && again->record_count == h.record_count &&
                again->base_sequence == h.base_sequence && again->producer_id == h.producer_id &&
                again->max_timestamp == h.max_timestamp);
    WHARF_CHECK(records_of(*out, codec) == records);
  }
}

// Any bytes, compressed with each codec (and a level taken from the bytes), decompress to
// themselves.
void check_codecs(wharf::ByteView bytes) {
  const int level = bytes.empty() ? 1 : 1 + static_cast<int>(bytes[0]) % 9;
  for (auto codec : kCodecs) {
    if (codec == wharf::storage::Compression::kNone) continue;
    auto packed = wharf::storage::compress(codec, bytes, level, 2 * bytes.size() + 1024);
    WHARF_CHECK(packed.has_value(), "compress failed: {}", packed.error().to_string());
    auto unpacked =
        wharf::storage::decompress(codec, *packed, wharf::storage::kDecompressedBatchBytesMax);
    WHARF_CHECK(unpacked.has_value(), "decompress of compress failed: {}",
                unpacked.error().to_string());
    WHARF_CHECK(std::equal(unpacked->begin(), unpacked->end(), bytes.begin(), bytes.end()));
  }
}

// The bytes as a range of batches: the walk visits adjacent, in-bounds batches from the start,
// each at least a header long, and stops at or before the end.
void check_framing(wharf::ByteView bytes) {
  std::size_t expected = 0;
  auto walked = wharf::storage::for_each_batch(bytes, [&](wharf::ByteView batch) {
    WHARF_CHECK(batch.data() == bytes.data() + expected && batch.size() >= bl::kHeaderBytes &&
                expected + batch.size() <= bytes.size());
    WHARF_CHECK(batch.size() ==
                bl::kLogOverheadBytes +
                    static_cast<std::size_t>(wharf::load_be<std::int32_t>(batch, bl::kLength)));
    expected += batch.size();
  });
  if (walked) WHARF_CHECK(*walked == expected && *walked <= bytes.size());
}

// ListOffsets' search must only ever return an error; on a batch that validated, every record
// qualifies for the smallest time, so the answer is the first record.
void check_time_search(wharf::ByteView bytes, const wharf::storage::BatchHeader* validated) {
  const std::int64_t timestamp =
      bytes.size() >= bl::kHeaderBytes ? wharf::load_be<std::int64_t>(bytes, bl::kMaxTimestamp) : 0;
  auto some = wharf::storage::find_record_by_timestamp(bytes, timestamp, wharf::Offset(0));
  (void)some;  // any answer or error: only crashes and sanitizer reports are bugs here
  if (validated == nullptr) return;
  auto first = wharf::storage::find_record_by_timestamp(bytes, INT64_MIN, validated->base_offset);
  WHARF_CHECK(first.has_value(), "a validated batch does not search: {}",
              first.error().to_string());
  WHARF_CHECK(first->has_value() && (*first)->offset == validated->base_offset);
}

void check_batch(wharf::ByteView bytes) {
  check_framing(bytes);
  auto validated = wharf::storage::validate_batch(bytes, kLimits);
  check_time_search(bytes, validated ? &*validated : nullptr);
  auto records = wharf::storage::read_records(bytes);
  check_compaction(bytes, validated ? &*validated : nullptr);
  if (!validated) return;
  check_recompression(bytes, *validated);
  WHARF_CHECK(validated->total_bytes() == bytes.size(),
              "validated a batch of {} bytes that says {}", bytes.size(), validated->total_bytes());
  WHARF_CHECK(validated->record_count > 0 &&
              validated->last_offset_delta == validated->record_count - 1);
  if (validated->compression() != wharf::storage::Compression::kNone) return;
  WHARF_CHECK(records.has_value(), "a validated batch does not read: {}",
              records.error().to_string());
  WHARF_CHECK(records->size() == static_cast<std::size_t>(validated->record_count),
              "{} records read, the batch says {}", records->size(), validated->record_count);
  // base_offset is any int64 here; offsets wrap as Kafka's Java longs do.
  const auto base = static_cast<std::uint64_t>(validated->base_offset.value());
  for (std::size_t i = 0; i < records->size(); ++i) {
    WHARF_CHECK((*records)[i].offset.value() == static_cast<std::int64_t>(base + i),
                "record {} has offset {}", i, (*records)[i].offset.value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wharf::ByteView bytes(reinterpret_cast<const std::byte*>(data), size);
  check_codecs(bytes);
  check_batch(bytes);
  if (size < bl::kHeaderBytes || size - bl::kLogOverheadBytes > static_cast<std::size_t>(INT32_MAX))
    return 0;
  wharf::Bytes patched(bytes.begin(), bytes.end());
  wharf::store_be<std::int32_t>(patched, bl::kLength,
                                static_cast<std::int32_t>(size - bl::kLogOverheadBytes));
  wharf::store_be<std::uint32_t>(patched, bl::kCrc, wharf::storage::compute_crc(patched));
  check_batch(patched);
  return 0;
}
