// Request and response headers: version selection per (api, version), the int16 client_id in
// every request header version, tagged fields in v2, and the ApiVersions response exception.

#include "kafka/protocol/header.h"

#include <gtest/gtest.h>

#include "kafka/protocol/api_keys.h"
#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/wire_builder.h"

namespace wharf::kafka::protocol {
namespace {

using testing::to_hex;
using testing::WireBuilder;

TEST(HeaderVersions, RequestHeaderIsV2ExactlyInFlexibleVersions) {
  EXPECT_EQ(request_header_version(to_int(ApiKey::kApiVersions), 2), 1);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kApiVersions), 3), 2);
  // Above the generated range the rule still holds, so a too-new ApiVersions can be answered.
  EXPECT_EQ(request_header_version(to_int(ApiKey::kApiVersions), 4), 2);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kMetadata), 8), 1);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kInitProducerId), 1), 1);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kInitProducerId), 2), 2);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kOffsetFetch), 6), 2);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kOffsetDelete), 0), 1);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kSaslHandshake), 1), 1);
  EXPECT_EQ(request_header_version(99, 0), std::nullopt);
  EXPECT_EQ(request_header_version(to_int(ApiKey::kMetadata), -1), std::nullopt);
}

TEST(HeaderVersions, ResponseHeaderIsV1InFlexibleVersionsExceptForApiVersions) {
  EXPECT_EQ(response_header_version(to_int(ApiKey::kApiVersions), 3), 0);
  EXPECT_EQ(response_header_version(to_int(ApiKey::kApiVersions), 0), 0);
  EXPECT_EQ(response_header_version(to_int(ApiKey::kInitProducerId), 2), 1);
  EXPECT_EQ(response_header_version(to_int(ApiKey::kInitProducerId), 1), 0);
  EXPECT_EQ(response_header_version(to_int(ApiKey::kListGroups), 3), 1);
  EXPECT_EQ(response_header_version(to_int(ApiKey::kFetch), 11), 0);
  EXPECT_EQ(response_header_version(99, 0), std::nullopt);
}

TEST(RequestHeader, V1CapturedFromLibrdkafkaMetadataV4) {
  // A whole Metadata v4 request frame body as kcat 1.7.1 sent it (after the int32 size).
  auto frame = WireBuilder()
                   .hex("0003 0004 00000003 0007 72646b61666b61")  // header v1
                   .hex("ffffffff 01")                             // body
                   .build();
  Reader r(frame);
  auto header = decode_request_header(r);
  ASSERT_TRUE(header.has_value()) << header.error().to_string();
  EXPECT_EQ(header->request_api_key, 3);
  EXPECT_EQ(header->request_api_version, 4);
  EXPECT_EQ(header->correlation_id, 3);
  EXPECT_EQ(header->client_id, "rdkafka");
  EXPECT_EQ(r.position(), 17u);
  MetadataRequest body;
  ASSERT_TRUE(body.decode(r, 4).has_value());
  EXPECT_FALSE(body.topics.has_value());
  EXPECT_TRUE(body.allow_auto_topic_creation);
  EXPECT_EQ(r.remaining(), 0u);

  Bytes out;
  Writer w(out);
  encode_request_header(w, *header);
  body.encode(w, 4);
  ASSERT_TRUE(w.status().has_value());
  EXPECT_EQ(to_hex(out), to_hex(frame));
}

TEST(RequestHeader, V2KeepsAnInt16ClientIdAndEndsWithTaggedFields) {
  // ApiVersions v3 from kcat: client_id "rdkafka" with an int16 length (not compact), then
  // an empty tagged-field section, then the flexible body.
  auto frame = WireBuilder()
                   .hex("0012 0003 00000001 0007 72646b61666b61 00")
                   .hex("0b 6c696272646b61666b61 06 322e302e32 00")
                   .build();
  Reader r(frame);
  auto header = decode_request_header(r);
  ASSERT_TRUE(header.has_value()) << header.error().to_string();
  EXPECT_EQ(header->request_api_key, 18);
  EXPECT_EQ(header->request_api_version, 3);
  EXPECT_EQ(header->correlation_id, 1);
  EXPECT_EQ(header->client_id, "rdkafka");
  EXPECT_EQ(r.position(), 18u);
  ApiVersionsRequest body;
  ASSERT_TRUE(body.decode(r, 3).has_value());
  EXPECT_EQ(body.client_software_name, "librdkafka");
  EXPECT_EQ(body.client_software_version, "2.0.2");

  Bytes out;
  Writer w(out);
  encode_request_header(w, *header);
  body.encode(w, 3);
  EXPECT_EQ(to_hex(out), to_hex(frame));
}

