// The log and cluster administration APIs against the real broker: DeleteRecords through
// librdkafka's admin API (the log start moves, is kept across a clean restart and a SIGKILL,
// ListOffsets earliest answers it, a fetch below it gets OFFSET_OUT_OF_RANGE and a librdkafka
// consumer reading from the beginning starts there), and DescribeCluster, DescribeLogDirs,
// OffsetForLeaderEpoch and DescribeProducers on raw frames built with the generated codec, in
// their oldest and newest (flexible) versions, with the per-partition errors Kafka gives.
// Each test starts its own broker.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kafka/protocol/generated/alter_configs.h"
#include "kafka/protocol/generated/api_versions.h"
#include "kafka/protocol/generated/create_topics.h"
#include "kafka/protocol/generated/delete_groups.h"
#include "kafka/protocol/generated/delete_records.h"
#include "kafka/protocol/generated/describe_cluster.h"
#include "kafka/protocol/generated/describe_configs.h"
#include "kafka/protocol/generated/describe_log_dirs.h"
#include "kafka/protocol/generated/describe_producers.h"
#include "kafka/protocol/generated/fetch.h"
#include "kafka/protocol/generated/incremental_alter_configs.h"
#include "kafka/protocol/generated/init_producer_id.h"
#include "kafka/protocol/generated/join_group.h"
#include "kafka/protocol/generated/list_offsets.h"
#include "kafka/protocol/generated/metadata.h"
#include "kafka/protocol/generated/offset_for_leader_epoch.h"
#include "kafka/protocol/generated/produce.h"
#include "kafka/protocol/generated/sync_group.h"
#include "storage/record_batch.h"
#include "tests/integration/broker_process.h"
#include "tests/support/raw_client.h"

namespace wharf::test {
namespace {

namespace p = kafka::protocol;
using raw::Connection;
using raw::round_trip;

constexpr std::int16_t kOffsetOutOfRange = 1;
constexpr std::int16_t kUnknownTopicOrPartition = 3;
constexpr std::int16_t kInvalidTopic = 17;
constexpr std::int16_t kUnknownLeaderEpoch = 75;
constexpr std::int16_t kMismatchedEndpointType = 114;
constexpr std::int16_t kUnsupportedEndpointType = 115;

// Three records of this size make a batch larger than the smallest segment.bytes (4096), so
// with that setting every batch gets a segment of its own.
constexpr std::size_t kValueBytes = 1500;
constexpr int kRecordsPerBatch = 3;
constexpr int kBatches = 10;

class AdminApisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>();
    ASSERT_TRUE(broker_->start()) << broker_->last_output();
  }
  void TearDown() override {
    if (broker_->running()) {
      EXPECT_EQ(broker_->stop(), 0) << broker_->last_output();
    }
  }

  template <typename Response, typename Request>
  std::optional<Response> call(const Request& request, std::int16_t version) {
    Connection conn(broker_->port());
    EXPECT_TRUE(conn.connected()) << conn.error();
    std::string error;
    auto resp = round_trip<Response>(conn, request, version, ++correlation_id_, error);
    EXPECT_TRUE(resp.has_value()) << error;
    return resp;
  }

  void create_topic(const std::string& topic, int partitions,
                    std::vector<p::CreateTopicsRequest::CreatableTopicConfig> configs = {}) {
    p::CreateTopicsRequest req;
    req.timeout_ms = 10'000;
    p::CreateTopicsRequest::CreatableTopic t;
    t.name = topic;
    t.num_partitions = partitions;
    t.replication_factor = 1;
    t.configs = std::move(configs);
    req.topics.push_back(std::move(t));
    auto resp = call<p::CreateTopicsResponse>(req, 4);
    ASSERT_TRUE(resp.has_value());
    ASSERT_EQ(resp->topics.size(), 1u);
    ASSERT_EQ(resp->topics[0].error_code, 0) << resp->topics[0].error_message.value_or("");
  }

