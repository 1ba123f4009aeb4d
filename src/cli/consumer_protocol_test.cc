#include "cli/consumer_protocol.h"

#include <gtest/gtest.h>

namespace wharf::cli {
namespace {

// Builds ConsumerProtocolAssignment bytes the way Kafka's Java client and librdkafka do.
class Encoder {
 public:
  Encoder& i16(std::int16_t v) { return put(v); }
  Encoder& i32(std::int32_t v) { return put(v); }
  Encoder& str(std::string_view s) {
    i16(static_cast<std::int16_t>(s.size()));
    for (char c : s) bytes_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  template <typename T>
  Encoder& put(T v) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    store_be<T>(bytes_, at, v);
    return *this;
  }
  Bytes bytes_;
};

TEST(ConsumerAssignment, DecodesTopicsPartitionsAndUserData) {
  Encoder e;
  e.i16(1).i32(2).str("orders").i32(3).i32(0).i32(2).i32(4).str("payments").i32(1).i32(7).i32(3);
  Bytes bytes = e.bytes();
  bytes.push_back(std::byte{1});
  bytes.push_back(std::byte{2});
  bytes.push_back(std::byte{3});
  auto a = decode_consumer_assignment(bytes);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->version, 1);
  ASSERT_EQ(a->topics.size(), 2u);
  EXPECT_EQ(a->topics[0].first, "orders");
  EXPECT_EQ(a->topics[0].second, (std::vector<std::int32_t>{0, 2, 4}));
  EXPECT_EQ(a->topics[1].first, "payments");
  EXPECT_EQ(a->topics[1].second, (std::vector<std::int32_t>{7}));
  EXPECT_EQ(a->user_data_bytes, 3);
  EXPECT_EQ(to_string(*a), "orders[0,2,4] payments[7]");
}

TEST(ConsumerAssignment, NullUserDataAndOmittedUserDataBothDecode) {
  Encoder null_user_data;
  null_user_data.i16(0).i32(1).str("t").i32(1).i32(5).i32(-1);
  auto a = decode_consumer_assignment(null_user_data.bytes());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user_data_bytes, -1);
  Encoder omitted;
  omitted.i16(0).i32(1).str("t").i32(1).i32(5);
  auto b = decode_consumer_assignment(omitted.bytes());
  ASSERT_TRUE(b);
  EXPECT_EQ(b->topics[0].second, (std::vector<std::int32_t>{5}));
}

TEST(ConsumerAssignment, EmptyBytesAreAnEmptyAssignment) {
  auto a = decode_consumer_assignment({});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->topics.empty());
  EXPECT_EQ(to_string(*a), "");
}

TEST(ConsumerAssignment, EveryTruncationIsRefusedNotOverread) {
  Encoder e;
  e.i16(0).i32(1).str("orders").i32(2).i32(0).i32(1).i32(4);
  Bytes full = e.bytes();
  full.insert(full.end(), {std::byte{9}, std::byte{9}, std::byte{9}, std::byte{9}});
  ASSERT_TRUE(decode_consumer_assignment(full));
  // Cutting inside the topic array must fail; cutting exactly before the user data is the
  // "omitted user data" form and decodes.
  const std::size_t before_user_data = full.size() - 8;
  for (std::size_t n = 1; n < full.size(); ++n) {
    auto a = decode_consumer_assignment(ByteView(full).first(n));
    if (n == before_user_data) {
      EXPECT_TRUE(a) << n;
    } else {
      EXPECT_FALSE(a) << "cut at " << n;
    }
  }
}

TEST(ConsumerAssignment, ImpossibleCountsAreRefusedBeforeAllocating) {
  Encoder huge_topics;
  huge_topics.i16(0).i32(0x7fffffff);
  EXPECT_FALSE(decode_consumer_assignment(huge_topics.bytes()));
  Encoder huge_partitions;
  huge_partitions.i16(0).i32(1).str("t").i32(0x7fffffff);
  EXPECT_FALSE(decode_consumer_assignment(huge_partitions.bytes()));
  Encoder negative;
  negative.i16(0).i32(-5);
  EXPECT_FALSE(decode_consumer_assignment(negative.bytes()));
}

}  // namespace
}  // namespace wharf::cli
