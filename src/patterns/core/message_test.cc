#include "wharf/message.h"

#include <set>

#include <gtest/gtest.h>

namespace wharf {
namespace {

TEST(MessageId, IsAVersion7UuidWithItsCreationTime) {
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string id = new_message_id();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '7');
  EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
  auto ms = message_id_time_ms(id);
  ASSERT_TRUE(ms) << ms.error().to_string();
  EXPECT_GE(*ms, before);
  EXPECT_LE(*ms, before + 5000);
}

TEST(MessageId, IsUniqueAndSortsByTime) {
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(new_message_id());
  EXPECT_EQ(ids.size(), 10000u);
  EXPECT_FALSE(message_id_time_ms("not-a-uuid"));
  EXPECT_FALSE(message_id_time_ms("0190f5e4-1c2b-4d3e-8f00-000000000000"));  // version 4
}

TEST(KafkaHeaders, RoundTripEveryEnvelopeField) {
  Message m;
  m.id = new_message_id();
  m.type = "checkout.OrderPlaced";
  m.version = 3;
  m.key = "order-1";
  m.aggregate_id = "order-1";
  m.correlation_id = "corr";
  m.causation_id = "cause";
  m.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  m.timestamp_ms = 1'764'492'821'123;
  m.content_type = "application/json";
  m.source = "checkout";
  m.payload = R"({"order_id":"order-1"})";
  m.headers = {{"wharf-attempt", "2"}, {"x-custom", "\xff\x00"}};
  const Headers h = to_kafka_headers(m);
  EXPECT_EQ(h.front(), (std::pair<std::string, std::string>{"ce_specversion", "1.0"}));
  const Message back = from_kafka_record("orders", 3, 42, m.timestamp_ms, m.key, m.payload, h);
  EXPECT_EQ(back.id, m.id);
  EXPECT_EQ(back.type, m.type);
  EXPECT_EQ(back.version, 3);
  EXPECT_EQ(back.key, m.key);
  EXPECT_EQ(back.aggregate_id, m.aggregate_id);
  EXPECT_EQ(back.correlation_id, m.correlation_id);
  EXPECT_EQ(back.causation_id, m.causation_id);
  EXPECT_EQ(back.traceparent, m.traceparent);
  EXPECT_EQ(back.timestamp_ms, m.timestamp_ms);
  EXPECT_EQ(back.content_type, m.content_type);
  EXPECT_EQ(back.source, m.source);
  EXPECT_EQ(back.payload, m.payload);
  EXPECT_EQ(back.headers, m.headers);
  EXPECT_EQ(back.topic, "orders");
  EXPECT_EQ(back.partition, 3);
  EXPECT_EQ(back.offset, 42);
}

TEST(KafkaHeaders, TimeHeaderIsRfc3339Utc) {
  Message m;
  m.id = "x";
  m.timestamp_ms = 1'764'492'821'123;  // 2025-11-30T08:53:41.123Z
  bool found = false;
  for (const auto& [k, v] : to_kafka_headers(m)) {
    if (k == "ce_time") {
      EXPECT_EQ(v, "2025-11-30T08:53:41.123Z");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(KafkaHeaders, PlainRecordsFromOtherClientsGetAStableId) {
  const Message m = from_kafka_record("orders", 1, 7, 5, "k", "v", {{"h", "1"}});
  EXPECT_EQ(m.id, "kafka:orders/1/7");
  EXPECT_TRUE(m.type.empty());
  EXPECT_EQ(m.header("h"), "1");
}

TEST(KafkaHeaders, AMalformedVersionIsDeliveredAndFailsTypedDecodingWithAClass) {
  for (const char* bad : {"", "x", "0", "-1", "1x", "99999999999"}) {
    const Message m =
        from_kafka_record("t", 0, 3, 0, "", "{}",
                          {{"ce_specversion", "1.0"}, {"ce_type", "t"}, {"ce_schemaversion", bad}});
    EXPECT_EQ(m.version, 0) << bad;
    EXPECT_EQ(m.header("ce_schemaversion"), bad) << "the raw header is kept";
    EXPECT_TRUE(m.header(kHeaderEnvelopeError)) << bad;
  }
}

TEST(KafkaHeaders, IdsThatNoStoreCouldKeyOnAreReplacedAndKept) {
  const std::string longest(kMessageIdBytesMax, 'a');
  const std::string too_long(32 * 1024, 'a');
  const std::string not_utf8 = "id-\xff\xfe";
  EXPECT_EQ(from_kafka_record("t", 0, 1, 0, "", "", {{"ce_id", longest}}).id, longest);
  for (const std::string& bad : {too_long, not_utf8, std::string()}) {
    const Message m = from_kafka_record("t", 2, 9, 0, "", "", {{"ce_id", bad}});
    EXPECT_EQ(m.id, "kafka:t/2/9");
    EXPECT_EQ(m.header(kHeaderOriginalId), bad);
    EXPECT_TRUE(m.header(kHeaderEnvelopeError));
  }
}

TEST(Partitioning, MatchesTheJavaClientsMurmur2) {
  // Hashes from src/base/murmur2_test.cc (checked against librdkafka's murmur2 partitioner,
  // which matches the Java client): "kafka" -> 1348980580, "1234" -> 533297940.
  EXPECT_EQ(partition_of_key("", 12), std::nullopt);
  auto p = partition_of_key("order-1", 12);
  ASSERT_TRUE(p);
  EXPECT_GE(*p, 0);
  EXPECT_LT(*p, 12);
  EXPECT_EQ(partition_of_key("order-1", 12), partition_of_key("order-1", 12));
  EXPECT_EQ(partition_of_key("kafka", 12), 1348980580 % 12);
  EXPECT_EQ(partition_of_key("1234", 7), 533297940 % 7);
}

TEST(MessageHeaders, SetReplacesAndHeaderReadsTheLast) {
  Message m;
  m.headers = {{"a", "1"}, {"a", "2"}};
  EXPECT_EQ(m.header("a"), "2");
  m.set_header("a", "3");
  EXPECT_EQ(m.headers.size(), 1u);
  EXPECT_EQ(m.header("a"), "3");
  EXPECT_EQ(m.header("b"), std::nullopt);
}

}  // namespace
}  // namespace wharf
