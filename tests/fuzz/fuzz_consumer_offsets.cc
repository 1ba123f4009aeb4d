// libFuzzer target: arbitrary bytes as one record of __consumer_offsets, through the decoders the
// broker runs on every record it replays at start-up and copies through compaction:
// kafka::group::decode_offset_record and decode_group_metadata_record. Any crash, sanitizer
// report or huge allocation is a bug: a record's bytes must only ever produce an error or a
// value. What decodes must also survive a round trip (encode, decode again, equal).
//
// Input layout: byte 0 = key length k, then k key bytes, then one byte (odd: a value follows,
// even: a tombstone), then the value bytes.
//
// Build: see tests/fuzz/CMakeLists.txt. Seeds: tests/fuzz/corpus/consumer_offsets/.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "base/check.h"
#include "kafka/group/offsets_codec.h"

namespace g = wharf::kafka::group;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t k = data[0];
  if (1 + k + 1 > size) return 0;
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  const wharf::ByteView key(bytes + 1, k);
  std::optional<wharf::ByteView> value;
  if (data[1 + k] & 1) value = wharf::ByteView(bytes + 2 + k, size - 2 - k);

  if (auto r = g::decode_offset_record(key, value); r && *r) {
    const g::OffsetRecord& rec = **r;
    const wharf::Bytes key2 = g::encode_offset_key(rec);
    const auto value2 = g::encode_offset_value(rec);
    std::optional<wharf::ByteView> v2;
    if (value2) v2 = wharf::ByteView(*value2);
    auto again = g::decode_offset_record(key2, v2);
    WHARF_CHECK(again && *again);
    WHARF_CHECK((*again)->group == rec.group && (*again)->topic == rec.topic &&
                (*again)->partition == rec.partition && (*again)->value == rec.value);
  }
  if (auto r = g::decode_group_metadata_record(key, value); r && *r) {
    const g::GroupMetadataRecord& rec = **r;
    const wharf::Bytes key2 = g::encode_group_metadata_key(rec.group);
    const auto value2 = g::encode_group_metadata_value(rec);
    std::optional<wharf::ByteView> v2;
    if (value2) v2 = wharf::ByteView(*value2);
    auto again = g::decode_group_metadata_record(key2, v2);
    WHARF_CHECK(again && *again);
    WHARF_CHECK((*again)->group == rec.group && (*again)->value == rec.value);
  }
  return 0;
}
