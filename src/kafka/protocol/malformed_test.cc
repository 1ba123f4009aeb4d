// Malformed input: every truncation of every valid message fails cleanly; lengths, counts and
// varints that lie are rejected before anything is allocated; unknown tagged fields are
// skipped; limits hold. The test binary replaces global operator new to record the largest
// single allocation (alloc_tracker_test_support.cc), so "before allocation" is checked, not
// assumed.

#include <gtest/gtest.h>

#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/generated/test_samples.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/wire_builder.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::protocol {

namespace testing {
void reset_largest_allocation();
std::size_t largest_allocation();
}  // namespace testing

namespace {

using testing::WireBuilder;

template <typename M>
void expect_invalid(const Bytes& bytes, std::int16_t version, std::string_view why) {
  testing::reset_largest_allocation();
  auto decoded = decode_message<M>(bytes, version);
  ASSERT_FALSE(decoded.has_value()) << why;
  EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument) << why;
  EXPECT_LT(testing::largest_allocation(), 4096u) << why << ": " << decoded.error().to_string();
}

template <typename M>
int check_every_truncation_fails(std::uint64_t seed) {
  int prefixes = 0;
  for (std::int16_t v = M::kMinVersion; v <= M::kMaxVersion; ++v) {
    testing::SampleSource source(seed + static_cast<std::uint64_t>(v));
    M message;
    fill_sample(message, v, source);
    auto bytes = encode_message(message, v);
    EXPECT_TRUE(bytes.has_value());
    if (!bytes) continue;
    for (std::size_t n = 0; n < bytes->size(); ++n) {
      Bytes prefix(bytes->begin(), bytes->begin() + static_cast<std::ptrdiff_t>(n));
      auto decoded = decode_message<M>(prefix, v);
      EXPECT_FALSE(decoded.has_value()) << M::kName << " v" << v << " cut at " << n;
      if (!decoded.has_value()) {
        EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
      }
      ++prefixes;
    }
  }
  return prefixes;
}

TEST(Malformed, EveryTruncationOfEveryMessageFailsCleanly) {
  int prefixes = 0;
  for_each_api([&](auto api) {
    using Api = decltype(api);
    prefixes += check_every_truncation_fails<typename Api::Request>(17);
    prefixes += check_every_truncation_fails<typename Api::Response>(17);
  });
  prefixes += check_every_truncation_fails<RequestHeader>(17);
  EXPECT_GT(prefixes, 5000);
}

TEST(Malformed, HugeArrayCountWithFewBytesLeftFailsBeforeAllocating) {
  // Metadata v0: topics count 0x7fffffff, then 10 bytes.
  auto bytes = WireBuilder().i32(0x7fffffff).raw("0123456789").build();
  expect_invalid<MetadataRequest>(bytes, 0, "int32 count");
  // Compact: uvarint 0xffffffff (count 2^32 - 2) in a flexible version.
  auto compact = WireBuilder().cstr("g").uvarint(0xffffffffu).raw("0123456789").build();
  expect_invalid<OffsetFetchRequest>(compact, 6, "compact count");
  // An int32 array of 3 elements needs 12 bytes; 11 are left.
  auto ints = WireBuilder().str("g").array(1).str("t").array(3).raw("01234567890").build();
  expect_invalid<OffsetFetchRequest>(ints, 1, "three int32 in 11 bytes");
}

TEST(Malformed, HugeStringAndBytesLengthsFailBeforeAllocating) {
  expect_invalid<FindCoordinatorRequest>(WireBuilder().i16(32767).raw("abc").build(), 0,
                                         "string length");
  expect_invalid<SyncGroupResponse>(WireBuilder().i32(0).i16(0).i32(0x7fffffff).raw("x").build(), 1,
                                    "bytes length");
  expect_invalid<InitProducerIdRequest>(WireBuilder().uvarint(0xfffffff).raw("x").build(), 2,
                                        "compact string length");
}

TEST(Malformed, NegativeLengthsOtherThanNullAreErrors) {
  expect_invalid<FindCoordinatorRequest>(WireBuilder().i16(-2).build(), 0, "string -2");
  expect_invalid<MetadataRequest>(WireBuilder().i32(-7).build(), 1, "array -7");
  expect_invalid<SyncGroupResponse>(WireBuilder().i32(0).i16(0).i32(-5).build(), 1, "bytes -5");
}

TEST(Malformed, NullWhereTheVersionDoesNotAllowIt) {
  expect_invalid<MetadataRequest>(WireBuilder().array(-1).build(), 0, "null topics in v0");
  expect_invalid<FindCoordinatorRequest>(WireBuilder().null_str().build(), 0, "null key");
  expect_invalid<ApiVersionsRequest>(WireBuilder().cnull().cstr("1").no_tags().build(), 3,
                                     "compact null name");
}

