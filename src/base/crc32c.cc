#include "base/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace wharf::crc32c {
namespace {

constexpr std::uint32_t kPolyReflected = 0x82F63B78u;

struct Tables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  constexpr Tables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolyReflected : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i) {
      for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};
constexpr Tables kTables;

}  // namespace

std::uint32_t extend_portable(std::uint32_t crc, ByteView data) {
  const auto& t = kTables.t;
  const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
  std::size_t n = data.size();
  std::uint32_t c = ~crc;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian host assumed (x86_64, aarch64)
    word ^= c;
    c = t[7][word & 0xFF] ^ t[6][(word >> 8) & 0xFF] ^ t[5][(word >> 16) & 0xFF] ^
        t[4][(word >> 24) & 0xFF] ^ t[3][(word >> 32) & 0xFF] ^ t[2][(word >> 40) & 0xFF] ^
        t[1][(word >> 48) & 0xFF] ^ t[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return ~c;
}

#if defined(__x86_64__)
namespace {

// Three interleaved streams hide the crc32 instruction's 3-cycle latency. Each round covers
// three consecutive blocks of kStreamBytes; the partial CRCs are joined with the "shift by
// kStreamBytes zero bytes" operator, which is linear, so it is four table lookups.
constexpr std::size_t kStreamBytes = 4096;

__attribute__((target("sse4.2"))) std::uint64_t raw_u64(std::uint64_t c, const std::uint8_t* p,
                                                        std::size_t n) {
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

struct ShiftTable {
  std::array<std::array<std::uint32_t, 256>, 4> t{};
  ShiftTable() {
    // shift(v) = the raw CRC state after kStreamBytes zero bytes starting from state v.
    static const std::array<std::uint8_t, kStreamBytes> zeros{};
    for (int k = 0; k < 4; ++k) {
      for (std::uint32_t b = 0; b < 256; ++b) {
        t[k][b] = static_cast<std::uint32_t>(raw_u64(b << (8 * k), zeros.data(), zeros.size()));
      }
    }
  }
  std::uint32_t shift(std::uint32_t x) const {
    return t[0][x & 0xFF] ^ t[1][(x >> 8) & 0xFF] ^ t[2][(x >> 16) & 0xFF] ^ t[3][x >> 24];
  }
};

}  // namespace

__attribute__((target("sse4.2"))) std::uint32_t extend_hardware(std::uint32_t crc, ByteView data) {
  static const ShiftTable kShift;
  const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
  std::size_t n = data.size();
  std::uint64_t c0 = ~crc;
  while (n >= 3 * kStreamBytes) {
    std::uint64_t c1 = 0, c2 = 0;
    const std::uint8_t* p1 = p + kStreamBytes;
    const std::uint8_t* p2 = p + 2 * kStreamBytes;
    for (std::size_t i = 0; i < kStreamBytes; i += 8) {
      std::uint64_t w0, w1, w2;
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p1 + i, 8);
      std::memcpy(&w2, p2 + i, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    c0 = kShift.shift(kShift.shift(static_cast<std::uint32_t>(c0)) ^
                      static_cast<std::uint32_t>(c1)) ^
         static_cast<std::uint32_t>(c2);
    p += 3 * kStreamBytes;
    n -= 3 * kStreamBytes;
  }
  return ~static_cast<std::uint32_t>(raw_u64(c0, p, n));
}
bool has_hardware() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#else
std::uint32_t extend_hardware(std::uint32_t crc, ByteView data) {
  return extend_portable(crc, data);
}
bool has_hardware() { return false; }
#endif

std::uint32_t extend(std::uint32_t crc, ByteView data) {
  return has_hardware() ? extend_hardware(crc, data) : extend_portable(crc, data);
}

}  // namespace wharf::crc32c
