// Fetch and ListOffsets: the read path. Fetch long-polls: if fewer than min_bytes are ready it
// parks on a timer that the high watermark of one of its partitions moving past what it read
// (or the deadline) wakes, then reads again. Bytes are sent exactly as stored (whole batches; at
// least one, KIP-74).
#include "kafka/protocol/generated/fetch.h"
#include "kafka/protocol/generated/list_offsets.h"
#include "kafka/server/fetch_read_ahead.h"
#include "kafka/server/handler_util.h"
#include "storage/record_batch.h"

namespace wharf::kafka {
namespace p = protocol;

namespace {

struct FetchTarget {
  // The request's name, which outlives the target: not a copy per partition, which would let a
  // small request (a 32 KiB name, many partitions) cost gigabytes.
  const std::string* topic;
  std::size_t topic_index;  // in the request
  std::int32_t partition;
  std::int64_t offset;
  std::int32_t partition_max_bytes;
};

struct FetchPartitionResult {
  KafkaError error = KafkaError::kNone;
  std::int64_t high_watermark = -1;
  std::int64_t log_start_offset = -1;
  ByteBuffer records;     // as the segment read it: moved, never copied, into the response
  std::size_t limit = 0;  // the bytes asked of the partition's read
  // With records: where they were read, how many records they hold, and the offset after the
  // last one (where the consumer's next Fetch starts).
  std::shared_ptr<storage::Partition> part;
  std::uint64_t record_count = 0;
  std::optional<Offset> next_offset;
};

// Fetch v10 is the first a zstd-aware client sends (KIP-110).
constexpr std::int16_t kFetchVersionForZstd = 10;

// A consumer's next Fetch of a partition asks for the offset after the last batch it was sent,
// with the same limit: start that read now, for the first partition answered with records and
// followed by more (one read ahead per connection; fetch_read_ahead.h).
void start_read_ahead(FetchReadAhead& read_ahead,
                      const std::vector<FetchPartitionResult>& results) {
  for (const auto& r : results) {
    if (r.records.empty()) continue;
    if (r.next_offset && *r.next_offset < Offset(r.high_watermark)) {
      read_ahead.start(r.part, *r.next_offset, r.limit);
    }
    return;
  }
}

// Why a partition is answered with an error instead of records, if it is.
std::optional<KafkaError> refusal(const storage::Partition::ReaderView& view, std::int16_t v) {
  if (view.fenced) {
    // A failed sync fenced it until the broker reopens it (docs/decisions/0001): Kafka answers a
    // partition on an offline log directory this way. It cannot grow, so a parked fetch must
    // not wait on it (its watch fires at once). Fetch v5 and older do not know the code; Kafka
    // sends them NOT_LEADER_OR_FOLLOWER, so they refresh and retry.
    return v <= 5 ? KafkaError::kNotLeaderOrFollower : KafkaError::kKafkaStorageError;
  }
  if (v < kFetchVersionForZstd && view.recompression_target == storage::Compression::kZstd) {
    // A topic whose compression.type is zstd is refused to Fetch v9 and older (clients from
    // before KIP-110), as Kafka refuses it. Like Kafka, Wharf does not look inside the batches:
    // a zstd batch a producer wrote to a `producer` topic is served as stored.
    return KafkaError::kUnsupportedCompressionType;
  }
  return std::nullopt;
}

// The bytes asked of a partition's read: its own limit within what is left of the Fetch's.
std::size_t partition_limit(std::size_t budget, const FetchTarget& t) {
  return std::min<std::size_t>(
      budget, static_cast<std::size_t>(std::max<std::int32_t>(t.partition_max_bytes, 1)));
}

// Keeps `records` read from `part` in `r`, with one walk over their batch headers for the
// record count and the offset after the last batch. Reads serve whole, CRC-checked batches, so
// the walk covers every byte; if it ever did not, only the records_out metric would be short,
// and a read ahead would start where no Fetch asks.
void keep_records(FetchPartitionResult& r, ByteBuffer records,
                  std::shared_ptr<storage::Partition> part) {
  r.records = std::move(records);
  r.part = std::move(part);
  (void)storage::for_each_batch(r.records, [&r](ByteView batch) {
    r.record_count += static_cast<std::uint64_t>(
        load_be<std::int32_t>(batch, storage::batch_layout::kRecordCount));
    r.next_offset = Offset(load_be<std::int64_t>(batch, storage::batch_layout::kBaseOffset)) +
                    (load_be<std::int32_t>(batch, storage::batch_layout::kLastOffsetDelta) + 1);
  });
}

// The network thread's shortcut for a consumer reading one partition in order: when its
// connection holds the finished read this Fetch asks for, the Fetch is answered here, without
// the hop to a storage thread and back. Whatever would wait (a lock that a write, a segment
// roll or a topic's creation holds; a read ahead not finished) and whatever must be answered
// with an error returns nullopt, and the Fetch reads on a storage thread as before. What it
// serves is what read_all would: the same view of the partition, refusal() and limit.
std::optional<std::vector<FetchPartitionResult>> read_held(HandlerContext& hc, const FetchTarget& t,
                                                           std::size_t max_bytes, std::int16_t v,
                                                           FetchReadAhead& read_ahead) {
  auto part = hc.log.try_partition(*t.topic, PartitionId(t.partition));
  if (!part) return std::nullopt;
  const auto view = (*part)->try_reader_view();
  if (!view || refusal(*view, v) || Offset(t.offset) < view->log_start_offset) return std::nullopt;
  const std::size_t limit = partition_limit(max_bytes, t);
  auto records = read_ahead.take_finished(**part, Offset(t.offset), limit, view->high_watermark);
  if (!records) return std::nullopt;
  std::vector<FetchPartitionResult> out(1);
  FetchPartitionResult& r = out[0];
  r.high_watermark = view->high_watermark.value();
  r.log_start_offset = view->log_start_offset.value();
  r.limit = limit;
  keep_records(r, std::move(*records), std::move(*part));
  fetch_answered_from_read_ahead().inc();
  return out;
}

}  // namespace

asio::awaitable<HandlerResult> handle_fetch(HandlerContext& hc, const RequestContext& ctx,
                                            p::Reader& body) {
  auto req = decode_body<p::FetchRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::int16_t v = ctx.version();
  std::vector<FetchTarget> targets;
  for (std::size_t ti = 0; ti < req->topics.size(); ++ti) {
    const auto& t = req->topics[ti];
    for (const auto& pt : t.partitions) {
      targets.push_back({&t.topic, ti, pt.partition, pt.fetch_offset, pt.partition_max_bytes});
    }
  }
  // Only consumers fetch here: a replica id >= 0 is a broker-only request (CVE-2018-1288).
  const bool from_replica = req->replica_id >= 0;
  const std::size_t max_bytes =
      std::min<std::size_t>(hc.config.fetch_response_bytes_max,
                            static_cast<std::size_t>(std::max<std::int32_t>(req->max_bytes, 1)));
  const auto wait = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(std::max(0, req->max_wait_ms)), hc.config.fetch_wait_max);
  const auto deadline = hc.clock.steady_now() + wait;
  const std::size_t min_bytes = static_cast<std::size_t>(std::max(0, req->min_bytes));

