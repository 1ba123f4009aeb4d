// Writer: appends the wire form of Kafka message fields to a caller-owned Bytes buffer.
//
// Encoding cannot fail for well-formed values, so the generated `encode` functions return void.
// The few values that have no wire form (a string over 32767 bytes in a non-flexible version, a
// version the codec was not generated for) put the Writer into a sticky error state instead:
// later writes still append, and the caller must look at `status()` before sending the bytes.
// `encode_message` does that for you. One Writer is used by one thread at a time; no durability.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "kafka/protocol/types.h"

namespace wharf::kafka::protocol {

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(&out) {}

  // A byte string left out of the buffer in gather mode: it belongs at offset `at` of the
  // buffer (after the bytes before it), and `bytes` still points at the caller's memory.
  struct External {
    std::size_t at = 0;
    ByteView bytes;
  };
  // Gather mode: BYTES and RECORDS values of at least `min_bytes` are not copied. Their length
  // prefix is written to the buffer and the value is added to `externals`, so that a gathered
  // write can send the buffer and the values in order without copying the values. The caller
  // keeps the encoded message (which owns the values) alive until then.
  void gather(std::vector<External>* externals, std::size_t min_bytes) {
    externals_ = externals;
    gather_min_bytes_ = min_bytes;
  }

  Bytes& buffer() { return *out_; }
  std::size_t size() const { return out_->size(); }

  // OK, or the first value that could not be encoded.
  const Status& status() const { return status_; }
  void set_error(Error error);

  template <typename T>
  requires std::is_integral_v<T> &&(!std::is_same_v<T, bool>)void write(T value) {
    append_be<T>(*out_, value);
  }
  void write(bool value) { out_->push_back(std::byte{value ? std::uint8_t{1} : std::uint8_t{0}}); }
  void write(double value);
  void write(const Uuid& value);

  void write_uvarint(std::uint32_t value);

  // STRING / COMPACT_STRING, BYTES / COMPACT_BYTES, and their nulls.
  void write_string(std::string_view value, bool compact);
  void write_null_string(bool compact);
  void write_bytes(ByteView value, bool compact);
  void write_null_bytes(bool compact);

  // ARRAY / COMPACT_ARRAY length prefix (the elements follow), and a null array.
  void write_array_length(std::size_t count, bool compact);
  void write_null_array(bool compact);

  void write_raw(ByteView bytes) { append(*out_, bytes); }

 private:
  Bytes* out_;
  Status status_;
  std::vector<External>* externals_ = nullptr;
  std::size_t gather_min_bytes_ = 0;
};

// Encodes one whole message (anything with `void encode(Writer&, int16_t) const`) into fresh
// bytes, or returns why it could not be encoded.
template <typename Message>
[[nodiscard]] Result<Bytes> encode_message(const Message& message, std::int16_t version) {
  Bytes out;
  Writer writer(out);
  message.encode(writer, version);
  WHARF_RETURN_IF_ERROR(writer.status());
  return out;
}

}  // namespace wharf::kafka::protocol
