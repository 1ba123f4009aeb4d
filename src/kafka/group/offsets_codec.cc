#include "kafka/group/offsets_codec.h"

namespace wharf::kafka::group {
namespace {

void put_string(Bytes& out, std::string_view s) {
  append_be<std::int16_t>(out, static_cast<std::int16_t>(s.size()));
  append(out, as_bytes(s));
}

void put_nullable_string(Bytes& out, const std::optional<std::string>& s) {
  if (!s) {
    append_be<std::int16_t>(out, -1);
    return;
  }
  put_string(out, *s);
}

void put_bytes(Bytes& out, const Bytes& b) {
  append_be<std::int32_t>(out, static_cast<std::int32_t>(b.size()));
  append(out, ByteView(b));
}

struct Cursor {
  ByteView in;
  std::size_t pos = 0;
  template <typename T>
  Result<T> read() {
    if (in.size() - pos < sizeof(T))
      return fail(ErrorCode::kCorruption, "offset record truncated at byte {}", pos);
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
  Result<std::optional<std::string>> read_nullable_string() {
    if (in.size() - pos >= 2 && load_be<std::int16_t>(in, pos) == -1) {
      pos += 2;
      return std::optional<std::string>();
    }
    WHARF_ASSIGN_OR_RETURN(std::string s, read_string());
    return std::optional<std::string>(std::move(s));
  }
  Result<Bytes> read_bytes() {
    WHARF_ASSIGN_OR_RETURN(std::int32_t len, read<std::int32_t>());
    if (len < 0 || static_cast<std::size_t>(len) > in.size() - pos) {
      return fail(ErrorCode::kCorruption, "offset record bytes length {} at byte {}", len, pos);
    }
    Bytes b(in.begin() + static_cast<std::ptrdiff_t>(pos),
            in.begin() + static_cast<std::ptrdiff_t>(pos) + len);
    pos += static_cast<std::size_t>(len);
    return b;
  }
};

// Each member takes at least this many bytes of a value (the fixed fields with empty strings),
// so a member count is checked against what is left before anything is reserved.
constexpr std::size_t kMemberBytesMin = 2 + 2 + 2 + 4 + 4 + 4;

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

Result<std::optional<OffsetRecord>> decode_offset_record(ByteView key,
                                                         const std::optional<ByteView>& value) {
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

Bytes encode_group_metadata_key(const std::string& group) {
  Bytes out;
  append_be<std::int16_t>(out, 2);  // GroupMetadataKey, version 2
  put_string(out, group);
  return out;
}

std::optional<Bytes> encode_group_metadata_value(const GroupMetadataRecord& r) {
  if (!r.value) return std::nullopt;
  const GroupMetadata& g = *r.value;
  Bytes out;
  append_be<std::int16_t>(out, 3);  // GroupMetadataValue, version 3
  put_string(out, g.protocol_type);
  append_be<std::int32_t>(out, g.generation);
  put_nullable_string(out, g.protocol);
  put_nullable_string(out, g.leader);
  append_be<std::int64_t>(out, g.current_state_timestamp_ms);
  append_be<std::int32_t>(out, static_cast<std::int32_t>(g.members.size()));
  for (const auto& m : g.members) {
    put_string(out, m.member_id);
    put_nullable_string(out, m.group_instance_id);
    put_string(out, m.client_id);
    put_string(out, m.client_host);
    append_be<std::int32_t>(out, m.rebalance_timeout_ms);
    append_be<std::int32_t>(out, m.session_timeout_ms);
    put_bytes(out, m.subscription);
    put_bytes(out, m.assignment);
  }
  return out;
}

Result<std::optional<GroupMetadataRecord>> decode_group_metadata_record(
    ByteView key, const std::optional<ByteView>& value) {
  Cursor k{key};
  WHARF_ASSIGN_OR_RETURN(std::int16_t key_version, k.read<std::int16_t>());
  if (key_version != 2) return std::optional<GroupMetadataRecord>();
  GroupMetadataRecord r;
  WHARF_ASSIGN_OR_RETURN(r.group, k.read_string());
  if (!value) return std::optional<GroupMetadataRecord>(std::move(r));
  Cursor v{*value};
  WHARF_ASSIGN_OR_RETURN(std::int16_t vv, v.read<std::int16_t>());
  if (vv < 0 || vv > 3) return fail(ErrorCode::kUnsupported, "group metadata value version {}", vv);
  GroupMetadata g;
  WHARF_ASSIGN_OR_RETURN(g.protocol_type, v.read_string());
  WHARF_ASSIGN_OR_RETURN(g.generation, v.read<std::int32_t>());
  WHARF_ASSIGN_OR_RETURN(g.protocol, v.read_nullable_string());
  WHARF_ASSIGN_OR_RETURN(g.leader, v.read_nullable_string());
  if (vv >= 2) {
    WHARF_ASSIGN_OR_RETURN(g.current_state_timestamp_ms, v.read<std::int64_t>());
  }
  WHARF_ASSIGN_OR_RETURN(std::int32_t count, v.read<std::int32_t>());
  if (count < 0 || static_cast<std::size_t>(count) > (v.in.size() - v.pos) / kMemberBytesMin)
    return fail(ErrorCode::kCorruption, "group metadata member count {} for {} bytes", count,
                v.in.size() - v.pos);
  g.members.reserve(static_cast<std::size_t>(count));
  for (std::int32_t i = 0; i < count; ++i) {
    GroupMember m;
    WHARF_ASSIGN_OR_RETURN(m.member_id, v.read_string());
    if (vv >= 3) {
      WHARF_ASSIGN_OR_RETURN(m.group_instance_id, v.read_nullable_string());
    }
    WHARF_ASSIGN_OR_RETURN(m.client_id, v.read_string());
    WHARF_ASSIGN_OR_RETURN(m.client_host, v.read_string());
    if (vv >= 1) {
      WHARF_ASSIGN_OR_RETURN(m.rebalance_timeout_ms, v.read<std::int32_t>());
    }
    WHARF_ASSIGN_OR_RETURN(m.session_timeout_ms, v.read<std::int32_t>());
    WHARF_ASSIGN_OR_RETURN(m.subscription, v.read_bytes());
    WHARF_ASSIGN_OR_RETURN(m.assignment, v.read_bytes());
    g.members.push_back(std::move(m));
  }
  r.value = std::move(g);
  return std::optional<GroupMetadataRecord>(std::move(r));
}

std::int32_t offsets_partition_for(std::string_view group, std::int32_t partitions) {
  std::int32_t h = 0;
  for (unsigned char c : group)
    h = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(h) + c);
  return (h & 0x7fffffff) % partitions;
}

}  // namespace wharf::kafka::group
