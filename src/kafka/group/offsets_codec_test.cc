#include "kafka/group/offsets_codec.h"

#include <gtest/gtest.h>

namespace wharf::kafka::group {
namespace {

TEST(OffsetsCodec, KeyAndValueUseKafkasLayoutAndRoundTrip) {
  OffsetRecord r{"grp", "orders", 3, CommittedOffset{42, 0, "meta", 1000}};
  Bytes key = encode_offset_key(r);
  // version 1 | len 3 "grp" | len 6 "orders" | partition 3
  Bytes want_key{std::byte{0},   std::byte{1},   std::byte{0}, std::byte{3}, std::byte{'g'},
                 std::byte{'r'}, std::byte{'p'}, std::byte{0}, std::byte{6}};
  append(want_key, as_bytes("orders"));
  append_be<std::int32_t>(want_key, 3);
  EXPECT_EQ(key, want_key);
  auto value = encode_offset_value(r);
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(load_be<std::int16_t>(*value, 0), 3);
  EXPECT_EQ(load_be<std::int64_t>(*value, 2), 42);
  auto back = decode_offset_record(key, ByteView(*value));
  ASSERT_TRUE(back.has_value() && back->has_value());
  EXPECT_EQ((*back)->group, "grp");
  EXPECT_EQ((*back)->partition, 3);
  EXPECT_EQ(*(*back)->value, *r.value);
  auto tomb = decode_offset_record(key, std::nullopt);
  ASSERT_TRUE(tomb.has_value() && tomb->has_value());
  EXPECT_FALSE((*tomb)->value.has_value());
  for (std::size_t n = 0; n < value->size(); ++n) {
    EXPECT_FALSE(decode_offset_record(key, ByteView(*value).first(n)).has_value()) << n;
  }
}

TEST(OffsetsCodec, GroupMetadataUsesKafkasLayoutAndRoundTrips) {
  GroupMetadataRecord r{"grp", GroupMetadata{"consumer", 7, "range", "m-1", 1700000000000, {}}};
  r.value->members.push_back(GroupMember{"m-1", std::nullopt, "client-a", "/127.0.0.1", 30000,
                                         10000, Bytes{std::byte{1}, std::byte{2}},
                                         Bytes{std::byte{3}}});
  r.value->members.push_back(
      GroupMember{"m-2", std::string("static-2"), "client-b", "/127.0.0.2", 30000, 10000, {}, {}});
  const Bytes key = encode_group_metadata_key("grp");
  // version 2 | len 3 "grp"
  EXPECT_EQ(key, (Bytes{std::byte{0}, std::byte{2}, std::byte{0}, std::byte{3}, std::byte{'g'},
                        std::byte{'r'}, std::byte{'p'}}));
  auto value = encode_group_metadata_value(r);
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(load_be<std::int16_t>(*value, 0), 3);
  // version | len 8 "consumer" | generation 7
  EXPECT_EQ(load_be<std::int32_t>(*value, 2 + 2 + 8), 7);
  auto back = decode_group_metadata_record(key, ByteView(*value));
  ASSERT_TRUE(back.has_value() && back->has_value());
  EXPECT_EQ((*back)->group, "grp");
  EXPECT_EQ(*(*back)->value, *r.value);
  // Offset records are not group metadata, and the offset decoder skips group metadata.
  EXPECT_FALSE(*decode_group_metadata_record(encode_offset_key(OffsetRecord{"g", "t", 0, {}}),
                                             std::nullopt));
  EXPECT_FALSE(*decode_offset_record(key, ByteView(*value)));
  auto tomb = decode_group_metadata_record(key, std::nullopt);
  ASSERT_TRUE(tomb.has_value() && tomb->has_value());
  EXPECT_FALSE((*tomb)->value.has_value());
  for (std::size_t n = 0; n < value->size(); ++n)
    EXPECT_FALSE(decode_group_metadata_record(key, ByteView(*value).first(n))) << n;
  // A member count larger than the bytes could hold is refused before anything is reserved.
  Bytes huge = *encode_group_metadata_value(
      GroupMetadataRecord{"g", GroupMetadata{"consumer", 1, std::nullopt, std::nullopt, 0, {}}});
  huge.resize(huge.size() - 4);
  append_be<std::int32_t>(huge, 0x7fffffff);
  EXPECT_FALSE(decode_group_metadata_record(key, ByteView(huge)));
}

TEST(OffsetsCodec, PartitionMatchesJavaStringHashCode) {
  // Values printed by Java 17: (s.hashCode() & 0x7fffffff) % 50.
  EXPECT_EQ(offsets_partition_for("test-group", 50), 12);
  EXPECT_EQ(offsets_partition_for("console-consumer-12345", 50), 6);
  EXPECT_EQ(offsets_partition_for("", 50), 0);
}

}  // namespace
}  // namespace wharf::kafka::group
