// The kafka transport: librdkafka to a Wharf broker or any Kafka/Redpanda cluster.
//
// Producer: one idempotent handle (acks=all, enable.idempotence=true) shared by every publish()
// call, Java-compatible murmur2 partitioning, and a poller thread that serves delivery reports;
// publish() waits until every message of its call is acknowledged. Messages go through one topic
// handle per topic (kafka::client::TopicHandles), never by name, so that a topic's first message
// is not held for librdkafka's once-a-second topic scan. Consumers: one handle per
// Subscription, cooperative-sticky assignment, no auto-commit and no auto offset store: the
// router commits explicit offsets, synchronously, only after handling. Rebalance callbacks run
// inside poll() on the polling thread; revocations reach the listener before the partitions
// are given up, and take back what that poll had collected of them. close() waits for the calls
// in progress before it destroys the producer.
#include "patterns/kafka/kafka_transport.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <librdkafka/rdkafka.h>

#include "base/log.h"
#include "kafka/client/client.h"

namespace wharf {
namespace {

namespace kc = kafka::client;

Error kafka_error(rd_kafka_resp_err_t err, std::string_view what) {
  return kc::kafka_error(err, what);
}

using Properties = std::vector<std::pair<std::string, std::string>>;

// The transport's own settings, then the user's properties (which win); a refused one fails
// "kafka property key=value: librdkafka's reason".
Result<rd_kafka_conf_t*> make_conf(const Properties& base, const Properties& user) {
  std::vector<kc::Property> all;
  for (const auto* list : {&base, &user}) {
    for (const auto& [k, v] : *list) all.push_back({k, v, "kafka property "});
  }
  return kc::make_conf(all);
}

void log_cb(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  // librdkafka's levels are syslog's: 0-3 errors, 4 warnings, the rest informational.
  const LogLevel l = level <= 3   ? LogLevel::kError
                     : level == 4 ? LogLevel::kWarn
                                  : LogLevel::kDebug;
  log(l, "librdkafka {}: {}", fac, buf);
}

struct PublishBatch {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t remaining = 0;
  std::optional<Error> error;
};

void delivery_report(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* batch = static_cast<std::shared_ptr<PublishBatch>*>(m->_private);
  if (!batch) return;
  {
    std::lock_guard lock((*batch)->mu);
    if (m->err && !(*batch)->error) {
      (*batch)->error =
          kafka_error(m->err, fmt::format("publish to {}", rd_kafka_topic_name(m->rkt)));
    }
    --(*batch)->remaining;
  }
  (*batch)->cv.notify_all();
  delete batch;
}

class KafkaSubscription final : public Subscription {
 public:
  static Result<std::unique_ptr<KafkaSubscription>> create(const KafkaOptions& options,
                                                           SubscribeOptions so) {
    auto sub = std::unique_ptr<KafkaSubscription>(new KafkaSubscription(std::move(so)));
    Properties base = {
        {"bootstrap.servers", options.bootstrap},
        {"client.id", sub->options_.client_id},
        {"group.id", sub->options_.group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
        {"auto.offset.reset", sub->options_.from_beginning ? "earliest" : "latest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
        {"topic.metadata.refresh.interval.ms", "10000"},
    };
    WHARF_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, make_conf(base, options.properties));
    rd_kafka_conf_set_opaque(conf, sub.get());
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaSubscription::rebalance_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    char errstr[512];
    sub->rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!sub->rk_) {
      rd_kafka_conf_destroy(conf);
      return fail(ErrorCode::kInvalidArgument, "kafka consumer: {}", errstr);
    }
    rd_kafka_poll_set_consumer(sub->rk_);
    rd_kafka_topic_partition_list_t* topics =
        rd_kafka_topic_partition_list_new(static_cast<int>(sub->options_.topics.size()));
    for (const auto& t : sub->options_.topics)
      rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(sub->rk_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) return fail(kafka_error(err, "subscribe"));
    return sub;
  }

  ~KafkaSubscription() override {
    close();
    if (rk_) rd_kafka_destroy(rk_);
  }

