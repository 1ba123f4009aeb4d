// Opens a PostgreSQL database as a wharf::sql::Database (library wharf_sql_postgres, libpq).
//
// Public. The production store. A bounded pool of libpq connections, opened on demand; a
// connection found broken (server restart, network) is dropped and replaced by a new one on the
// next begin(). Errors are classified by SQLSTATE: 40001/40P01 kConflict, 23xxx kConstraint,
// 08xxx/57P0x kUnavailable, 53xxx kResourceExhausted (53100 disk full: kNoSpace).
// Thread-safe like every Database.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "wharf/result.h"
#include "wharf/sql.h"

namespace wharf::sql {

struct PostgresOptions {
  // Connections in the pool, opened on demand.
  std::size_t connections_max = 8;
  // How long begin() waits for a free connection before kResourceExhausted.
  std::chrono::milliseconds acquire_timeout{5000};
  // Per connection attempt (libpq's connect_timeout; whole seconds, at least 2).
  std::chrono::seconds connect_timeout{5};
  // Default isolation of transactions that do not choose one.
  Isolation isolation = Isolation::kReadCommitted;
  // Prepared statements kept per connection (least recently used are deallocated).
  std::size_t statement_cache_max = 64;
};

// `conninfo` is a libpq connection string: a URL ("postgresql://user@host:5432/db?...") or
// key=value pairs ("host=/run/postgresql dbname=app"). Opens one connection at once so that a
// wrong address fails here: kUnavailable when the server cannot be reached.
Result<std::unique_ptr<Database>> open_postgres(const std::string& conninfo,
                                                const PostgresOptions& options = {});

}  // namespace wharf::sql
