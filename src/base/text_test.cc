#include "base/text.h"

#include <gtest/gtest.h>

namespace wharf {
namespace {

TEST(Text, ExcerptKeepsShortPrintableStrings) { EXPECT_EQ(excerpt("orders-1"), "orders-1"); }

TEST(Text, ExcerptEscapesUnprintableBytes) {
  EXPECT_EQ(excerpt(std::string_view("a\nb\xff\\", 5)), "a\\x0ab\\xff\\x5c");
}

TEST(Text, ExcerptBoundsAHugeString) {
  const std::string huge(32767, '\xff');
  const std::string e = excerpt(huge);
  EXPECT_LE(e.size(), 4 * kEchoBytesMax + 24);
  EXPECT_NE(e.find("(32767 bytes)"), std::string::npos);
}

TEST(Text, Utf8ValidationFollowsTheUnicodeTable) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
}

TEST(Text, ToValidUtf8ReplacesEachBadByte) {
  EXPECT_EQ(to_valid_utf8("g\xff"
                          "x"),
            "g\xef\xbf\xbd"
            "x");
  EXPECT_EQ(to_valid_utf8("ok \xc3\xbc"), "ok \xc3\xbc");
  EXPECT_TRUE(is_valid_utf8(to_valid_utf8("\xe2\x82\xff\xc0")));
}

}  // namespace
}  // namespace wharf