  // Appends kBatches batches of kRecordsPerBatch records to partition 0 (acks=-1).
  void produce_batches(const std::string& topic, const storage::BatchOptions& options = {}) {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<storage::Record> records(kRecordsPerBatch);
      for (int r = 0; r < kRecordsPerBatch; ++r) {
        records[static_cast<std::size_t>(r)].value =
            Bytes(kValueBytes, static_cast<std::byte>('a' + r));
        records[static_cast<std::size_t>(r)].timestamp_ms = 1000 * (b + 1);
      }
      storage::BatchOptions batch_options = options;
      if (options.producer_id != kNoProducerId) batch_options.base_sequence = b * kRecordsPerBatch;
      p::ProduceRequest req;
      req.transactional_id = std::nullopt;
      req.acks = -1;
      req.timeout_ms = 10'000;
      req.topic_data.push_back({topic, {{0, storage::build_batch(records, batch_options)}}});
      auto resp = call<p::ProduceResponse>(req, 7);
      ASSERT_TRUE(resp.has_value());
      ASSERT_EQ(resp->responses[0].partition_responses[0].error_code, 0);
      ASSERT_EQ(resp->responses[0].partition_responses[0].base_offset, b * kRecordsPerBatch);
    }
  }

  // ListOffsets v4: (error, offset) for -2 (earliest) or -1 (latest).
  std::pair<std::int16_t, std::int64_t> list_offset(const std::string& topic,
                                                    std::int32_t partition,
                                                    std::int64_t timestamp) {
    p::ListOffsetsRequest req;
    req.replica_id = -1;
    req.topics.push_back({topic, {{partition, -1, timestamp, 1}}});
    auto resp = call<p::ListOffsetsResponse>(req, 4);
    if (!resp || resp->topics.size() != 1 || resp->topics[0].partitions.size() != 1)
      return {-100, -100};
    return {resp->topics[0].partitions[0].error_code, resp->topics[0].partitions[0].offset};
  }

  // Fetch v11 of partition 0 from `offset`: (error, log start offset, first batch's base offset
  // or -1).
  std::tuple<std::int16_t, std::int64_t, std::int64_t> fetch(const std::string& topic,
                                                             std::int64_t offset) {
    p::FetchRequest req;
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 1 << 20;
    req.topics.push_back({topic, {{0, -1, offset, -1, 1 << 20}}});
    auto resp = call<p::FetchResponse>(req, 11);
    if (!resp || resp->responses.size() != 1 || resp->responses[0].partitions.size() != 1)
      return {-100, -100, -100};
    const auto& part = resp->responses[0].partitions[0];
    std::int64_t first = -1;
    if (part.records && part.records->size() >= storage::batch_layout::kHeaderBytes) {
      first = load_be<std::int64_t>(*part.records, storage::batch_layout::kBaseOffset);
    }
    return {part.error_code, part.log_start_offset, first};
  }

  std::vector<std::int64_t> segment_bases(const std::string& topic) {
    std::vector<std::int64_t> out;
    const auto dir = std::filesystem::path(broker_->data_dir()) / "topics" / topic / "0";
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".log") out.push_back(std::stoll(e.path().stem().string()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::uint64_t log_bytes(const std::string& topic, std::int32_t partition) {
    std::uint64_t total = 0;
    const auto dir =
        std::filesystem::path(broker_->data_dir()) / "topics" / topic / std::to_string(partition);
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".log") total += e.file_size();
    }
    return total;
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::int32_t correlation_id_ = 0;
};