  Result<std::vector<Message>> poll(std::size_t max_messages,
                                    std::chrono::milliseconds timeout) override {
    if (closed_) return fail(ErrorCode::kShuttingDown, "subscription closed");
    std::vector<Message> out;
    // A revocation served by a later rd_kafka_consumer_poll of this loop takes back what was
    // already collected of those partitions (rebalance_cb): handed on, they would be handled by
    // a member that no longer owns them, and their offsets committed over the new owner's.
    collecting_ = &out;
    struct Done {
      std::vector<Message>** slot;
      ~Done() { *slot = nullptr; }
    } done{&collecting_};
    if (stash_ && max_messages > 0) {
      out.push_back(std::move(*stash_));
      stash_.reset();
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < std::max<std::size_t>(max_messages, 1)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const int wait_ms =
          out.empty() ? static_cast<int>(std::max<std::int64_t>(0, left.count())) : 0;
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait_ms);
      if (!m) {
        if (!out.empty() || std::chrono::steady_clock::now() >= deadline) break;
        continue;
      }
      if (m->err) {
        const rd_kafka_resp_err_t err = m->err;
        const std::string what = rd_kafka_message_errstr(m);
        rd_kafka_message_destroy(m);
        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (err == RD_KAFKA_RESP_ERR__FATAL)
          return fail(ErrorCode::kInternal, "kafka consumer fatal error: {}", what);
        log(LogLevel::kWarn, "kafka consumer {}: {}", options_.group, what);
        if (out.empty() && std::chrono::steady_clock::now() >= deadline) break;
        continue;
      }
      Message message = convert(m);
      rd_kafka_message_destroy(m);
      if (max_messages == 0) {
        stash_ = std::move(message);
        break;
      }
      out.push_back(std::move(message));
    }
    return out;
  }

  Status commit(const std::map<TopicPartition, std::int64_t>& next_offsets) override {
    if (next_offsets.empty()) return ok();
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
    for (const auto& [tp, off] : next_offsets) {
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = off;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, /*async=*/0);
    std::optional<Error> part_error;
    for (int i = 0; i < list->cnt && !err; ++i) {
      if (list->elems[i].err && !part_error) {
        part_error = kafka_error(
            list->elems[i].err,
            fmt::format("commit {}/{}", list->elems[i].topic, list->elems[i].partition));
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return fail(kafka_error(err, "commit"));
    if (part_error) return fail(std::move(*part_error));
    return ok();
  }

  void pause(const std::vector<TopicPartition>& partitions) override {
    pause_resume(partitions, true);
  }
  void resume(const std::vector<TopicPartition>& partitions) override {
    pause_resume(partitions, false);
  }

  std::vector<TopicPartition> assignment() const override {
    std::vector<TopicPartition> out;
    rd_kafka_topic_partition_list_t* list = nullptr;
    if (rd_kafka_assignment(rk_, &list) || !list) return out;
    for (int i = 0; i < list->cnt; ++i)
      out.push_back({list->elems[i].topic, list->elems[i].partition});
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }

  std::optional<std::int64_t> high_watermark(const TopicPartition& tp) const override {
    std::int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(rk_, tp.topic.c_str(), tp.partition, &low, &high))
      return std::nullopt;
    if (high < 0) return std::nullopt;
    return high;
  }

  void close() override {
    if (closed_ || !rk_) return;
    closed_ = true;
    if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_); err) {
      log(LogLevel::kWarn, "kafka consumer {}: close: {}", options_.group, rd_kafka_err2str(err));
    }
  }

 private:
  explicit KafkaSubscription(SubscribeOptions options) : options_(std::move(options)) {}

