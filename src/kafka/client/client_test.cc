#include "kafka/client/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>

#include <gtest/gtest.h>

namespace wharf::kafka::client {
namespace {

using namespace std::chrono_literals;

std::string conf_value(rd_kafka_conf_t* conf, const char* key) {
  char value[256];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(conf, key, value, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return value;
}

TEST(MakeConfTest, SetsPropertiesInOrderSoALaterOneWins) {
  auto conf = make_conf(
      {{"client.id", "first", ""}, {"linger.ms", "7", ""}, {"client.id", "second", "-X "}});
  ASSERT_TRUE(conf) << conf.error().to_string();
  EXPECT_EQ(conf_value(*conf, "client.id"), "second");
  EXPECT_EQ(conf_value(*conf, "linger.ms"), "7");
  rd_kafka_conf_destroy(*conf);
}

TEST(MakeConfTest, AnUnknownPropertyIsRefusedWithItsOrigin) {
  auto conf = make_conf({{"client.id", "wharf", ""}, {"no.such.property", "1", "-X "}});
  ASSERT_FALSE(conf);
  EXPECT_EQ(conf.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      conf.error().message().rfind("-X no.such.property=1: No such configuration property", 0), 0u)
      << conf.error().message();
}

TEST(MakeConfTest, ABadValueIsRefusedWithItsOrigin) {
  auto conf = make_conf({{"linger.ms", "soon", "kafka property "}});
  ASSERT_FALSE(conf);
  EXPECT_EQ(conf.error().message().rfind("kafka property linger.ms=soon: ", 0), 0u)
      << conf.error().message();
}

TEST(ClassifyTest, LibrdkafkaErrorsMapToWharfCodes) {
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__TIMED_OUT), ErrorCode::kTimeout);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT), ErrorCode::kTimeout);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__TRANSPORT), ErrorCode::kUnavailable);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_NOT_COORDINATOR), ErrorCode::kUnavailable);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS), ErrorCode::kConflict);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), ErrorCode::kMessageTooLarge);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), ErrorCode::kNotFound);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND), ErrorCode::kNotFound);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS), ErrorCode::kAlreadyExists);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION), ErrorCode::kUnsupported);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__QUEUE_FULL), ErrorCode::kResourceExhausted);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__DESTROY), ErrorCode::kShuttingDown);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_INVALID_PARTITIONS), ErrorCode::kInternal);
}

TEST(KafkaErrorTest, PrefersTheDetailAndPrefixesTheContext) {
  EXPECT_EQ(
      kafka_error(RD_KAFKA_RESP_ERR_INVALID_PARTITIONS, "topic 't'", "must be above 0").message(),
      "topic 't': must be above 0");
  const Error plain = kafka_error(RD_KAFKA_RESP_ERR__TIMED_OUT, "commit");
  EXPECT_EQ(plain.code(), ErrorCode::kTimeout);
  EXPECT_EQ(plain.message(),
            std::string("commit: ") + rd_kafka_err2str(RD_KAFKA_RESP_ERR__TIMED_OUT));
  EXPECT_EQ(kafka_error(RD_KAFKA_RESP_ERR__TIMED_OUT, "", "").message(),
            rd_kafka_err2str(RD_KAFKA_RESP_ERR__TIMED_OUT));
}

TEST(FormatTimeoutTest, WholeSecondsHaveNoFraction) {
  EXPECT_EQ(format_timeout(10s), "10 s");
  EXPECT_EQ(format_timeout(1500ms), "1.5 s");
  EXPECT_EQ(format_timeout(1ms), "0.001 s");
}

TEST(ClientTest, ARefusedPropertyFailsBeforeAnyConnection) {
  Options options;
  options.bootstrap = "127.0.0.1:1";
  options.properties = {{"no.such.property", "1", "-X "}};
  auto client = Client::connect(options, ClientKind::kAdmin);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(client.error().message().find("-X no.such.property=1"), std::string::npos)
      << client.error().message();
}

// A bound socket that does not listen: connecting to it is refused at once, on every run.
TEST(ClientTest, ABrokerThatDoesNotAnswerFailsWithinTheTimeoutAndSaysWhy) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  Options options;
  options.bootstrap = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  options.timeout = 1s;
  auto client = Client::connect(options, ClientKind::kAdmin);
  ::close(fd);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(client.error().message().rfind("cannot reach " + options.bootstrap + " within 1 s", 0),
            0u)
      << client.error().message();
}

// A producer handle that never connects (bootstrap on a port nothing listens on): making topic
// handles needs no broker.
rd_kafka_t* offline_producer() {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[256];
  EXPECT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", errstr, sizeof errstr),
            RD_KAFKA_CONF_OK);
  EXPECT_EQ(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr), RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  EXPECT_NE(rk, nullptr) << errstr;
  return rk;
}