// librdkafka's DeleteRecords: topic_partition -> (offset to delete before) in, per-partition
// (error, low watermark) out.
std::map<std::pair<std::string, std::int32_t>, std::pair<rd_kafka_resp_err_t, std::int64_t>>
delete_records(const std::string& bootstrap,
               const std::vector<std::tuple<std::string, std::int32_t, std::int64_t>>& targets) {
  std::map<std::pair<std::string, std::int32_t>, std::pair<rd_kafka_resp_err_t, std::int64_t>> out;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  EXPECT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err),
            RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  if (!rk) return out;
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(targets.size()));
  for (const auto& [topic, partition, offset] : targets)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = offset;
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(list);
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS);
  rd_kafka_AdminOptions_set_operation_timeout(options, 10'000, err, sizeof err);
  rd_kafka_DeleteRecords(rk, &del, 1, options, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30'000);
  EXPECT_NE(ev, nullptr) << "no DeleteRecords result within 30 s";
  if (ev) {
    EXPECT_EQ(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR)
        << rd_kafka_event_error_string(ev);
    const rd_kafka_DeleteRecords_result_t* res = rd_kafka_event_DeleteRecords_result(ev);
    const rd_kafka_topic_partition_list_t* offsets =
        res ? rd_kafka_DeleteRecords_result_offsets(res) : nullptr;
    for (int i = 0; offsets && i < offsets->cnt; ++i) {
      const auto& e = offsets->elems[i];
      out[{e.topic, e.partition}] = {e.err, e.offset};
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_DeleteRecords_destroy(del);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return out;
}

// Offsets a librdkafka consumer reads from partition 0 starting at "beginning", until `expected`
// records or 30 s.
std::vector<std::int64_t> consume_from_beginning(const std::string& bootstrap,
                                                 const std::string& topic, std::size_t expected) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", bootstrap},
                                                        {"group.id", "admin-apis-reader"},
                                                        {"enable.auto.commit", "false"},
                                                        {"enable.partition.eof", "false"}}) {
    EXPECT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err), RD_KAFKA_CONF_OK);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  std::vector<std::int64_t> out;
  if (!rk) return out;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  EXPECT_EQ(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(list);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (m->err)
      ADD_FAILURE() << "consumer error: " << rd_kafka_message_errstr(m);
    else
      out.push_back(m->offset);
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

TEST_F(AdminApisTest, DeleteRecordsMovesTheLogStartDurablyAndDeletesWholeSegmentsBelowIt) {
  const std::string topic = "delete-records";
  create_topic(topic, 2, {{"segment.bytes", "4096"}});
  produce_batches(topic);
  constexpr std::int64_t kEnd = kBatches * kRecordsPerBatch;  // 30
  ASSERT_EQ(segment_bases(topic).size(), static_cast<std::size_t>(kBatches))
      << "every batch should have its own segment";

  // 14 is inside the batch 12..14: the log start becomes 14, the segments ending at or below it
  // go, the one holding 12..14 stays.
  auto deleted = delete_records(broker_->bootstrap(),
                                {{topic, 0, 14}, {topic, 1, kEnd + 5}, {"no-such-topic", 0, 0}});
  ASSERT_EQ(deleted.size(), 3u);
  EXPECT_EQ(deleted[std::make_pair(topic, 0)],
            std::make_pair(RD_KAFKA_RESP_ERR_NO_ERROR, std::int64_t{14}));
  EXPECT_EQ(deleted[std::make_pair(topic, 1)].first, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
      << "above the high watermark (0)";
  EXPECT_EQ((deleted[std::make_pair("no-such-topic", 0)].first),
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  EXPECT_EQ(segment_bases(topic), (std::vector<std::int64_t>{12, 15, 18, 21, 24, 27}));

  auto check_log_start = [&](const std::string& when) {
    SCOPED_TRACE(when);
    EXPECT_EQ(list_offset(topic, 0, -2), std::make_pair(std::int16_t{0}, std::int64_t{14}));
    EXPECT_EQ(list_offset(topic, 0, -1), std::make_pair(std::int16_t{0}, kEnd));
    // By timestamp: batch 12..14 has timestamp 5000; its first record left is 14.
    EXPECT_EQ(list_offset(topic, 0, 5000), std::make_pair(std::int16_t{0}, std::int64_t{14}));
    EXPECT_EQ(list_offset(topic, 0, 1000), std::make_pair(std::int16_t{0}, std::int64_t{14}));
    auto [below_error, below_start, below_first] = fetch(topic, 13);
    EXPECT_EQ(below_error, kOffsetOutOfRange);
    EXPECT_EQ(below_first, -1);
    auto [at_error, at_start, at_first] = fetch(topic, 14);
    EXPECT_EQ(at_error, 0);
    EXPECT_EQ(at_start, 14);
    EXPECT_EQ(at_first, 12) << "the whole batch holding offset 14";
  };
  check_log_start("after DeleteRecords");

  // A real consumer asked for the beginning starts at 14, not inside the deleted part.
  auto offsets = consume_from_beginning(broker_->bootstrap(), topic, kEnd - 14);
  ASSERT_FALSE(offsets.empty());
  EXPECT_EQ(offsets.front(), 14);
  EXPECT_EQ(offsets.size(), static_cast<std::size_t>(kEnd - 14));

  // Deleting below the log start changes nothing and answers the log start.
  deleted = delete_records(broker_->bootstrap(), {{topic, 0, 3}});
  EXPECT_EQ((deleted[std::make_pair(topic, 0)]),
            std::make_pair(RD_KAFKA_RESP_ERR_NO_ERROR, std::int64_t{14}));

  ASSERT_EQ(broker_->stop(), 0) << broker_->last_output();
  ASSERT_TRUE(broker_->start()) << broker_->last_output();
  check_log_start("after a clean restart");

  broker_->kill9();
  ASSERT_TRUE(broker_->start()) << broker_->last_output();
  check_log_start("after SIGKILL and a restart");

  // -1: up to the high watermark; the active segment stays, empty of readable records.
  deleted = delete_records(broker_->bootstrap(), {{topic, 0, RD_KAFKA_OFFSET_END}});
  EXPECT_EQ((deleted[std::make_pair(topic, 0)]), std::make_pair(RD_KAFKA_RESP_ERR_NO_ERROR, kEnd));
  EXPECT_EQ(list_offset(topic, 0, -2), std::make_pair(std::int16_t{0}, kEnd));
  EXPECT_EQ(std::get<0>(fetch(topic, kEnd - 1)), kOffsetOutOfRange);
  EXPECT_EQ(std::get<0>(fetch(topic, kEnd)), 0);
  broker_->kill9();
  ASSERT_TRUE(broker_->start()) << broker_->last_output();
  EXPECT_EQ(list_offset(topic, 0, -2), std::make_pair(std::int16_t{0}, kEnd));
}

// DeleteRecords v0 and v2 (flexible) on raw frames: bad offsets, an unknown partition (which
// librdkafka refuses before sending) and the internal offsets topic get Kafka's errors.
TEST_F(AdminApisTest, DeleteRecordsRawFramesRejectBadOffsetsAndTheInternalTopic) {
  const std::string topic = "delete-records-raw";
  create_topic(topic, 1);
  produce_batches(topic);
  for (std::int16_t version : {0, 2}) {
    SCOPED_TRACE(fmt::format("DeleteRecords v{}", version));
    p::DeleteRecordsRequest req;
    req.timeout_ms = 10'000;
    req.topics.push_back({topic, {{0, -2}, {0, 3 * (version + 1)}, {7, 0}}});
    req.topics.push_back({"__consumer_offsets", {{0, 0}}});
    auto resp = call<p::DeleteRecordsResponse>(req, version);
    ASSERT_TRUE(resp.has_value());
    ASSERT_EQ(resp->topics.size(), 2u);
    ASSERT_EQ(resp->topics[0].partitions.size(), 3u);
    EXPECT_EQ(resp->topics[0].partitions[0].error_code, kOffsetOutOfRange);
    EXPECT_EQ(resp->topics[0].partitions[0].low_watermark, -1);
    EXPECT_EQ(resp->topics[0].partitions[1].error_code, 0);
    EXPECT_EQ(resp->topics[0].partitions[1].low_watermark, 3 * (version + 1));
    EXPECT_EQ(resp->topics[0].partitions[2].error_code, kUnknownTopicOrPartition);
    ASSERT_EQ(resp->topics[1].partitions.size(), 1u);
    EXPECT_EQ(resp->topics[1].partitions[0].error_code, kInvalidTopic);
  }
  EXPECT_EQ(list_offset(topic, 0, -2), std::make_pair(std::int16_t{0}, std::int64_t{9}));
}

TEST_F(AdminApisTest, DescribeClusterNamesThisBrokerAsTheMetadataDoes) {
  p::MetadataRequest meta;
  meta.topics = std::vector<p::MetadataRequest::MetadataRequestTopic>{};
  auto metadata = call<p::MetadataResponse>(meta, 8);
  ASSERT_TRUE(metadata.has_value());
  ASSERT_TRUE(metadata->cluster_id.has_value());
  for (std::int16_t version : {0, 1}) {
    SCOPED_TRACE(fmt::format("DescribeCluster v{}", version));
    p::DescribeClusterRequest req;
    auto resp = call<p::DescribeClusterResponse>(req, version);
    ASSERT_TRUE(resp.has_value());
    EXPECT_EQ(resp->error_code, 0);
    EXPECT_EQ(resp->cluster_id, *metadata->cluster_id);
    EXPECT_EQ(resp->controller_id, 0);
    ASSERT_EQ(resp->brokers.size(), 1u);
    EXPECT_EQ(resp->brokers[0].broker_id, 0);
    EXPECT_EQ(resp->brokers[0].host, "127.0.0.1");
    EXPECT_EQ(resp->brokers[0].port, broker_->port());
    EXPECT_EQ(resp->cluster_authorized_operations, std::numeric_limits<std::int32_t>::min());
    req.include_cluster_authorized_operations = true;
    resp = call<p::DescribeClusterResponse>(req, version);
    ASSERT_TRUE(resp.has_value());
    EXPECT_NE(resp->cluster_authorized_operations & (1 << 8), 0) << "DESCRIBE is allowed";
  }
  p::DescribeClusterRequest controllers;
  controllers.endpoint_type = 2;
  auto resp = call<p::DescribeClusterResponse>(controllers, 1);
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->error_code, kMismatchedEndpointType);
  EXPECT_TRUE(resp->brokers.empty());
  controllers.endpoint_type = 9;
  resp = call<p::DescribeClusterResponse>(controllers, 1);
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->error_code, kUnsupportedEndpointType);
}

TEST_F(AdminApisTest, DescribeLogDirsReportsTheDataDirectoryAndEachPartitionsSize) {
  const std::string topic = "log-dirs";
  create_topic(topic, 3);
  produce_batches(topic);
  const std::string data_dir =
      std::filesystem::absolute(broker_->data_dir()).lexically_normal().string();
  for (std::int16_t version : {0, 1, 4}) {
    SCOPED_TRACE(fmt::format("DescribeLogDirs v{}", version));
    p::DescribeLogDirsRequest all;
    all.topics = std::nullopt;
    auto resp = call<p::DescribeLogDirsResponse>(all, version);
    ASSERT_TRUE(resp.has_value());
    ASSERT_EQ(resp->results.size(), 1u);
    const auto& dir = resp->results[0];
    EXPECT_EQ(dir.error_code, 0);
    EXPECT_EQ(dir.log_dir, data_dir);
    if (version >= 4) {
      EXPECT_GT(dir.total_bytes, 0);
      EXPECT_GT(dir.usable_bytes, 0);
    }
    auto it = std::find_if(dir.topics.begin(), dir.topics.end(),
                           [&](const auto& t) { return t.name == topic; });
    ASSERT_NE(it, dir.topics.end());
    ASSERT_EQ(it->partitions.size(), 3u);
    for (const auto& part : it->partitions) {
      EXPECT_EQ(static_cast<std::uint64_t>(part.partition_size),
                log_bytes(topic, part.partition_index))
          << "partition " << part.partition_index;
    }
    EXPECT_GT(it->partitions[0].partition_size,
              static_cast<std::int64_t>(kBatches * kRecordsPerBatch * kValueBytes));

    // Named topics and partitions: those the broker does not have are left out.
    p::DescribeLogDirsRequest some;
    some.topics = std::vector<p::DescribeLogDirsRequest::DescribableLogDirTopic>{
        {topic, {2, 0, 9}}, {"no-such-topic", {0}}};
    resp = call<p::DescribeLogDirsResponse>(some, version);
    ASSERT_TRUE(resp.has_value());
    ASSERT_EQ(resp->results.size(), 1u);
    ASSERT_EQ(resp->results[0].topics.size(), 1u);
    EXPECT_EQ(resp->results[0].topics[0].name, topic);
    ASSERT_EQ(resp->results[0].topics[0].partitions.size(), 2u);
    EXPECT_EQ(resp->results[0].topics[0].partitions[0].partition_index, 2);
    EXPECT_EQ(resp->results[0].topics[0].partitions[1].partition_index, 0);
  }
}

TEST_F(AdminApisTest, OffsetForLeaderEpochAnswersEpochZeroWithTheLogEnd) {
  const std::string topic = "leader-epoch";
  create_topic(topic, 1);
  produce_batches(topic);
  for (std::int16_t version : {0, 2, 4}) {
    SCOPED_TRACE(fmt::format("OffsetForLeaderEpoch v{}", version));
    p::OffsetForLeaderEpochRequest req;
    req.replica_id = -1;
    // (partition, current leader epoch, requested epoch)
    req.topics.push_back({topic, {{0, -1, 0}, {0, -1, 1}, {0, -1, -1}, {3, -1, 0}}});
    req.topics.push_back({"no-such-topic", {{0, -1, 0}}});
    if (version >= 2) req.topics[0].partitions.push_back({0, 1, 0});
    auto resp = call<p::OffsetForLeaderEpochResponse>(req, version);
    ASSERT_TRUE(resp.has_value());
    ASSERT_EQ(resp->topics.size(), 2u);
    const auto& parts = resp->topics[0].partitions;
    ASSERT_EQ(parts.size(), version >= 2 ? 5u : 4u);
    EXPECT_EQ(parts[0].error_code, 0);
    EXPECT_EQ(parts[0].end_offset, kBatches * kRecordsPerBatch);
    if (version >= 1) {
      EXPECT_EQ(parts[0].leader_epoch, 0);
    }
    EXPECT_EQ(parts[1].error_code, 0);  // a later epoch: undefined, as in Kafka
    EXPECT_EQ(parts[1].end_offset, -1);
    EXPECT_EQ(parts[2].end_offset, -1);
    EXPECT_EQ(parts[3].error_code, kUnknownTopicOrPartition);
    EXPECT_EQ(parts[3].end_offset, -1);
    if (version >= 2) {
      EXPECT_EQ(parts[4].error_code, kUnknownLeaderEpoch);
    }
    ASSERT_EQ(resp->topics[1].partitions.size(), 1u);
    EXPECT_EQ(resp->topics[1].partitions[0].error_code, kUnknownTopicOrPartition);
  }
}

TEST_F(AdminApisTest, DescribeProducersListsIdempotentProducersWithTheirLastSequence) {
  const std::string topic = "producers";
  create_topic(topic, 2);
  p::InitProducerIdRequest init;
  init.transactional_id = std::nullopt;
  init.transaction_timeout_ms = -1;
  auto pid = call<p::InitProducerIdResponse>(init, 1);
  ASSERT_TRUE(pid.has_value());
  ASSERT_EQ(pid->error_code, 0);
  storage::BatchOptions options;
  options.producer_id = ProducerId(pid->producer_id);
  options.producer_epoch = ProducerEpoch(pid->producer_epoch);
  produce_batches(topic, options);

  p::DescribeProducersRequest req;
  req.topics.push_back({topic, {0, 1, 5}});
  req.topics.push_back({"no-such-topic", {0}});
  auto resp = call<p::DescribeProducersResponse>(req, 0);
  ASSERT_TRUE(resp.has_value());
  ASSERT_EQ(resp->topics.size(), 2u);
  const auto& parts = resp->topics[0].partitions;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].error_code, 0);
  ASSERT_EQ(parts[0].active_producers.size(), 1u);
  const auto& producer = parts[0].active_producers[0];
  EXPECT_EQ(producer.producer_id, pid->producer_id);
  EXPECT_EQ(producer.producer_epoch, pid->producer_epoch);
  EXPECT_EQ(producer.last_sequence, kBatches * kRecordsPerBatch - 1);
  EXPECT_EQ(producer.last_timestamp, 1000 * kBatches);
  EXPECT_EQ(producer.current_txn_start_offset, -1);
  EXPECT_EQ(parts[1].error_code, 0);
  EXPECT_TRUE(parts[1].active_producers.empty());
  EXPECT_EQ(parts[2].error_code, kUnknownTopicOrPartition);
  ASSERT_EQ(resp->topics[1].partitions.size(), 1u);
  EXPECT_EQ(resp->topics[1].partitions[0].error_code, kUnknownTopicOrPartition);
}

