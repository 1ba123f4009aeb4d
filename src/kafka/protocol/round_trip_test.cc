// Round trips for every generated message at every generated version: a pseudo-random sample
// with every field of that version set (generated fill_sample) must encode, decode back to an
// equal value, and re-encode to the same bytes. Seeded: WHARF_TEST_SEED picks the seed, which
// is printed on failure.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "kafka/protocol/api_keys.h"
#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/generated/test_samples.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::protocol {
namespace {

std::uint64_t test_seed() {
  const char* env = std::getenv("WHARF_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20240601;
}

constexpr int kSamplesPerVersion = 40;

// Returns how many (version, sample) pairs were checked.
template <typename M>
int check_round_trips(std::uint64_t seed) {
  int checked = 0;
  for (std::int16_t v = M::kMinVersion; v <= M::kMaxVersion; ++v) {
    bool saw_non_default = false;
    for (int i = 0; i < kSamplesPerVersion; ++i) {
      SCOPED_TRACE(::testing::Message()
                   << M::kName << " v" << v << " sample " << i << " WHARF_TEST_SEED=" << seed);
      testing::SampleSource source(seed * 7919 + static_cast<std::uint64_t>(v) * 104729 + i);
      M message;
      fill_sample(message, v, source);
      saw_non_default = saw_non_default || !(message == M{});
      auto bytes = encode_message(message, v);
      EXPECT_TRUE(bytes.has_value()) << bytes.error().to_string();
      if (!bytes) return checked;
      auto decoded = decode_message<M>(*bytes, v);
      EXPECT_TRUE(decoded.has_value()) << decoded.error().to_string();
      if (!decoded) return checked;
      EXPECT_TRUE(*decoded == message);
      auto again = encode_message(*decoded, v);
      EXPECT_TRUE(again.has_value() && *again == *bytes);
      ++checked;
    }
    // Only the requests with no field at all in a version may sample as the default value.
    const bool no_fields =
        (M::kName == "ApiVersionsRequest" && v <= 2) || (M::kName == "ListGroupsRequest" && v <= 3);
    EXPECT_EQ(saw_non_default, !no_fields) << M::kName << " v" << v;
  }
  return checked;
}

TEST(RoundTrip, EveryRequestAndResponseAtEveryVersion) {
  const std::uint64_t seed = test_seed();
  int apis = 0;
  int checked = 0;
  for_each_api([&](auto api) {
    using Api = decltype(api);
    checked += check_round_trips<typename Api::Request>(seed);
    checked += check_round_trips<typename Api::Response>(seed);
    ++apis;
  });
  EXPECT_EQ(apis, 30);
  // Sum over the generated APIs of (max - min + 1) versions, twice (request and response).
  int versions = 0;
  for (const ApiInfo& info : generated_apis()) versions += info.max_version - info.min_version + 1;
  EXPECT_EQ(checked, 2 * versions * kSamplesPerVersion);
}

// Gather mode leaves byte strings out of the buffer; put back at their offsets, the bytes must be
// exactly the copying encoder's. Every bytes/records value is gathered (threshold 1 byte).
template <typename M>
void check_gathered(std::uint64_t seed, int& gathered) {
  for (std::int16_t v = M::kMinVersion; v <= M::kMaxVersion; ++v) {
    for (int i = 0; i < 8; ++i) {
      SCOPED_TRACE(::testing::Message()
                   << M::kName << " v" << v << " sample " << i << " WHARF_TEST_SEED=" << seed);
      testing::SampleSource source(seed * 31 + static_cast<std::uint64_t>(v) * 7 + i);
      M message;
      fill_sample(message, v, source);
      auto copied = encode_message(message, v);
      ASSERT_TRUE(copied.has_value());
      Bytes body;
      std::vector<Writer::External> externals;
      Writer w(body);
      w.gather(&externals, 1);
      message.encode(w, v);
      ASSERT_TRUE(w.status());
      Bytes whole;
      std::size_t from = 0;
      for (const auto& e : externals) {
        ASSERT_LE(from, e.at);
        ASSERT_LE(e.at, body.size());
        whole.insert(whole.end(), body.begin() + static_cast<std::ptrdiff_t>(from),
                     body.begin() + static_cast<std::ptrdiff_t>(e.at));
        whole.insert(whole.end(), e.bytes.begin(), e.bytes.end());
        from = e.at;
      }
      whole.insert(whole.end(), body.begin() + static_cast<std::ptrdiff_t>(from), body.end());
      EXPECT_EQ(whole, *copied);
      gathered += static_cast<int>(externals.size());
    }
  }
}

TEST(RoundTrip, GatheredEncodingEqualsTheCopyingOneForEveryMessage) {
  const std::uint64_t seed = test_seed();
  int gathered = 0;
  for_each_api([&](auto api) {
    using Api = decltype(api);
    check_gathered<typename Api::Request>(seed, gathered);
    check_gathered<typename Api::Response>(seed, gathered);
  });
  // Produce requests and Fetch responses carry record sets, SyncGroup assignments bytes: the
  // samples must have exercised the gathered path.
  EXPECT_GT(gathered, 100);
  Bytes records(5000, std::byte{7});
  FetchResponse resp;
  resp.responses.push_back({.topic = "t", .partitions = {}});
  FetchResponse::PartitionData pd;
  pd.records = records;
  resp.responses.back().partitions.push_back(pd);
  Bytes body;
  std::vector<Writer::External> externals;
  Writer w(body);
  w.gather(&externals, 4096);
  resp.encode(w, 4);
  ASSERT_EQ(externals.size(), 1u);
  EXPECT_EQ(externals[0].bytes.size(), 5000u);
  EXPECT_LT(body.size(), 200u) << "the record set was copied into the body";
}

TEST(RoundTrip, HeadersAndConsumerProtocolAtEveryVersion) {
  const std::uint64_t seed = test_seed();
  EXPECT_EQ(check_round_trips<RequestHeader>(seed), 3 * kSamplesPerVersion);
  EXPECT_EQ(check_round_trips<ResponseHeader>(seed), 2 * kSamplesPerVersion);
  EXPECT_EQ(check_round_trips<ConsumerProtocolSubscription>(seed), 4 * kSamplesPerVersion);
  EXPECT_EQ(check_round_trips<ConsumerProtocolAssignment>(seed), 4 * kSamplesPerVersion);
}

TEST(RoundTrip, FieldsAbsentFromAVersionAreDroppedAndDecodeAsDefaults) {
  MetadataRequest req;
  req.topics = std::vector<MetadataRequest::MetadataRequestTopic>{{.name = "t"}};
  req.allow_auto_topic_creation = false;  // v4+ only
  auto bytes = encode_message(req, 3);
  ASSERT_TRUE(bytes.has_value());
  auto back = decode_message<MetadataRequest>(*bytes, 3);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->allow_auto_topic_creation);  // the schema default
  EXPECT_EQ(back->topics->at(0).name, "t");

  ApiVersionsResponse resp;
  resp.finalized_features_epoch = 9;  // tagged, v3+ only
  auto v2 = encode_message(resp, 2);
  ASSERT_TRUE(v2.has_value());
  auto back2 = decode_message<ApiVersionsResponse>(*v2, 2);
  ASSERT_TRUE(back2.has_value());
  EXPECT_EQ(back2->finalized_features_epoch, -1);
}

TEST(RoundTrip, NullInANonNullableVersionIsWrittenEmpty) {
  MetadataRequest req;
  req.topics.reset();  // null exists from v1; v0 writes an empty array instead
  auto bytes = encode_message(req, 0);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(*bytes, (Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}}));
}

