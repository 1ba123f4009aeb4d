#include "cli/client_args.h"

#include <gtest/gtest.h>

namespace wharf::cli {
namespace {

TEST(ParseKeyValue, SplitsAtTheFirstEqualsAndKeepsTheRest) {
  auto kv = parse_key_value("cleanup.policy=compact=yes", "--config");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "cleanup.policy");
  EXPECT_EQ(kv->second, "compact=yes");
  auto empty_value = parse_key_value("k=", "--header");
  ASSERT_TRUE(empty_value);
  EXPECT_EQ(empty_value->second, "");
}

TEST(ParseKeyValue, RefusesAMissingKeyOrEqualsAndNamesTheFlag) {
  auto no_eq = parse_key_value("retention.ms", "--config");
  ASSERT_FALSE(no_eq);
  EXPECT_EQ(no_eq.error().message(), "--config: expected key=value, got 'retention.ms'");
  EXPECT_FALSE(parse_key_value("=v", "--config"));
}

TEST(ParseOffsetSpec, KnowsNamedRelativeAndAbsoluteForms) {
  EXPECT_EQ(parse_offset_spec("beginning")->kind, OffsetSpec::Kind::kBeginning);
  EXPECT_EQ(parse_offset_spec("end")->kind, OffsetSpec::Kind::kEnd);
  auto abs = parse_offset_spec("42");
  ASSERT_TRUE(abs);
  EXPECT_EQ(abs->kind, OffsetSpec::Kind::kAbsolute);
  EXPECT_EQ(abs->value, 42);
  auto tail = parse_offset_spec("-10");
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->kind, OffsetSpec::Kind::kFromEnd);
  EXPECT_EQ(tail->value, 10);
  EXPECT_FALSE(parse_offset_spec("12x"));
  EXPECT_FALSE(parse_offset_spec(""));
  EXPECT_FALSE(parse_offset_spec("start"));
}

TEST(ParseDatetime, ReadsUtcZonesAndFractions) {
  EXPECT_EQ(*parse_datetime_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*parse_datetime_ms("2024-05-01T12:00:00Z"), 1714564800000);
  EXPECT_EQ(*parse_datetime_ms("2024-05-01T12:00:00"), 1714564800000);  // no zone: UTC
  EXPECT_EQ(*parse_datetime_ms("2024-05-01T14:00:00+02:00"), 1714564800000);
  EXPECT_EQ(*parse_datetime_ms("2024-05-01T07:30:00-0430"), 1714564800000);
  EXPECT_EQ(*parse_datetime_ms("2024-05-01T12:00:00.250Z"), 1714564800250);
  EXPECT_EQ(*parse_datetime_ms("2024-05-01T12:00:00.1Z"), 1714564800100);
  EXPECT_EQ(*parse_datetime_ms("2024-05-01"), 1714521600000);
  EXPECT_EQ(*parse_datetime_ms("2024-05-01T12:00Z"), 1714564800000);
}

TEST(ParseDatetime, RefusesMalformedAndImpossibleDates) {
  for (const char* bad :
       {"", "2024", "2024-5-01", "2024-05-01T", "2024-05-01T25:00:00Z", "2024-13-01",
        "2024-02-30T00:00:00Z", "2024-05-01T12:00:00Q", "2024-05-01T12:00:00.Z", "yesterday"}) {
    EXPECT_FALSE(parse_datetime_ms(bad)) << bad;
  }
}

TEST(ParseInt64, IsStrict) {
  EXPECT_EQ(*parse_int64("-7", "n"), -7);
  EXPECT_FALSE(parse_int64("7 ", "n"));
  EXPECT_FALSE(parse_int64("99999999999999999999", "n"));
}

}  // namespace
}  // namespace wharf::cli
