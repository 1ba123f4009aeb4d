#include "kafka/protocol/reader.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "base/varint.h"

namespace wharf::kafka::protocol {

Error Reader::malformed(std::string_view what) const {
  return make_error(ErrorCode::kInvalidArgument, "kafka message malformed at byte {}: {}", pos_,
                    what);
}

Status Reader::need(std::size_t n, std::string_view what) const {
  if (n > remaining()) {
    return fail(malformed(fmt::format("{} needs {} bytes, {} left", what, n, remaining())));
  }
  return ok();
}

Status Reader::read(bool& out) {
  std::int8_t b = 0;
  WHARF_RETURN_IF_ERROR(read(b));
  out = b != 0;
  return ok();
}

Status Reader::read(double& out) {
  std::uint64_t bits = 0;
  WHARF_RETURN_IF_ERROR(read(bits));
  out = std::bit_cast<double>(bits);
  return ok();
}

Status Reader::read(Uuid& out) {
  WHARF_RETURN_IF_ERROR(need(out.size(), "uuid"));
  std::memcpy(out.data(), data_.data() + pos_, out.size());
  pos_ += out.size();
  return ok();
}

Status Reader::read_uvarint(std::uint32_t& out) {
  auto decoded = varint::decode_uvarint(data_.subspan(pos_));
  if (!decoded) return fail(malformed("unsigned varint truncated or longer than 5 bytes"));
  out = decoded->value;
  pos_ += decoded->size;
  return ok();
}

// Lengths: int16 (strings) or int32 (bytes, `wide`) with -1 for null, or a uvarint holding
// length + 1 with 0 for null when compact. Returns nullopt for null. The length is checked
// against the bytes left here, before the caller allocates.
Result<std::optional<std::size_t>> Reader::read_length(bool compact, bool wide, bool nullable,
                                                       std::string_view what) {
  std::int64_t length = 0;
  if (compact) {
    std::uint32_t raw = 0;
    WHARF_RETURN_IF_ERROR(read_uvarint(raw));
    length = static_cast<std::int64_t>(raw) - 1;
  } else if (wide) {
    std::int32_t raw = 0;
    WHARF_RETURN_IF_ERROR(read(raw));
    length = raw;
  } else {
    std::int16_t raw = 0;
    WHARF_RETURN_IF_ERROR(read(raw));
    length = raw;
  }
  if (length == -1) {
    if (!nullable) return fail(malformed(fmt::format("non-nullable {} is null", what)));
    return std::optional<std::size_t>();
  }
  if (length < -1) return fail(malformed(fmt::format("{} length {} is negative", what, length)));
  auto n = static_cast<std::size_t>(length);
  WHARF_RETURN_IF_ERROR(need(n, what));
  return std::optional<std::size_t>(n);
}

Status Reader::read_string(std::string& out, bool compact) {
  WHARF_ASSIGN_OR_RETURN(auto length, read_length(compact, false, false, "string"));
  out.assign(reinterpret_cast<const char*>(data_.data() + pos_), *length);
  pos_ += *length;
  return ok();
}

Status Reader::read_nullable_string(std::optional<std::string>& out, bool compact, bool nullable) {
  WHARF_ASSIGN_OR_RETURN(auto length, read_length(compact, false, nullable, "string"));
  if (!length) {
    out.reset();
    return ok();
  }
  out.emplace(reinterpret_cast<const char*>(data_.data() + pos_), *length);
  pos_ += *length;
  return ok();
}

Status Reader::read_bytes(Bytes& out, bool compact) {
  WHARF_ASSIGN_OR_RETURN(auto length, read_length(compact, true, false, "bytes"));
  auto view = data_.subspan(pos_, *length);
  out.assign(view.begin(), view.end());
  pos_ += *length;
  return ok();
}

Status Reader::read_nullable_bytes(std::optional<Bytes>& out, bool compact, bool nullable) {
  WHARF_ASSIGN_OR_RETURN(auto length, read_length(compact, true, nullable, "bytes"));
  if (!length) {
    out.reset();
    return ok();
  }
  auto view = data_.subspan(pos_, *length);
  out.emplace(view.begin(), view.end());
  pos_ += *length;
  return ok();
}

Status Reader::read_nullable_bytes(std::optional<ByteBuffer>& out, bool compact, bool nullable) {
  WHARF_ASSIGN_OR_RETURN(auto length, read_length(compact, true, nullable, "bytes"));
  if (!length) {
    out.reset();
    return ok();
  }
  out.emplace(data_.subspan(pos_, *length));
  pos_ += *length;
  return ok();
}

Result<std::optional<std::uint32_t>> Reader::read_array_length(bool compact,
                                                               std::size_t min_element_bytes,
                                                               bool nullable) {
  std::int64_t count = 0;
  if (compact) {
    std::uint32_t raw = 0;
    WHARF_RETURN_IF_ERROR(read_uvarint(raw));
    count = static_cast<std::int64_t>(raw) - 1;
  } else {
    std::int32_t raw = 0;
    WHARF_RETURN_IF_ERROR(read(raw));
    count = raw;
  }
  if (count == -1) {
    if (!nullable) return fail(malformed("non-nullable array is null"));
    return std::optional<std::uint32_t>();
  }
  if (count < -1) return fail(malformed(fmt::format("array count {} is negative", count)));
  auto n = static_cast<std::uint64_t>(count);
  // Every element takes at least one byte. n < 2^32 and element sizes are at most 16 bytes, so
  // the product cannot overflow.
  if (n * std::max<std::size_t>(min_element_bytes, 1) > remaining()) {
    return fail(
        malformed(fmt::format("array of {} elements cannot fit in {} bytes", n, remaining())));
  }
  if (n > limits_.array_elements_max) {
    return fail(malformed(fmt::format("array of {} elements is over the limit of {}", n,
                                      limits_.array_elements_max)));
  }
  if (n > elements_left_) {
    return fail(malformed(fmt::format("array of {} elements is over the message's budget", n)));
  }
  elements_left_ -= n;
  return std::optional<std::uint32_t>(static_cast<std::uint32_t>(n));
}

Result<ByteView> Reader::read_view(std::size_t n) {
  WHARF_RETURN_IF_ERROR(need(n, "field"));
  auto view = data_.subspan(pos_, n);
  pos_ += n;
  return view;
}

Result<Reader> Reader::split(std::size_t n) {
  WHARF_ASSIGN_OR_RETURN(auto view, read_view(n));
  Reader part(view, limits_);
  part.elements_left_ = elements_left_;
  return part;
}

}  // namespace wharf::kafka::protocol
