#include "base/crc32c.h"

#include <random>

#include <gtest/gtest.h>

namespace wharf {
namespace {

// RFC 3720, appendix B.4 (iSCSI), plus the classic "123456789" check value.
TEST(Crc32c, MatchesPublishedVectors) {
  EXPECT_EQ(crc32c::value(as_bytes("123456789")), 0xE3069283u);
  Bytes zeros(32, std::byte{0});
  EXPECT_EQ(crc32c::value(zeros), 0x8A9136AAu);
  Bytes ones(32, std::byte{0xFF});
  EXPECT_EQ(crc32c::value(ones), 0x62A8AB43u);
  Bytes inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = std::byte(i);
    dec[i] = std::byte(31 - i);
  }
  EXPECT_EQ(crc32c::value(inc), 0x46DD794Eu);
  EXPECT_EQ(crc32c::value(dec), 0x113FDB5Cu);
  EXPECT_EQ(crc32c::value({}), 0u);
}

TEST(Crc32c, HardwareAndPortableAgreeOnRandomInputsAndSplits) {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    // Sizes up to 100 KiB cover the three-stream path (12 KiB rounds) and its tail.
    Bytes data(round % 4 == 0 ? rng() % 100'000 : rng() % 3000);
    for (auto& b : data) b = std::byte(rng());
    const auto whole = crc32c::extend_portable(0, data);
    EXPECT_EQ(crc32c::extend_hardware(0, data), whole);
    const std::size_t cut = data.empty() ? 0 : rng() % data.size();
    ByteView v(data);
    EXPECT_EQ(crc32c::extend(crc32c::extend(0, v.first(cut)), v.subspan(cut)), whole);
  }
}

TEST(Crc32c, DetectsASingleBitFlip) {
  Bytes data(1000, std::byte{7});
  const auto before = crc32c::value(data);
  data[500] ^= std::byte{0x10};
  EXPECT_NE(crc32c::value(data), before);
}

}  // namespace
}  // namespace wharf
