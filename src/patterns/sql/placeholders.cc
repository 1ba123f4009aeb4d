#include "patterns/sql/placeholders.h"

#include <fmt/format.h>

namespace wharf::sql {

namespace {

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

// If a dollar-quote tag ($$ or $tag$) starts at sql[i], returns its length, else 0.
std::size_t dollar_tag_length(std::string_view sql, std::size_t i) {
  std::size_t j = i + 1;
  if (j < sql.size() && is_ident_start(sql[j])) {
    while (j < sql.size() && is_ident_char(sql[j])) ++j;
  }
  if (j < sql.size() && sql[j] == '$') return j - i + 1;
  return 0;
}

}  // namespace

NumberedSql number_placeholders(std::string_view sql) {
  NumberedSql out;
  out.text.reserve(sql.size() + 16);
  std::size_t i = 0;
  // Copies sql[i, end) and moves i there.
  auto copy_to = [&](std::size_t end) {
    out.text.append(sql.substr(i, end - i));
    i = end;
  };
  while (i < sql.size()) {
    const char c = sql[i];
    const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
    if (c == '?') {
      out.text += fmt::format("${}", ++out.placeholder_count);
      ++i;
    } else if (c == '\'' || c == '"') {
      // E'...' allows backslash escapes; '' (or "") inside is an escaped quote.
      const bool backslashes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                               (i < 2 || !is_ident_char(sql[i - 2]));
      std::size_t j = i + 1;
      while (j < sql.size()) {
        if (backslashes && sql[j] == '\\') {
          j += 2;
        } else if (sql[j] == c) {
          if (j + 1 < sql.size() && sql[j + 1] == c) {
            j += 2;
          } else {
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      copy_to(std::min(j, sql.size()));
    } else if (c == '-' && next == '-') {
      std::size_t end = sql.find('\n', i);
      copy_to(end == std::string_view::npos ? sql.size() : end);
    } else if (c == '/' && next == '*') {
      int depth = 0;  // PostgreSQL's block comments nest
      std::size_t j = i;
      while (j < sql.size()) {
        if (sql.compare(j, 2, "/*") == 0) {
          ++depth;
          j += 2;
        } else if (sql.compare(j, 2, "*/") == 0) {
          j += 2;
          if (--depth == 0) break;
        } else {
          ++j;
        }
      }
      copy_to(std::min(j, sql.size()));
    } else if (c == '$' && (i == 0 || !is_ident_char(sql[i - 1]))) {
      const std::size_t tag_length = dollar_tag_length(sql, i);
      if (tag_length == 0) {
        copy_to(i + 1);  // $1 written by hand, or a lone $
      } else {
        const std::string_view tag = sql.substr(i, tag_length);
        const std::size_t close = sql.find(tag, i + tag_length);
        copy_to(close == std::string_view::npos ? sql.size() : close + tag_length);
      }
    } else {
      copy_to(i + 1);
    }
  }
  return out;
}

std::string sql_excerpt(std::string_view sql) {
  constexpr std::size_t kShownBytesMax = 120;  // one log line
  if (sql.size() <= kShownBytesMax) return fmt::format("'{}'", sql);
  return fmt::format("'{}...'", sql.substr(0, kShownBytesMax));
}

bool is_plain_identifier(std::string_view name) {
  constexpr std::size_t kIdentifierBytesMax = 63;  // PostgreSQL's NAMEDATALEN - 1
  if (name.empty() || name.size() > kIdentifierBytesMax || !is_ident_start(name[0])) return false;
  for (char c : name) {
    if (!is_ident_char(c)) return false;
  }
  return true;
}

}  // namespace wharf::sql
