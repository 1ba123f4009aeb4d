// The generic field codec behind the generated messages: one read_value / write_value pair that
// covers every field type the Kafka schemas use (integers, bool, float64, uuid, strings, bytes,
// records, arrays, nested structs, their nullable forms) and the tagged-field sections of
// flexible versions. Generated .cc files call these with per-field version conditions; keeping
// the type dispatch here keeps the generated code one line per field and quick to compile.
//
// Included only by generated .cc files and tests, never by a generated header. Stateless
// templates: no threads, no durability.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/byte_buffer.h"
#include "base/bytes.h"
#include "base/result.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/types.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::protocol::detail {

template <typename T>
inline constexpr bool kIsVector = false;
template <typename T>
inline constexpr bool kIsVector<std::vector<T>> = true;
template <typename T>
inline constexpr bool kIsOptional = false;
template <typename T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

template <typename T>
inline constexpr bool kIsOptionalVector = false;
template <typename T>
inline constexpr bool kIsOptionalVector<std::optional<std::vector<T>>> = true;

template <typename T>
inline constexpr bool kIsScalar = std::is_arithmetic_v<T> || std::is_same_v<T, Uuid>;

// The fewest bytes one element of type T takes on the wire: used to reject array counts that
// cannot fit in what is left. A struct takes at least one byte (the generator checks that every
// struct has an untagged field or a tagged-field count in every version it is used in).
template <typename T>
constexpr std::size_t min_wire_bytes(bool flex) {
  if constexpr (kIsScalar<T>) {
    return sizeof(T);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return flex ? 1 : 2;
  } else if constexpr (std::is_same_v<T, Bytes> || kIsVector<T>) {
    return flex ? 1 : 4;
  } else {
    return 1;
  }
}

// Elements reserved up front: bounded, so that a large (but valid) count cannot allocate
// count * sizeof(T) before the elements have been read.
inline constexpr std::size_t kReserveElementsMax = 64;

template <typename T>
[[nodiscard]] Status read_value(Reader& r, T& out, std::int16_t v, bool flex, bool nullable);

template <typename E>
[[nodiscard]] Status read_elements(Reader& r, std::vector<E>& out, std::uint32_t count,
                                   std::int16_t v, bool flex) {
  out.clear();
  out.reserve(std::min<std::size_t>(count, kReserveElementsMax));
  for (std::uint32_t i = 0; i < count; ++i) {
    WHARF_RETURN_IF_ERROR(read_value(r, out.emplace_back(), v, flex, false));
  }
  return ok();
}

// Reads one field. `flex` selects the compact encodings; `nullable` says whether this version
// allows null (it is ignored for types that are never null).
template <typename T>
Status read_value(Reader& r, T& out, std::int16_t v, bool flex, bool nullable) {
  if constexpr (kIsScalar<T>) {
    return r.read(out);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return r.read_string(out, flex);
  } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
    return r.read_nullable_string(out, flex, nullable);
  } else if constexpr (std::is_same_v<T, Bytes>) {
    return r.read_bytes(out, flex);
  } else if constexpr (std::is_same_v<T, std::optional<Bytes>> ||
                       std::is_same_v<T, std::optional<ByteBuffer>>) {
    return r.read_nullable_bytes(out, flex, nullable);
  } else if constexpr (kIsVector<T>) {
    using E = typename T::value_type;
    WHARF_ASSIGN_OR_RETURN(auto count, r.read_array_length(flex, min_wire_bytes<E>(flex), false));
    return read_elements(r, out, *count, v, flex);
  } else if constexpr (kIsOptionalVector<T>) {
    using E = typename T::value_type::value_type;
    WHARF_ASSIGN_OR_RETURN(auto count,
                           r.read_array_length(flex, min_wire_bytes<E>(flex), nullable));
    if (!count) {
      out.reset();
      return ok();
    }
    return read_elements(r, out.emplace(), *count, v, flex);
  } else if constexpr (kIsOptional<T>) {
    // A nullable struct: an int8 marker, -1 for null and 1 for present, then the struct.
    if (nullable) {
      std::int8_t marker = 0;
      WHARF_RETURN_IF_ERROR(r.read(marker));
      if (marker < 0) {
        out.reset();
        return ok();
      }
    }
    return out.emplace().decode(r, v);
  } else {
    return out.decode(r, v);
  }
}

