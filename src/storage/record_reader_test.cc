#include "storage/record_reader.h"

#include <optional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "base/varint.h"

namespace wharf::storage {
namespace {

// What base/varint.h makes of `bytes` as a varint (int32) and as a varlong (int64): nullopt, or
// the value and bytes used. The reader's inline one- and two-byte paths must agree exactly.
template <typename T>
void expect_same_as_varint_h(const std::vector<std::uint8_t>& raw) {
  const Bytes bytes(reinterpret_cast<const std::byte*>(raw.data()),
                    reinterpret_cast<const std::byte*>(raw.data()) + raw.size());
  RecordReader reader(bytes);
  T got = 0;
  const bool ok = reader.next(got);
  std::optional<std::pair<T, std::size_t>> want;
  if constexpr (sizeof(T) == 4) {
    if (auto d = varint::decode_varint(bytes)) want = {{d->value, d->size}};
  } else {
    if (auto d = varint::decode_varlong(bytes)) want = {{d->value, d->size}};
  }
  ASSERT_EQ(ok, want.has_value()) << "bytes " << ::testing::PrintToString(raw);
  if (ok) {
    EXPECT_EQ(got, want->first) << ::testing::PrintToString(raw);
    EXPECT_EQ(reader.pos(), want->second) << ::testing::PrintToString(raw);
  } else {
    EXPECT_EQ(reader.pos(), 0u) << "a failed read consumes nothing";
  }
}

TEST(RecordReaderTest, EveryOneAndTwoByteInputDecodesAsBaseVarintDoes) {
  for (int b0 = 0; b0 < 256; ++b0) {
    const auto a = static_cast<std::uint8_t>(b0);
    expect_same_as_varint_h<std::int32_t>({a});
    expect_same_as_varint_h<std::int64_t>({a});
    for (int b1 = 0; b1 < 256; ++b1) {
      const auto b = static_cast<std::uint8_t>(b1);
      expect_same_as_varint_h<std::int32_t>({a, b});
      expect_same_as_varint_h<std::int64_t>({a, b});
      // With a third byte after them: the fast paths must not read it, the slow one may.
      expect_same_as_varint_h<std::int32_t>({a, b, 0x01});
      expect_same_as_varint_h<std::int64_t>({a, b, 0x81});
    }
  }
}

// The fast walk's unbounded decoder of up to three bytes against base/varint.h, for every
// three-byte input: where varint.h reads at most three bytes the two agree on value and size;
// where it needs more, decode_short refuses and consumes nothing.
TEST(RecordReaderTest, EveryThreeByteInputDecodesShortAsBaseVarintDoes) {
  std::uint64_t agreed = 0, refused = 0;
  for (int b0 = 0; b0 < 256; ++b0) {
    for (int b1 = 0; b1 < 256; ++b1) {
      for (int b2 = 0; b2 < 256; ++b2) {
        const std::byte raw[4] = {std::byte(b0), std::byte(b1), std::byte(b2), std::byte{0x01}};
        const ByteView bytes(raw, 4);
        const auto d32 = varint::decode_varint(bytes);
        const auto d64 = varint::decode_varlong(bytes);
        const std::byte* p32 = raw;
        const std::byte* p64 = raw;
        std::int32_t v32 = 0;
        std::int64_t v64 = 0;
        const bool ok32 = record_varint::decode_short(p32, v32);
        const bool ok64 = record_varint::decode_short(p64, v64);
        if (d32 && d32->size <= 3) {
          ASSERT_TRUE(ok32) << b0 << " " << b1 << " " << b2;
          ASSERT_EQ(v32, d32->value) << b0 << " " << b1 << " " << b2;
          ASSERT_EQ(static_cast<std::size_t>(p32 - raw), d32->size);
          ++agreed;
        } else {
          ASSERT_FALSE(ok32) << b0 << " " << b1 << " " << b2;
          ASSERT_EQ(p32, raw);
          ++refused;
        }
        if (d64 && d64->size <= 3) {
          ASSERT_TRUE(ok64) << b0 << " " << b1 << " " << b2;
          ASSERT_EQ(v64, d64->value) << b0 << " " << b1 << " " << b2;
          ASSERT_EQ(static_cast<std::size_t>(p64 - raw), d64->size);
        } else {
          ASSERT_FALSE(ok64) << b0 << " " << b1 << " " << b2;
          ASSERT_EQ(p64, raw);
        }
      }
    }
  }
  EXPECT_GT(agreed, 0u);
  EXPECT_GT(refused, 0u);
}

TEST(RecordReaderTest, FieldsAreBoundedByTheBytesLeft) {
  // Lengths (zigzag): 3 is 0x06, -1 (null) is 0x01, -2 is 0x03, 8191 is 0xFE 0x7F.
  const std::vector<std::uint8_t> raw = {0x06, 'a', 'b', 'c', 0x01, 0x03, 0xFE, 0x7F};
  const Bytes bytes(reinterpret_cast<const std::byte*>(raw.data()),
                    reinterpret_cast<const std::byte*>(raw.data()) + raw.size());
  RecordReader r(bytes);
  std::int32_t length = 0;
  std::size_t start = 0;
  ASSERT_TRUE(r.next_field(length, start));
  EXPECT_EQ(length, 3);
  EXPECT_EQ(start, 1u);
  ASSERT_TRUE(r.next_field(length, start));
  EXPECT_EQ(length, -1) << "null";
  EXPECT_FALSE(r.next_field(length, start)) << "-2 is no length";
  RecordReader past(ByteView(bytes).subspan(6));
  EXPECT_FALSE(past.next_field(length, start)) << "8191 bytes are not left";
}

}  // namespace
}  // namespace wharf::storage
