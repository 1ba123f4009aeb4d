#include "base/bytes.h"

#include <gtest/gtest.h>

#include "base/ids.h"

namespace wharf {
namespace {

TEST(Bytes, BigEndianRoundTrip) {
  Bytes b;
  append_be<std::int64_t>(b, -2);
  append_be<std::int32_t>(b, 0x01020304);
  append_be<std::int16_t>(b, -3);
  ASSERT_EQ(b.size(), 14u);
  EXPECT_EQ(b[8], std::byte{0x01});
  EXPECT_EQ(b[11], std::byte{0x04});
  EXPECT_EQ(load_be<std::int64_t>(b, 0), -2);
  EXPECT_EQ(load_be<std::int32_t>(b, 8), 0x01020304);
  EXPECT_EQ(load_be<std::int16_t>(b, 12), -3);
}

TEST(StrongIds, ArithmeticAndFormatting) {
  Offset a(10);
  EXPECT_EQ(a + 5, Offset(15));
  EXPECT_EQ(Offset(15) - a, 5);
  EXPECT_LT(a, Offset(11));
  EXPECT_EQ(fmt::format("{}", a), "10");
  static_assert(!std::is_convertible_v<Offset, FilePosition>);
}

}  // namespace
}  // namespace wharf
