// Opens a wharf::sql::Database from a URL (library wharf_sql_open, which links both backends).
//
// Public.
//   sqlite:PATH, sqlite://PATH (relative), sqlite:///abs/path, sqlite::memory:
//   postgresql://... or postgres://... (passed to libpq as is)
// Backend options take their defaults; use open_sqlite / open_postgres to choose them.
#pragma once

#include <memory>
#include <string_view>

#include "wharf/result.h"
#include "wharf/sql.h"

namespace wharf::sql {

// kInvalidArgument for any other scheme; otherwise what the backend's open function returns.
Result<std::unique_ptr<Database>> open(std::string_view url);

// As open(), but a SQLite file that does not exist is kNotFound ("PATH: no such SQLite file")
// instead of being created empty: for tools that inspect a store, where a mistyped path would
// otherwise show nothing, successfully. PostgreSQL databases are never created by open().
Result<std::unique_ptr<Database>> open_existing(std::string_view url);

}  // namespace wharf::sql