  FetchReadAhead* read_ahead = ctx.read_ahead;
  auto read_all = [&hc, &targets, max_bytes, from_replica, v, read_ahead] {
    std::vector<FetchPartitionResult> out(targets.size());
    std::size_t budget = max_bytes;
    bool first_data = true;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto& t = targets[i];
      auto& r = out[i];
      if (from_replica) {
        r.error = KafkaError::kNotLeaderOrFollower;
        continue;
      }
      auto part = hc.log.partition(*t.topic, PartitionId(t.partition));
      if (!part) {
        r.error = KafkaError::kUnknownTopicOrPartition;
        continue;
      }
      const auto view = (*part)->reader_view();
      if (auto refused = refusal(view, v)) {
        r.error = *refused;
        continue;
      }
      r.high_watermark = view.high_watermark.value();
      r.log_start_offset = view.log_start_offset.value();
      if (budget == 0 && !first_data) continue;
      const std::size_t limit = partition_limit(budget, t);
      r.limit = limit;
      // What the connection's read-ahead holds for exactly this read, if anything (below the log
      // start, the read answers OFFSET_OUT_OF_RANGE instead).
      std::optional<ByteBuffer> ahead;
      if (read_ahead != nullptr && t.offset >= r.log_start_offset) {
        ahead = read_ahead->take(**part, Offset(t.offset), limit, Offset(r.high_watermark));
      }
      auto read =
          ahead ? Result<storage::ReadResult>(storage::ReadResult{
                      std::move(*ahead), Offset(r.high_watermark), Offset(r.log_start_offset)})
                : (*part)->read(Offset(t.offset), limit);
      if (!read) {
        r.error = to_kafka_error(read.error());
        continue;
      }
      r.high_watermark = read->high_watermark.value();
      r.log_start_offset = read->log_start_offset.value();
      if (read->records.empty()) continue;
      // Only the first partition with data may exceed the limits (one whole batch, KIP-74).
      if (!first_data && read->records.size() > limit) continue;
      budget -= std::min(budget, read->records.size());
      first_data = false;
      keep_records(r, std::move(read->records), std::move(*part));
    }
    return out;
  };

  std::vector<FetchPartitionResult> results;
  bool waited_out = false;  // the timer ran to the deadline: one last read, then answer
  for (;;) {
    std::optional<std::vector<FetchPartitionResult>> held;
    if (read_ahead != nullptr && !from_replica && targets.size() == 1) {
      held = read_held(hc, targets[0], max_bytes, v, *read_ahead);
    }
    if (held) {
      results = std::move(*held);
    } else {
      results = co_await hc.blocking(read_all);
    }
    std::size_t total = 0;
    bool any_error = false;
    for (const auto& r : results) {
      total += r.records.size();
      any_error |= r.error != KafkaError::kNone;
    }
    if (total >= min_bytes || any_error || hc.stopping || waited_out ||
        hc.clock.steady_now() >= deadline) {
      break;
    }
    // Park until the high watermark of one of our partitions moves past what we read (a
    // produce made durable, from any connection), or the deadline. The storage calls back on
    // its own thread; the wake-up is posted here, and ignored once this fetch has moved on.
    // The deadline is on the injected clock, which need not share asio's epoch (a test's
    // ManualClock does not): the timer waits, in real time, for what is left of it.
    asio::steady_timer timer(hc.io, deadline - hc.clock.steady_now());
    // The wake-up can come before the wait starts (a produce between the read and the watch:
    // the watch fires at once), so it is remembered, not only sent to the timer.
    struct Waker {
      asio::steady_timer* timer;
      bool woken = false;
    };
    auto waker = std::make_shared<Waker>(Waker{&timer});
    auto watch_all = [&hc, &targets, &results, waker] {
      std::vector<std::pair<std::shared_ptr<storage::Partition>, storage::Partition::WatchId>> w;
      for (std::size_t i = 0; i < targets.size(); ++i) {
        auto part = hc.log.partition(*targets[i].topic, PartitionId(targets[i].partition));
        if (!part) continue;
        // Kept by the partition: it reaches the network thread through `posts`, not `hc`.
        const auto id =
            (*part)->watch(Offset(results[i].high_watermark), [posts = hc.posts, waker] {
              posts->to_network([waker] {
                waker->woken = true;
                if (waker->timer != nullptr) waker->timer->cancel();
              });
            });
        w.emplace_back(std::move(*part), id);
      }
      return w;
    };
    // On a storage thread: a partition's lock can be held through a write.
    auto watches = co_await hc.blocking(watch_all);
    if (!waker->woken && !hc.stopping) {
      hc.fetch_waiters.add(&timer);
      auto [ec] = co_await timer.async_wait(use_tuple);
      hc.fetch_waiters.remove(&timer);
      waited_out = !ec;
    }
    waker->timer = nullptr;
    hc.post_to_storage([watches = std::move(watches)] {
      for (const auto& [part, id] : watches) part->unwatch(id);
    });
  }

  if (read_ahead != nullptr && !hc.stopping) start_read_ahead(*read_ahead, results);
  // A topic deleted meanwhile can leave this Fetch the last owner of a partition: the log
  // manager's reaper destroys it on its background thread (storage::PartitionReaper).

  p::FetchResponse resp;
  resp.session_id = 0;  // no fetch sessions (KIP-227): clients fall back to full fetches
  std::optional<std::size_t> topic;  // of the last entry of resp.responses
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    auto& r = results[i];
    if (topic != t.topic_index) {
      resp.responses.push_back({*t.topic, {}});
      topic = t.topic_index;
    }
    p::FetchResponse::PartitionData pd;
    pd.partition_index = t.partition;
    pd.error_code = code(r.error);
    pd.high_watermark = r.high_watermark;
    pd.last_stable_offset = r.high_watermark;  // no transactions: LSO = high watermark
    pd.log_start_offset = r.log_start_offset;
    pd.aborted_transactions = std::vector<p::FetchResponse::AbortedTransaction>{};
    pd.preferred_read_replica = -1;
    if (!r.records.empty()) {
      auto& traffic_counters = hc.traffic(*t.topic, t.partition);
      traffic_counters.bytes_out->inc(r.records.size());
      traffic_counters.records_out->inc(r.record_count);
    }
    pd.records = std::move(r.records);
    resp.responses.back().partitions.push_back(std::move(pd));
  }
  // The record sets go to the socket from where the storage read them: no copy into the body.
  co_return respond_gathered(std::make_shared<const p::FetchResponse>(std::move(resp)), v);
}

