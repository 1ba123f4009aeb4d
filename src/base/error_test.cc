#include "base/error.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "base/result.h"

namespace wharf {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return fail(ErrorCode::kInvalidArgument, "{} is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  WHARF_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

TEST(Error, ContextIsPrefixedAndCodeKept) {
  Error e = make_error(ErrorCode::kCorruption, "bad crc at {}", 42);
  Error wrapped = std::move(e).with_context("segment 00000000000000000000.log");
  EXPECT_EQ(wrapped.code(), ErrorCode::kCorruption);
  EXPECT_EQ(wrapped.message(), "segment 00000000000000000000.log: bad crc at 42");
  EXPECT_EQ(wrapped.to_string(), "corruption: segment 00000000000000000000.log: bad crc at 42");
}

TEST(Error, ErrnoMapsNoSpaceAndKeepsSystemMessage) {
  Error e = errno_error(ENOSPC, "write");
  EXPECT_EQ(e.code(), ErrorCode::kNoSpace);
  EXPECT_EQ(e.sys().value(), ENOSPC);
  EXPECT_NE(e.to_string().find("No space"), std::string::npos);
}

TEST(Error, OutOfDescriptorsSaysSoInTheMessageClientsSee) {
  // Issue 9: "open directory .../6613" alone did not say why.
  Error e = errno_error(EMFILE, "open directory /data/topics/t/6613");
  EXPECT_EQ(e.code(), ErrorCode::kIoError);
  EXPECT_NE(e.message().find("/data/topics/t/6613"), std::string::npos);
  EXPECT_NE(e.message().find("too many open files"), std::string::npos) << e.message();
}

TEST(Result, AssignOrReturnPropagatesErrors) {
  EXPECT_EQ(doubled(4).value(), 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace wharf
