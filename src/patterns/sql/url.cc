#include "patterns/sql/url.h"

namespace wharf::sql {

Result<DatabaseUrl> parse_database_url(std::string_view url) {
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return DatabaseUrl{Dialect::kPostgres, std::string(url)};
  }
  if (url.starts_with("sqlite:")) {
    std::string_view path = url.substr(7);
    // "sqlite:///abs" keeps the third slash; "sqlite://rel" drops both.
    if (path.starts_with("//")) path.remove_prefix(2);
    if (path.empty()) return fail(ErrorCode::kInvalidArgument, "'{}': no database path", url);
    if (path.find('?') != std::string_view::npos) {
      return fail(ErrorCode::kInvalidArgument,
                  "'{}': sqlite URLs take no parameters; use open_sqlite() for options", url);
    }
    return DatabaseUrl{Dialect::kSqlite, std::string(path)};
  }
  return fail(ErrorCode::kInvalidArgument,
              "'{}': expected sqlite:PATH, sqlite:///abs/path or postgresql://...", url);
}

}  // namespace wharf::sql