  static Message convert(rd_kafka_message_t* m) {
    Headers headers;
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        headers.emplace_back(
            name, value ? std::string(static_cast<const char*>(value), size) : std::string());
      }
    }
    rd_kafka_timestamp_type_t type;
    const std::int64_t ts = rd_kafka_message_timestamp(m, &type);
    std::string key =
        m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : std::string();
    std::string value =
        m->payload ? std::string(static_cast<const char*>(m->payload), m->len) : std::string();
    return from_kafka_record(rd_kafka_topic_name(m->rkt), m->partition, m->offset, ts,
                             std::move(key), std::move(value), headers);
  }

  void pause_resume(const std::vector<TopicPartition>& partitions, bool pause) {
    if (partitions.empty()) return;
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
    for (const auto& tp : partitions)
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
    if (pause) {
      (void)rd_kafka_pause_partitions(rk_, list);
    } else {
      (void)rd_kafka_resume_partitions(rk_, list);
    }
    rd_kafka_topic_partition_list_destroy(list);
  }

  static std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
    std::vector<TopicPartition> out;
    for (int i = 0; i < list->cnt; ++i)
      out.push_back({list->elems[i].topic, list->elems[i].partition});
    return out;
  }

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<KafkaSubscription*>(opaque);
    const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    const auto parts = to_vector(partitions);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, partitions))
          rd_kafka_error_destroy(e);
      } else {
        (void)rd_kafka_assign(rk, partitions);
      }
      if (self->options_.listener.on_assigned) self->options_.listener.on_assigned(parts);
    } else {
      self->forget_collected(parts);
      // Revoked (or lost): let the owner finish and commit first, then give them up.
      if (self->options_.listener.on_revoked) self->options_.listener.on_revoked(parts);
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions))
          rd_kafka_error_destroy(e);
      } else {
        (void)rd_kafka_assign(rk, nullptr);
      }
    }
  }

  // Drops the messages of `revoked` partitions that a poll has taken but not yet handed on.
  void forget_collected(const std::vector<TopicPartition>& revoked) {
    auto of_revoked = [&](const Message& m) {
      return std::find(revoked.begin(), revoked.end(), TopicPartition{m.topic, m.partition}) !=
             revoked.end();
    };
    if (stash_ && of_revoked(*stash_)) stash_.reset();
    if (collecting_) std::erase_if(*collecting_, of_revoked);
  }

  SubscribeOptions options_;
  rd_kafka_t* rk_ = nullptr;
  std::vector<Message>* collecting_ = nullptr;  // poll()'s output while it runs (its thread)
  std::optional<Message> stash_;  // one message taken by a poll for nothing (max_messages 0)
  bool closed_ = false;
};

