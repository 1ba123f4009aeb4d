// Test support: one throwaway PostgreSQL server for a whole GoogleTest binary.
//
//   auto* const g_postgres = wharf::test::register_postgres_environment();   // at namespace scope
//   ...
//   ASSERT_NE(g_postgres->server(), nullptr) << "PostgreSQL did not start: " <<
//   g_postgres->error(); auto url = g_postgres->server()->create_database(); // a fresh database
//
// The server starts before the first test and stops after the last (a gtest Environment). If it
// cannot start, server() is null and error() says why: every PostgreSQL test then fails with
// that reason while the SQLite tests still run; nothing is skipped silently.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/postgres_server.h"

namespace wharf::test {

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto server = PostgresServer::start();
    if (!server) {
      error_ = server.error().to_string();
      std::fprintf(stderr, "cannot start PostgreSQL for this test binary: %s\n", error_.c_str());
      return;
    }
    server_ = std::move(*server);
  }
  void TearDown() override { server_.reset(); }
  PostgresServer* server() const { return server_.get(); }
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<PostgresServer> server_;
  std::string error_;
};

// Registers the environment (gtest owns it) and returns it; call once per binary, at namespace
// scope, so that it is registered before RUN_ALL_TESTS.
inline PostgresEnvironment* register_postgres_environment() {
  return static_cast<PostgresEnvironment*>(
      ::testing::AddGlobalTestEnvironment(new PostgresEnvironment));
}

// A fresh database for a test parameterized over the stores: "sqlite" gives a file in a new
// temporary directory (its path in *dir, for the test to remove), "postgres" a new database on
// the binary's server (an error saying why when the server did not start).
inline Result<std::string> fresh_database_url(const std::string& kind,
                                              const PostgresEnvironment& pg,
                                              const std::string& name, std::string* dir) {
  if (kind == "sqlite") {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("wharf-" + name + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr)
      return fail(ErrorCode::kIoError, "mkdtemp {} failed", pattern);
    *dir = pattern;
    return "sqlite:" + pattern + "/" + name + ".db";
  }
  if (pg.server() == nullptr)
    return fail(ErrorCode::kUnavailable, "PostgreSQL did not start: {}", pg.error());
  return pg.server()->create_database();
}

}  // namespace wharf::test
