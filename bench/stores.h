// The benchmarks of the SQL-backed patterns run the same measurement on SQLite (a file in a
// fresh temporary directory) and on a PostgreSQL server the test harness starts (fsync=off).
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "tests/support/postgres_server.h"
#include "wharf/result.h"

namespace wharf::bench {

// Runs `run(name, url)` for "sqlite" (a file `file` in a new directory under `dir_base`, or the
// temporary directory when it is empty; removed afterwards) and for "postgresql", or only for
// the one `only` names. Returns the exit code: 0 when every run succeeded.
inline int for_each_store(
    const std::string& only, const std::string& dir_base, const std::string& prefix,
    const std::string& file,
    const std::function<Status(const std::string&, const std::string&)>& run) {
  int rc = 0;
  if (only.empty() || only == "sqlite") {
    const std::filesystem::path base =
        dir_base.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(dir_base);
    std::string dir = (base / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(dir.data())) return 1;
    if (auto s = run("sqlite", "sqlite:" + dir + "/" + file); !s) {
      std::fprintf(stderr, "sqlite: %s\n", s.error().to_string().c_str());
      rc = 1;
    }
    std::filesystem::remove_all(dir);
  }
  if (only.empty() || only == "postgresql") {
    auto pg = test::PostgresServer::start();
    if (!pg) {
      std::fprintf(stderr, "postgresql: cannot start a server: %s\n",
                   pg.error().to_string().c_str());
      return 1;
    }
    auto url = (*pg)->create_database();
    if (!url) {
      std::fprintf(stderr, "postgresql: %s\n", url.error().to_string().c_str());
      return 1;
    }
    if (auto s = run("postgresql", *url); !s) {
      std::fprintf(stderr, "postgresql: %s\n", s.error().to_string().c_str());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace wharf::bench
