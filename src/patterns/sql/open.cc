// wharf::sql::open(url) (include/wharf/sql/open.h): picks the backend from the URL's scheme.
#include "wharf/sql/open.h"

#include <filesystem>

#include "patterns/sql/url.h"
#include "wharf/sql/postgres.h"
#include "wharf/sql/sqlite.h"

namespace wharf::sql {

Result<std::unique_ptr<Database>> open(std::string_view url) {
  WHARF_ASSIGN_OR_RETURN(DatabaseUrl parsed, parse_database_url(url));
  switch (parsed.dialect) {
    case Dialect::kSqlite:
      return open_sqlite(parsed.target);
    case Dialect::kPostgres:
      return open_postgres(parsed.target);
  }
  return fail(ErrorCode::kInternal, "unknown dialect");
}

Result<std::unique_ptr<Database>> open_existing(std::string_view url) {
  WHARF_ASSIGN_OR_RETURN(DatabaseUrl parsed, parse_database_url(url));
  if (parsed.dialect != Dialect::kSqlite || parsed.target == ":memory:") return open(url);
  SqliteOptions options;
  options.create_if_missing = false;
  auto db = open_sqlite(parsed.target, options);
  std::error_code ec;  // exists() without it throws on a name too long for the file system
  if (!db && !std::filesystem::exists(parsed.target, ec)) {
    return fail(ErrorCode::kNotFound, "{}: no such SQLite file", parsed.target);
  }
  return db;
}

}  // namespace wharf::sql
