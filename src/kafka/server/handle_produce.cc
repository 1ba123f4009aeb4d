// Produce and InitProducerId: the write path. Every partition of a request is appended on a
// storage thread concurrently; the response leaves once each append is durable under its
// topic's sync policy (or failed).
#include "kafka/group/offsets_codec.h"
#include "kafka/protocol/generated/init_producer_id.h"
#include "kafka/protocol/generated/produce.h"
#include "kafka/server/handler_util.h"
#include "storage/record_batch.h"

namespace wharf::kafka {
namespace p = protocol;

asio::awaitable<HandlerResult> handle_produce(HandlerContext& hc, const RequestContext& ctx,
                                              p::Reader& body) {
  auto req = decode_body<p::ProduceRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::int16_t v = ctx.version();

  // One slot per partition in request order, filled on storage threads.
  struct Slot {
    std::string topic;
    p::ProduceRequest::PartitionProduceData* data = nullptr;
    p::ProduceResponse::PartitionProduceResponse out;
    bool appended = false;
  };
  std::vector<Slot> slots;
  for (auto& t : req->topic_data) {
    for (auto& pd : t.partition_data) {
      Slot s;
      s.topic = t.name;
      s.data = &pd;
      s.out.index = pd.index;
      slots.push_back(std::move(s));
    }
  }
  auto set_all = [&](KafkaError e) {
    for (auto& s : slots) s.out.error_code = code(e);
  };

  if (v < 3) {
    set_all(KafkaError::kUnsupportedVersion);  // v0-2 carry message formats v0/v1: refused
  } else if (req->acks != 0 && req->acks != 1 && req->acks != -1) {
    set_all(KafkaError::kInvalidRequiredAcks);
  } else if (req->transactional_id.has_value()) {
    WHARF_LOG_WARN("refusing a transactional produce from '{}': transactions are not supported",
                   excerpt(ctx.header.client_id.value_or("")));
    set_all(KafkaError::kInvalidRecord);
  } else {
    // Cheap checks on the network thread; the append validates the batch fully.
    for (auto& s : slots) {
      const auto& records = s.data->records;
      if (s.topic == group::kOffsetsTopic) {  // internal: written by the coordinator only
        s.out.error_code = code(KafkaError::kInvalidTopicException);
        continue;
      }
      if (!records || records->empty()) {
        s.out.error_code = code(KafkaError::kInvalidRecord);
        continue;
      }
      auto header = storage::parse_header(*records);
      if (!header) {
        // Produce v3+ may carry only magic-2 batches: Kafka answers anything else INVALID_RECORD.
        s.out.error_code =
            code(header.error().code() == ErrorCode::kUnsupported ? KafkaError::kInvalidRecord
                                                                  : to_kafka_error(header.error()));
        continue;
      }
      if (header->total_bytes() != records->size()) {
        // Produce v3+ carries exactly one batch per partition (Kafka's rule).
        s.out.error_code =
            code(header->total_bytes() < records->size() ? KafkaError::kInvalidRecord
                                                         : KafkaError::kCorruptMessage);
        continue;
      }
      if (header->compression() == storage::Compression::kZstd && v < 7) {
        s.out.error_code = code(KafkaError::kUnsupportedCompressionType);
        continue;
      }
      if (header->is_transactional()) {
        s.out.error_code = code(KafkaError::kInvalidRecord);
        continue;
      }
      s.appended = true;
    }
    const std::function<void(std::size_t)> append_one = [&hc, &slots](std::size_t i) {
      Slot& s = slots[i];
      if (!s.appended) return;
      auto part = hc.log.partition(s.topic, PartitionId(s.out.index));
      if (!part) {
        s.appended = false;
        s.out.error_code = code(KafkaError::kUnknownTopicOrPartition);
        return;
      }
      auto r = (*part)->append(MutableByteView(*s.data->records));
      if (!r) {
        s.appended = false;
        s.out.error_code = code(to_kafka_error(r.error()));
        if (r.error().code() != ErrorCode::kOutOfOrderSequence &&
            r.error().code() != ErrorCode::kInvalidProducerEpoch) {
          hc.append_errors.failed(s.topic, s.out.index, r.error());
        }
        return;
      }
      hc.append_errors.succeeded();
      s.out.error_code = 0;
      s.out.base_offset = r->base_offset.value();
      s.out.log_append_time_ms = r->log_append_time_ms;
      s.out.log_start_offset = r->log_start_offset.value();
    };
    co_await hc.parallel(slots.size(), append_one);
    for (const auto& s : slots) {
      if (!s.appended) continue;
      hc.fetch_waiters.notify(s.topic, s.out.index);
      auto& t = hc.traffic(s.topic, s.out.index);
      t.bytes_in->inc(s.data->records->size());
      t.records_in->inc(
          static_cast<std::uint64_t>(storage::parse_header(*s.data->records)->record_count));
    }
  }
  if (req->acks == 0) {
    // acks=0 gets no response at all; a failed write closes the connection instead, as Kafka
    // does, so the producer notices (it reconnects and refreshes its metadata).
    const bool failed = std::any_of(slots.begin(), slots.end(),
                                    [](const Slot& s) { return s.out.error_code != 0; });
    co_return HandlerResult{std::nullopt, failed};
  }

  p::ProduceResponse resp;
  for (auto& s : slots) {
    if (resp.responses.empty() || resp.responses.back().name != s.topic) {
      resp.responses.push_back({s.topic, {}});
    }
    if (s.out.error_code != 0) {
      s.out.base_offset = -1;
      s.out.log_append_time_ms = -1;
      s.out.log_start_offset = -1;
    }
    resp.responses.back().partition_responses.push_back(s.out);
  }
  co_return respond(resp, v);
}

asio::awaitable<HandlerResult> handle_init_producer_id(HandlerContext& hc,
                                                       const RequestContext& ctx, p::Reader& body) {
  auto req = decode_body<p::InitProducerIdRequest>(ctx, body);
  if (!req) co_return close_connection();
  p::InitProducerIdResponse resp;
  if (req->transactional_id.has_value()) {
    resp.error_code = code(KafkaError::kInvalidRequest);
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    WHARF_LOG_WARN("InitProducerId with transactional id '{}': transactions are not supported",
                   *req->transactional_id);
    co_return respond(resp, ctx.version());
  }
  auto work = [&hc] { return hc.producer_ids.next(); };
  auto id = co_await hc.blocking(work);
  if (!id) {
    WHARF_LOG_ERROR("allocating a producer id: {}", id.error().to_string());
    resp.error_code = code(to_kafka_error(id.error()));
    resp.producer_id = -1;
    resp.producer_epoch = -1;
  } else {
    resp.producer_id = id->value();
    resp.producer_epoch = 0;
  }
  co_return respond(resp, ctx.version());
}

}  // namespace wharf::kafka
