// Reader and Writer primitives against hand-written bytes.

#include "kafka/protocol/reader.h"

#include <gtest/gtest.h>

#include "kafka/protocol/wire_builder.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::protocol {
namespace {

using testing::to_hex;
using testing::WireBuilder;

TEST(Reader, ReadsBigEndianScalars) {
  auto bytes = WireBuilder()
                   .hex("ff 0102 80000000 0000000000000005 ffff 01 3ff8000000000000")
                   .hex("000102030405060708090a0b0c0d0e0f")
                   .build();
  Reader r(bytes);
  std::int8_t a = 0;
  std::int16_t b = 0;
  std::int32_t c = 0;
  std::int64_t d = 0;
  std::uint16_t e = 0;
  bool f = false;
  double g = 0;
  Uuid u{};
  ASSERT_TRUE(r.read(a) && r.read(b) && r.read(c) && r.read(d) && r.read(e) && r.read(f) &&
              r.read(g) && r.read(u));
  EXPECT_EQ(a, -1);
  EXPECT_EQ(b, 0x0102);
  EXPECT_EQ(c, -2147483647 - 1);
  EXPECT_EQ(d, 5);
  EXPECT_EQ(e, 0xffff);
  EXPECT_TRUE(f);
  EXPECT_EQ(g, 1.5);
  EXPECT_EQ(u[0], 0);
  EXPECT_EQ(u[15], 15);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.read(a).has_value());
}

TEST(Reader, ReadsStringsBytesAndNulls) {
  auto bytes = WireBuilder()
                   .str("ab")
                   .null_str()
                   .cstr("xyz")
                   .cnull()
                   .bytes("q")
                   .null_bytes()
                   .cbytes("")
                   .build();
  Reader r(bytes);
  std::string s;
  std::optional<std::string> n;
  ASSERT_TRUE(r.read_string(s, false));
  EXPECT_EQ(s, "ab");
  ASSERT_TRUE(r.read_nullable_string(n, false, true));
  EXPECT_FALSE(n.has_value());
  ASSERT_TRUE(r.read_nullable_string(n, true, true));
  EXPECT_EQ(n, "xyz");
  ASSERT_TRUE(r.read_nullable_string(n, true, true));
  EXPECT_FALSE(n.has_value());
  Bytes b;
  std::optional<Bytes> nb;
  ASSERT_TRUE(r.read_bytes(b, false));
  EXPECT_EQ(b, to_bytes("q"));
  ASSERT_TRUE(r.read_nullable_bytes(nb, false, true));
  EXPECT_FALSE(nb.has_value());
  ASSERT_TRUE(r.read_nullable_bytes(nb, true, true));
  ASSERT_TRUE(nb.has_value());
  EXPECT_TRUE(nb->empty());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Reader, ArrayLengthsAreCheckedAgainstBytesLeft) {
  auto bytes = WireBuilder().array(2).i32(1).i32(2).build();
  Reader ok_reader(bytes);
  auto count = ok_reader.read_array_length(false, 4, false);
  ASSERT_TRUE(count.has_value());
  EXPECT_EQ(**count, 2u);

  Reader short_reader(bytes);
  EXPECT_FALSE(short_reader.read_array_length(false, 5, false).has_value());  // 10 > 8 left

  auto null_array = WireBuilder().array(-1).build();
  Reader nullable(null_array);
  auto null_count = nullable.read_array_length(false, 4, true);
  ASSERT_TRUE(null_count.has_value());
  EXPECT_FALSE(null_count->has_value());
}

TEST(Reader, SplitReadsOnlyItsPartAndSharesTheElementBudget) {
  // A 12-byte part (an array of one int32, then one more int32), then an array of one int32.
  auto bytes = WireBuilder().array(1).i32(7).i32(8).array(1).i32(9).build();
  Reader r(bytes, ReaderLimits{.elements_total_max = 1});
  auto part = r.split(12);
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->remaining(), 12u);
  EXPECT_EQ(r.remaining(), 8u);
  ASSERT_TRUE(part->read_array_length(false, 4, false).has_value());  // spends the 1 element
  std::int32_t x = 0;
  ASSERT_TRUE(part->read(x) && part->read(x));
  EXPECT_EQ(x, 8);
  EXPECT_FALSE(part->read(x).has_value());  // the part ends at its 12 bytes
  r.rejoin(*part);
  // The element spent inside the part is charged to r: its next array is over budget.
  auto count = r.read_array_length(false, 4, false);
  ASSERT_FALSE(count.has_value());
  EXPECT_EQ(count.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Writer, WritesWhatTheReaderReads) {
  Bytes out;
  Writer w(out);
  w.write(std::int16_t{-2});
  w.write_string("hi", false);
  w.write_string("hi", true);
  w.write_null_string(true);
  w.write_bytes(to_bytes("b"), false);
  w.write_null_bytes(false);
  w.write_array_length(3, true);
  w.write_null_array(false);
  w.write_uvarint(300);
  EXPECT_TRUE(w.status().has_value());
  auto expected = WireBuilder()
                      .i16(-2)
                      .str("hi")
                      .cstr("hi")
                      .cnull()
                      .bytes("b")
                      .null_bytes()
                      .carray(3)
                      .array(-1)
                      .uvarint(300)
                      .build();
  EXPECT_EQ(to_hex(out), to_hex(expected));
}

}  // namespace
}  // namespace wharf::kafka::protocol