// log.level is the broker config that changes at run time (IncrementalAlterConfigs and
// AlterConfigs on the BROKER resource); the others are read-only. The new level takes effect:
// a debug line appears only while the level is debug.
TEST_F(AdminApisTest, BrokerLogLevelChangesAtRunTimeAndOtherBrokerConfigsAreReadOnly) {
  if (std::getenv("WHARF_LOG_LEVEL") != nullptr) {
    GTEST_SKIP() << "WHARF_LOG_LEVEL is set, so the broker does not start at the default level";
  }
  constexpr std::int8_t kBroker = 4;
  constexpr std::int16_t kInvalidConfig = 40, kInvalidRequest = 42;
  constexpr int kStaticBroker = 4, kDynamicBroker = 2;
  auto incremental = [&](const std::string& broker,
                         std::vector<p::IncrementalAlterConfigsRequest::AlterableConfig> configs) {
    p::IncrementalAlterConfigsRequest req;
    req.resources.push_back({kBroker, broker, std::move(configs)});
    auto resp = call<p::IncrementalAlterConfigsResponse>(req, 1);
    return resp && resp->responses.size() == 1 ? resp->responses[0].error_code : std::int16_t{-100};
  };
  // name -> (value, source, read only)
  auto describe = [&] {
    p::DescribeConfigsRequest req;
    req.resources.push_back({kBroker, "0", std::nullopt});
    auto resp = call<p::DescribeConfigsResponse>(req, 3);
    std::map<std::string, std::tuple<std::string, int, bool>> out;
    if (resp && resp->results.size() == 1) {
      for (const auto& c : resp->results[0].configs)
        out[c.name] = {c.value.value_or("<null>"), c.config_source, c.read_only};
    }
    return out;
  };
  using Entry = std::tuple<std::string, int, bool>;
  auto configs = describe();
  EXPECT_EQ(configs["log.level"], (Entry{"info", kStaticBroker, false}));
  EXPECT_EQ(std::get<2>(configs["log.retention.ms"]), true);

  // A request with stray bytes after its body: the broker logs that at debug level only.
  auto send_with_trailing_bytes = [&](const std::string& marker) {
    Connection conn(broker_->port());
    p::ApiVersionsRequest req;
    req.client_software_name = "x";
    req.client_software_version = "1";
    Bytes frame = raw::header_bytes(p::ApiVersionsRequest::kApiKey, 3, 1, marker);
    append(frame, raw::body_bytes(req, 3));
    append(frame, Bytes(3, std::byte{0}));
    ASSERT_TRUE(conn.send(raw::with_size_prefix(frame)));
    ASSERT_TRUE(conn.read_frame().has_value()) << conn.error();
  };
  send_with_trailing_bytes("before-debug");
  EXPECT_EQ(incremental("0", {{"log.level", 0, "DEBUG"}}), 0);
  EXPECT_EQ(describe()["log.level"], (Entry{"debug", kDynamicBroker, false}));
  send_with_trailing_bytes("while-debug");
  EXPECT_EQ(incremental("", {{"log.level", 1, std::nullopt}}), 0);  // DELETE: the startup level
  EXPECT_EQ(describe()["log.level"], (Entry{"info", kStaticBroker, false}));
  send_with_trailing_bytes("after-debug");

  EXPECT_EQ(incremental("0", {{"log.level", 0, "loud"}}), kInvalidConfig);
  EXPECT_EQ(incremental("0", {{"log.retention.ms", 0, "1000"}}), kInvalidConfig);
  EXPECT_EQ(incremental("7", {{"log.level", 0, "debug"}}), kInvalidRequest);
  EXPECT_EQ(describe()["log.level"], (Entry{"info", kStaticBroker, false}));

  // AlterConfigs: the given set replaces the dynamic configs.
  p::AlterConfigsRequest alter;
  alter.resources.push_back({kBroker, "0", {{"log.level", "warn"}}});
  auto altered = call<p::AlterConfigsResponse>(alter, 1);
  ASSERT_TRUE(altered.has_value());
  ASSERT_EQ(altered->responses.size(), 1u);
  EXPECT_EQ(altered->responses[0].error_code, 0);
  EXPECT_EQ(describe()["log.level"], (Entry{"warn", kDynamicBroker, false}));
  alter.resources[0].configs.clear();
  altered = call<p::AlterConfigsResponse>(alter, 1);
  ASSERT_TRUE(altered.has_value());
  EXPECT_EQ(altered->responses[0].error_code, 0);
  EXPECT_EQ(describe()["log.level"], (Entry{"info", kStaticBroker, false}));

  ASSERT_EQ(broker_->stop(), 0);
  const std::string& out = broker_->last_output();
  EXPECT_EQ(out.find("client 'before-debug'"), std::string::npos) << out;
  EXPECT_NE(out.find("client 'while-debug'"), std::string::npos) << out;
  EXPECT_EQ(out.find("client 'after-debug'"), std::string::npos) << out;
}