TEST(Malformed, BadVarintsAreErrors) {
  // Six continuation bytes: longer than the 5 bytes a uvarint32 may take.
  auto overlong = WireBuilder().hex("ff ff ff ff ff 01").build();
  expect_invalid<ApiVersionsRequest>(overlong, 3, "overlong uvarint");
  // Five bytes whose last carries more than the 4 remaining bits of 32.
  expect_invalid<ApiVersionsRequest>(WireBuilder().hex("ff ff ff ff 7f").build(), 3,
                                     "uvarint over 32 bits");
  // A varint cut short.
  expect_invalid<ApiVersionsRequest>(WireBuilder().hex("80").build(), 3, "truncated uvarint");
  // A compact length that claims more than is left.
  expect_invalid<ApiVersionsRequest>(WireBuilder().uvarint(50).raw("abc").build(), 3,
                                     "compact length over remaining");
}

TEST(Malformed, UnknownTaggedFieldsAreSkippedAndKnownOnesDecoded) {
  auto bytes = WireBuilder()
                   .i16(0)
                   .carray(0)
                   .i32(0)
                   .uvarint(3)
                   .tagged(1, WireBuilder().i64(77))          // known: epoch
                   .tagged(9, WireBuilder().raw("whatever"))  // unknown: skipped
                   .tagged(100000, WireBuilder())             // unknown, 3-byte tag
                   .build();
  auto decoded = decode_message<ApiVersionsResponse>(bytes, 3);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
  EXPECT_EQ(decoded->finalized_features_epoch, 77);

  auto request =
      WireBuilder().cstr("a").cstr("b").uvarint(1).tagged(5, WireBuilder().raw("z")).build();
  auto req = decode_message<ApiVersionsRequest>(request, 3);
  ASSERT_TRUE(req.has_value()) << req.error().to_string();
  EXPECT_EQ(req->client_software_version, "b");
}

TEST(Malformed, TaggedFieldSizesThatLieAreErrors) {
  // Size beyond what is left.
  expect_invalid<ApiVersionsResponse>(
      WireBuilder().i16(0).carray(0).i32(0).uvarint(1).uvarint(1).uvarint(200).i64(1).build(), 3,
      "tagged size over remaining");
  // A known int64 field given only 2 bytes.
  expect_invalid<ApiVersionsResponse>(
      WireBuilder().i16(0).carray(0).i32(0).uvarint(1).tagged(1, WireBuilder().i16(1)).build(), 3,
      "tagged field shorter than its value");
  // More tagged fields announced than bytes could hold.
  expect_invalid<ApiVersionsResponse>(
      WireBuilder().i16(0).carray(0).i32(0).uvarint(1000000).build(), 3, "tagged count");
}

TEST(Malformed, TrailingBytesAreRejectedByDecodeMessage) {
  auto bytes = WireBuilder().str("g").raw("!").build();
  expect_invalid<FindCoordinatorRequest>(bytes, 0, "trailing byte");
}

TEST(Limits, ArrayElementCapsApplyPerArrayAndPerMessage) {
  auto four = WireBuilder().str("g").array(1).str("t").array(4).i32(0).i32(1).i32(2).i32(3).build();
  EXPECT_TRUE(decode_message<OffsetFetchRequest>(four, 1).has_value());
  ReaderLimits per_array{.array_elements_max = 3};
  auto capped = decode_message<OffsetFetchRequest>(four, 1, per_array);
  ASSERT_FALSE(capped.has_value());
  EXPECT_EQ(capped.error().code(), ErrorCode::kInvalidArgument);
  // 1 topic + 4 partitions = 5 elements in all.
  ReaderLimits budget{.elements_total_max = 4};
  EXPECT_FALSE(decode_message<OffsetFetchRequest>(four, 1, budget).has_value());
  ReaderLimits enough{.elements_total_max = 5};
  EXPECT_TRUE(decode_message<OffsetFetchRequest>(four, 1, enough).has_value());
}

TEST(Versions, OutsideTheGeneratedRangeIsUnsupported) {
  auto decoded = decode_message<MetadataRequest>(WireBuilder().array(0).build(), 9);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code(), ErrorCode::kUnsupported);
  auto negative = decode_message<MetadataRequest>(WireBuilder().array(0).build(), -1);
  ASSERT_FALSE(negative.has_value());
  EXPECT_EQ(negative.error().code(), ErrorCode::kUnsupported);
  auto encoded = encode_message(MetadataRequest{}, 9);
  ASSERT_FALSE(encoded.has_value());
  EXPECT_EQ(encoded.error().code(), ErrorCode::kUnsupported);
}

TEST(Writer, StringTooLongForAnInt16LengthIsAnError) {
  FindCoordinatorRequest req{.key = std::string(40000, 'k')};
  auto v0 = encode_message(req, 0);
  ASSERT_FALSE(v0.has_value());
  EXPECT_EQ(v0.error().code(), ErrorCode::kMessageTooLarge);
}

}  // namespace
}  // namespace wharf::kafka::protocol
