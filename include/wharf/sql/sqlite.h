// Opens an SQLite database as a wharf::sql::Database (library wharf_sql_sqlite).
//
// Public. The embedded default store. Every connection runs with journal_mode=WAL,
// synchronous=FULL (a commit that returned ok survives power loss), foreign_keys=ON and a busy
// timeout. Connections form a bounded pool: readers never block each other or the writer (WAL).
// Writers take turns: within the process at a writer gate, across processes on SQLite's write
// lock, taken by BEGIN IMMEDIATE so that a writer waits at BEGIN (up to busy_timeout, then
// kConflict) instead of failing halfway through.
// Thread-safe like every Database.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "wharf/result.h"
#include "wharf/sql.h"

namespace wharf::sql {

struct SqliteOptions {
  // Connections in the pool, opened on demand. A path of ":memory:" forces 1 (every
  // connection to ":memory:" is its own database).
  std::size_t connections_max = 4;
  // How long a writer waits for its turn (this process's writers, then SQLite's lock) before
  // failing with kConflict.
  std::chrono::milliseconds busy_timeout{5000};
  // How long begin() waits for a free connection before kResourceExhausted.
  std::chrono::milliseconds acquire_timeout{10000};
  // Prepared statements kept per connection (least recently used are finalized).
  std::size_t statement_cache_max = 64;
  // Create the file when missing (otherwise a missing file is kUnavailable).
  bool create_if_missing = true;
};

// Opens (and creates) the database at `path` and checks the first connection's settings.
// kUnavailable when the file cannot be opened; kIoError/kCorruption from SQLite as classified.
Result<std::unique_ptr<Database>> open_sqlite(const std::string& path,
                                              const SqliteOptions& options = {});

}  // namespace wharf::sql
