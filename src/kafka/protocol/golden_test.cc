// Golden bytes, both directions, for the client-facing data APIs: ApiVersions, Metadata,
// Produce, Fetch, ListOffsets, InitProducerId, CreateTopics, FindCoordinator. Every expected
// byte string is assembled by hand with WireBuilder from the field layout in Kafka's protocol
// guide (or captured from kcat 1.7.1 / librdkafka 2.0.2 where noted), never from the codec.
// Versions chosen are those where the layout changes (fields added, first flexible version).

#include <gtest/gtest.h>

#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/golden_check.h"
#include "kafka/protocol/wire_builder.h"

namespace wharf::kafka::protocol {
namespace {

using testing::golden_mismatch;
using testing::WireBuilder;

// ------------------------------------------------------------------------------------------
// ApiVersions (18)

TEST(GoldenApiVersions, V0RequestIsEmptyAndV0ResponseHasNoThrottleTime) {
  EXPECT_EQ(golden_mismatch(ApiVersionsRequest{}, 0, WireBuilder().build()), "");

  ApiVersionsResponse resp;
  resp.api_keys = {{.api_key = 18, .min_version = 0, .max_version = 3},
                   {.api_key = 3, .min_version = 0, .max_version = 8}};
  auto golden = WireBuilder()
                    .i16(0)    // error_code
                    .array(2)  // api_keys
                    .i16(18)
                    .i16(0)
                    .i16(3)  //   api_key, min_version, max_version
                    .i16(3)
                    .i16(0)
                    .i16(8)
                    .build();  // (throttle_time_ms only from v1)
  EXPECT_EQ(golden_mismatch(resp, 0, golden), "");
}

TEST(GoldenApiVersions, V3RequestCapturedFromLibrdkafka) {
  // Body of the ApiVersions v3 request kcat 1.7.1 (librdkafka 2.0.2) sent to a loopback
  // listener: COMPACT_STRING "librdkafka", COMPACT_STRING "2.0.2", empty tagged fields.
  auto golden = WireBuilder().hex("0b 6c696272646b61666b61  06 322e302e32  00").build();
  ApiVersionsRequest req{.client_software_name = "librdkafka", .client_software_version = "2.0.2"};
  EXPECT_EQ(golden_mismatch(req, 3, golden), "");
  // The same, written field by field.
  EXPECT_EQ(golden, WireBuilder().cstr("librdkafka").cstr("2.0.2").no_tags().build());
}

TEST(GoldenApiVersions, V3ResponseIsCompactWithTaggedFeatureFields) {
  ApiVersionsResponse resp;
  resp.api_keys = {{.api_key = 18, .min_version = 0, .max_version = 3}};
  resp.throttle_time_ms = 7;
  resp.supported_features = {{.name = "f", .min_version = 1, .max_version = 2}};
  resp.finalized_features_epoch = 5;
  resp.zk_migration_ready = true;
  auto golden = WireBuilder()
                    .i16(0)     // error_code
                    .carray(1)  // api_keys (COMPACT_ARRAY)
                    .i16(18)
                    .i16(0)
                    .i16(3)
                    .no_tags()                //   one ApiVersion + its tagged fields
                    .i32(7)                   // throttle_time_ms
                    .uvarint(3)               // three tagged fields, ascending tags:
                    .tagged(0, WireBuilder()  //   0 supported_features
                                   .carray(1)
                                   .cstr("f")
                                   .i16(1)
                                   .i16(2)
                                   .no_tags())
                    .tagged(1, WireBuilder().i64(5))         //   1 finalized_features_epoch
                    .tagged(3, WireBuilder().boolean(true))  //   3 zk_migration_ready
                    .build();  // (tag 2 finalized_features: empty = default)
  EXPECT_EQ(golden_mismatch(resp, 3, golden), "");
}

// ------------------------------------------------------------------------------------------
// Metadata (3)

MetadataResponse::MetadataResponsePartition one_partition() {
  return {.error_code = 0,
          .partition_index = 0,
          .leader_id = 1,
          .replica_nodes = {1},
          .isr_nodes = {1}};
}

TEST(GoldenMetadata, V0) {
  MetadataRequest req;
  req.topics = std::vector<MetadataRequest::MetadataRequestTopic>{{.name = "t"}};
  EXPECT_EQ(golden_mismatch(req, 0, WireBuilder().array(1).str("t").build()), "");

  MetadataResponse resp;
  resp.brokers = {{.node_id = 1, .host = "h", .port = 9092}};
  resp.topics = {{.error_code = 0, .name = "t", .partitions = {one_partition()}}};
  auto golden = WireBuilder()
                    .array(1)  // brokers
                    .i32(1)
                    .str("h")
                    .i32(9092)  //   node_id, host, port
                    .array(1)   // topics
                    .i16(0)
                    .str("t")  //   error_code, name
                    .array(1)  //   partitions
                    .i16(0)
                    .i32(0)
                    .i32(1)  //     error_code, partition_index, leader_id
                    .array(1)
                    .i32(1)  //     replica_nodes
                    .array(1)
                    .i32(1)  //     isr_nodes
                    .build();
  EXPECT_EQ(golden_mismatch(resp, 0, golden), "");
}

TEST(GoldenMetadata, V1AddsNullTopicsRackControllerAndIsInternal) {
  MetadataRequest req;
  req.topics.reset();  // null: all topics (v1+)
  EXPECT_EQ(golden_mismatch(req, 1, WireBuilder().array(-1).build()), "");

  MetadataResponse resp;
  resp.brokers = {{.node_id = 1, .host = "h", .port = 9092, .rack = std::nullopt}};
  resp.controller_id = 1;
  resp.topics = {
      {.error_code = 0, .name = "t", .is_internal = true, .partitions = {one_partition()}}};
  auto golden = WireBuilder()
                    .array(1)
                    .i32(1)
                    .str("h")
                    .i32(9092)
                    .null_str()  // ... rack (null)
                    .i32(1)      // controller_id
                    .array(1)
                    .i16(0)
                    .str("t")
                    .boolean(true)  // ... is_internal
                    .array(1)
                    .i16(0)
                    .i32(0)
                    .i32(1)
                    .array(1)
                    .i32(1)
                    .array(1)
                    .i32(1)
                    .build();
  EXPECT_EQ(golden_mismatch(resp, 1, golden), "");
}

TEST(GoldenMetadata, V4RequestsCapturedFromLibrdkafka) {
  // kcat -L: first a brokers-only request (empty topic list, no auto-create), then the
  // all-topics request (null topic list, allow_auto_topic_creation true).
  MetadataRequest brokers_only;
  brokers_only.allow_auto_topic_creation = false;
  EXPECT_EQ(golden_mismatch(brokers_only, 4, WireBuilder().hex("00000000 00").build()), "");
  MetadataRequest all_topics;
  all_topics.topics.reset();
  EXPECT_EQ(golden_mismatch(all_topics, 4, WireBuilder().hex("ffffffff 01").build()), "");
  EXPECT_EQ(WireBuilder().hex("ffffffff 01").build(),
            WireBuilder().array(-1).boolean(true).build());
}

TEST(GoldenMetadata, V4ResponseHasThrottleAndClusterId) {
  MetadataResponse resp;
  resp.throttle_time_ms = 0;
  resp.brokers = {{.node_id = 1, .host = "h", .port = 9092, .rack = "r"}};
  resp.cluster_id = "c";
  resp.controller_id = 1;
  resp.topics = {
      {.error_code = 0, .name = "t", .is_internal = false, .partitions = {one_partition()}}};
  auto golden = WireBuilder()
                    .i32(0)  // throttle_time_ms (v3+)
                    .array(1)
                    .i32(1)
                    .str("h")
                    .i32(9092)
                    .str("r")
                    .str("c")  // cluster_id (v2+)
                    .i32(1)    // controller_id
                    .array(1)
                    .i16(0)
                    .str("t")
                    .boolean(false)
                    .array(1)
                    .i16(0)
                    .i32(0)
                    .i32(1)
                    .array(1)
                    .i32(1)
                    .array(1)
                    .i32(1)
                    .build();
  EXPECT_EQ(golden_mismatch(resp, 4, golden), "");
}

TEST(GoldenMetadata, V8AddsEpochsOfflineReplicasAndAuthorizedOperations) {
  MetadataRequest req;
  req.topics = std::vector<MetadataRequest::MetadataRequestTopic>{{.name = "t"}};
  req.allow_auto_topic_creation = false;
  req.include_cluster_authorized_operations = true;
  req.include_topic_authorized_operations = false;
  auto req_golden = WireBuilder()
                        .array(1)
                        .str("t")
                        .boolean(false)  // allow_auto_topic_creation (v4+)
                        .boolean(true)   // include_cluster_authorized_operations (v8-10)
                        .boolean(false)  // include_topic_authorized_operations (v8+)
                        .build();
  EXPECT_EQ(golden_mismatch(req, 8, req_golden), "");

  MetadataResponse resp;
  resp.brokers = {{.node_id = 1, .host = "h", .port = 9092, .rack = std::nullopt}};
  resp.cluster_id = std::nullopt;
  resp.controller_id = 1;
  auto partition = one_partition();
  partition.leader_epoch = 3;
  partition.offline_replicas = {};
  resp.topics = {{.error_code = 0,
                  .name = "t",
                  .is_internal = false,
                  .partitions = {partition},
                  .topic_authorized_operations = 8}};
  resp.cluster_authorized_operations = -2147483647 - 1;
  auto golden = WireBuilder()
                    .i32(0)
                    .array(1)
                    .i32(1)
                    .str("h")
                    .i32(9092)
                    .null_str()
                    .null_str()  // cluster_id null
                    .i32(1)
                    .array(1)
                    .i16(0)
                    .str("t")
                    .boolean(false)
                    .array(1)
                    .i16(0)
                    .i32(0)
                    .i32(1)
                    .i32(3)  // leader_epoch (v7+)
                    .array(1)
                    .i32(1)
                    .array(1)
                    .i32(1)
                    .array(0)              // offline_replicas (v5+)
                    .i32(8)                // topic_authorized_operations
                    .i32(-2147483647 - 1)  // cluster_authorized_operations
                    .build();
  EXPECT_EQ(golden_mismatch(resp, 8, golden), "");
}

// ------------------------------------------------------------------------------------------
// Produce (0)

ProduceRequest produce_request() {
  ProduceRequest req;
  req.transactional_id = std::nullopt;
  req.acks = -1;
  req.timeout_ms = 30000;
  req.topic_data = {{.name = "t",
                     .partition_data = {{.index = 0, .records = to_bytes("RB")},
                                        {.index = 1, .records = std::nullopt}}}};
  return req;
}

TEST(GoldenProduce, V3AndV7RequestsShareTheLayout) {
  auto golden = WireBuilder()
                    .null_str()  // transactional_id (v3+, null)
                    .i16(-1)     // acks
                    .i32(30000)  // timeout_ms
                    .array(1)
                    .str("t")  // topic_data: name
                    .array(2)  //   partition_data
                    .i32(0)
                    .bytes("RB")  //     index, records (opaque bytes)
                    .i32(1)
                    .null_bytes()  //     index, records null
                    .build();
  EXPECT_EQ(golden_mismatch(produce_request(), 3, golden), "");
  EXPECT_EQ(golden_mismatch(produce_request(), 7, golden), "");
}

TEST(GoldenProduce, V3ResponseHasLogAppendTimeAndV7AddsLogStartOffset) {
  ProduceResponse resp;
  resp.responses = {
      {.name = "t",
       .partition_responses = {
           {.index = 0, .error_code = 0, .base_offset = 42, .log_append_time_ms = -1}}}};
  resp.throttle_time_ms = 0;
  auto v3 = WireBuilder()
                .array(1)
                .str("t")
                .array(1)
                .i32(0)
                .i16(0)
                .i64(42)
                .i64(-1)  // log_append_time_ms (v2+)
                .i32(0)   // throttle_time_ms (v1+, after responses)
                .build();
  EXPECT_EQ(golden_mismatch(resp, 3, v3), "");
  resp.responses[0].partition_responses[0].log_start_offset = 0;
  auto v7 = WireBuilder()
                .array(1)
                .str("t")
                .array(1)
                .i32(0)
                .i16(0)
                .i64(42)
                .i64(-1)
                .i64(0)  // log_start_offset (v5+)
                .i32(0)
                .build();
  EXPECT_EQ(golden_mismatch(resp, 7, v7), "");
}

// ------------------------------------------------------------------------------------------
// Fetch (1)

TEST(GoldenFetch, V4) {
  FetchRequest req;
  req.replica_id = -1;
  req.max_wait_ms = 500;
  req.min_bytes = 1;
  req.max_bytes = 52428800;
  req.isolation_level = 1;
  req.topics = {
      {.topic = "t",
       .partitions = {{.partition = 0, .fetch_offset = 10, .partition_max_bytes = 1048576}}}};
  auto req_golden = WireBuilder()
                        .i32(-1)
                        .i32(500)
                        .i32(1)
                        .i32(52428800)  // max_bytes (v3+)
                        .i8(1)          // isolation_level (v4+)
                        .array(1)
                        .str("t")
                        .array(1)
                        .i32(0)
                        .i64(10)
                        .i32(1048576)
                        .build();
  EXPECT_EQ(golden_mismatch(req, 4, req_golden), "");

  FetchResponse resp;
  resp.throttle_time_ms = 0;
  resp.responses = {{.topic = "t",
                     .partitions = {{.partition_index = 0,
                                     .error_code = 0,
                                     .high_watermark = 11,
                                     .last_stable_offset = 11,
                                     .aborted_transactions =
                                         std::vector<FetchResponse::AbortedTransaction>{
                                             {.producer_id = 7, .first_offset = 3}},
                                     .records = to_bytes("batch")}}}};
  auto resp_golden = WireBuilder()
                         .i32(0)  // throttle_time_ms
                         .array(1)
                         .str("t")
                         .array(1)
                         .i32(0)
                         .i16(0)
                         .i64(11)
                         .i64(11)  // last_stable_offset (v4+)
                         .array(1)
                         .i64(7)
                         .i64(3)          // aborted_transactions (v4+)
                         .bytes("batch")  // records
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 4, resp_golden), "");
}

