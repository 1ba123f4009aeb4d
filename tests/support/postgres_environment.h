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

#include <cstdio>
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

}  // namespace wharf::test
