#include "kafka/protocol/writer.h"

#include <bit>
#include <cstring>
#include <limits>

#include "base/varint.h"

namespace wharf::kafka::protocol {

void Writer::set_error(Error error) {
  if (status_) status_ = fail(std::move(error));
}

void Writer::write(double value) { write(std::bit_cast<std::uint64_t>(value)); }

void Writer::write(const Uuid& value) {
  write_raw(ByteView(reinterpret_cast<const std::byte*>(value.data()), value.size()));
}

void Writer::write_uvarint(std::uint32_t value) { varint::append_unsigned(*out_, value); }

void Writer::write_string(std::string_view value, bool compact) {
  if (compact) {
    if (value.size() >= std::numeric_limits<std::uint32_t>::max()) {
      set_error(make_error(ErrorCode::kMessageTooLarge, "string of {} bytes", value.size()));
      write_uvarint(1);
      return;
    }
    write_uvarint(static_cast<std::uint32_t>(value.size() + 1));
  } else {
    if (value.size() > static_cast<std::size_t>(std::numeric_limits<std::int16_t>::max())) {
      set_error(make_error(ErrorCode::kMessageTooLarge,
                           "string of {} bytes does not fit an int16 length", value.size()));
      write(std::int16_t{0});
      return;
    }
    write(static_cast<std::int16_t>(value.size()));
  }
  write_raw(as_bytes(value));
}

void Writer::write_null_string(bool compact) {
  if (compact) {
    write_uvarint(0);
  } else {
    write(std::int16_t{-1});
  }
}

void Writer::write_bytes(ByteView value, bool compact) {
  if (value.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    set_error(make_error(ErrorCode::kMessageTooLarge, "bytes field of {} bytes", value.size()));
    write_bytes({}, compact);
    return;
  }
  if (compact) {
    write_uvarint(static_cast<std::uint32_t>(value.size() + 1));
  } else {
    write(static_cast<std::int32_t>(value.size()));
  }
  if (externals_ != nullptr && !value.empty() && value.size() >= gather_min_bytes_) {
    externals_->push_back({out_->size(), value});
    return;
  }
  write_raw(value);
}

void Writer::write_null_bytes(bool compact) {
  if (compact) {
    write_uvarint(0);
  } else {
    write(std::int32_t{-1});
  }
}

void Writer::write_array_length(std::size_t count, bool compact) {
  if (count >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    set_error(make_error(ErrorCode::kMessageTooLarge, "array of {} elements", count));
  }
  if (compact) {
    write_uvarint(static_cast<std::uint32_t>(count + 1));
  } else {
    write(static_cast<std::int32_t>(count));
  }
}

void Writer::write_null_array(bool compact) { write_null_bytes(compact); }

}  // namespace wharf::kafka::protocol
