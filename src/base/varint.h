// Varints as Kafka uses them: unsigned LEB128 (flexible-version lengths and tags) and zigzag
// signed varint/varlong (fields inside record batch v2 records). Decoders are bounded: they read
// at most 5 (varint) or 10 (varlong) bytes and report malformed input instead of reading past
// the end. No allocation; thread-agnostic.
#pragma once

#include <cstdint>
#include <optional>

#include "base/bytes.h"

namespace wharf::varint {

inline constexpr std::size_t kMaxVarintBytes = 5;
inline constexpr std::size_t kMaxVarlongBytes = 10;

template <typename T>
struct Decoded {
  T value;
  std::size_t size;  // bytes consumed
};

// Unsigned LEB128 of at most `max_bytes` bytes. nullopt if truncated or too long.
inline std::optional<Decoded<std::uint64_t>> decode_unsigned(ByteView src, std::size_t max_bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < src.size() && i < max_bytes; ++i) {
    auto b = static_cast<std::uint8_t>(src[i]);
    value |= static_cast<std::uint64_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      // The last byte of a 5-byte varint may carry only 4 more bits (and 1 for a 10-byte one).
      if (max_bytes == kMaxVarintBytes && i == 4 && b > 0x0F) return std::nullopt;
      if (max_bytes == kMaxVarlongBytes && i == 9 && b > 0x01) return std::nullopt;
      return Decoded<std::uint64_t>{value, i + 1};
    }
  }
  return std::nullopt;
}

inline std::optional<Decoded<std::uint32_t>> decode_uvarint(ByteView src) {
  auto d = decode_unsigned(src, kMaxVarintBytes);
  if (!d) return std::nullopt;
  return Decoded<std::uint32_t>{static_cast<std::uint32_t>(d->value), d->size};
}

inline std::optional<Decoded<std::int32_t>> decode_varint(ByteView src) {
  auto d = decode_unsigned(src, kMaxVarintBytes);
  if (!d) return std::nullopt;
  auto u = static_cast<std::uint32_t>(d->value);
  return Decoded<std::int32_t>{static_cast<std::int32_t>((u >> 1) ^ -(u & 1)), d->size};
}

inline std::optional<Decoded<std::int64_t>> decode_varlong(ByteView src) {
  auto d = decode_unsigned(src, kMaxVarlongBytes);
  if (!d) return std::nullopt;
  std::uint64_t u = d->value;
  return Decoded<std::int64_t>{static_cast<std::int64_t>((u >> 1) ^ -(u & 1)), d->size};
}

inline void append_unsigned(Bytes& dst, std::uint64_t value) {
  while (value >= 0x80) {
    dst.push_back(static_cast<std::byte>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  dst.push_back(static_cast<std::byte>(value));
}

inline void append_varint(Bytes& dst, std::int32_t value) {
  auto u = static_cast<std::uint32_t>(value);
  append_unsigned(dst, (u << 1) ^ static_cast<std::uint32_t>(value >> 31));
}

inline void append_varlong(Bytes& dst, std::int64_t value) {
  auto u = static_cast<std::uint64_t>(value);
  append_unsigned(dst, (u << 1) ^ static_cast<std::uint64_t>(value >> 63));
}

inline std::size_t varint_size(std::int32_t value) {
  Bytes tmp;
  append_varint(tmp, value);
  return tmp.size();
}

}  // namespace wharf::varint
