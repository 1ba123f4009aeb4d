// Test support: a throwaway PostgreSQL server for tests that need a real one.
//
// start() finds Debian's server binaries (/usr/lib/postgresql/<version>/bin, newest first;
// WHARF_PG_BIN overrides), runs initdb in a fresh temporary directory, picks a free loopback
// port and starts the server on 127.0.0.1 (plus a Unix socket in the same directory), waiting
// until it accepts connections. When the process runs as root (CI), initdb and postgres refuse
// to: they run as the unprivileged `postgres` user that Debian's package creates, in a forked
// child. The destructor stops the server (pg_ctl stop -m fast) and removes the directory.
//
// The server trades durability for speed (fsync=off) and detects deadlocks after 100 ms
// instead of 1 s: it holds test data only. A missing binary is an error with a clear message,
// never a silent skip. Not thread-safe; one per test binary (a gtest Environment), with a fresh
// database per test.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace wharf::test {

class PostgresServer {
 public:
  static Result<std::unique_ptr<PostgresServer>> start();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A new, empty database; returns its libpq URL.
  Result<std::string> create_database();
  // The libpq URL of `database` on this server (user postgres, trust authentication).
  std::string url(const std::string& database) const;
  int port() const { return port_; }
  const std::string& directory() const { return dir_; }

 private:
  PostgresServer() = default;
  // Runs bin_dir_/program with args (as `postgres` when root); output holds stdout+stderr.
  Status run(const std::string& program, const std::vector<std::string>& args, std::string* output);

  std::string bin_dir_;
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
  int databases_created_ = 0;
  int run_as_uid_ = -1;  // -1: as ourselves
  int run_as_gid_ = -1;
};

// A loopback TCP port that nothing listens on at the time of the call.
int free_local_port();

}  // namespace wharf::test