TEST(ApiTable, ListsEveryGeneratedApiInKeyOrderWithItsRange) {
  auto apis = generated_apis();
  ASSERT_EQ(apis.size(), 30u);
  for (std::size_t i = 1; i < apis.size(); ++i) EXPECT_LT(apis[i - 1].api_key, apis[i].api_key);
  const ApiInfo* produce = find_api(to_int(ApiKey::kProduce));
  ASSERT_NE(produce, nullptr);
  EXPECT_EQ(produce->name, "Produce");
  EXPECT_EQ(produce->min_version, 0);
  EXPECT_EQ(produce->max_version, 7);
  EXPECT_EQ(produce->first_flexible_version, 9);
  const ApiInfo* offset_delete = find_api(to_int(ApiKey::kOffsetDelete));
  ASSERT_NE(offset_delete, nullptr);
  EXPECT_EQ(offset_delete->first_flexible_version, kNeverFlexible);
  EXPECT_EQ(find_api(4), nullptr);  // LeaderAndIsr: not generated
  EXPECT_EQ(find_api(-1), nullptr);

  for_each_api([&](auto api) {
    using Req = typename decltype(api)::Request;
    using Resp = typename decltype(api)::Response;
    static_assert(Req::kApiKey == Resp::kApiKey);
    const ApiInfo* info = find_api(Req::kApiKey);
    ASSERT_NE(info, nullptr) << Req::kName;
    EXPECT_EQ(info->min_version, Req::kMinVersion);
    EXPECT_EQ(info->max_version, Req::kMaxVersion);
    EXPECT_EQ(info->first_flexible_version, Req::kFirstFlexibleVersion);
  });
}

