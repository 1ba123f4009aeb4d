// Committed offsets as records of the internal topic __consumer_offsets, in Apache Kafka's own
// key/value layout (OffsetCommitKey v1, OffsetCommitValue v3), so tools that read that topic
// keep working. docs/formats/consumer-offsets.md has the bytes. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace wharf::kafka::group {

inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

struct CommittedOffset {
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  std::int64_t commit_timestamp_ms = -1;
  bool operator==(const CommittedOffset&) const = default;
};

struct OffsetRecord {
  std::string group;
  std::string topic;
  std::int32_t partition = 0;
  std::optional<CommittedOffset> value;  // nullopt: a tombstone (the offset was deleted)
};

Bytes encode_offset_key(const OffsetRecord& r);
std::optional<Bytes> encode_offset_value(const OffsetRecord& r);
// Decodes one record of __consumer_offsets. Returns nullopt for record kinds it does not use
// (group metadata, key version 2); errors for malformed bytes.
[[nodiscard]] Result<std::optional<OffsetRecord>> decode_offset_record(
    ByteView key, const std::optional<ByteView>& value);

// Group metadata (GroupMetadataKey v2, GroupMetadataValue v3): who is in a group, its protocol
// and each member's assignment, written on every completed rebalance and when a group empties,
// so that lag tools reading __consumer_offsets see members, owners and client ids.
struct GroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t rebalance_timeout_ms = 0;
  std::int32_t session_timeout_ms = 0;
  Bytes subscription;  // the member's metadata for the chosen protocol
  Bytes assignment;
  bool operator==(const GroupMember&) const = default;
};
struct GroupMetadata {
  std::string protocol_type;
  std::int32_t generation = 0;
  std::optional<std::string> protocol;  // none while Empty
  std::optional<std::string> leader;
  std::int64_t current_state_timestamp_ms = -1;
  std::vector<GroupMember> members;
  bool operator==(const GroupMetadata&) const = default;
};
struct GroupMetadataRecord {
  std::string group;
  std::optional<GroupMetadata> value;  // nullopt: a tombstone (the group was deleted)
};

Bytes encode_group_metadata_key(const std::string& group);
std::optional<Bytes> encode_group_metadata_value(const GroupMetadataRecord& r);
// Decodes a group metadata record (key version 2, value versions 0-3). nullopt for offset
// records (key versions 0 and 1); errors for malformed bytes.
[[nodiscard]] Result<std::optional<GroupMetadataRecord>> decode_group_metadata_record(
    ByteView key, const std::optional<ByteView>& value);

// Kafka's placement: abs(String.hashCode(group)) % partitions. (Computed over UTF-8 bytes,
// which equals Java's UTF-16 hash for ASCII group ids.)
std::int32_t offsets_partition_for(std::string_view group, std::int32_t partitions);

}  // namespace wharf::kafka::group