// No topic config value has a length limit of its own (a throttled-replicas list can be any
// length), so a set of topic configs that would make topic.json larger than a restart reads
// (kMetadataFileBytesMax) is refused with INVALID_CONFIG and changes nothing. Only
// IncrementalAlterConfigs can carry one: its v1 is flexible (varint string lengths), while
// AlterConfigs (v0-1) and CreateTopics (v0-4) cap each value at an int16 length, 32 KiB.
TEST_F(AdminApisTest, TopicConfigsThatWouldOutgrowTopicJsonAreInvalidConfig) {
  constexpr std::int8_t kTopic = 2;
  constexpr std::int16_t kInvalidConfig = 40;
  std::string list;
  while (list.size() <= (1u << 20)) list += "0:0,";
  list.pop_back();
  const std::string key = "follower.replication.throttled.replicas";
  create_topic("big", 1, {{"retention.ms", "1000"}});

  for (bool validate_only : {true, false}) {
    SCOPED_TRACE(validate_only ? "validate only" : "altering");
    p::IncrementalAlterConfigsRequest incremental;
    incremental.validate_only = validate_only;
    incremental.resources.push_back({kTopic, "big", {{key, 0, list}}});  // SET
    auto changed = call<p::IncrementalAlterConfigsResponse>(incremental, 1);
    ASSERT_TRUE(changed.has_value());
    ASSERT_EQ(changed->responses.size(), 1u);
    EXPECT_EQ(changed->responses[0].error_code, kInvalidConfig);
    EXPECT_NE(changed->responses[0].error_message.value_or("").find("1048576"), std::string::npos)
        << changed->responses[0].error_message.value_or("").substr(0, 200);
  }

  // The old configs stand, and the broker starts again on what it wrote.
  auto configs_of_big = [&] {
    p::DescribeConfigsRequest req;
    req.resources.push_back({kTopic, "big", std::nullopt});
    auto resp = call<p::DescribeConfigsResponse>(req, 3);
    std::map<std::string, std::string> out;
    if (resp && resp->results.size() == 1 && resp->results[0].error_code == 0) {
      for (const auto& c : resp->results[0].configs) out[c.name] = c.value.value_or("<null>");
    }
    return out;
  };
  EXPECT_EQ(configs_of_big()["retention.ms"], "1000");
  EXPECT_NE(configs_of_big()[key].size(), list.size());
  ASSERT_EQ(broker_->stop(), 0) << broker_->last_output();
  ASSERT_TRUE(broker_->start()) << broker_->last_output();
  EXPECT_EQ(configs_of_big()["retention.ms"], "1000");
}

