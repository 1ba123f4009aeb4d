#include "cli/record_format.h"

#include <fmt/format.h>

namespace wharf::cli {

Result<RecordFormat> RecordFormat::compile(std::string_view format) {
  RecordFormat out;
  std::string literal;
  auto push_field = [&](Field f) {
    if (!literal.empty()) out.pieces_.push_back(Piece{Field::kLiteral, std::move(literal)});
    literal.clear();
    out.pieces_.push_back(Piece{f, {}});
    if (f == Field::kHeaders) out.uses_headers_ = true;
  };
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '%' && c != '\\') {
      literal += c;
      continue;
    }
    if (i + 1 >= format.size()) {
      return fail(ErrorCode::kInvalidArgument, "--format: template ends with a lone '{}'", c);
    }
    const char next = format[++i];
    if (c == '\\') {
      switch (next) {
        case 'n':
          literal += '\n';
          break;
        case 't':
          literal += '\t';
          break;
        case 'r':
          literal += '\r';
          break;
        case '\\':
          literal += '\\';
          break;
        case '0':
          literal += '\0';
          break;
        default:
          return fail(ErrorCode::kInvalidArgument,
                      "--format: unknown escape '\\{}' (known: \\n \\t \\r \\\\ \\0)", next);
      }
      continue;
    }
    switch (next) {
      case '%':
        literal += '%';
        break;
      case 't':
        push_field(Field::kTopic);
        break;
      case 'p':
        push_field(Field::kPartition);
        break;
      case 'o':
        push_field(Field::kOffset);
        break;
      case 'k':
        push_field(Field::kKey);
        break;
      case 's':
        push_field(Field::kValue);
        break;
      case 'T':
        push_field(Field::kTimestamp);
        break;
      case 'h':
        push_field(Field::kHeaders);
        break;
      case 'S':
        push_field(Field::kValueSize);
        break;
      case 'K':
        push_field(Field::kKeySize);
        break;
      default:
        return fail(ErrorCode::kInvalidArgument,
                    "--format: unknown token '%{}' (known: %t %p %o %k %s %T %h %S %K %%)", next);
    }
  }
  if (!literal.empty()) out.pieces_.push_back(Piece{Field::kLiteral, std::move(literal)});
  return out;
}

void RecordFormat::render(const RecordView& r, std::string& out) const {
  for (const auto& piece : pieces_) {
    switch (piece.field) {
      case Field::kLiteral:
        out += piece.literal;
        break;
      case Field::kTopic:
        out += r.topic;
        break;
      case Field::kPartition:
        fmt::format_to(std::back_inserter(out), "{}", r.partition);
        break;
      case Field::kOffset:
        fmt::format_to(std::back_inserter(out), "{}", r.offset);
        break;
      case Field::kKey:
        if (r.key) out += *r.key;
        break;
      case Field::kValue:
        if (r.value) out += *r.value;
        break;
      case Field::kTimestamp:
        fmt::format_to(std::back_inserter(out), "{}", r.timestamp_ms);
        break;
      case Field::kValueSize:
        fmt::format_to(std::back_inserter(out), "{}",
                       r.value ? static_cast<std::int64_t>(r.value->size()) : -1);
        break;
      case Field::kKeySize:
        fmt::format_to(std::back_inserter(out), "{}",
                       r.key ? static_cast<std::int64_t>(r.key->size()) : -1);
        break;
      case Field::kHeaders: {
        bool first = true;
        for (const auto& [name, value] : r.headers) {
          if (!first) out += ',';
          first = false;
          out += name;
          out += '=';
          if (value) out += *value;
        }
        break;
      }
    }
  }
}

}  // namespace wharf::cli
