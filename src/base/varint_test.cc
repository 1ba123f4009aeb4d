#include "base/varint.h"

#include <limits>

#include <gtest/gtest.h>

namespace wharf {
namespace {

TEST(Varint, ZigzagRoundTripsEdgeValues) {
  for (std::int32_t v : {0, 1, -1, 63, -64, 64, 300, -300, std::numeric_limits<std::int32_t>::max(),
                         std::numeric_limits<std::int32_t>::min()}) {
    Bytes b;
    varint::append_varint(b, v);
    auto d = varint::decode_varint(b);
    ASSERT_TRUE(d.has_value()) << v;
    EXPECT_EQ(d->value, v);
    EXPECT_EQ(d->size, b.size());
  }
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::max(),
        std::numeric_limits<std::int64_t>::min()}) {
    Bytes b;
    varint::append_varlong(b, v);
    auto d = varint::decode_varlong(b);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->value, v);
  }
}

TEST(Varint, KnownEncodings) {
  Bytes b;
  varint::append_varint(b, -1);  // zigzag 1
  varint::append_varint(b, 1);   // zigzag 2
  varint::append_unsigned(b, 300);
  EXPECT_EQ(b, (Bytes{std::byte{0x01}, std::byte{0x02}, std::byte{0xAC}, std::byte{0x02}}));
}

TEST(Varint, RejectsTruncatedAndOverlongInput) {
  Bytes truncated{std::byte{0x80}, std::byte{0x80}};
  EXPECT_FALSE(varint::decode_varint(truncated).has_value());
  Bytes overlong(6, std::byte{0x80});
  overlong.push_back(std::byte{0x01});
  EXPECT_FALSE(varint::decode_varint(overlong).has_value());
  // Five bytes whose last carries more than the 4 remaining bits of an int32.
  Bytes too_big{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                std::byte{0x7F}};
  EXPECT_FALSE(varint::decode_varint(too_big).has_value());
  EXPECT_FALSE(varint::decode_varint({}).has_value());
}

}  // namespace
}  // namespace wharf
