// Reader: a bounds-checked cursor over the bytes of one Kafka message (header or body).
//
// Every read checks the bytes left before touching them, and every length or element count read
// from the wire is validated against the bytes left BEFORE anything is allocated: a hostile
// client can make decoding fail, never crash or allocate more than a small multiple of the bytes
// it sent. Element counts are also capped per array and per message (ReaderLimits), because an
// element may be as small as one byte on the wire yet a hundred or more in memory.
//
// A Reader borrows the bytes it reads (the caller keeps them alive) and copies whatever it
// returns, so decoded messages never point into the frame. One Reader is used by one thread at a
// time; it has no durability concerns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "base/byte_buffer.h"
#include "base/bytes.h"
#include "base/result.h"
#include "kafka/protocol/types.h"

namespace wharf::kafka::protocol {

struct ReaderLimits {
  // Most elements a single array may declare. 262,144 is far above anything a single node
  // serves in one request or response (partitions of a topic, topics in Metadata, members of a
  // group) and keeps one array's memory bounded even when each element is 1 byte on the wire.
  std::uint32_t array_elements_max = 1u << 18;
  // Most elements all arrays of one message may hold together. About 1M elements of at most a
  // few hundred bytes each bounds the memory of a decoded hostile frame to a few hundred MB
  // before the frame-size cap of the network layer is even considered; callers that know
  // better (small frames) pass a smaller budget.
  std::uint64_t elements_total_max = 1u << 20;
};

class Reader {
 public:
  explicit Reader(ByteView data, ReaderLimits limits = {})
      : data_(data), limits_(limits), elements_left_(limits.elements_total_max) {}

  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  const ReaderLimits& limits() const { return limits_; }

  // Fixed-width big-endian integers (int8..int64, uint16), bool (any non-zero byte is true, as
  // in Kafka), float64 (IEEE 754 bits, big-endian) and UUID (16 raw bytes).
  // (clang-format 14 runs a requires-clause into the declaration after it.)
  // clang-format off
  template <typename T>
    requires std::is_integral_v<T> && (!std::is_same_v<T, bool>)
  [[nodiscard]] Status read(T& out) {
    // clang-format on
    WHARF_RETURN_IF_ERROR(need(sizeof(T), "integer"));
    out = load_be<T>(data_, pos_);
    pos_ += sizeof(T);
    return ok();
  }
  [[nodiscard]] Status read(bool& out);
  [[nodiscard]] Status read(double& out);
  [[nodiscard]] Status read(Uuid& out);

  // Unsigned LEB128 of at most 5 bytes (lengths, counts and tags of flexible versions).
  [[nodiscard]] Status read_uvarint(std::uint32_t& out);

  // STRING / COMPACT_STRING. A null (length -1, or compact 0) is an error unless `nullable`.
  [[nodiscard]] Status read_string(std::string& out, bool compact);
  [[nodiscard]] Status read_nullable_string(std::optional<std::string>& out, bool compact,
                                            bool nullable);
  // BYTES / COMPACT_BYTES (int32 or uvarint+1 length). Same null rule as strings.
  [[nodiscard]] Status read_bytes(Bytes& out, bool compact);
  [[nodiscard]] Status read_nullable_bytes(std::optional<Bytes>& out, bool compact, bool nullable);
  // RECORDS: the same, into a buffer that is not zero-filled before the copy.
  [[nodiscard]] Status read_nullable_bytes(std::optional<ByteBuffer>& out, bool compact,
                                           bool nullable);

  // Reads an array length (int32, or uvarint+1 when compact) and returns the element count, or
  // nullopt for a null array (an error unless `nullable`). Fails before any allocation when
  // count * min_element_bytes exceeds the bytes left, or the count breaks a ReaderLimits cap;
  // the count is charged against the message's element budget.
  [[nodiscard]] Result<std::optional<std::uint32_t>> read_array_length(
      bool compact, std::size_t min_element_bytes, bool nullable);

  // The next `n` bytes, borrowed from the underlying buffer.
  [[nodiscard]] Result<ByteView> read_view(std::size_t n);

  // A Reader over the next `n` bytes sharing this one's element budget; hand it back with
  // `rejoin` so that what it spent is charged here too. Used for tagged fields.
  [[nodiscard]] Result<Reader> split(std::size_t n);
  void rejoin(const Reader& part) { elements_left_ = part.elements_left_; }

  // Error for malformed input at the current position, naming `what`.
  Error malformed(std::string_view what) const;

 private:
  Status need(std::size_t n, std::string_view what) const;
  Result<std::optional<std::size_t>> read_length(bool compact, bool wide, bool nullable,
                                                 std::string_view what);

  ByteView data_;
  std::size_t pos_ = 0;
  ReaderLimits limits_;
  std::uint64_t elements_left_;
};

// Decodes one whole message (anything with `Status decode(Reader&, int16_t)`) from `data` and
// requires that it uses every byte: trailing bytes mean the peer and we disagree on the layout.
template <typename Message>
[[nodiscard]] Result<Message> decode_message(ByteView data, std::int16_t version,
                                             ReaderLimits limits = {}) {
  Reader reader(data, limits);
  Message message;
  WHARF_RETURN_IF_ERROR(message.decode(reader, version));
  if (reader.remaining() != 0) return fail(reader.malformed("trailing bytes after message"));
  return message;
}

}  // namespace wharf::kafka::protocol
