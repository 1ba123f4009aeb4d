#include "patterns/sql/postgres/errors.h"

#include <gtest/gtest.h>

namespace wharf::sql {
namespace {

TEST(PostgresErrorsTest, ClassifiesSqlstates) {
  EXPECT_EQ(sqlstate_error_code("40001"), ErrorCode::kConflict);  // serialization failure
  EXPECT_EQ(sqlstate_error_code("40P01"), ErrorCode::kConflict);  // deadlock
  EXPECT_EQ(sqlstate_error_code("55P03"), ErrorCode::kConflict);  // lock not available
  EXPECT_EQ(sqlstate_error_code("23505"), ErrorCode::kConstraint);
  EXPECT_EQ(sqlstate_error_code("23503"), ErrorCode::kConstraint);
  EXPECT_EQ(sqlstate_error_code("08006"), ErrorCode::kUnavailable);
  EXPECT_EQ(sqlstate_error_code("57P01"), ErrorCode::kUnavailable);
  EXPECT_EQ(sqlstate_error_code("57P03"), ErrorCode::kUnavailable);
  EXPECT_EQ(sqlstate_error_code("53300"), ErrorCode::kResourceExhausted);
  EXPECT_EQ(sqlstate_error_code("53100"), ErrorCode::kNoSpace);
  EXPECT_EQ(sqlstate_error_code("57014"), ErrorCode::kTimeout);
  EXPECT_EQ(sqlstate_error_code("42P01"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(sqlstate_error_code("XX000"), ErrorCode::kInternal);
  EXPECT_EQ(sqlstate_error_code("bad"), ErrorCode::kInternal);
  EXPECT_TRUE(is_retryable(sqlstate_error_code("40001")));
  EXPECT_TRUE(is_retryable(sqlstate_error_code("08006")));
  EXPECT_FALSE(is_retryable(sqlstate_error_code("23505")));
}

}  // namespace
}  // namespace wharf::sql
