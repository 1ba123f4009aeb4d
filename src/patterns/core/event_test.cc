#include "wharf/event.h"

#include <gtest/gtest.h>

namespace test_events {

struct OrderPlaced {
  std::string order_id;
  std::int64_t total_cents = 0;
};
WHARF_EVENT(OrderPlaced, "test.OrderPlaced", 3, order_id, total_cents);

// v1 had "amount" in whole units; v2 renamed order id; v3 is the struct above.
WHARF_UPCAST("test.OrderPlaced", 1, [](wharf::json& e) {
  e["total_cents"] = e.at("amount").get<std::int64_t>() * 100;
  e.erase("amount");
});
WHARF_UPCAST("test.OrderPlaced", 2, [](wharf::json& e) {
  e["order_id"] = e.at("id");
  e.erase("id");
});

struct Binary {
  std::string data;
};
WHARF_EVENT_INFO(Binary, "test.Binary", 1, "application/octet-stream")
inline std::string wharf_event_encode(const Binary& b) { return "B:" + b.data; }
inline wharf::Status wharf_event_decode(std::string_view s, Binary& out) {
  if (!s.starts_with("B:")) return wharf::fail(wharf::ErrorCode::kInvalidArgument, "not a Binary");
  out.data = std::string(s.substr(2));
  return wharf::ok();
}

struct NoUpcaster {
  int x = 0;
};
WHARF_EVENT(NoUpcaster, "test.NoUpcaster", 2, x);

}  // namespace test_events

namespace wharf {
namespace {

using test_events::Binary;
using test_events::NoUpcaster;
using test_events::OrderPlaced;

TEST(Events, RegistrationCarriesNameVersionAndJsonCodec) {
  Message m = make_message(OrderPlaced{"o-1", 1250}, "o-1");
  EXPECT_EQ(m.type, "test.OrderPlaced");
  EXPECT_EQ(m.version, 3);
  EXPECT_EQ(m.key, "o-1");
  EXPECT_EQ(m.content_type, "application/json");
  EXPECT_EQ(json::parse(m.payload), json({{"order_id", "o-1"}, {"total_cents", 1250}}));
  auto back = decode_event<OrderPlaced>(m);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->order_id, "o-1");
  EXPECT_EQ(back->total_cents, 1250);
}

TEST(Events, OldVersionsAreUpcastStepByStep) {
  Message v1;
  v1.type = "test.OrderPlaced";
  v1.version = 1;
  v1.payload = R"({"id":"o-7","amount":12})";
  auto e = decode_event<OrderPlaced>(v1);
  ASSERT_TRUE(e) << e.error().to_string();
  EXPECT_EQ(e->order_id, "o-7");
  EXPECT_EQ(e->total_cents, 1200);

  Message v2 = v1;
  v2.version = 2;
  v2.payload = R"({"id":"o-8","total_cents":5})";
  e = decode_event<OrderPlaced>(v2);
  ASSERT_TRUE(e) << e.error().to_string();
  EXPECT_EQ(e->order_id, "o-8");
}

TEST(Events, EveryBadInputIsAClassifiedErrorNeverACrash) {
  Message m = make_message(OrderPlaced{"o", 1});
  Message other = m;
  other.type = "test.Other";
  EXPECT_EQ(decode_event<OrderPlaced>(other).error().code(), ErrorCode::kNotFound);
  Message malformed_version = m;  // from_kafka_record's version 0
  malformed_version.version = 0;
  EXPECT_EQ(decode_event<OrderPlaced>(malformed_version).error().code(), ErrorCode::kUnsupported);
  Message newer = m;
  newer.version = 4;
  EXPECT_EQ(decode_event<OrderPlaced>(newer).error().code(), ErrorCode::kUnsupported);
  Message not_json = m;
  not_json.payload = "{not json";
  EXPECT_EQ(decode_event<OrderPlaced>(not_json).error().code(), ErrorCode::kInvalidArgument);
  Message wrong_shape = m;
  wrong_shape.payload = R"({"order_id":5,"total_cents":"x"})";
  EXPECT_EQ(decode_event<OrderPlaced>(wrong_shape).error().code(), ErrorCode::kInvalidArgument);
  Message v1_missing_field = m;
  v1_missing_field.version = 1;
  v1_missing_field.payload = R"({"id":"o"})";  // the v1 upcaster needs "amount"
  EXPECT_EQ(decode_event<OrderPlaced>(v1_missing_field).error().code(),
            ErrorCode::kInvalidArgument);
  Message no_path;
  no_path.type = "test.NoUpcaster";
  no_path.version = 1;
  no_path.payload = R"({"x":1})";
  EXPECT_EQ(decode_event<NoUpcaster>(no_path).error().code(), ErrorCode::kUnsupported);
}

TEST(Events, CustomCodecsReplaceJson) {
  Message m = make_message(Binary{"\x01\x02"});
  EXPECT_EQ(m.content_type, "application/octet-stream");
  EXPECT_EQ(m.payload, "B:\x01\x02");
  auto back = decode_event<Binary>(m);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data, "\x01\x02");
  m.payload = "junk";
  EXPECT_EQ(decode_event<Binary>(m).error().code(), ErrorCode::kInvalidArgument);
}

TEST(Events, ARegistryOfItsOwnIsIndependent) {
  EventRegistry registry;
  json doc = {{"id", "x"}, {"amount", 1}};
  EXPECT_EQ(registry.upcast("test.OrderPlaced", 1, 3, doc).error().code(), ErrorCode::kUnsupported);
  ASSERT_TRUE(registry.add_upcaster("t", 1, [](json& e) { e["v"] = 2; }));
  json d2 = json::object();
  ASSERT_TRUE(registry.upcast("t", 1, 2, d2));
  EXPECT_EQ(d2["v"], 2);
  EXPECT_EQ(registry.upcast("t", 2, 1, d2).error().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace wharf