// Writes one field; mirrors read_value. A null value in a version where the field is not
// nullable is written as empty (Kafka's Java code throws instead; the bytes stay decodable).
template <typename T>
void write_value(Writer& w, const T& in, std::int16_t v, bool flex, bool nullable) {
  if constexpr (kIsScalar<T>) {
    w.write(in);
  } else if constexpr (std::is_same_v<T, std::string>) {
    w.write_string(in, flex);
  } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
    if (in) {
      w.write_string(*in, flex);
    } else if (nullable) {
      w.write_null_string(flex);
    } else {
      w.write_string({}, flex);
    }
  } else if constexpr (std::is_same_v<T, Bytes>) {
    w.write_bytes(in, flex);
  } else if constexpr (std::is_same_v<T, std::optional<Bytes>> ||
                       std::is_same_v<T, std::optional<ByteBuffer>>) {
    if (in) {
      w.write_bytes(*in, flex);
    } else if (nullable) {
      w.write_null_bytes(flex);
    } else {
      w.write_bytes({}, flex);
    }
  } else if constexpr (kIsVector<T>) {
    w.write_array_length(in.size(), flex);
    for (const auto& e : in) write_value(w, e, v, flex, false);
  } else if constexpr (kIsOptionalVector<T>) {
    if (in) {
      write_value(w, *in, v, flex, false);
    } else if (nullable) {
      w.write_null_array(flex);
    } else {
      w.write_array_length(0, flex);
    }
  } else if constexpr (kIsOptional<T>) {
    if (nullable) w.write(std::int8_t{in ? 1 : -1});
    if (in) {
      in->encode(w, v);
    } else if (!nullable) {
      typename T::value_type{}.encode(w, v);
    }
  } else {
    in.encode(w, v);
  }
}

// Reads a tagged-field section: a uvarint count, then (uvarint tag, uvarint size, size bytes)
// per field. `on_field(tag, part)` decodes a known tag from `part`, a Reader over exactly that
// field's bytes, and returns OK without reading for an unknown tag: the bytes are skipped.
template <typename OnField>
[[nodiscard]] Status read_tagged_fields(Reader& r, OnField&& on_field) {
  std::uint32_t count = 0;
  WHARF_RETURN_IF_ERROR(r.read_uvarint(count));
  // Each tagged field takes at least two bytes (tag and size).
  if (count > r.remaining() / 2) return fail(r.malformed("tagged field count over bytes left"));
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t tag = 0;
    std::uint32_t size = 0;
    WHARF_RETURN_IF_ERROR(r.read_uvarint(tag));
    WHARF_RETURN_IF_ERROR(r.read_uvarint(size));
    WHARF_ASSIGN_OR_RETURN(Reader part, r.split(size));
    WHARF_RETURN_IF_ERROR(on_field(tag, part));
    r.rejoin(part);
  }
  return ok();
}

// Skips a tagged-field section whose tags are all unknown to this struct.
[[nodiscard]] inline Status skip_tagged_fields(Reader& r) {
  return read_tagged_fields(r, [](std::uint32_t, Reader&) { return ok(); });
}

// Collects the tagged fields of one struct, then writes the section in ascending tag order
// (callers add them in that order).
class TaggedFieldsWriter {
 public:
  // A Writer for the body of field `tag`.
  Writer& add(std::uint32_t tag) {
    fields_.push_back(Field{tag, {}, std::nullopt});
    Field& field = fields_.back();
    field.writer.emplace(field.body);
    return *field.writer;
  }
  void finish(Writer& w) {
    w.write_uvarint(static_cast<std::uint32_t>(fields_.size()));
    for (const Field& field : fields_) {
      if (!field.writer->status()) w.set_error(field.writer->status().error());
      w.write_uvarint(field.tag);
      w.write_uvarint(static_cast<std::uint32_t>(field.body.size()));
      w.write_raw(field.body);
    }
  }

 private:
  struct Field {
    std::uint32_t tag;
    Bytes body;
    std::optional<Writer> writer;
  };
  std::deque<Field> fields_;  // a deque: `add` must not move the buffers earlier writers use
};

[[nodiscard]] Error unsupported_version(std::string_view message, std::int16_t version);

}  // namespace wharf::kafka::protocol::detail