TEST(RequestHeader, V2SkipsUnknownTaggedFields) {
  auto frame = WireBuilder()
                   .i16(18)
                   .i16(3)
                   .i32(9)
                   .str("c")
                   .uvarint(2)  // two tagged fields
                   .tagged(0, WireBuilder().raw("xyz"))
                   .tagged(300, WireBuilder())  // a 2-byte tag, empty
                   .cstr("a")
                   .cstr("1")
                   .no_tags()  // body
                   .build();
  Reader r(frame);
  auto header = decode_request_header(r);
  ASSERT_TRUE(header.has_value()) << header.error().to_string();
  EXPECT_EQ(header->correlation_id, 9);
  EXPECT_EQ(header->client_id, "c");
  ApiVersionsRequest body;
  ASSERT_TRUE(body.decode(r, 3).has_value());
  EXPECT_EQ(body.client_software_name, "a");
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(RequestHeader, NullClientIdInV1AndV2) {
  // ApiVersions v2 uses header v1; v3 uses header v2. A null client_id is int16 -1 in both.
  auto v1 = WireBuilder().i16(18).i16(2).i32(5).null_str().build();
  auto v2 = WireBuilder().i16(18).i16(3).i32(5).null_str().no_tags().build();
  for (const Bytes& frame : {v1, v2}) {
    Reader r(frame);
    auto header = decode_request_header(r);
    ASSERT_TRUE(header.has_value()) << header.error().to_string();
    EXPECT_FALSE(header->client_id.has_value());
    EXPECT_EQ(r.remaining(), 0u);
    Bytes out;
    Writer w(out);
    encode_request_header(w, *header);
    EXPECT_EQ(to_hex(out), to_hex(frame));
  }
}

TEST(RequestHeader, UnknownApiKeyIsUnsupported) {
  auto frame = WireBuilder().i16(999).i16(0).i32(1).str("c").build();
  Reader r(frame);
  auto header = decode_request_header(r);
  ASSERT_FALSE(header.has_value());
  EXPECT_EQ(header.error().code(), ErrorCode::kUnsupported);
}

TEST(RequestHeader, TooNewApiVersionsRequestHeaderStillDecodes) {
  // ApiVersions v4 is above the generated range; its header (v2) must still be readable so that
  // the broker can answer UNSUPPORTED_VERSION with a v0 body.
  auto frame = WireBuilder().i16(18).i16(4).i32(2).str("c").no_tags().build();
  Reader r(frame);
  auto header = decode_request_header(r);
  ASSERT_TRUE(header.has_value()) << header.error().to_string();
  EXPECT_EQ(header->request_api_version, 4);
  ApiVersionsRequest body;
  auto status = body.decode(r, 4);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnsupported);
}

TEST(ResponseHeader, ApiVersionsAlwaysV0OthersByFlexibility) {
  auto encode = [](std::int16_t api_key, std::int16_t api_version) {
    Bytes out;
    Writer w(out);
    encode_response_header(w, api_key, api_version, 7);
    EXPECT_TRUE(w.status().has_value());
    return out;
  };
  auto v0 = WireBuilder().i32(7).build();
  auto v1 = WireBuilder().i32(7).no_tags().build();
  EXPECT_EQ(encode(to_int(ApiKey::kApiVersions), 3), v0);  // flexible, yet no tag buffer
  EXPECT_EQ(encode(to_int(ApiKey::kMetadata), 8), v0);
  EXPECT_EQ(encode(to_int(ApiKey::kInitProducerId), 2), v1);
  EXPECT_EQ(encode(to_int(ApiKey::kOffsetFetch), 6), v1);

  Reader r(v1);
  auto header = decode_response_header(r, to_int(ApiKey::kOffsetFetch), 6);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->correlation_id, 7);
  EXPECT_EQ(r.remaining(), 0u);

  Bytes out;
  Writer w(out);
  encode_response_header(w, 99, 0, 7);
  EXPECT_FALSE(w.status().has_value());
}

}  // namespace
}  // namespace wharf::kafka::protocol
