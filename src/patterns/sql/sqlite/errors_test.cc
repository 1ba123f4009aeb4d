#include "patterns/sql/sqlite/errors.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace wharf::sql {
namespace {

TEST(SqliteErrorsTest, ClassifiesPrimaryAndExtendedCodes) {
  EXPECT_EQ(sqlite_error_code(SQLITE_BUSY), ErrorCode::kConflict);
  EXPECT_EQ(sqlite_error_code(SQLITE_BUSY_SNAPSHOT), ErrorCode::kConflict);
  EXPECT_EQ(sqlite_error_code(SQLITE_LOCKED), ErrorCode::kConflict);
  EXPECT_EQ(sqlite_error_code(SQLITE_CONSTRAINT_UNIQUE), ErrorCode::kConstraint);
  EXPECT_EQ(sqlite_error_code(SQLITE_CONSTRAINT_FOREIGNKEY), ErrorCode::kConstraint);
  EXPECT_EQ(sqlite_error_code(SQLITE_CANTOPEN), ErrorCode::kUnavailable);
  EXPECT_EQ(sqlite_error_code(SQLITE_IOERR_FSYNC), ErrorCode::kIoError);
  EXPECT_EQ(sqlite_error_code(SQLITE_FULL), ErrorCode::kNoSpace);
  EXPECT_EQ(sqlite_error_code(SQLITE_CORRUPT), ErrorCode::kCorruption);
  EXPECT_EQ(sqlite_error_code(SQLITE_ERROR), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(is_retryable(sqlite_error_code(SQLITE_BUSY)));
  EXPECT_FALSE(is_retryable(sqlite_error_code(SQLITE_CONSTRAINT)));
}

}  // namespace
}  // namespace wharf::sql
