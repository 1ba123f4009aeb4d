// The varint decoding of the record walks in record_batch.cc: record_varint::decode (bounded,
// for every walk), record_varint::decode_short (unbounded, up to three bytes, for the validating
// walk's fast path, whose caller guarantees the bytes) and RecordReader, the fields of one v2
// record (or a run of records) read front to back. Every bounded read stays within the bytes it
// was given, whatever they hold; a malformed or truncated field is `false`, never a read past the
// end. Internal to storage (a header of its own so that its decoding can be tested against
// base/varint.h). Not thread-safe; cheap to copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "base/bytes.h"
#include "base/varint.h"

namespace wharf::storage {

// One zigzag varint (T = int32, at most 5 bytes) or varlong (T = int64, at most 10) at `p`,
// bounded by `end`: on success `out` is set, `p` moves past it and the result is true; on a
// malformed or truncated varint nothing changes and the result is false. Most of a record's
// varints take one or two bytes (deltas, lengths below 8 KiB): those are decoded here, inlined
// into the walks (a call each showed in profiles); longer ones by base/varint.h, out of line and
// returning by value, so that no caller's variable has to live in memory for it.
namespace record_varint {

template <typename T>
struct Long {
  T value;
  std::size_t size;  // 0: malformed or truncated
};

template <typename T>
[[gnu::noinline]] Long<T> decode_long(const std::byte* p, std::size_t n) {
  const ByteView bytes(p, n);
  auto d = [&] {
    if constexpr (sizeof(T) == 4)
      return varint::decode_varint(bytes);
    else
      return varint::decode_varlong(bytes);
  }();
  if (!d) return {0, 0};
  return {d->value, d->size};
}

template <typename T>
T zigzag(std::uint32_t u) {
  return static_cast<T>(u >> 1) ^ -static_cast<T>(u & 1);
}

template <typename T>
[[gnu::always_inline]] inline bool decode(const std::byte*& p, const std::byte* end, T& out) {
  static_assert(std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>);
  if (p < end) [[likely]] {  // a record's last varint (its header count) is its last byte
    const auto b0 = static_cast<std::uint8_t>(p[0]);
    if (b0 < 0x80) [[likely]] {
      out = zigzag<T>(b0);
      p += 1;
      return true;
    }
    if (end - p >= 2) {
      const auto b1 = static_cast<std::uint8_t>(p[1]);
      if (b1 < 0x80) {
        out = zigzag<T>((b0 & 0x7Fu) | (static_cast<std::uint32_t>(b1) << 7));
        p += 2;
        return true;
      }
    }
  }
  const Long<T> d = decode_long<T>(p, static_cast<std::size_t>(end - p));
  if (d.size == 0) return false;
  out = d.value;
  p += d.size;
  return true;
}

// A varint of at most three bytes at `q` (after zigzag, -2^20 to 2^20 - 1: the offset deltas
// and lengths of any batch below 1 MiB), with no bound: the caller has made three bytes at `q`
// readable. False, with nothing consumed, for a longer one. For the validating walk's fast path
// (record_batch.cc).
template <typename T>
[[gnu::always_inline]] inline bool decode_short(const std::byte*& q, T& out) {
  static_assert(std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>);
  const std::uint32_t b0 = static_cast<std::uint8_t>(q[0]);
  if (b0 < 0x80) [[likely]] {
    out = zigzag<T>(b0);
    q += 1;
    return true;
  }
  const std::uint32_t b1 = static_cast<std::uint8_t>(q[1]);
  if (b1 < 0x80) {
    out = zigzag<T>((b0 & 0x7Fu) | (b1 << 7));
    q += 2;
    return true;
  }
  const std::uint32_t b2 = static_cast<std::uint8_t>(q[2]);
  if (b2 >= 0x80) return false;
  out = zigzag<T>((b0 & 0x7Fu) | ((b1 & 0x7Fu) << 7) | (b2 << 14));
  q += 3;
  return true;
}

}  // namespace record_varint

class RecordReader {
 public:
  explicit RecordReader(ByteView bytes, std::size_t pos = 0) : bytes_(bytes), pos_(pos) {}

  ByteView bytes() const { return bytes_; }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return bytes_.size() - pos_; }

  // A zigzag varint or varlong (record_varint::decode); false if malformed or truncated, and then
  // nothing is consumed.
  template <typename T>
  [[gnu::always_inline]] bool next(T& out) {
    const std::byte* p = bytes_.data() + pos_;
    if (!record_varint::decode(p, bytes_.data() + bytes_.size(), out)) return false;
    pos_ = static_cast<std::size_t>(p - bytes_.data());
    return true;
  }

  // A length-prefixed field: its length (-1 for null) and where its bytes start. False when the
  // length is malformed or runs past the end.
  [[gnu::always_inline]] bool next_field(std::int32_t& length, std::size_t& start) {
    if (!next(length)) return false;
    if (length < -1 || (length >= 0 && static_cast<std::size_t>(length) > left())) return false;
    start = pos_;
    if (length > 0) pos_ += static_cast<std::size_t>(length);
    return true;
  }

  void skip(std::size_t n) { pos_ += n; }

 private:
  ByteView bytes_;
  std::size_t pos_;
};

}  // namespace wharf::storage
