// librdkafka (the C client that kcat, confluent-kafka-python and many others build on) against
// the real broker: idempotent acks=all producers with every codec, 100k keyed records over six
// partitions read back in per-partition order, and a broker killed and restarted under an
// idempotent producer without losing or duplicating an acknowledged record; the Admin API (topics,
// configs, partitions, group offsets) and a group consumer restarted in the same group.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/broker_process.h"

namespace wharf::test {
namespace {

using Config = std::map<std::string, std::string>;

rd_kafka_conf_t* make_conf(const std::string& bootstrap, const Config& extra) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) {
    EXPECT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err), RD_KAFKA_CONF_OK)
        << k << ": " << err;
  };
  set("bootstrap.servers", bootstrap);
  for (const auto& [k, v] : extra) set(k, v);
  return conf;
}

struct DeliveryLog {
  std::mutex mu;
  std::vector<std::pair<std::string, std::pair<std::int32_t, std::int64_t>>>
      acked;  // value -> (partition, offset)
  std::atomic<int> failed{0};
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* log = static_cast<DeliveryLog*>(opaque);
  std::lock_guard lock(log->mu);
  if (m->err) {
    if (log->failed++ == 0) log->first_error = rd_kafka_err2str(m->err);
    return;
  }
  log->acked.push_back(
      {std::string(static_cast<const char*>(m->payload), m->len), {m->partition, m->offset}});
}

class Producer {
 public:
  Producer(const std::string& bootstrap, Config extra) {
    rd_kafka_conf_t* conf = make_conf(bootstrap, extra);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &log_);
    char err[512];
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    EXPECT_NE(rk_, nullptr) << err;
  }
  ~Producer() { rd_kafka_destroy(rk_); }
  rd_kafka_resp_err_t send(const std::string& topic, const std::string* key,
                           const std::string& value,
                           std::int32_t partition = RD_KAFKA_PARTITION_UA) {
    for (;;) {
      auto err = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key ? key->data() : nullptr, key ? key->size() : 0),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return err;
      rd_kafka_poll(rk_, 50);
    }
  }
  int flush(int timeout_ms) { return rd_kafka_flush(rk_, timeout_ms); }
  std::string fatal_error() {
    char err[512];
    auto code = rd_kafka_fatal_error(rk_, err, sizeof err);
    return code ? std::string(rd_kafka_err2name(code)) + ": " + err : "";
  }
  DeliveryLog& log() { return log_; }
  rd_kafka_t* handle() { return rk_; }

 private:
  DeliveryLog log_;
  rd_kafka_t* rk_ = nullptr;
};

struct Consumed {
  std::string key;
  std::string value;
  std::int32_t partition;
  std::int64_t offset;
};

// Reads every partition of `topic` from the beginning (no consumer group) until `expected`
// records arrived or the timeout passed.
std::vector<Consumed> consume_all(const std::string& bootstrap, const std::string& topic,
                                  int partitions, std::size_t expected, int timeout_s = 60) {
  rd_kafka_conf_t* conf = make_conf(bootstrap, {{"group.id", "unused-manual-assignment"},
                                                {"enable.auto.commit", "false"},
                                                {"enable.partition.eof", "false"}});
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  EXPECT_EQ(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<Consumed> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (m->err) {
      ADD_FAILURE() << "consumer error: " << rd_kafka_message_errstr(m);
    } else {
      out.push_back({m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : "",
                     std::string(static_cast<const char*>(m->payload), m->len), m->partition,
                     m->offset});
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions) {
  rd_kafka_conf_t* conf = make_conf(bootstrap, {});
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 10000);
  ASSERT_NE(ev, nullptr);
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(rd_kafka_topic_result_error(results[0]), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_topic_result_error_string(results[0]);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
}

class LibrdkafkaTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.start()) << broker_.last_output(); }
  BrokerProcess broker_;
};

