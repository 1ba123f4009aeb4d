#include "base/byte_buffer.h"

#include <gtest/gtest.h>

namespace wharf {
namespace {

TEST(ByteBuffer, HoldsWhatWasWrittenAndConvertsToViews) {
  ByteBuffer b(6);
  ASSERT_EQ(b.size(), 6u);
  store_be<std::int32_t>(MutableByteView(b), 0, 0x01020304);
  store_be<std::int16_t>(b, 4, -3);
  EXPECT_EQ(load_be<std::int32_t>(b, 0), 0x01020304);
  EXPECT_EQ(load_be<std::int16_t>(ByteView(b), 4), -3);
  EXPECT_EQ(ByteView(b).subspan(1).size(), 5u);
}

TEST(ByteBuffer, CopiesComparesAndMovesLikeAValue) {
  const Bytes source = to_bytes("record set");
  ByteBuffer a = source;
  ByteBuffer b(as_bytes("record set"));
  EXPECT_EQ(a, b);
  ByteBuffer c = a;
  c[0] = std::byte{'R'};
  EXPECT_FALSE(a == c);
  EXPECT_EQ(as_chars(a), "record set");
  ByteBuffer d = std::move(c);
  EXPECT_EQ(as_chars(d), "Record set");
  EXPECT_TRUE(c.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(ByteBuffer(), ByteBuffer(Bytes{}));
}

TEST(ByteBuffer, ShrinkKeepsTheBytesAndGrowKeepsThePrefix) {
  ByteBuffer b(as_bytes("abcdef"));
  const std::byte* before = b.data();
  b.resize(3);
  EXPECT_EQ(b.data(), before);  // trimming never reallocates
  EXPECT_EQ(as_chars(b), "abc");
  b.resize(5);
  EXPECT_EQ(as_chars(ByteView(b).first(3)), "abc");
  b.clear();
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace wharf
