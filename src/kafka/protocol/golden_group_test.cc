// Golden bytes, both directions, for the group and admin APIs: JoinGroup, SyncGroup,
// OffsetCommit, OffsetFetch, Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteTopics,
// DescribeConfigs, CreatePartitions, DeleteGroups, OffsetDelete, DeleteRecords, and the SASL
// handshake/authenticate pair. Expected bytes are assembled by hand with WireBuilder from
// Kafka's documented field layout, never from the codec.

#include <gtest/gtest.h>

#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/golden_check.h"
#include "kafka/protocol/wire_builder.h"

namespace wharf::kafka::protocol {
namespace {

using testing::golden_mismatch;
using testing::WireBuilder;

// ------------------------------------------------------------------------------------------
// JoinGroup (11)

TEST(GoldenJoinGroup, V0) {
  JoinGroupRequest req;
  req.group_id = "g";
  req.session_timeout_ms = 10000;
  req.member_id = "";
  req.protocol_type = "consumer";
  req.protocols = {{.name = "range", .metadata = to_bytes("md")}};
  auto req_golden = WireBuilder()
                        .str("g")
                        .i32(10000)
                        .str("")  // member_id
                        .str("consumer")
                        .array(1)
                        .str("range")
                        .bytes("md")
                        .build();
  EXPECT_EQ(golden_mismatch(req, 0, req_golden), "");

  JoinGroupResponse resp;
  resp.error_code = 0;
  resp.generation_id = 1;
  resp.protocol_name = "range";
  resp.leader = "m1";
  resp.member_id = "m1";
  resp.members = {{.member_id = "m1", .metadata = to_bytes("md")}};
  auto resp_golden = WireBuilder()
                         .i16(0)
                         .i32(1)
                         .str("range")  // protocol_name (not nullable before v7)
                         .str("m1")
                         .str("m1")  // leader, member_id
                         .array(1)
                         .str("m1")
                         .bytes("md")
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 0, resp_golden), "");
}