// A client that waits exactly a member's session timeout and then deletes the group finds it
// empty: the session ends at its deadline, not at the next periodic tick (raw frames, so the
// test knows when the member's last heartbeat can have been: before its SyncGroup answer).
TEST_F(AdminApisTest, DeleteGroupsAfterWaitingExactlyTheSessionTimeoutSucceeds) {
  constexpr std::int32_t kSessionTimeoutMs = 6'000;  // Kafka's group.min.session.timeout.ms
  constexpr std::int16_t kMemberIdRequired = 79, kNonEmptyGroup = 68;
  const std::string group = "expiring";
  Connection conn(broker_->port());
  ASSERT_TRUE(conn.connected()) << conn.error();
  std::string error;
  p::JoinGroupRequest join;
  join.group_id = group;
  join.session_timeout_ms = kSessionTimeoutMs;
  join.rebalance_timeout_ms = kSessionTimeoutMs;
  join.group_instance_id = std::nullopt;
  join.protocol_type = "consumer";
  join.protocols.push_back({"range", to_bytes("meta")});
  auto first = round_trip<p::JoinGroupResponse>(conn, join, 4, ++correlation_id_, error);
  ASSERT_TRUE(first.has_value()) << error;
  ASSERT_EQ(first->error_code, kMemberIdRequired);
  join.member_id = first->member_id;
  // Answered after the broker's initial rebalance delay (3 s by default).
  auto joined = round_trip<p::JoinGroupResponse>(conn, join, 4, ++correlation_id_, error);
  ASSERT_TRUE(joined.has_value()) << error;
  ASSERT_EQ(joined->error_code, 0);
  p::SyncGroupRequest sync;
  sync.group_id = group;
  sync.generation_id = joined->generation_id;
  sync.member_id = join.member_id;
  sync.group_instance_id = std::nullopt;
  sync.assignments.push_back({join.member_id, to_bytes("assignment")});
  auto synced = round_trip<p::SyncGroupResponse>(conn, sync, 3, ++correlation_id_, error);
  ASSERT_TRUE(synced.has_value()) << error;
  ASSERT_EQ(synced->error_code, 0);
  const auto last_heartbeat_at_most = std::chrono::steady_clock::now();

  p::DeleteGroupsRequest del;
  del.groups_names = {group};
  auto early = call<p::DeleteGroupsResponse>(del, 1);
  ASSERT_TRUE(early.has_value());
  ASSERT_EQ(early->results.size(), 1u);
  EXPECT_EQ(early->results[0].error_code, kNonEmptyGroup) << "the member is alive";

  std::this_thread::sleep_until(last_heartbeat_at_most +
                                std::chrono::milliseconds(kSessionTimeoutMs));
  auto deleted = call<p::DeleteGroupsResponse>(del, 1);
  ASSERT_TRUE(deleted.has_value());
  ASSERT_EQ(deleted->results.size(), 1u);
  EXPECT_EQ(deleted->results[0].error_code, 0) << "the session ended at its deadline";
}

}  // namespace
}  // namespace wharf::test