namespace {

// ListOffsets v0's OldStyleOffsets, at most `max_num_offsets` of them. Kafka 3.x answered
// latest with the high watermark and earliest with the log start offset; for a time it listed
// the base offsets of segments whose files were last modified before it. Wharf answers a time
// with one offset: the first record at or after it (where the records before it end), or the
// high watermark when every record is older.
Result<std::vector<std::int64_t>> old_style_offsets(storage::Partition& part,
                                                    std::int64_t timestamp,
                                                    std::int32_t max_num_offsets) {
  using Offsets = std::vector<std::int64_t>;
  if (max_num_offsets <= 0) return Offsets{};
  if (timestamp == -1) return Offsets{part.high_watermark().value()};
  if (timestamp == -2) return Offsets{part.log_start_offset().value()};
  if (timestamp < 0) return Offsets{};
  WHARF_ASSIGN_OR_RETURN(auto found, part.offset_for_timestamp(timestamp));
  if (!found) return Offsets{part.high_watermark().value()};
  return Offsets{found->offset.value()};
}

}  // namespace

asio::awaitable<HandlerResult> handle_list_offsets(HandlerContext& hc, const RequestContext& ctx,
                                                   p::Reader& body) {
  auto req = decode_body<p::ListOffsetsRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::int16_t v = ctx.version();
  auto work = [&hc, req = std::move(*req), v] {
    p::ListOffsetsResponse out;
    for (const auto& t : req.topics) {
      p::ListOffsetsResponse::ListOffsetsTopicResponse tr;
      tr.name = t.name;
      for (const auto& pt : t.partitions) {
        p::ListOffsetsResponse::ListOffsetsPartitionResponse pr;
        pr.partition_index = pt.partition_index;
        pr.timestamp = -1;
        pr.offset = -1;
        auto part = hc.log.partition(t.name, PartitionId(pt.partition_index));
        if (!part) {
          pr.error_code = code(KafkaError::kUnknownTopicOrPartition);
          tr.partitions.push_back(pr);
          continue;
        }
        pr.leader_epoch = 0;
        if (v == 0) {
          auto offsets = old_style_offsets(**part, pt.timestamp, pt.max_num_offsets);
          if (offsets)
            pr.old_style_offsets = std::move(*offsets);
          else
            pr.error_code = code(to_kafka_error(offsets.error()));
          tr.partitions.push_back(pr);
          continue;
        }
        if (pt.timestamp == -1) {  // latest: the high watermark (= LSO without transactions)
          pr.offset = (*part)->high_watermark().value();
        } else if (pt.timestamp == -2) {  // earliest
          pr.offset = (*part)->log_start_offset().value();
        } else if (pt.timestamp < 0) {
          pr.error_code = code(KafkaError::kUnsupportedVersion);  // -3..-5 need v7+
        } else {
          auto found = (*part)->offset_for_timestamp(pt.timestamp);
          if (!found) {
            pr.error_code = code(to_kafka_error(found.error()));
          } else if (*found) {
            pr.offset = (*found)->offset.value();
            pr.timestamp = (*found)->timestamp_ms;
          }
        }
        tr.partitions.push_back(pr);
      }
      out.topics.push_back(std::move(tr));
    }
    return out;
  };
  auto resp = co_await hc.blocking(work);
  co_return respond(resp, v);
}

}  // namespace wharf::kafka