TEST(TopicHandlesTest, OneHandlePerTopicNameKeptUntilCleared) {
  rd_kafka_t* rk = offline_producer();
  ASSERT_NE(rk, nullptr);
  {
    TopicHandles topics(rk);
    auto a = topics.get("orders");
    auto again = topics.get("orders");
    auto b = topics.get("payments");
    ASSERT_TRUE(a && again && b);
    EXPECT_EQ(*a, *again);  // the same kept handle
    EXPECT_NE(a->get(), b->get());
    EXPECT_STREQ(rd_kafka_topic_name(a->get()), "orders");
    EXPECT_STREQ(rd_kafka_topic_name(b->get()), "payments");
    EXPECT_EQ(topics.kept(), 2u);
    topics.clear();
    EXPECT_EQ(topics.kept(), 0u);
    auto fresh = topics.get("orders");
    ASSERT_TRUE(fresh);
    EXPECT_STREQ(rd_kafka_topic_name(fresh->get()), "orders");
  }  // every handle given back, before the producer goes
  rd_kafka_destroy(rk);
}

TEST(TopicHandlesTest, ThreadsAskingForTheSameTopicsGetTheSameHandles) {
  rd_kafka_t* rk = offline_producer();
  ASSERT_NE(rk, nullptr);
  {
    TopicHandles topics(rk);
    constexpr int kThreads = 4, kTopics = 50;
    std::vector<std::vector<rd_kafka_topic_t*>> seen(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kTopics; ++i) {
          auto h = topics.get("topic-" + std::to_string((i * 7 + t) % kTopics));
          seen[t].push_back(h ? h->get() : nullptr);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int i = 0; i < kTopics; ++i) {
      auto h = topics.get("topic-" + std::to_string(i));
      ASSERT_TRUE(h);
      for (int t = 0; t < kThreads; ++t) {
        // Thread t asked for topic i at step j where (j * 7 + t) % kTopics == i.
        for (int j = 0; j < kTopics; ++j) {
          if ((j * 7 + t) % kTopics == i) {
            EXPECT_EQ(seen[t][j], h->get()) << "topic " << i;
          }
        }
      }
    }
  }
  rd_kafka_destroy(rk);
}

// Past the bound, a topic's handle is the caller's alone: the kept ones stay at the bound, and
// the caller's works and is given back when it lets go.
TEST(TopicHandlesTest, PastTheBoundHandlesAreNotKept) {
  rd_kafka_t* rk = offline_producer();
  ASSERT_NE(rk, nullptr);
  {
    TopicHandles topics(rk, /*kept_max=*/2);
    auto a = topics.get("a");
    auto b = topics.get("b");
    auto c = topics.get("c");
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(topics.kept(), 2u);
    EXPECT_STREQ(rd_kafka_topic_name(c->get()), "c");
    EXPECT_EQ(c->use_count(), 1) << "only the caller holds it";
    EXPECT_EQ(a->use_count(), 2) << "the caller and the kept map";
    auto c_again = topics.get("c");
    ASSERT_TRUE(c_again);
    // A reference of its own each time (librdkafka counts them), to the same topic object.
    EXPECT_EQ(c_again->use_count(), 1);
    EXPECT_EQ(c->get(), c_again->get());
    EXPECT_EQ(topics.kept(), 2u);
  }
  rd_kafka_destroy(rk);
}

TEST(TopicHandlesTest, NamesLibrdkafkaWouldCutOrRefuseAreRefusedByName) {
  rd_kafka_t* rk = offline_producer();
  ASSERT_NE(rk, nullptr);
  {
    TopicHandles topics(rk);
    // A NUL byte: librdkafka takes a C string and would use "orders" instead.
    const std::string with_nul("orders\0evil", 11);
    auto nul = topics.get(with_nul);
    ASSERT_FALSE(nul);
    EXPECT_EQ(nul.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(nul.error().message().find("orders\\x00evil"), std::string::npos)
        << nul.error().message();
    // Longer than librdkafka's 512 bytes; the message quotes only the start of it.
    auto huge = topics.get(std::string(100'000, 'x'));
    ASSERT_FALSE(huge);
    EXPECT_EQ(huge.error().code(), ErrorCode::kInvalidArgument) << huge.error().message();
    EXPECT_LT(huge.error().message().size(), 512u) << huge.error().message();
    // Neither left a handle behind: a good name still works.
    EXPECT_TRUE(topics.get("orders"));
  }
  rd_kafka_destroy(rk);
}

}  // namespace
}  // namespace wharf::kafka::client