TEST(ApiTable, ApiKeyEnumMatchesTheGeneratedMessages) {
  static_assert(ProduceRequest::kApiKey == to_int(ApiKey::kProduce));
  static_assert(FetchRequest::kApiKey == to_int(ApiKey::kFetch));
  static_assert(ListOffsetsRequest::kApiKey == to_int(ApiKey::kListOffsets));
  static_assert(MetadataRequest::kApiKey == to_int(ApiKey::kMetadata));
  static_assert(OffsetCommitRequest::kApiKey == to_int(ApiKey::kOffsetCommit));
  static_assert(OffsetFetchRequest::kApiKey == to_int(ApiKey::kOffsetFetch));
  static_assert(FindCoordinatorRequest::kApiKey == to_int(ApiKey::kFindCoordinator));
  static_assert(JoinGroupRequest::kApiKey == to_int(ApiKey::kJoinGroup));
  static_assert(HeartbeatRequest::kApiKey == to_int(ApiKey::kHeartbeat));
  static_assert(LeaveGroupRequest::kApiKey == to_int(ApiKey::kLeaveGroup));
  static_assert(SyncGroupRequest::kApiKey == to_int(ApiKey::kSyncGroup));
  static_assert(DescribeGroupsRequest::kApiKey == to_int(ApiKey::kDescribeGroups));
  static_assert(ListGroupsRequest::kApiKey == to_int(ApiKey::kListGroups));
  static_assert(SaslHandshakeRequest::kApiKey == to_int(ApiKey::kSaslHandshake));
  static_assert(ApiVersionsRequest::kApiKey == to_int(ApiKey::kApiVersions));
  static_assert(CreateTopicsRequest::kApiKey == to_int(ApiKey::kCreateTopics));
  static_assert(DeleteTopicsRequest::kApiKey == to_int(ApiKey::kDeleteTopics));
  static_assert(DeleteRecordsRequest::kApiKey == to_int(ApiKey::kDeleteRecords));
  static_assert(InitProducerIdRequest::kApiKey == to_int(ApiKey::kInitProducerId));
  static_assert(DescribeConfigsRequest::kApiKey == to_int(ApiKey::kDescribeConfigs));
  static_assert(SaslAuthenticateRequest::kApiKey == to_int(ApiKey::kSaslAuthenticate));
  static_assert(CreatePartitionsRequest::kApiKey == to_int(ApiKey::kCreatePartitions));
  static_assert(DeleteGroupsRequest::kApiKey == to_int(ApiKey::kDeleteGroups));
  static_assert(OffsetDeleteRequest::kApiKey == to_int(ApiKey::kOffsetDelete));
  static_assert(AlterConfigsRequest::kApiKey == to_int(ApiKey::kAlterConfigs));
  static_assert(IncrementalAlterConfigsRequest::kApiKey ==
                to_int(ApiKey::kIncrementalAlterConfigs));
  static_assert(OffsetForLeaderEpochRequest::kApiKey == to_int(ApiKey::kOffsetForLeaderEpoch));
  static_assert(DescribeLogDirsRequest::kApiKey == to_int(ApiKey::kDescribeLogDirs));
  static_assert(DescribeClusterRequest::kApiKey == to_int(ApiKey::kDescribeCluster));
  static_assert(DescribeProducersRequest::kApiKey == to_int(ApiKey::kDescribeProducers));
  int enumerated = 0;
  for_each_api([&](auto) { ++enumerated; });
  EXPECT_EQ(enumerated, 30);  // every enumerator above has a generated API, and vice versa
}

}  // namespace
}  // namespace wharf::kafka::protocol
