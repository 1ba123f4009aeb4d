// Test support: WireBuilder assembles expected Kafka wire bytes by hand, field by field, the way
// the protocol guide describes them (big-endian integers, int16-length STRING, int32-length
// BYTES and ARRAY, uvarint length+1 for the COMPACT_ forms, uvarint-counted tagged fields). It
// shares no code with Reader/Writer on purpose: golden tests compare the codec against bytes
// built independently. Test-only; not thread-safe; no durability.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace wharf::kafka::protocol::testing {

class WireBuilder {
 public:
  WireBuilder& i8(std::int8_t v) { return be(static_cast<std::uint8_t>(v), 1); }
  WireBuilder& i16(std::int16_t v) { return be(static_cast<std::uint16_t>(v), 2); }
  WireBuilder& i32(std::int32_t v) { return be(static_cast<std::uint32_t>(v), 4); }
  WireBuilder& i64(std::int64_t v) { return be(static_cast<std::uint64_t>(v), 8); }
  WireBuilder& boolean(bool v) { return i8(v ? 1 : 0); }

  // Unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte.
  WireBuilder& uvarint(std::uint64_t v) {
    while (v >= 0x80) {
      bytes_.push_back(static_cast<std::byte>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    bytes_.push_back(static_cast<std::byte>(v));
    return *this;
  }

  // STRING: int16 length then the bytes; NULLABLE_STRING null is length -1.
  WireBuilder& str(std::string_view s) { return i16(static_cast<std::int16_t>(s.size())).raw(s); }
  WireBuilder& null_str() { return i16(-1); }
  // COMPACT_STRING: uvarint length+1 then the bytes; null is 0.
  WireBuilder& cstr(std::string_view s) { return uvarint(s.size() + 1).raw(s); }
  WireBuilder& cnull() { return uvarint(0); }
  // BYTES / RECORDS: int32 length then the bytes; null is -1.
  WireBuilder& bytes(std::string_view s) { return i32(static_cast<std::int32_t>(s.size())).raw(s); }
  WireBuilder& null_bytes() { return i32(-1); }
  WireBuilder& cbytes(std::string_view s) { return uvarint(s.size() + 1).raw(s); }
  // ARRAY: int32 count (null -1); COMPACT_ARRAY: uvarint count+1 (null 0).
  WireBuilder& array(std::int32_t count) { return i32(count); }
  WireBuilder& carray(std::uint32_t count) { return uvarint(count + 1); }
  // An empty tagged-field section, and one tagged field (tag, size, body).
  WireBuilder& no_tags() { return uvarint(0); }
  WireBuilder& tagged(std::uint32_t tag, const WireBuilder& body) {
    uvarint(tag).uvarint(body.bytes_.size());
    append(bytes_, body.bytes_);
    return *this;
  }
  WireBuilder& raw(std::string_view s) {
    append(bytes_, as_bytes(s));
    return *this;
  }
  // Bytes given as hex digits ("0012 0003"; spaces ignored), e.g. captured from a real client.
  WireBuilder& hex(std::string_view digits) {
    std::string clean;
    for (char c : digits) {
      if (c != ' ' && c != '\n') clean.push_back(c);
    }
    for (std::size_t i = 0; i + 1 < clean.size(); i += 2) {
      bytes_.push_back(static_cast<std::byte>(std::stoi(clean.substr(i, 2), nullptr, 16)));
    }
    return *this;
  }

  std::size_t size() const { return bytes_.size(); }
  Bytes build() const { return bytes_; }

 private:
  WireBuilder& be(std::uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) bytes_.push_back(static_cast<std::byte>(v >> (8 * i)));
    return *this;
  }

  Bytes bytes_;
};

inline std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out.push_back(kDigits[static_cast<std::uint8_t>(b) >> 4]);
    out.push_back(kDigits[static_cast<std::uint8_t>(b) & 0xF]);
  }
  return out;
}

}  // namespace wharf::kafka::protocol::testing
