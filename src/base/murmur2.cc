#include "base/murmur2.h"

#include <cstring>

namespace wharf {

std::uint32_t murmur2(ByteView key) {
  constexpr std::uint32_t kSeed = 0x9747b28c;
  constexpr std::uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const auto* data = reinterpret_cast<const std::uint8_t*>(key.data());
  std::size_t len = key.size();
  std::uint32_t h = kSeed ^ static_cast<std::uint32_t>(len);
  while (len >= 4) {
    std::uint32_t k;
    std::memcpy(&k, data, 4);  // little-endian, as Java's byte assembly is
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
    data += 4;
    len -= 4;
  }
  switch (len) {
    case 3:
      h ^= static_cast<std::uint32_t>(data[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<std::uint32_t>(data[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= data[0];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

}  // namespace wharf
