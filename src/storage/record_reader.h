// RecordReader: the fields of one v2 record (or a run of records), read front to back, for the
// record walks in record_batch.cc. Every read is bounded by the bytes it was given, whatever they
// hold; a malformed or truncated field is `false`, never a read past the end. Internal to
// storage (a header of its own so that its decoding can be tested against base/varint.h).
// Not thread-safe; cheap to copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "base/bytes.h"
#include "base/varint.h"

namespace wharf::storage {

class RecordReader {
 public:
  explicit RecordReader(ByteView bytes, std::size_t pos = 0) : bytes_(bytes), pos_(pos) {}

  ByteView bytes() const { return bytes_; }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return bytes_.size() - pos_; }

  // A zigzag varint (at most 5 bytes) or varlong (at most 10); false if malformed or truncated.
  // Most of a record's varints take one or two bytes (deltas, lengths below 8 KiB): those are
  // decoded here, inlined into the walk (which runs five of these per record, so a call each
  // showed in profiles); longer ones by base/varint.h.
  template <typename T>
  [[gnu::always_inline]] bool next(T& out) {
    static_assert(std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>);
    if (left() >= 1) {  // a record's last varint (its header count) is its last byte
      const auto b0 = static_cast<std::uint8_t>(bytes_[pos_]);
      if (b0 < 0x80) {
        out = zigzag<T>(b0);
        pos_ += 1;
        return true;
      }
    }
    if (left() >= 2) {
      const auto b0 = static_cast<std::uint8_t>(bytes_[pos_]);
      const auto b1 = static_cast<std::uint8_t>(bytes_[pos_ + 1]);
      if (b1 < 0x80) {
        out = zigzag<T>((b0 & 0x7Fu) | (static_cast<std::uint32_t>(b1) << 7));
        pos_ += 2;
        return true;
      }
    }
    return next_long(out);
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
  template <typename T>
  static T zigzag(std::uint32_t u) {
    return static_cast<T>(u >> 1) ^ -static_cast<T>(u & 1);
  }

  template <typename T>
  [[gnu::noinline]] bool next_long(T& out) {
    auto d = [&] {
      if constexpr (sizeof(T) == 4)
        return varint::decode_varint(bytes_.subspan(pos_));
      else
        return varint::decode_varlong(bytes_.subspan(pos_));
    }();
    if (!d) return false;
    out = d->value;
    pos_ += d->size;
    return true;
  }

  ByteView bytes_;
  std::size_t pos_;
};

}  // namespace wharf::storage