TEST(GoldenFetch, V11AddsSessionsEpochsRackAndPreferredReplica) {
  FetchRequest req;
  req.replica_id = -1;
  req.max_wait_ms = 500;
  req.min_bytes = 1;
  req.max_bytes = 1000;
  req.isolation_level = 0;
  req.session_id = 0;
  req.session_epoch = -1;
  req.topics = {{.topic = "t",
                 .partitions = {{.partition = 2,
                                 .current_leader_epoch = 0,
                                 .fetch_offset = 10,
                                 .log_start_offset = -1,
                                 .partition_max_bytes = 99}}}};
  req.forgotten_topics_data = {{.topic = "old", .partitions = {4}}};
  req.rack_id = "rack";
  auto req_golden = WireBuilder()
                        .i32(-1)
                        .i32(500)
                        .i32(1)
                        .i32(1000)
                        .i8(0)
                        .i32(0)
                        .i32(-1)  // session_id, session_epoch (v7+)
                        .array(1)
                        .str("t")
                        .array(1)
                        .i32(2)   // partition
                        .i32(0)   // current_leader_epoch (v9+)
                        .i64(10)  // fetch_offset
                        .i64(-1)  // log_start_offset (v5+)
                        .i32(99)  // partition_max_bytes
                        .array(1)
                        .str("old")
                        .array(1)
                        .i32(4)       // forgotten_topics_data (v7+)
                        .str("rack")  // rack_id (v11+)
                        .build();
  EXPECT_EQ(golden_mismatch(req, 11, req_golden), "");

  FetchResponse resp;
  resp.throttle_time_ms = 0;
  resp.error_code = 0;
  resp.session_id = 0;
  resp.responses = {{.topic = "t",
                     .partitions = {{.partition_index = 2,
                                     .error_code = 0,
                                     .high_watermark = 11,
                                     .last_stable_offset = 11,
                                     .log_start_offset = 0,
                                     .aborted_transactions = std::nullopt,
                                     .preferred_read_replica = -1,
                                     .records = to_bytes("b")}}}};
  auto resp_golden = WireBuilder()
                         .i32(0)
                         .i16(0)
                         .i32(0)  // error_code, session_id (v7+)
                         .array(1)
                         .str("t")
                         .array(1)
                         .i32(2)
                         .i16(0)
                         .i64(11)
                         .i64(11)
                         .i64(0)     // log_start_offset (v5+)
                         .array(-1)  // aborted_transactions null
                         .i32(-1)    // preferred_read_replica (v11+)
                         .bytes("b")
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 11, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// ListOffsets (2)

TEST(GoldenListOffsets, V0HasMaxNumOffsetsAndOldStyleOffsets) {
  ListOffsetsRequest req;
  req.replica_id = -1;
  req.topics = {
      {.name = "t", .partitions = {{.partition_index = 0, .timestamp = -1, .max_num_offsets = 1}}}};
  auto req_golden = WireBuilder()
                        .i32(-1)  // replica_id
                        .array(1)
                        .str("t")
                        .array(1)
                        .i32(0)
                        .i64(-1)
                        .i32(1)    // partition_index, timestamp,
                        .build();  // max_num_offsets (v0 only)
  EXPECT_EQ(golden_mismatch(req, 0, req_golden), "");

  ListOffsetsResponse resp;
  resp.topics = {
      {.name = "t",
       .partitions = {{.partition_index = 0, .error_code = 0, .old_style_offsets = {7, 3}}}}};
  auto resp_golden = WireBuilder()
                         .array(1)
                         .str("t")
                         .array(1)
                         .i32(0)
                         .i16(0)  // partition_index, error_code
                         .array(2)
                         .i64(7)
                         .i64(3)    // old_style_offsets (v0 only)
                         .build();  // (no timestamp or offset)
  EXPECT_EQ(golden_mismatch(resp, 0, resp_golden), "");
}

TEST(GoldenListOffsets, V1) {
  ListOffsetsRequest req;
  req.replica_id = -1;
  req.topics = {{.name = "t", .partitions = {{.partition_index = 0, .timestamp = -2}}}};
  auto req_golden = WireBuilder()
                        .i32(-1)  // replica_id
                        .array(1)
                        .str("t")
                        .array(1)
                        .i32(0)
                        .i64(-2)   // partition_index, timestamp
                        .build();  // (max_num_offsets is v0 only)
  EXPECT_EQ(golden_mismatch(req, 1, req_golden), "");

  ListOffsetsResponse resp;
  resp.topics = {
      {.name = "t",
       .partitions = {{.partition_index = 0, .error_code = 0, .timestamp = -1, .offset = 5}}}};
  auto resp_golden = WireBuilder()
                         .array(1)
                         .str("t")
                         .array(1)
                         .i32(0)
                         .i16(0)
                         .i64(-1)
                         .i64(5)    // timestamp, offset (v1+)
                         .build();  // (no throttle before v2)
  EXPECT_EQ(golden_mismatch(resp, 1, resp_golden), "");
}

TEST(GoldenListOffsets, V4AddsIsolationThrottleAndLeaderEpochs) {
  ListOffsetsRequest req;
  req.replica_id = -1;
  req.isolation_level = 1;
  req.topics = {
      {.name = "t",
       .partitions = {{.partition_index = 0, .current_leader_epoch = 0, .timestamp = -1}}}};
  auto req_golden = WireBuilder()
                        .i32(-1)
                        .i8(1)  // isolation_level (v2+)
                        .array(1)
                        .str("t")
                        .array(1)
                        .i32(0)
                        .i32(0)  // current_leader_epoch (v4+)
                        .i64(-1)
                        .build();
  EXPECT_EQ(golden_mismatch(req, 4, req_golden), "");

  ListOffsetsResponse resp;
  resp.throttle_time_ms = 0;
  resp.topics = {{.name = "t",
                  .partitions = {{.partition_index = 0,
                                  .error_code = 0,
                                  .timestamp = -1,
                                  .offset = 5,
                                  .leader_epoch = 0}}}};
  auto resp_golden = WireBuilder()
                         .i32(0)  // throttle_time_ms (v2+)
                         .array(1)
                         .str("t")
                         .array(1)
                         .i32(0)
                         .i16(0)
                         .i64(-1)
                         .i64(5)
                         .i32(0)  // leader_epoch (v4+)
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 4, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// InitProducerId (22)

TEST(GoldenInitProducerId, V0) {
  InitProducerIdRequest req;
  req.transactional_id = std::nullopt;
  req.transaction_timeout_ms = 60000;
  EXPECT_EQ(golden_mismatch(req, 0, WireBuilder().null_str().i32(60000).build()), "");

  InitProducerIdResponse resp{
      .throttle_time_ms = 0, .error_code = 0, .producer_id = 1000, .producer_epoch = 0};
  EXPECT_EQ(golden_mismatch(resp, 0, WireBuilder().i32(0).i16(0).i64(1000).i16(0).build()), "");
}

TEST(GoldenInitProducerId, V2IsFlexible) {
  InitProducerIdRequest req;
  req.transactional_id = std::nullopt;
  req.transaction_timeout_ms = 60000;
  auto req_golden = WireBuilder()
                        .cnull()  // transactional_id: COMPACT_NULLABLE_STRING null = 0
                        .i32(60000)
                        .no_tags()
                        .build();
  EXPECT_EQ(golden_mismatch(req, 2, req_golden), "");

  InitProducerIdResponse resp{
      .throttle_time_ms = 0, .error_code = 0, .producer_id = 1000, .producer_epoch = 0};
  auto resp_golden = WireBuilder().i32(0).i16(0).i64(1000).i16(0).no_tags().build();
  EXPECT_EQ(golden_mismatch(resp, 2, resp_golden), "");
}

TEST(GoldenInitProducerId, V4CarriesTheCurrentProducerIdAndEpoch) {
  InitProducerIdRequest req;
  req.transactional_id = "tx";
  req.transaction_timeout_ms = 60000;
  req.producer_id = 1000;
  req.producer_epoch = 3;
  auto req_golden = WireBuilder()
                        .cstr("tx")
                        .i32(60000)
                        .i64(1000)
                        .i16(3)  // producer_id, producer_epoch (v3+)
                        .no_tags()
                        .build();
  EXPECT_EQ(golden_mismatch(req, 4, req_golden), "");

  InitProducerIdResponse resp{
      .throttle_time_ms = 0, .error_code = 0, .producer_id = 1000, .producer_epoch = 4};
  auto resp_golden = WireBuilder().i32(0).i16(0).i64(1000).i16(4).no_tags().build();
  EXPECT_EQ(golden_mismatch(resp, 4, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// CreateTopics (19)

CreateTopicsRequest create_topics_request() {
  CreateTopicsRequest req;
  req.topics = {{.name = "t",
                 .num_partitions = 3,
                 .replication_factor = 1,
                 .assignments = {},
                 .configs = {{.name = "retention.ms", .value = "1000"},
                             {.name = "cleanup.policy", .value = std::nullopt}}}};
  req.timeout_ms = 5000;
  return req;
}

TEST(GoldenCreateTopics, V0) {
  auto req_golden = WireBuilder()
                        .array(1)
                        .str("t")
                        .i32(3)
                        .i16(1)    // name, num_partitions, replication
                        .array(0)  // assignments
                        .array(2)  // configs
                        .str("retention.ms")
                        .str("1000")
                        .str("cleanup.policy")
                        .null_str()
                        .i32(5000)  // timeout_ms
                        .build();
  EXPECT_EQ(golden_mismatch(create_topics_request(), 0, req_golden), "");

  CreateTopicsResponse resp;
  resp.topics = {{.name = "t", .error_code = 36}};
  resp.topics[0].error_message = std::string();  // default; not on the wire before v1
  EXPECT_EQ(golden_mismatch(resp, 0, WireBuilder().array(1).str("t").i16(36).build()), "");
}

TEST(GoldenCreateTopics, V4AddsValidateOnlyThrottleAndErrorMessage) {
  auto req = create_topics_request();
  req.validate_only = true;
  auto req_golden = WireBuilder()
                        .array(1)
                        .str("t")
                        .i32(3)
                        .i16(1)
                        .array(0)
                        .array(2)
                        .str("retention.ms")
                        .str("1000")
                        .str("cleanup.policy")
                        .null_str()
                        .i32(5000)
                        .boolean(true)  // validate_only (v1+)
                        .build();
  EXPECT_EQ(golden_mismatch(req, 4, req_golden), "");

  CreateTopicsResponse resp;
  resp.throttle_time_ms = 0;
  resp.topics = {{.name = "t", .error_code = 36, .error_message = "exists"}};
  auto resp_golden = WireBuilder()
                         .i32(0)  // throttle_time_ms (v2+)
                         .array(1)
                         .str("t")
                         .i16(36)
                         .str("exists")  // error_message (v1+)
                         .build();
  EXPECT_EQ(golden_mismatch(resp, 4, resp_golden), "");
}

// ------------------------------------------------------------------------------------------
// FindCoordinator (10)

TEST(GoldenFindCoordinator, V0) {
  FindCoordinatorRequest req{.key = "g"};
  EXPECT_EQ(golden_mismatch(req, 0, WireBuilder().str("g").build()), "");

  FindCoordinatorResponse resp;
  resp.error_code = 0;
  resp.node_id = 1;
  resp.host = "h";
  resp.port = 9092;
  auto golden = WireBuilder().i16(0).i32(1).str("h").i32(9092).build();
  EXPECT_EQ(golden_mismatch(resp, 0, golden), "");
}

TEST(GoldenFindCoordinator, V2AddsKeyTypeThrottleAndErrorMessage) {
  FindCoordinatorRequest req{.key = "g", .key_type = 0};
  EXPECT_EQ(golden_mismatch(req, 2, WireBuilder().str("g").i8(0).build()), "");

  FindCoordinatorResponse resp;
  resp.throttle_time_ms = 0;
  resp.error_code = 15;
  resp.error_message = std::nullopt;
  resp.node_id = -1;
  resp.host = "";
  resp.port = -1;
  auto golden = WireBuilder()
                    .i32(0)  // throttle_time_ms (v1+)
                    .i16(15)
                    .null_str()  // error_message (v1+)
                    .i32(-1)
                    .str("")
                    .i32(-1)
                    .build();
  EXPECT_EQ(golden_mismatch(resp, 2, golden), "");
}

}  // namespace
}  // namespace wharf::kafka::protocol
