// Byte buffers and big-endian field access, as used by Kafka's wire and our on-disk formats.
// Plain functions over spans: callers check lengths first (these helpers only DCHECK them).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "base/check.h"

namespace wharf {

using Bytes = std::vector<std::byte>;
using ByteView = std::span<const std::byte>;
using MutableByteView = std::span<std::byte>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) {
  auto v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

// C++20 has no std::byteswap; this is the portable spelling the compiler turns into bswap.
template <typename U>
constexpr U byteswap_(U v) {
  if constexpr (sizeof(U) == 2) return static_cast<U>(__builtin_bswap16(v));
  if constexpr (sizeof(U) == 4) return static_cast<U>(__builtin_bswap32(v));
  if constexpr (sizeof(U) == 8) return static_cast<U>(__builtin_bswap64(v));
  return v;
}

template <typename T>
T load_be(ByteView src, std::size_t at) {
  static_assert(std::is_integral_v<T>);
  WHARF_DCHECK(at + sizeof(T) <= src.size());
  std::make_unsigned_t<T> raw;
  std::memcpy(&raw, src.data() + at, sizeof(T));
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
    raw = byteswap_(raw);
  }
  return static_cast<T>(raw);
}

template <typename T>
void store_be(MutableByteView dst, std::size_t at, T value) {
  static_assert(std::is_integral_v<T>);
  WHARF_DCHECK(at + sizeof(T) <= dst.size());
  auto raw = static_cast<std::make_unsigned_t<T>>(value);
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
    raw = byteswap_(raw);
  }
  std::memcpy(dst.data() + at, &raw, sizeof(T));
}

template <typename T>
void append_be(Bytes& dst, T value) {
  dst.resize(dst.size() + sizeof(T));
  store_be<T>(dst, dst.size() - sizeof(T), value);
}

inline void append(Bytes& dst, ByteView src) { dst.insert(dst.end(), src.begin(), src.end()); }

}  // namespace wharf