TEST_F(LibrdkafkaTest, IdempotentAcksAllProducerWorksWithEveryCodec) {
  for (const std::string codec : {"none", "gzip", "snappy", "lz4", "zstd"}) {
    const std::string topic = "codec-" + codec;
    create_topic(broker_.bootstrap(), topic, 1);
    constexpr int kRecords = 2000;
    {
      Producer producer(broker_.bootstrap(), {{"enable.idempotence", "true"},
                                              {"acks", "all"},
                                              {"compression.codec", codec},
                                              {"linger.ms", "5"}});
      for (int i = 0; i < kRecords; ++i) {
        const std::string value = codec + "-" + std::to_string(i) + std::string(100, 'x');
        ASSERT_EQ(producer.send(topic, nullptr, value, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
      }
      ASSERT_EQ(producer.flush(30000), RD_KAFKA_RESP_ERR_NO_ERROR);
      EXPECT_EQ(producer.log().failed.load(), 0) << producer.log().first_error;
      EXPECT_EQ(producer.log().acked.size(), static_cast<std::size_t>(kRecords));
      EXPECT_EQ(producer.fatal_error(), "");
    }
    auto records = consume_all(broker_.bootstrap(), topic, 1, kRecords);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(kRecords)) << codec;
    for (int i = 0; i < kRecords; ++i) {
      EXPECT_EQ(records[i].offset, i);
      EXPECT_EQ(records[i].value, codec + "-" + std::to_string(i) + std::string(100, 'x'));
    }
  }
  // The stored batches carry the codec the client chose: the broker keeps the bytes it received.
  EXPECT_NE(broker_.last_output().find("ready"), std::string::npos);
}

TEST_F(LibrdkafkaTest, HundredThousandKeyedRecordsOverSixPartitionsComeBackInPartitionOrder) {
  const std::string topic = "keyed";
  create_topic(broker_.bootstrap(), topic, 6);
  constexpr int kKeys = 500, kRecords = 100'000;
  {
    Producer producer(broker_.bootstrap(),
                      {{"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "10"}});
    for (int i = 0; i < kRecords; ++i) {
      const std::string key = "customer-" + std::to_string(i % kKeys);
      ASSERT_EQ(producer.send(topic, &key, key + "#" + std::to_string(i / kKeys)),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      if (i % 1000 == 0) rd_kafka_poll(producer.handle(), 0);
    }
    ASSERT_EQ(producer.flush(60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(producer.log().failed.load(), 0) << producer.log().first_error;
    ASSERT_EQ(producer.log().acked.size(), static_cast<std::size_t>(kRecords));
  }
  auto records = consume_all(broker_.bootstrap(), topic, 6, kRecords);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kRecords));
  std::map<std::string, std::int32_t> partition_of_key;
  std::map<std::string, int> next_seq_of_key;
  std::map<std::int32_t, std::int64_t> next_offset;
  std::set<std::int32_t> used;
  for (const auto& r : records) {
    auto [it, fresh] = partition_of_key.emplace(r.key, r.partition);
    EXPECT_EQ(it->second, r.partition) << "key " << r.key << " on two partitions";
    // Per partition, offsets are dense and each key's records arrive in the order produced.
    EXPECT_EQ(r.offset, next_offset[r.partition]++) << "partition " << r.partition;
    const int seq = std::stoi(r.value.substr(r.value.find('#') + 1));
    EXPECT_EQ(seq, next_seq_of_key[r.key]++) << r.key;
    used.insert(r.partition);
  }
  EXPECT_EQ(partition_of_key.size(), static_cast<std::size_t>(kKeys));
  EXPECT_EQ(used.size(), 6u) << "keys should spread over all six partitions";
}

TEST_F(LibrdkafkaTest, BrokerKilledAndRestartedUnderAnIdempotentProducerLosesAndDuplicatesNothing) {
  const std::string topic = "restart";
  create_topic(broker_.bootstrap(), topic, 3);
  Producer producer(broker_.bootstrap(), {{"enable.idempotence", "true"},
                                          {"acks", "all"},
                                          {"linger.ms", "2"},
                                          {"message.timeout.ms", "120000"},
                                          {"reconnect.backoff.ms", "50"},
                                          {"reconnect.backoff.max.ms", "500"}});
  std::atomic<bool> done{false};
  std::atomic<int> sent{0};
  std::thread sender([&] {
    for (int i = 0; !done; ++i) {
      const std::string key = "k" + std::to_string(i % 50);
      if (producer.send(topic, &key, "v" + std::to_string(i)) != RD_KAFKA_RESP_ERR_NO_ERROR) break;
      sent = i + 1;
      rd_kafka_poll(producer.handle(), 0);
      if (i % 200 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  broker_.kill9();  // a crash, not a clean shutdown
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(broker_.start()) << broker_.last_output();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  done = true;
  sender.join();
  ASSERT_EQ(producer.flush(120000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(producer.fatal_error(), "") << "no fatal client error";
  EXPECT_EQ(producer.log().failed.load(), 0) << producer.log().first_error;
  const auto acked = producer.log().acked;
  ASSERT_GT(acked.size(), 1000u);

  auto records = consume_all(broker_.bootstrap(), topic, 3, static_cast<std::size_t>(sent.load()));
  std::map<std::string, int> seen;
  for (const auto& r : records) seen[r.value]++;
  for (const auto& [value, count] : seen)
    EXPECT_EQ(count, 1) << value << " stored " << count << " times";
  std::size_t missing = 0;
  for (const auto& [value, where] : acked) {
    if (!seen.count(value)) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "acknowledged records lost";
  EXPECT_EQ(records.size(), static_cast<std::size_t>(sent.load()));
}

// Runs one Admin API request (`call` sends it to the queue) and returns its result event, or
// nullptr after 30 s. The caller destroys the event.
template <typename Call>
rd_kafka_event_t* admin_request(rd_kafka_t* rk, Call call) {
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  call(q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  rd_kafka_queue_destroy(q);
  return ev;
}

// topic -> error name ("NO_ERROR" on success) from a CreateTopics, CreatePartitions or
// DeleteTopics result.
std::map<std::string, std::string> topic_errors(const rd_kafka_topic_result_t** results, size_t n) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < n; ++i) {
    out[rd_kafka_topic_result_name(results[i])] =
        rd_kafka_err2name(rd_kafka_topic_result_error(results[i]));
  }
  return out;
}

// The partition count of `topic` from a Metadata request for all topics (which never
// auto-creates), or -1 if the broker does not list it.
int partition_count(rd_kafka_t* rk, const std::string& topic) {
  const rd_kafka_metadata_t* md = nullptr;
  EXPECT_EQ(rd_kafka_metadata(rk, 1, nullptr, &md, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  if (!md) return -1;
  int count = -1;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      count = md->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return count;
}

// The C Admin API: CreateTopics (with a config; a duplicate is refused), DescribeConfigs,
// CreatePartitions and DeleteTopics, checked through Metadata.
TEST_F(LibrdkafkaTest, AdminApiCreatesDescribesGrowsAndDeletesTopics) {
  char err[512];
  rd_kafka_t* rk =
      rd_kafka_new(RD_KAFKA_PRODUCER, make_conf(broker_.bootstrap(), {}), err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;

  auto create = [&](const std::string& name, int partitions) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(name.c_str(), partitions, 1, err, sizeof err);
    EXPECT_EQ(rd_kafka_NewTopic_set_config(nt, "retention.ms", "3600000"),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_t* ev = admin_request(
        rk, [&](rd_kafka_queue_t* q) { rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q); });
    rd_kafka_NewTopic_destroy(nt);
    std::map<std::string, std::string> out;
    if (ev == nullptr) return out;
    size_t n = 0;
    auto** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    out = topic_errors(results, n);
    rd_kafka_event_destroy(ev);
    return out;
  };
  EXPECT_EQ(create("c-admin", 4), (std::map<std::string, std::string>{{"c-admin", "NO_ERROR"}}));
  EXPECT_EQ(create("c-admin", 2),
            (std::map<std::string, std::string>{{"c-admin", "TOPIC_ALREADY_EXISTS"}}));
  EXPECT_EQ(partition_count(rk, "c-admin"), 4);

  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, "c-admin");
  rd_kafka_event_t* ev = admin_request(
      rk, [&](rd_kafka_queue_t* q) { rd_kafka_DescribeConfigs(rk, &resource, 1, nullptr, q); });
  rd_kafka_ConfigResource_destroy(resource);
  ASSERT_NE(ev, nullptr);
  size_t n = 0;
  const rd_kafka_ConfigResource_t** described =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(rd_kafka_ConfigResource_error(described[0]), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::map<std::string, std::string> configs;
  size_t entries = 0;
  const rd_kafka_ConfigEntry_t** config = rd_kafka_ConfigResource_configs(described[0], &entries);
  for (size_t i = 0; i < entries; ++i) {
    const char* value = rd_kafka_ConfigEntry_value(config[i]);
    configs[rd_kafka_ConfigEntry_name(config[i])] =
        std::string(value ? value : "(null)") +
        (rd_kafka_ConfigEntry_is_default(config[i]) ? " default" : "");
  }
  rd_kafka_event_destroy(ev);
  EXPECT_EQ(configs["retention.ms"], "3600000");
  EXPECT_EQ(configs["cleanup.policy"], "delete default");

  rd_kafka_NewPartitions_t* grow = rd_kafka_NewPartitions_new("c-admin", 6, err, sizeof err);
  ev = admin_request(
      rk, [&](rd_kafka_queue_t* q) { rd_kafka_CreatePartitions(rk, &grow, 1, nullptr, q); });
  rd_kafka_NewPartitions_destroy(grow);
  ASSERT_NE(ev, nullptr);
  auto** grown =
      rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
  EXPECT_EQ(topic_errors(grown, n), (std::map<std::string, std::string>{{"c-admin", "NO_ERROR"}}));
  rd_kafka_event_destroy(ev);
  EXPECT_EQ(partition_count(rk, "c-admin"), 6);

  auto remove = [&]() {
    rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new("c-admin");
    rd_kafka_event_t* done = admin_request(
        rk, [&](rd_kafka_queue_t* q) { rd_kafka_DeleteTopics(rk, &dt, 1, nullptr, q); });
    rd_kafka_DeleteTopic_destroy(dt);
    std::map<std::string, std::string> out;
    if (done == nullptr) return out;
    size_t count = 0;
    auto** results =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(done), &count);
    out = topic_errors(results, count);
    rd_kafka_event_destroy(done);
    return out;
  };
  EXPECT_EQ(remove(), (std::map<std::string, std::string>{{"c-admin", "NO_ERROR"}}));
  EXPECT_EQ(partition_count(rk, "c-admin"), -1);
  EXPECT_EQ(remove(), (std::map<std::string, std::string>{{"c-admin", "UNKNOWN_TOPIC_OR_PART"}}));
  rd_kafka_destroy(rk);
}

// A high-level consumer takes 120 of 300 records, commits exactly those and closes; a second
// consumer in the same group gets exactly the other 180. The committed offsets read back with
// rd_kafka_committed() and the Admin API's ListConsumerGroupOffsets.
TEST_F(LibrdkafkaTest, GroupConsumerRestartedInTheSameGroupGetsExactlyTheRest) {
  const std::string topic = "c-group", group = "c-g";
  constexpr int kPartitions = 3, kPerPartition = 100;
  create_topic(broker_.bootstrap(), topic, kPartitions);
  {
    Producer producer(broker_.bootstrap(), {{"linger.ms", "20"}});
    for (int p = 0; p < kPartitions; ++p) {
      for (int i = 0; i < kPerPartition; ++i) {
        ASSERT_EQ(
            producer.send(topic, nullptr, "p" + std::to_string(p) + "-" + std::to_string(i), p),
            RD_KAFKA_RESP_ERR_NO_ERROR);
      }
    }
    ASSERT_EQ(producer.flush(30000), 0);
    ASSERT_EQ(producer.log().failed.load(), 0) << producer.log().first_error;
  }
  auto new_consumer = [&]() {
    char err[512];
    rd_kafka_conf_t* conf = make_conf(
        broker_.bootstrap(),
        {{"group.id", group}, {"enable.auto.commit", "false"}, {"auto.offset.reset", "earliest"}});
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    EXPECT_NE(rk, nullptr) << err;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
    EXPECT_EQ(rd_kafka_subscribe(rk, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);
    return rk;
  };
  // Reads until `count` records arrived (60 s at most); returns them as "value@offset".
  auto take = [&](rd_kafka_t* rk, std::size_t count, std::map<std::int32_t, std::int64_t>& next) {
    std::set<std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (got.size() < count && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
      if (!m) continue;
      if (m->err) {
        ADD_FAILURE() << "consumer error: " << rd_kafka_message_errstr(m);
      } else {
        const std::string value(static_cast<const char*>(m->payload), m->len);
        EXPECT_EQ(value, "p" + std::to_string(m->partition) + "-" + std::to_string(m->offset));
        EXPECT_TRUE(got.insert(value).second) << value << " twice";
        next[m->partition] = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
    }
    return got;
  };
  auto commit = [&](rd_kafka_t* rk, const std::map<std::int32_t, std::int64_t>& next) {
    rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(kPartitions);
    for (const auto& [p, o] : next)
      rd_kafka_topic_partition_list_add(offsets, topic.c_str(), p)->offset = o;
    EXPECT_EQ(rd_kafka_commit(rk, offsets, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(offsets);
  };
  auto committed = [&](rd_kafka_t* rk) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(kPartitions);
    for (int p = 0; p < kPartitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    EXPECT_EQ(rd_kafka_committed(rk, list, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::map<std::int32_t, std::int64_t> out;
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  };

  std::map<std::int32_t, std::int64_t> first_next;
  rd_kafka_t* first = new_consumer();
  const auto first_got = take(first, 120, first_next);
  ASSERT_EQ(first_got.size(), 120u);
  commit(first, first_next);
  std::map<std::int32_t, std::int64_t> expected;
  for (int p = 0; p < kPartitions; ++p)
    expected[p] = first_next.count(p) ? first_next[p] : RD_KAFKA_OFFSET_INVALID;
  EXPECT_EQ(committed(first), expected);
  EXPECT_EQ(rd_kafka_consumer_close(first), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(first);

  std::map<std::int32_t, std::int64_t> second_next;
  rd_kafka_t* second = new_consumer();
  const auto second_got = take(second, 180, second_next);
  std::set<std::string> rest;
  for (int p = 0; p < kPartitions; ++p) {
    for (int i = 0; i < kPerPartition; ++i) {
      const std::string value = "p" + std::to_string(p) + "-" + std::to_string(i);
      if (!first_got.count(value)) rest.insert(value);
    }
  }
  EXPECT_EQ(second_got, rest) << "the second member starts at the committed offsets";
  commit(second, second_next);
  const std::map<std::int32_t, std::int64_t> at_end{
      {0, kPerPartition}, {1, kPerPartition}, {2, kPerPartition}};
  EXPECT_EQ(committed(second), at_end);
  for (int p = 0; p < kPartitions; ++p) {
    std::int64_t low = -1, high = -1;
    EXPECT_EQ(rd_kafka_query_watermark_offsets(second, topic.c_str(), p, &low, &high, 30000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(std::make_pair(low, high),
              std::make_pair(std::int64_t{0}, std::int64_t{kPerPartition}));
  }
  EXPECT_EQ(rd_kafka_consumer_close(second), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(second);

  // The Admin API lists the same committed offsets.
  char err[512];
  rd_kafka_t* admin =
      rd_kafka_new(RD_KAFKA_PRODUCER, make_conf(broker_.bootstrap(), {}), err, sizeof err);
  ASSERT_NE(admin, nullptr) << err;
  rd_kafka_topic_partition_list_t* partitions = rd_kafka_topic_partition_list_new(kPartitions);
  for (int p = 0; p < kPartitions; ++p)
    rd_kafka_topic_partition_list_add(partitions, topic.c_str(), p);
  rd_kafka_ListConsumerGroupOffsets_t* request =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), partitions);
  rd_kafka_topic_partition_list_destroy(partitions);
  rd_kafka_event_t* ev = admin_request(admin, [&](rd_kafka_queue_t* q) {
    rd_kafka_ListConsumerGroupOffsets(admin, &request, 1, nullptr, q);
  });
  rd_kafka_ListConsumerGroupOffsets_destroy(request);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_event_error_string(ev);
  size_t n = 0;
  const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(std::string(rd_kafka_group_result_name(groups[0])), group);
  std::map<std::int32_t, std::int64_t> listed;
  const rd_kafka_topic_partition_list_t* offsets = rd_kafka_group_result_partitions(groups[0]);
  for (int i = 0; i < offsets->cnt; ++i)
    listed[offsets->elems[i].partition] = offsets->elems[i].offset;
  EXPECT_EQ(listed, at_end);
  rd_kafka_event_destroy(ev);
  rd_kafka_destroy(admin);
}

}  // namespace
}  // namespace wharf::test
