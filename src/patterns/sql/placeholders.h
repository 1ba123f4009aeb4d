// SQL text helpers shared by the backends: `?` placeholders to PostgreSQL's $n, and the check of
// savepoint names. Pure functions; no I/O, no threads.
#pragma once

#include <string>
#include <string_view>

namespace wharf::sql {

struct NumberedSql {
  std::string text;  // `?` replaced by $1, $2, ... in order
  int placeholder_count = 0;
};

// Replaces each `?` outside string literals ('...', E'...' with backslash escapes), quoted
// identifiers ("..."), comments (-- and nested /* */) and dollar-quoted strings ($tag$...$tag$)
// with $1, $2, ... An unterminated literal or comment is copied as is (the server reports it).
NumberedSql number_placeholders(std::string_view sql);

// The start of a statement for error messages: "'INSERT INTO t VALUES(?, ?)'", cut after 120
// bytes. Values are never part of it (they travel as parameters).
std::string sql_excerpt(std::string_view sql);

// Whether `name` is a plain SQL identifier: [A-Za-z_][A-Za-z0-9_]*, at most 63 bytes
// (PostgreSQL's limit), so it can be spliced into SAVEPOINT statements.
bool is_plain_identifier(std::string_view name);

}  // namespace wharf::sql
