#include "cli/consumer_protocol.h"

#include <fmt/format.h>

namespace wharf::cli {

namespace {

class Reader {
 public:
  explicit Reader(ByteView bytes) : bytes_(bytes) {}
  std::size_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  Result<T> read(const char* what) {
    if (remaining() < sizeof(T)) return truncated(what);
    T v = load_be<T>(bytes_, pos_);
    pos_ += sizeof(T);
    return v;
  }

  Result<std::string> read_string(const char* what) {
    WHARF_ASSIGN_OR_RETURN(auto len, read<std::int16_t>(what));
    if (len < 0) return fail(ErrorCode::kCorruption, "assignment: null {}", what);
    if (remaining() < static_cast<std::size_t>(len)) return truncated(what);
    std::string s(as_chars(bytes_.subspan(pos_, static_cast<std::size_t>(len))));
    pos_ += static_cast<std::size_t>(len);
    return s;
  }

 private:
  Error truncated_error(const char* what) const {
    return make_error(ErrorCode::kCorruption, "assignment: truncated at byte {} reading {}", pos_,
                      what);
  }
  tl::unexpected<Error> truncated(const char* what) const { return fail(truncated_error(what)); }

  ByteView bytes_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<ConsumerAssignment> decode_consumer_assignment(ByteView bytes) {
  ConsumerAssignment out;
  if (bytes.empty()) return out;
  Reader r(bytes);
  WHARF_ASSIGN_OR_RETURN(out.version, r.read<std::int16_t>("version"));
  if (out.version < 0)
    return fail(ErrorCode::kCorruption, "assignment: negative version {}", out.version);
  WHARF_ASSIGN_OR_RETURN(auto topic_count, r.read<std::int32_t>("topic count"));
  // Each topic takes at least 6 bytes (name length + partition count), which bounds the count
  // by the input before anything is reserved.
  if (topic_count < -1 ||
      (topic_count > 0 && static_cast<std::size_t>(topic_count) > r.remaining() / 6)) {
    return fail(ErrorCode::kCorruption, "assignment: impossible topic count {}", topic_count);
  }
  for (std::int32_t t = 0; t < topic_count; ++t) {
    WHARF_ASSIGN_OR_RETURN(auto name, r.read_string("topic name"));
    WHARF_ASSIGN_OR_RETURN(auto count, r.read<std::int32_t>("partition count"));
    if (count < -1 || (count > 0 && static_cast<std::size_t>(count) > r.remaining() / 4)) {
      return fail(ErrorCode::kCorruption,
                  "assignment: impossible partition count {} for topic '{}'", count, name);
    }
    std::vector<std::int32_t> partitions;
    partitions.reserve(count > 0 ? static_cast<std::size_t>(count) : 0);
    for (std::int32_t i = 0; i < count; ++i) {
      WHARF_ASSIGN_OR_RETURN(auto p, r.read<std::int32_t>("partition"));
      partitions.push_back(p);
    }
    out.topics.emplace_back(std::move(name), std::move(partitions));
  }
  if (r.remaining() == 0) return out;  // some encoders omit a null user data entirely
  WHARF_ASSIGN_OR_RETURN(out.user_data_bytes, r.read<std::int32_t>("user data length"));
  if (out.user_data_bytes < -1 ||
      (out.user_data_bytes > 0 && static_cast<std::size_t>(out.user_data_bytes) > r.remaining())) {
    return fail(ErrorCode::kCorruption, "assignment: user data length {} with {} bytes left",
                out.user_data_bytes, r.remaining());
  }
  // Bytes after the user data belong to a newer version's fields; a reader of v0..v3 ignores them.
  return out;
}

std::string to_string(const ConsumerAssignment& assignment) {
  std::string out;
  for (const auto& [topic, partitions] : assignment.topics) {
    if (!out.empty()) out += ' ';
    out += fmt::format("{}[{}]", topic, fmt::join(partitions, ","));
  }
  return out;
}

}  // namespace wharf::cli