class KafkaTransport final : public Transport {
 public:
  static Result<std::shared_ptr<KafkaTransport>> create(KafkaOptions options,
                                                        std::string_view name) {
    if (options.bootstrap.empty()) {
      const char* env = std::getenv("WHARF_BOOTSTRAP");
      options.bootstrap = env ? env : "127.0.0.1:9092";
    }
    auto t = std::shared_ptr<KafkaTransport>(new KafkaTransport(std::move(options), name));
    Properties base = {
        {"bootstrap.servers", t->options_.bootstrap},
        {"client.id", t->options_.client_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "2"},
        {"partitioner", "murmur2_random"},  // the Java client's partitioner
        {"message.timeout.ms", std::to_string(t->options_.timeout.count())},
    };
    WHARF_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, make_conf(base, t->options_.properties));
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    char errstr[512];
    t->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!t->rk_) {
      rd_kafka_conf_destroy(conf);
      return fail(ErrorCode::kInvalidArgument, "kafka producer: {}", errstr);
    }
    t->topics_ = std::make_unique<kc::TopicHandles>(t->rk_);
    t->poller_ = std::thread([raw = t.get()] {
      while (!raw->stopping_.load()) rd_kafka_poll(raw->rk_, 50);
    });
    return t;
  }

  ~KafkaTransport() override { (void)close(); }

  Status publish(const std::string& topic, std::vector<Message> messages) override {
    WHARF_ASSIGN_OR_RETURN(auto use, in_use());  // close() waits for this call to end
    if (messages.empty()) return ok();
    // By handle, not by name: the first message to a topic is then not held for librdkafka's
    // one-second topic scan (kafka/client/client.h, TopicHandles).
    auto rkt = topics_->get(topic);
    if (!rkt) return fail(rkt.error().code(), "publish: {}", rkt.error().message());
    auto batch = std::make_shared<PublishBatch>();
    batch->remaining = messages.size();
    std::size_t produced = 0;
    for (auto& m : messages) {
      if (m.id.empty()) m.id = new_message_id();
      if (m.timestamp_ms == 0) m.timestamp_ms = SystemClock::instance().now_ms();
      if (m.correlation_id.empty()) m.correlation_id = m.id;
      rd_kafka_headers_t* hdrs = rd_kafka_headers_new(12 + m.headers.size());
      for (const auto& [k, v] : to_kafka_headers(m)) {
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
      }
      auto* opaque = new std::shared_ptr<PublishBatch>(batch);
      rd_kafka_resp_err_t err;
      const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
      while (true) {
        err = rd_kafka_producev(
            rk_, RD_KAFKA_V_RKT(rkt->get()),
            RD_KAFKA_V_KEY(m.key.empty() ? nullptr : m.key.data(), m.key.size()),
            RD_KAFKA_V_VALUE(m.payload.data(), m.payload.size()), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_TIMESTAMP(m.timestamp_ms), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        // The producer queue is full: wait for deliveries to make room (backpressure).
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (err) {
        rd_kafka_headers_destroy(hdrs);  // not owned by librdkafka on failure
        delete opaque;
        std::lock_guard lock(batch->mu);
        batch->remaining -= messages.size() - produced;
        if (!batch->error) batch->error = kafka_error(err, fmt::format("publish to {}", topic));
        break;
      }
      ++produced;
    }
    std::unique_lock lock(batch->mu);
    // Every produced message gets its delivery report within message.timeout.ms; wait a little
    // longer so a report is never left pointing at a batch nobody waits for (it owns a share).
    if (!batch->cv.wait_for(lock, options_.timeout + std::chrono::seconds(5),
                            [&] { return batch->remaining == 0; })) {
      return fail(ErrorCode::kTimeout, "publish to {}: {} messages not acknowledged in time", topic,
                  batch->remaining);
    }
    if (batch->error) return fail(*batch->error);
    return ok();
  }

  Result<std::unique_ptr<Subscription>> subscribe(SubscribeOptions so) override {
    if (closed_.load()) return fail(ErrorCode::kShuttingDown, "kafka transport closed");
    if (so.group.empty() || so.topics.empty()) {
      return fail(ErrorCode::kInvalidArgument, "subscribe needs a group and at least one topic");
    }
    WHARF_ASSIGN_OR_RETURN(auto sub, KafkaSubscription::create(options_, std::move(so)));
    return std::unique_ptr<Subscription>(std::move(sub));
  }

  Status ensure_topic(const std::string& topic, std::int32_t partitions) override {
    WHARF_ASSIGN_OR_RETURN(auto use, in_use());
    Status created =
        kc::create_topic(rk_, timeout_ms(), topic, partitions, /*replication_factor=*/-1, {});
    if (created || created.error().code() == ErrorCode::kAlreadyExists) return ok();
    return fail(created.error().code(), "create topic {}: {}", topic, created.error().message());
  }

  Result<std::int32_t> partition_count(const std::string& topic) override {
    WHARF_ASSIGN_OR_RETURN(auto use, in_use());
    return partitions_of(topic);
  }

  Result<std::map<TopicPartition, std::int64_t>> end_offsets(const std::string& topic) override {
    WHARF_ASSIGN_OR_RETURN(auto use, in_use());
    WHARF_ASSIGN_OR_RETURN(const std::int32_t partitions, partitions_of(topic));
    std::map<TopicPartition, std::int64_t> out;
    for (std::int32_t p = 0; p < partitions; ++p) {
      WHARF_ASSIGN_OR_RETURN(const kc::Watermarks w,
                             kc::watermarks(rk_, timeout_ms(), topic, PartitionId(p)));
      out[{topic, p}] = w.high.value();
    }
    return out;
  }

  Result<std::map<TopicPartition, std::int64_t>> committed_offsets(
      const std::string& group, const std::string& topic) override {
    WHARF_ASSIGN_OR_RETURN(auto use, in_use());
    WHARF_ASSIGN_OR_RETURN(const std::int32_t partitions, partitions_of(topic));
    // The admin API on the transport's own handle (OffsetFetch through the group coordinator):
    // no consumer handle, with its threads and connections, per call.
    std::vector<kc::TopicPartition> list;
    for (std::int32_t p = 0; p < partitions; ++p) list.push_back({topic, PartitionId(p)});
    WHARF_ASSIGN_OR_RETURN(
        const auto committed,
        kc::committed_offsets(rk_, timeout_ms(), group, list, kc::PartitionErrors::kFail));
    std::map<TopicPartition, std::int64_t> out;
    for (const auto& [tp, offset] : committed)
      out[{tp.topic, tp.partition.value()}] = offset.value();
    return out;
  }

  Status commit_offsets(const std::string& group,
                        const std::map<TopicPartition, std::int64_t>& offsets) override {
    if (offsets.empty()) return ok();
    WHARF_ASSIGN_OR_RETURN(rd_kafka_t * rk, group_handle(group));
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
    for (const auto& [tp, off] : offsets)
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = off;
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, list, /*async=*/0);
    for (int i = 0; i < list->cnt && !err; ++i) err = list->elems[i].err;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (err) return fail(kafka_error(err, fmt::format("commit offsets of group {}", group)));
    return ok();
  }

  Status close() override {
    if (closed_.exchange(true)) return ok();
    // Calls already past their closed_ check end first: none uses the handle once it is gone.
    std::unique_lock use(use_mu_);
    Status result = ok();
    if (rk_) {
      if (rd_kafka_resp_err_t err = rd_kafka_flush(rk_, static_cast<int>(options_.timeout.count()));
          err) {
        result = fail(kafka_error(err, "flush on close"));
      }
    }
    stopping_ = true;
    if (poller_.joinable()) poller_.join();
    if (topics_) topics_->clear();
    if (rk_) rd_kafka_destroy(rk_);
    rk_ = nullptr;
    return result;
  }

  std::string_view name() const override { return name_; }
  std::string kafka_address() const override { return options_.bootstrap; }

 private:
  KafkaTransport(KafkaOptions options, std::string_view name)
      : options_(std::move(options)), name_(name) {}

  int timeout_ms() const { return static_cast<int>(options_.timeout.count()); }

  // A hold on the producer for one call, which close() waits for; kShuttingDown once close()
  // has begun.
  Result<std::shared_lock<std::shared_mutex>> in_use() {
    std::shared_lock lock(use_mu_);
    if (closed_.load()) return fail(ErrorCode::kShuttingDown, "kafka transport closed");
    return lock;
  }

  // partition_count without taking use_mu_ (its callers hold it: a shared_mutex taken twice
  // on one thread can wait forever behind a close()).
  Result<std::int32_t> partitions_of(const std::string& topic) {
    // All topics' metadata: asking for one topic by name would make a broker with topic
    // auto-creation (Wharf's default, Kafka's too) create it.
    WHARF_ASSIGN_OR_RETURN(const auto md,
                           kc::metadata(rk_, timeout_ms(), fmt::format("metadata of {}", topic)));
    const kc::TopicMetadata* t = md.find(topic);
    if (t == nullptr || !t->error.empty()) {
      return fail(ErrorCode::kNotFound, "topic '{}' does not exist", topic);
    }
    return static_cast<std::int32_t>(t->partitions.size());
  }

  // A consumer handle in `group` that never subscribes: for reading and storing the group's
  // offsets from outside it. The caller closes and destroys it.
  Result<rd_kafka_t*> group_handle(const std::string& group) {
    Properties base = {{"bootstrap.servers", options_.bootstrap},
                       {"client.id", options_.client_id},
                       {"group.id", group},
                       {"enable.auto.commit", "false"}};
    WHARF_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, make_conf(base, options_.properties));
    rd_kafka_conf_set_log_cb(conf, log_cb);
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
      rd_kafka_conf_destroy(conf);
      return fail(ErrorCode::kInvalidArgument, "kafka consumer: {}", errstr);
    }
    return rk;
  }

  KafkaOptions options_;
  std::string name_;
  rd_kafka_t* rk_ = nullptr;
  std::unique_ptr<kc::TopicHandles> topics_;  // given back before rk_ is destroyed
  std::thread poller_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> closed_{false};
  std::shared_mutex use_mu_;  // shared by the calls that use rk_, exclusive in close()
};

}  // namespace

Result<std::shared_ptr<Transport>> make_kafka_transport(const KafkaOptions& options,
                                                        std::string_view name) {
  WHARF_ASSIGN_OR_RETURN(auto t, KafkaTransport::create(options, name));
  return std::shared_ptr<Transport>(std::move(t));
}

Result<Bus> Bus::open(const KafkaOptions& options) {
  WHARF_ASSIGN_OR_RETURN(auto t, make_kafka_transport(options, "kafka"));
  return Bus(std::move(t));
}

}  // namespace wharf