TEST(GoldenJoinGroup, V5AddsRebalanceTimeoutInstanceIdAndThrottle) {
  JoinGroupRequest req;
  req.group_id = "g";
  req.session_timeout_ms = 45000;
  req.rebalance_timeout_ms = 300000;
  req.member_id = "m1";
  req.group_instance_id = "i1";
  req.protocol_type = "consumer";
  req.protocols = {{.name = "range", .metadata = to_bytes("")}};
  auto req_golden = WireBuilder()
                        .str("g")
                        .i32(45000)
                        .i32(300000)  // rebalance_timeout_ms (v1+)
                        .str("m1")
                        .str("i1")  // group_instance_id (v5+)
                        .str("consumer")
                        .array(1)
                        .str("range")
                        .bytes("")
                        .build();
  EXPECT_EQ(golden_mismatch(req, 5, req_golden), "");

  JoinGroupResponse resp;
  resp.throttle_time_ms = 0;
  resp.error_code = 79;  // MEMBER_ID_REQUIRED
  resp.generation_id = -1;
  resp.protocol_name = "";
  resp.leader = "";
  resp.member_id = "m1";
  resp.members = {{.member_id = "m1", .group_instance_id = std::nullopt, .metadata = {}}};
  auto resp_golden = WireBuilder()
                         .i32(0)  // throttle_time_ms (v2+)
                         .i16(79)
                         .i32(-1)
                         .str("")
                         .str("")
                         .str("m1")
                         .array(1)
                         .str("m1")
                         .null_str()  // members[].group_instance_id (v5+)
                         .bytes("")
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 5, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// SyncGroup (14)

TEST(GoldenSyncGroup, V3HasGroupInstanceId) {
  SyncGroupRequest req;
  req.group_id = "g";
  req.generation_id = 1;
  req.member_id = "m1";
  req.group_instance_id = std::nullopt;
  req.assignments = {{.member_id = "m1", .assignment = to_bytes("as")}};
  auto req_golden = WireBuilder()
                        .str("g")
                        .i32(1)
                        .str("m1")
                        .null_str()  // group_instance_id (v3+)
                        .array(1)
                        .str("m1")
                        .bytes("as")
                        .build();
  EXPECT_EQ(golden_mismatch(req, 3, req_golden), "");

  SyncGroupResponse resp;
  resp.throttle_time_ms = 0;
  resp.error_code = 0;
  resp.assignment = to_bytes("as");
  EXPECT_EQ(golden_mismatch(resp, 3, WireBuilder().i32(0).i16(0).bytes("as").build()), "");
}

// ------------------------------------------------------------------------------------------
// OffsetCommit (8)

TEST(GoldenOffsetCommit, V2HasRetentionTime) {
  OffsetCommitRequest req;
  req.group_id = "g";
  req.generation_id_or_member_epoch = 1;
  req.member_id = "m1";
  req.retention_time_ms = -1;
  req.topics = {
      {.name = "t",
       .partitions = {
           {.partition_index = 0, .committed_offset = 42, .committed_metadata = std::nullopt}}}};
  auto req_golden = WireBuilder()
                        .str("g")
                        .i32(1)
                        .str("m1")
                        .i64(-1)  // retention_time_ms (v2-4)
                        .array(1)
                        .str("t")
                        .array(1)
                        .i32(0)
                        .i64(42)
                        .null_str()  // committed_metadata
                        .build();
  EXPECT_EQ(golden_mismatch(req, 2, req_golden), "");

  OffsetCommitResponse resp;
  resp.topics = {{.name = "t", .partitions = {{.partition_index = 0, .error_code = 0}}}};
  auto resp_golden = WireBuilder().array(1).str("t").array(1).i32(0).i16(0).build();
  EXPECT_EQ(golden_mismatch(resp, 2, resp_golden), "");
}

TEST(GoldenOffsetCommit, V7HasInstanceIdAndLeaderEpochButNoRetention) {
  OffsetCommitRequest req;
  req.group_id = "g";
  req.generation_id_or_member_epoch = 1;
  req.member_id = "m1";
  req.group_instance_id = "i1";
  req.topics = {{.name = "t",
                 .partitions = {{.partition_index = 0,
                                 .committed_offset = 42,
                                 .committed_leader_epoch = 0,
                                 .committed_metadata = "meta"}}}};
  auto req_golden = WireBuilder()
                        .str("g")
                        .i32(1)
                        .str("m1")
                        .str("i1")  // group_instance_id (v7+)
                        .array(1)
                        .str("t")
                        .array(1)
                        .i32(0)
                        .i64(42)
                        .i32(0)  // committed_leader_epoch (v6+)
                        .str("meta")
                        .build();
  EXPECT_EQ(golden_mismatch(req, 7, req_golden), "");

  OffsetCommitResponse resp;
  resp.throttle_time_ms = 0;
  resp.topics = {{.name = "t", .partitions = {{.partition_index = 0, .error_code = 22}}}};
  auto resp_golden = WireBuilder()
                         .i32(0)  // throttle_time_ms (v3+)
                         .array(1)
                         .str("t")
                         .array(1)
                         .i32(0)
                         .i16(22)
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 7, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// OffsetFetch (9)

OffsetFetchResponse offset_fetch_response() {
  OffsetFetchResponse resp;
  resp.throttle_time_ms = 0;
  resp.topics = {{.name = "t",
                  .partitions = {{.partition_index = 0,
                                  .committed_offset = 42,
                                  .committed_leader_epoch = -1,
                                  .metadata = "",
                                  .error_code = 0},
                                 {.partition_index = 1,
                                  .committed_offset = -1,
                                  .committed_leader_epoch = -1,
                                  .metadata = std::nullopt,
                                  .error_code = 0}}}};
  resp.error_code = 0;
  return resp;
}

TEST(GoldenOffsetFetch, V5) {
  OffsetFetchRequest req;
  req.group_id = "g";
  req.topics = std::vector<OffsetFetchRequest::OffsetFetchRequestTopic>{
      {.name = "t", .partition_indexes = {0, 1}}};
  auto req_golden = WireBuilder().str("g").array(1).str("t").array(2).i32(0).i32(1).build();
  EXPECT_EQ(golden_mismatch(req, 5, req_golden), "");

  auto resp_golden = WireBuilder()
                         .i32(0)
                         .array(1)
                         .str("t")
                         .array(2)
                         .i32(0)
                         .i64(42)
                         .i32(-1)
                         .str("")
                         .i16(0)
                         .i32(1)
                         .i64(-1)
                         .i32(-1)
                         .null_str()
                         .i16(0)
                         .i16(0)  // top-level error_code (v2+)
                         .build();
  EXPECT_EQ(golden_mismatch(offset_fetch_response(), 5, resp_golden), "");
}

TEST(GoldenOffsetFetch, V6IsFlexible) {
  OffsetFetchRequest req;
  req.group_id = "g";
  req.topics.reset();  // null: all topics of the group (v2+)
  auto req_golden = WireBuilder()
                        .cstr("g")
                        .uvarint(0)  // topics: COMPACT_ARRAY null is 0
                        .no_tags()
                        .build();
  EXPECT_EQ(golden_mismatch(req, 6, req_golden), "");

  auto resp_golden = WireBuilder()
                         .i32(0)
                         .carray(1)
                         .cstr("t")
                         .carray(2)
                         .i32(0)
                         .i64(42)
                         .i32(-1)
                         .cstr("")
                         .i16(0)
                         .no_tags()
                         .i32(1)
                         .i64(-1)
                         .i32(-1)
                         .cnull()
                         .i16(0)
                         .no_tags()
                         .no_tags()  // end of the topic
                         .i16(0)
                         .no_tags()  // end of the message
                         .build();
  EXPECT_EQ(golden_mismatch(offset_fetch_response(), 6, resp_golden), "");
}

TEST(GoldenOffsetFetch, V7AddsRequireStable) {
  OffsetFetchRequest req;
  req.group_id = "g";
  req.topics = std::vector<OffsetFetchRequest::OffsetFetchRequestTopic>{
      {.name = "t", .partition_indexes = {3}}};
  req.require_stable = true;
  auto req_golden = WireBuilder()
                        .cstr("g")
                        .carray(1)
                        .cstr("t")
                        .carray(1)
                        .i32(3)
                        .no_tags()
                        .boolean(true)  // require_stable (v7+)
                        .no_tags()
                        .build();
  EXPECT_EQ(golden_mismatch(req, 7, req_golden), "");

  auto resp_golden = WireBuilder()
                         .i32(0)
                         .carray(1)
                         .cstr("t")
                         .carray(2)
                         .i32(0)
                         .i64(42)
                         .i32(-1)
                         .cstr("")
                         .i16(0)
                         .no_tags()
                         .i32(1)
                         .i64(-1)
                         .i32(-1)
                         .cnull()
                         .i16(0)
                         .no_tags()
                         .no_tags()
                         .i16(0)
                         .no_tags()
                         .build();
  EXPECT_EQ(golden_mismatch(offset_fetch_response(), 7, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// Heartbeat (12), LeaveGroup (13)

TEST(GoldenHeartbeat, V3HasGroupInstanceId) {
  HeartbeatRequest req{
      .group_id = "g", .generation_id = 2, .member_id = "m1", .group_instance_id = "i1"};
  auto req_golden = WireBuilder().str("g").i32(2).str("m1").str("i1").build();
  EXPECT_EQ(golden_mismatch(req, 3, req_golden), "");

  HeartbeatResponse resp{.throttle_time_ms = 0, .error_code = 27};
  EXPECT_EQ(golden_mismatch(resp, 3, WireBuilder().i32(0).i16(27).build()), "");
}

TEST(GoldenLeaveGroup, V3BatchesMembers) {
  LeaveGroupRequest req;
  req.group_id = "g";
  req.members = {{.member_id = "m1", .group_instance_id = std::nullopt},
                 {.member_id = "", .group_instance_id = "i2"}};
  auto req_golden = WireBuilder()
                        .str("g")  // (member_id is v0-2 only)
                        .array(2)
                        .str("m1")
                        .null_str()
                        .str("")
                        .str("i2")
                        .build();
  EXPECT_EQ(golden_mismatch(req, 3, req_golden), "");

  LeaveGroupResponse resp;
  resp.throttle_time_ms = 0;
  resp.error_code = 0;
  resp.members = {{.member_id = "m1", .group_instance_id = std::nullopt, .error_code = 0},
                  {.member_id = "", .group_instance_id = "i2", .error_code = 25}};
  auto resp_golden = WireBuilder()
                         .i32(0)
                         .i16(0)
                         .array(2)
                         .str("m1")
                         .null_str()
                         .i16(0)
                         .str("")
                         .str("i2")
                         .i16(25)
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 3, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// DescribeGroups (15), ListGroups (16), DeleteGroups (42), OffsetDelete (47)

TEST(GoldenDescribeGroups, V4HasMemberInstanceIds) {
  DescribeGroupsRequest req{.groups = {"g"}, .include_authorized_operations = true};
  auto req_golden = WireBuilder().array(1).str("g").boolean(true).build();
  EXPECT_EQ(golden_mismatch(req, 4, req_golden), "");

  DescribeGroupsResponse resp;
  resp.throttle_time_ms = 0;
  resp.groups = {{.error_code = 0,
                  .group_id = "g",
                  .group_state = "Stable",
                  .protocol_type = "consumer",
                  .protocol_data = "range",
                  .members = {{.member_id = "m1",
                               .group_instance_id = "i1",
                               .client_id = "c",
                               .client_host = "/127.0.0.1",
                               .member_metadata = to_bytes("md"),
                               .member_assignment = to_bytes("as")}},
                  .authorized_operations = -2147483647 - 1}};
  auto resp_golden = WireBuilder()
                         .i32(0)
                         .array(1)
                         .i16(0)
                         .str("g")
                         .str("Stable")
                         .str("consumer")
                         .str("range")
                         .array(1)
                         .str("m1")
                         .str("i1")  // group_instance_id (v4+)
                         .str("c")
                         .str("/127.0.0.1")
                         .bytes("md")
                         .bytes("as")
                         .i32(-2147483647 - 1)  // authorized_operations (v3+)
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 4, resp_golden), "");
}

TEST(GoldenListGroups, V3IsFlexible) {
  EXPECT_EQ(golden_mismatch(ListGroupsRequest{}, 3, WireBuilder().no_tags().build()), "");

  ListGroupsResponse resp;
  resp.throttle_time_ms = 0;
  resp.error_code = 0;
  resp.groups = {{.group_id = "g", .protocol_type = "consumer"}};
  auto resp_golden =
      WireBuilder().i32(0).i16(0).carray(1).cstr("g").cstr("consumer").no_tags().no_tags().build();
  EXPECT_EQ(golden_mismatch(resp, 3, resp_golden), "");
}

TEST(GoldenDeleteGroups, V1) {
  DeleteGroupsRequest req{.groups_names = {"a", "b"}};
  EXPECT_EQ(golden_mismatch(req, 1, WireBuilder().array(2).str("a").str("b").build()), "");

  DeleteGroupsResponse resp;
  resp.throttle_time_ms = 0;
  resp.results = {{.group_id = "a", .error_code = 0}, {.group_id = "b", .error_code = 69}};
  auto resp_golden = WireBuilder().i32(0).array(2).str("a").i16(0).str("b").i16(69).build();
  EXPECT_EQ(golden_mismatch(resp, 1, resp_golden), "");
}

TEST(GoldenOffsetDelete, V0) {
  OffsetDeleteRequest req;
  req.group_id = "g";
  req.topics = {{.name = "t", .partitions = {{.partition_index = 0}, {.partition_index = 1}}}};
  auto req_golden = WireBuilder().str("g").array(1).str("t").array(2).i32(0).i32(1).build();
  EXPECT_EQ(golden_mismatch(req, 0, req_golden), "");

  OffsetDeleteResponse resp;
  resp.error_code = 0;
  resp.throttle_time_ms = 0;
  resp.topics = {{.name = "t", .partitions = {{.partition_index = 0, .error_code = 86}}}};
  auto resp_golden = WireBuilder()
                         .i16(0)
                         .i32(0)  // error_code, then throttle_time_ms
                         .array(1)
                         .str("t")
                         .array(1)
                         .i32(0)
                         .i16(86)
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 0, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// DeleteTopics (20), DescribeConfigs (32), CreatePartitions (37)

TEST(GoldenDeleteTopics, V3) {
  DeleteTopicsRequest req{.topic_names = {"t"}, .timeout_ms = 5000};
  EXPECT_EQ(golden_mismatch(req, 3, WireBuilder().array(1).str("t").i32(5000).build()), "");

  DeleteTopicsResponse resp;
  resp.throttle_time_ms = 0;
  resp.responses = {{.name = "t", .error_code = 3}};
  auto resp_golden = WireBuilder().i32(0).array(1).str("t").i16(3).build();
  EXPECT_EQ(golden_mismatch(resp, 3, resp_golden), "");
}

TEST(GoldenDescribeConfigs, V3HasSynonymsTypesAndDocumentation) {
  DescribeConfigsRequest req;
  req.resources = {{.resource_type = 2, .resource_name = "t", .configuration_keys = std::nullopt}};
  req.include_synonyms = true;
  req.include_documentation = false;
  auto req_golden = WireBuilder()
                        .array(1)
                        .i8(2)
                        .str("t")
                        .array(-1)       // configuration_keys null: all
                        .boolean(true)   // include_synonyms (v1+)
                        .boolean(false)  // include_documentation (v3+)
                        .build();
  EXPECT_EQ(golden_mismatch(req, 3, req_golden), "");

  DescribeConfigsResponse resp;
  resp.throttle_time_ms = 0;
  resp.results = {
      {.error_code = 0,
       .error_message = std::nullopt,
       .resource_type = 2,
       .resource_name = "t",
       .configs = {{.name = "retention.ms",
                    .value = "604800000",
                    .read_only = false,
                    .config_source = 5,
                    .is_sensitive = false,
                    .synonyms = {{.name = "log.retention.ms", .value = std::nullopt, .source = 5}},
                    .config_type = 5,
                    .documentation = std::nullopt}}}};
  auto resp_golden = WireBuilder()
                         .i32(0)
                         .array(1)
                         .i16(0)
                         .null_str()
                         .i8(2)
                         .str("t")
                         .array(1)
                         .str("retention.ms")
                         .str("604800000")
                         .boolean(false)  // read_only (is_default is v0 only)
                         .i8(5)           // config_source (v1+)
                         .boolean(false)  // is_sensitive
                         .array(1)
                         .str("log.retention.ms")
                         .null_str()
                         .i8(5)       // synonyms (v1+)
                         .i8(5)       // config_type (v3+)
                         .null_str()  // documentation (v3+)
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 3, resp_golden), "");
}

TEST(GoldenCreatePartitions, V1) {
  CreatePartitionsRequest req;
  req.topics = {{.name = "t", .count = 6, .assignments = std::nullopt}};
  req.timeout_ms = 5000;
  req.validate_only = false;
  auto req_golden = WireBuilder()
                        .array(1)
                        .str("t")
                        .i32(6)
                        .array(-1)  // assignments null
                        .i32(5000)
                        .boolean(false)
                        .build();
  EXPECT_EQ(golden_mismatch(req, 1, req_golden), "");

  CreatePartitionsResponse resp;
  resp.throttle_time_ms = 0;
  resp.results = {{.name = "t", .error_code = 37, .error_message = "too few"}};
  auto resp_golden = WireBuilder().i32(0).array(1).str("t").i16(37).str("too few").build();
  EXPECT_EQ(golden_mismatch(resp, 1, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// DeleteRecords (21), SaslHandshake (17), SaslAuthenticate (36)

TEST(GoldenDeleteRecords, V1) {
  DeleteRecordsRequest req;
  req.topics = {{.name = "t", .partitions = {{.partition_index = 0, .offset = 100}}}};
  req.timeout_ms = 5000;
  auto req_golden = WireBuilder().array(1).str("t").array(1).i32(0).i64(100).i32(5000).build();
  EXPECT_EQ(golden_mismatch(req, 1, req_golden), "");

  DeleteRecordsResponse resp;
  resp.throttle_time_ms = 0;
  resp.topics = {
      {.name = "t", .partitions = {{.partition_index = 0, .low_watermark = 100, .error_code = 0}}}};
  auto resp_golden = WireBuilder().i32(0).array(1).str("t").array(1).i32(0).i64(100).i16(0).build();
  EXPECT_EQ(golden_mismatch(resp, 1, resp_golden), "");
}

TEST(GoldenSasl, HandshakeV1AndAuthenticateV1) {
  SaslHandshakeRequest hs{.mechanism = "PLAIN"};
  EXPECT_EQ(golden_mismatch(hs, 1, WireBuilder().str("PLAIN").build()), "");
  SaslHandshakeResponse hs_resp{.error_code = 0, .mechanisms = {"PLAIN", "SCRAM-SHA-256"}};
  auto hs_golden = WireBuilder().i16(0).array(2).str("PLAIN").str("SCRAM-SHA-256").build();
  EXPECT_EQ(golden_mismatch(hs_resp, 1, hs_golden), "");

  SaslAuthenticateRequest auth{.auth_bytes = to_bytes(std::string_view("\0u\0p", 4))};
  EXPECT_EQ(golden_mismatch(auth, 1, WireBuilder().bytes(std::string_view("\0u\0p", 4)).build()),
            "");
  SaslAuthenticateResponse auth_resp{.error_code = 0,
                                     .error_message = std::nullopt,
                                     .auth_bytes = {},
                                     .session_lifetime_ms = 3600000};
  auto auth_golden = WireBuilder()
                         .i16(0)
                         .null_str()
                         .bytes("")
                         .i64(3600000)  // session_lifetime_ms (v1+)
                         .build();
  EXPECT_EQ(golden_mismatch(auth_resp, 1, auth_golden), "");
}

}  // namespace
}  // namespace wharf::kafka::protocol
