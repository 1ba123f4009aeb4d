#include "kafka/group/offsets_codec.h"

namespace wharf::kafka::group {
namespace {

void put_string(Bytes& out, std::string_view s) {
  append_be<std::int16_t>(out, static_cast<std::int16_t>(s.size()));
  append(out, as_bytes(s));
}

struct Cursor {
  ByteView in;
  std::size_t pos = 0;
  template <typename T>
  Result<T> read() {
    if (in.size() - pos < sizeof(T)) return fail(ErrorCode::kCorruption, "offset record truncated at byte {}", pos);
    T v = load_be<T>(in, pos);
    pos += sizeof(T);
    return v;
  }
  Result<std::string> read_string() {
    WHARF_ASSIGN_OR_RETURN(std::int16_t len, read<std::int16_t>());
    if (len < 0 || static_cast<std::size_t>(len) > in.size() - pos) {
      return fail(ErrorCode::kCorruption, "offset record string length {} at byte {}", len, pos);
    }
    std::string s(as_chars(in.subspan(pos, static_cast<std::size_t>(len))));
    pos += static_cast<std::size_t>(len);
    return s;
  }
};

}  // namespace

Bytes encode_offset_key(const OffsetRecord& r) {
  Bytes out;
  append_be<std::int16_t>(out, 1);  // OffsetCommitKey, version 1
  put_string(out, r.group);
  put_string(out, r.topic);
  append_be<std::int32_t>(out, r.partition);
  return out;
}

std::optional<Bytes> encode_offset_value(const OffsetRecord& r) {
  if (!r.value) return std::nullopt;
  Bytes out;
  append_be<std::int16_t>(out, 3);  // OffsetCommitValue, version 3
  append_be<std::int64_t>(out, r.value->offset);
  append_be<std::int32_t>(out, r.value->leader_epoch);
  put_string(out, r.value->metadata);
  append_be<std::int64_t>(out, r.value->commit_timestamp_ms);
  return out;
}

Result<std::optional<OffsetRecord>> decode_offset_record(ByteView key, const std::optional<ByteView>& value) {
  Cursor k{key};
  WHARF_ASSIGN_OR_RETURN(std::int16_t key_version, k.read<std::int16_t>());
  if (key_version > 1) return std::optional<OffsetRecord>();  // group metadata: not used here
  OffsetRecord r;
  WHARF_ASSIGN_OR_RETURN(r.group, k.read_string());
  WHARF_ASSIGN_OR_RETURN(r.topic, k.read_string());
  WHARF_ASSIGN_OR_RETURN(r.partition, k.read<std::int32_t>());
  if (!value) return std::optional<OffsetRecord>(std::move(r));
  Cursor v{*value};
  WHARF_ASSIGN_OR_RETURN(std::int16_t vv, v.read<std::int16_t>());
  CommittedOffset c;
  WHARF_ASSIGN_OR_RETURN(c.offset, v.read<std::int64_t>());
  if (vv >= 3) {
    WHARF_ASSIGN_OR_RETURN(c.leader_epoch, v.read<std::int32_t>());
  }
  WHARF_ASSIGN_OR_RETURN(c.metadata, v.read_string());
  WHARF_ASSIGN_OR_RETURN(c.commit_timestamp_ms, v.read<std::int64_t>());
  if (vv == 1) {
    WHARF_RETURN_IF_ERROR(v.read<std::int64_t>());  // expire timestamp, unused
  }
  r.value = std::move(c);
  return std::optional<OffsetRecord>(std::move(r));
}

std::int32_t offsets_partition_for(std::string_view group, std::int32_t partitions) {
  std::int32_t h = 0;
  for (unsigned char c : group) h = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(h) + c);
  return (h & 0x7fffffff) % partitions;
}

}  // namespace wharf::kafka::group
