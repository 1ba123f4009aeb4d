// Parsing of database URLs for wharf::sql::open (include/wharf/sql/open.h). Pure; no I/O.
#pragma once

#include <string>
#include <string_view>

#include "wharf/result.h"
#include "wharf/sql.h"

namespace wharf::sql {

struct DatabaseUrl {
  Dialect dialect = Dialect::kSqlite;
  // SQLite: the file path (or ":memory:"). PostgreSQL: the URL, unchanged, for libpq.
  std::string target;
};

//   sqlite:PATH            -> PATH (relative or absolute)
//   sqlite://PATH          -> PATH (relative: "sqlite://orders.db")
//   sqlite:///abs/path     -> /abs/path
//   sqlite::memory:        -> :memory:
//   postgresql://... and postgres://... -> themselves
// Anything else, or an empty path, is kInvalidArgument.
Result<DatabaseUrl> parse_database_url(std::string_view url);

}  // namespace wharf::sql
