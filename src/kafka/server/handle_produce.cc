// Produce and InitProducerId: the write path. Every partition of a request is written on a
// storage thread concurrently; the response leaves once each append is durable under its
// topic's sync policy (or failed). The handler returns once the batches are written, with a
// deferred response: the connection reads its next request while the sync runs, so one
// producer's pipelined requests share a group commit, and responses still go in request order.
#include "kafka/group/offsets_codec.h"
#include "kafka/protocol/generated/init_producer_id.h"
#include "kafka/protocol/generated/produce.h"
#include "kafka/server/handler_util.h"
#include "storage/record_batch.h"

namespace wharf::kafka {
namespace p = protocol;

asio::awaitable<HandlerResult> handle_produce(HandlerContext& hc, const RequestContext& ctx,
                                              p::Reader& body) {
  auto decoded = decode_body<p::ProduceRequest>(ctx, body);
  if (!decoded) co_return close_connection();
  const std::int16_t v = ctx.version();

  // One slot per partition in request order, filled on storage threads. The state outlives
  // this handler: the response is built when the last append is durable (see DeferredResult).
  struct Slot {
    std::size_t topic = 0;  // index into State::topics: one name per topic, not per partition
    p::ProduceRequest::PartitionProduceData* data = nullptr;
    p::ProduceResponse::PartitionProduceResponse out;
    bool appended = false;
    std::uint64_t records = 0;  // in the batch, for the traffic counters
    std::size_t bytes = 0;
    // Set on the network thread when the written batch could not be made durable (the
    // partition was fenced); `out` belongs to the storage thread until the writes are done.
    std::int16_t durable_error = 0;
  };
  struct State {
    p::ProduceRequest request;  // owns the batches until they are written
    // The topic names, moved out of the request. A slot refers to its topic by index: a copy
    // per partition would let a small request (a 32 KiB name, many 8-byte partitions) cost
    // gigabytes.
    std::vector<std::string> topics;
    std::vector<Slot> slots;
    const std::string& topic(const Slot& s) const { return topics[s.topic]; }
  };
  auto state = std::make_shared<State>();
  // Not inside State: its `finish` holds the state, and a state holding it back would be a cycle
  // that nothing frees. The completions hold both.
  auto deferred = std::make_shared<DeferredResult>();
  state->request = std::move(*decoded);
  auto* req = &state->request;
  auto& slots = state->slots;
  for (auto& t : req->topic_data) {
    state->topics.push_back(std::move(t.name));
    for (auto& pd : t.partition_data) {
      Slot s;
      s.topic = state->topics.size() - 1;
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
      if (state->topic(s) == group::kOffsetsTopic) {  // internal: written by the coordinator only
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
      s.records = static_cast<std::uint64_t>(header->record_count);
      s.bytes = records->size();
      ++deferred->outstanding;
    }
    // Each appended slot completes exactly once, on the network thread, when durable or failed.
    // The partition keeps `complete` until the batch is durable: it holds no reference to the
    // server, only its posts (gone once the server stopped; the inner lambda then never runs, so
    // its `hc` is only used while the network thread is).
    auto completion = [&hc, state, deferred](std::size_t i) -> storage::DurableCallback {
      return [posts = hc.posts, &hc, state, deferred, i](Status durable) {
        posts->to_network([&hc, state, deferred, i, durable = std::move(durable)] {
          Slot& slot = state->slots[i];
          if (!durable) {
            slot.durable_error = code(to_kafka_error(durable.error()));
            hc.append_errors.failed(state->topic(slot), slot.out.index, durable.error());
          } else {
            auto& t = hc.traffic(state->topic(slot), slot.out.index);
            t.bytes_in->inc(slot.bytes);
            t.records_in->inc(slot.records);
          }
          deferred->complete_one();
        });
      };
    };
    // What the append said, into the slot's answer (on whichever thread wrote it).
    auto answer = [&hc, state, deferred](std::size_t i, const Result<storage::AppendResult>& r) {
      Slot& s = state->slots[i];
      if (!r) {
        s.out.error_code = code(to_kafka_error(r.error()));
        if (r.error().code() != ErrorCode::kOutOfOrderSequence &&
            r.error().code() != ErrorCode::kInvalidProducerEpoch) {
          hc.append_errors.failed(state->topic(s), s.out.index, r.error());
        }
        s.appended = false;
        hc.post_to_network([deferred] { deferred->complete_one(); });
        return;
      }
      hc.append_errors.succeeded();
      s.out.error_code = 0;
      s.out.base_offset = r->base_offset.value();
      s.out.log_append_time_ms = r->log_append_time_ms;
      s.out.log_start_offset = r->log_start_offset.value();
    };
    // A small request on a connection with no write queued is written here, on the network
    // thread, when each partition's lock is free and no segment rolls: no hand-off to a storage
    // thread and back (see try_append_async). Any slot that cannot be is written on the storage
    // strand with the slots after it, so the connection's writes keep request order.
    std::size_t first_queued = 0;
    std::size_t request_bytes = 0;
    std::size_t request_batches = 0;
    for (const auto& s : slots) {
      request_bytes += s.appended ? s.bytes : 0;
      request_batches += s.appended ? 1 : 0;
    }
    ConnectionWrites* writes = ctx.writes;
    if (writes != nullptr && *writes->queued == 0 && request_bytes <= kProduceInlineBytesMax &&
        request_batches <= kProduceInlineBatchesMax) {
      for (; first_queued < slots.size(); ++first_queued) {
        Slot& s = slots[first_queued];
        if (!s.appended) continue;
        auto part = hc.log.try_partition(state->topic(s), PartitionId(s.out.index));
        if (!part) break;  // busy, or missing: the strand answers UNKNOWN_TOPIC_OR_PARTITION
        auto complete = completion(first_queued);
        auto r = (*part)->try_append_async(MutableByteView(*s.data->records), hc.storage_runner(),
                                           complete);
        // If a topic deletion left this the last owner, the log manager's reaper destroys the
        // partition on its background thread (storage::PartitionReaper), not this one.
        if (!r) break;
        if (r->has_value()) produce_written_inline().inc();
        answer(first_queued, *r);
      }
    }
    if (first_queued == slots.size()) {
      state->request.topic_data.clear();  // every answer is final: the batches are not needed
    } else {
      // The rest are written on a storage thread, after this connection's earlier produces (its
      // strand) and without this handler waiting: the connection reads its next request
      // meanwhile (pipelining), and its writes join the sync already running.
      std::shared_ptr<std::size_t> queued = writes != nullptr ? writes->queued : nullptr;
      auto write_all = [&hc, state, deferred, completion, answer, first_queued, queued] {
        for (std::size_t i = first_queued; i < state->slots.size(); ++i) {
          Slot& s = state->slots[i];
          if (!s.appended) continue;
          auto part = hc.log.partition(state->topic(s), PartitionId(s.out.index));
          if (!part) {
            s.out.error_code = code(KafkaError::kUnknownTopicOrPartition);
            s.appended = false;
            hc.post_to_network([deferred] { deferred->complete_one(); });
            continue;
          }
          answer(i, (*part)->append_async(MutableByteView(*s.data->records), hc.storage_runner(),
                                          completion(i)));
        }
        // The slots' answers are final and the batches no longer needed: free them.
        state->request.topic_data.clear();
        hc.post_to_network([deferred, queued] {
          if (queued) --*queued;
          deferred->complete_one();
        });
      };
      ++deferred->outstanding;  // for write_all itself: `slots` is its until it is done
      if (writes != nullptr) {
        ++*writes->queued;
        asio::post(writes->strand, std::move(write_all));
      } else {
        hc.post_to_storage(std::move(write_all));
      }
    }
  }

  const std::int16_t acks = req->acks;
  deferred->finish = [state, acks, v]() -> HandlerResult {
    if (acks == 0) {
      // acks=0 gets no response at all; a failed write closes the connection instead, as
      // Kafka does, so the producer notices (it reconnects and refreshes its metadata).
      const bool failed = std::any_of(state->slots.begin(), state->slots.end(), [](const Slot& s) {
        return s.out.error_code != 0 || s.durable_error != 0;
      });
      HandlerResult result{std::nullopt, failed};
      result.malformed = false;
      return result;
    }
    p::ProduceResponse resp;
    std::optional<std::size_t> topic;  // of the last entry of resp.responses
    for (auto& s : state->slots) {
      if (s.durable_error != 0) s.out.error_code = s.durable_error;
      if (topic != s.topic) {
        resp.responses.push_back({state->topic(s), {}});
        topic = s.topic;
      }
      if (s.out.error_code != 0) {
        s.out.base_offset = -1;
        s.out.log_append_time_ms = -1;
        s.out.log_start_offset = -1;
      }
      resp.responses.back().partition_responses.push_back(s.out);
    }
    return respond(resp, v);
  };
  if (deferred->ready()) co_return deferred->take_result();
  HandlerResult later;
  later.deferred = std::move(deferred);
  co_return later;
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
