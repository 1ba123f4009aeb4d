// `wharf consume --format`: output templates in the spirit of kcat's -f. A template is compiled
// once into literal text and fields, then rendered for every record into a caller-owned string.
// Pure code, no I/O, no librdkafka (record_format_test.cc tests it). Any thread; a compiled
// RecordFormat is immutable.
//
//   %t topic   %p partition   %o offset   %k key   %s value   %T timestamp (ms, -1 if none)
//   %h headers as k=v,k=v     %S value size in bytes (-1 for a null value)   %K key size   %% a '%'
//   \n newline   \t tab   \r carriage return   \\ a backslash   \0 a NUL byte
//
// A null key or value renders as nothing (its size as -1), as kcat does without -Z.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace wharf::cli {

// One consumed record, borrowed from the client library for the duration of render().
struct RecordView {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = -1;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<std::pair<std::string_view, std::optional<std::string_view>>> headers;
};

class RecordFormat {
 public:
  // Fails on an unknown %-token or escape, naming it, or on a template that ends in '%' or '\'.
  [[nodiscard]] static Result<RecordFormat> compile(std::string_view format);

  // Appends the rendered record to `out`.
  void render(const RecordView& record, std::string& out) const;

  // True if the template prints headers (so the consumer only decodes them when needed).
  bool uses_headers() const { return uses_headers_; }

 private:
  enum class Field : char {
    kLiteral,
    kTopic,
    kPartition,
    kOffset,
    kKey,
    kValue,
    kTimestamp,
    kHeaders,
    kValueSize,
    kKeySize
  };
  struct Piece {
    Field field = Field::kLiteral;
    std::string literal;
  };
  std::vector<Piece> pieces_;
  bool uses_headers_ = false;
};

}  // namespace wharf::cli
