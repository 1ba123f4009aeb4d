// Log and cluster administration: DeleteRecords, DescribeLogDirs, DescribeCluster,
// OffsetForLeaderEpoch and DescribeProducers. Storage work runs on storage threads; DeleteRecords
// is durable (the new log start is synced) before it is answered.
#include <algorithm>
#include <filesystem>
#include <limits>

#include "kafka/group/offsets_codec.h"
#include "kafka/protocol/generated/delete_records.h"
#include "kafka/protocol/generated/describe_cluster.h"
#include "kafka/protocol/generated/describe_log_dirs.h"
#include "kafka/protocol/generated/describe_producers.h"
#include "kafka/protocol/generated/offset_for_leader_epoch.h"
#include "kafka/server/handler_util.h"
#include "storage/record_batch.h"

namespace wharf::kafka {
namespace p = protocol;

namespace {

// DeleteRecords' offset meaning "up to the high watermark" (DeleteRecordsRequest.HIGH_WATERMARK).
constexpr std::int64_t kDeleteToHighWatermark = -1;

// Kafka's AclOperation codes for the cluster resource. Wharf has no ACLs, so a client that asks
// for its authorized cluster operations (DescribeCluster) is told every one is allowed.
constexpr std::int32_t kClusterOperations =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
// "Not requested" in DescribeCluster and DescribeGroups.
constexpr std::int32_t kOperationsNotRequested = std::numeric_limits<std::int32_t>::min();

// DescribeCluster v1: brokers (1) or controllers (2). A broker answers only for brokers.
constexpr std::int8_t kEndpointTypeBrokers = 1;
constexpr std::int8_t kEndpointTypeControllers = 2;

// One node, one leader, forever (kafka-protocol.md P10): every record is in leader epoch 0.
constexpr std::int32_t kLeaderEpoch = storage::kStoredLeaderEpoch;

}  // namespace

asio::awaitable<HandlerResult> handle_delete_records(HandlerContext& hc, const RequestContext& ctx,
                                                     p::Reader& body) {
  auto req = decode_body<p::DeleteRecordsRequest>(ctx, body);
  if (!req) co_return close_connection();
  auto work = [&hc, req = std::move(*req)] {
    p::DeleteRecordsResponse out;
    for (const auto& t : req.topics) {
      p::DeleteRecordsResponse::DeleteRecordsTopicResult tr;
      tr.name = t.name;
      for (const auto& pt : t.partitions) {
        p::DeleteRecordsResponse::DeleteRecordsPartitionResult pr;
        pr.partition_index = pt.partition_index;
        pr.low_watermark = -1;
        auto part = hc.log.partition(t.name, PartitionId(pt.partition_index));
        if (t.name == group::kOffsetsTopic) {
          pr.error_code = code(KafkaError::kInvalidTopicException);  // as Kafka: internal
        } else if (!part) {
          pr.error_code = code(KafkaError::kUnknownTopicOrPartition);
        } else if (pt.offset < kDeleteToHighWatermark) {
          pr.error_code = code(KafkaError::kOffsetOutOfRange);
        } else {
          const Offset target =
              pt.offset == kDeleteToHighWatermark ? (*part)->high_watermark() : Offset(pt.offset);
          auto moved = (*part)->advance_log_start(target);
          if (moved) {
            pr.low_watermark = moved->value();
            WHARF_LOG_INFO("DeleteRecords: {}-{} now starts at offset {}", excerpt(t.name),
                           pt.partition_index, moved->value());
          } else {
            pr.error_code = code(to_kafka_error(moved.error()));
          }
        }
        tr.partitions.push_back(pr);
      }
      out.topics.push_back(std::move(tr));
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_describe_log_dirs(HandlerContext& hc,
                                                        const RequestContext& ctx,
                                                        p::Reader& body) {
  auto req = decode_body<p::DescribeLogDirsRequest>(ctx, body);
  if (!req) co_return close_connection();
  auto work = [&hc, req = std::move(*req)] {
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::absolute(hc.log.options().data_dir, ec);
    if (ec) dir = hc.log.options().data_dir;
    p::DescribeLogDirsResponse::DescribeLogDirsResult result;
    result.log_dir = dir.lexically_normal().string();
    const auto space = std::filesystem::space(dir, ec);
    if (!ec) {
      result.total_bytes = static_cast<std::int64_t>(space.capacity);
      result.usable_bytes = static_cast<std::int64_t>(space.available);
    }
    // Null topics: every partition. Topics and partitions the broker does not have are left
    // out, as Kafka does.
    auto add_topic = [&](const std::string& name, const std::vector<std::int32_t>* partitions) {
      auto info = hc.log.topic(name);
      if (!info) return;
      p::DescribeLogDirsResponse::DescribeLogDirsTopic tr;
      tr.name = name;
      auto add_partition = [&](std::int32_t index) {
        auto part = hc.log.partition(name, PartitionId(index));
        if (!part) return;
        p::DescribeLogDirsResponse::DescribeLogDirsPartition pr;
        pr.partition_index = index;
        pr.partition_size = static_cast<std::int64_t>((*part)->size_bytes());
        pr.offset_lag = 0;
        pr.is_future_key = false;
        tr.partitions.push_back(pr);
      };
      if (partitions) {
        for (std::int32_t index : *partitions) add_partition(index);
      } else {
        for (std::int32_t index = 0; index < info->partitions; ++index) add_partition(index);
      }
      if (!tr.partitions.empty()) result.topics.push_back(std::move(tr));
    };
    if (!req.topics) {
      for (const auto& info : hc.log.topics()) add_topic(info.name, nullptr);
    } else {
      for (const auto& t : *req.topics) add_topic(t.topic, &t.partitions);
    }
    p::DescribeLogDirsResponse out;
    out.results.push_back(std::move(result));
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_describe_cluster(HandlerContext& hc,
                                                       const RequestContext& ctx, p::Reader& body) {
  auto req = decode_body<p::DescribeClusterRequest>(ctx, body);
  if (!req) co_return close_connection();
  p::DescribeClusterResponse resp;
  resp.error_message = std::nullopt;
  resp.endpoint_type = req->endpoint_type;
  if (req->endpoint_type != kEndpointTypeBrokers) {
    // As a Kafka broker: controllers are described by controllers; other types do not exist.
    resp.error_code =
        code(req->endpoint_type == kEndpointTypeControllers ? KafkaError::kMismatchedEndpointType
                                                            : KafkaError::kUnsupportedEndpointType);
    resp.error_message =
        fmt::format("endpoint type {}: this broker describes brokers only (endpoint type 1)",
                    req->endpoint_type);
    co_return respond(resp, ctx.version());
  }
  resp.cluster_id = hc.config.cluster_id;
  resp.controller_id = hc.config.node_id;
  resp.brokers.push_back(
      {hc.config.node_id, hc.advertised_host(), hc.advertised_port(), std::nullopt});
  resp.cluster_authorized_operations =
      req->include_cluster_authorized_operations ? kClusterOperations : kOperationsNotRequested;
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_offset_for_leader_epoch(HandlerContext& hc,
                                                              const RequestContext& ctx,
                                                              p::Reader& body) {
  auto req = decode_body<p::OffsetForLeaderEpochRequest>(ctx, body);
  if (!req) co_return close_connection();
  auto work = [&hc, req = std::move(*req)] {
    p::OffsetForLeaderEpochResponse out;
    for (const auto& t : req.topics) {
      p::OffsetForLeaderEpochResponse::OffsetForLeaderTopicResult tr;
      tr.topic = t.topic;
      for (const auto& pt : t.partitions) {
        p::OffsetForLeaderEpochResponse::EpochEndOffset pr;
        pr.partition = pt.partition;
        pr.leader_epoch = -1;
        pr.end_offset = -1;
        auto part = hc.log.partition(t.topic, PartitionId(pt.partition));
        if (!part) {
          pr.error_code = code(KafkaError::kUnknownTopicOrPartition);
        } else if (pt.current_leader_epoch > kLeaderEpoch) {
          // The client has seen an epoch this broker never had (-1: the client does not check;
          // no epoch is older than 0, so none is fenced).
          pr.error_code = code(KafkaError::kUnknownLeaderEpoch);
        } else if (pt.leader_epoch == kLeaderEpoch) {
          // The epoch every record was written in: it ends at the log end, as in Kafka.
          pr.leader_epoch = kLeaderEpoch;
          pr.end_offset = (*part)->log_end_offset().value();
        } else if (pt.leader_epoch < -1) {
          // An epoch older than the first one: Kafka answers it with the first epoch's start.
          pr.leader_epoch = pt.leader_epoch;
          pr.end_offset = (*part)->log_start_offset().value();
        }
        // A later epoch, or -1: Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET (-1, -1).
        tr.partitions.push_back(pr);
      }
      out.topics.push_back(std::move(tr));
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_describe_producers(HandlerContext& hc,
                                                         const RequestContext& ctx,
                                                         p::Reader& body) {
  auto req = decode_body<p::DescribeProducersRequest>(ctx, body);
  if (!req) co_return close_connection();
  auto work = [&hc, req = std::move(*req)] {
    p::DescribeProducersResponse out;
    for (const auto& t : req.topics) {
      p::DescribeProducersResponse::TopicResponse tr;
      tr.name = t.name;
      for (std::int32_t index : t.partition_indexes) {
        p::DescribeProducersResponse::PartitionResponse pr;
        pr.partition_index = index;
        pr.error_message = std::nullopt;
        auto part = hc.log.partition(t.name, PartitionId(index));
        if (!part) {
          pr.error_code = code(KafkaError::kUnknownTopicOrPartition);
          // Not the topic's name: the enclosing entry has it, and a request can name a long
          // topic's partitions a million times (4 bytes each in the request).
          pr.error_message = fmt::format("partition {} does not exist", index);
          tr.partitions.push_back(std::move(pr));
          continue;
        }
        const storage::ProducerStateTable state = (*part)->producer_state();
        for (const auto& [id, entry] : state.producers()) {
          p::DescribeProducersResponse::ProducerState ps;
          ps.producer_id = id.value();
          ps.producer_epoch = entry.epoch.value();
          ps.last_sequence = entry.batches.empty() ? -1 : entry.batches.back().last_sequence;
          ps.last_timestamp = entry.last_timestamp_ms;
          ps.coordinator_epoch = -1;         // no transactions
          ps.current_txn_start_offset = -1;  // no open transaction
          pr.active_producers.push_back(ps);
        }
        std::sort(pr.active_producers.begin(), pr.active_producers.end(),
                  [](const auto& a, const auto& b) { return a.producer_id < b.producer_id; });
        tr.partitions.push_back(std::move(pr));
      }
      out.topics.push_back(std::move(tr));
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, ctx.version());
}

}  // namespace wharf::kafka
