#include "cli/record_format.h"

#include <gtest/gtest.h>

namespace wharf::cli {
namespace {

RecordView sample() {
  RecordView r;
  r.topic = "orders";
  r.partition = 3;
  r.offset = 42;
  r.timestamp_ms = 1714564800000;
  r.key = "order-1";
  r.value = "{\"total\":10}";
  r.headers = {{"source", "web"}, {"trace", std::nullopt}};
  return r;
}

std::string render(std::string_view format, const RecordView& r) {
  auto f = RecordFormat::compile(format);
  EXPECT_TRUE(f) << (f ? "" : f.error().message());
  std::string out;
  if (f) f->render(r, out);
  return out;
}

TEST(RecordFormat, RendersEveryFieldLikeKcat) {
  EXPECT_EQ(render("%t/%p@%o %k=%s (%S bytes, key %K) at %T [%h]\\n", sample()),
            "orders/3@42 order-1={\"total\":10} (12 bytes, key 7) at 1714564800000 "
            "[source=web,trace=]\n");
}

TEST(RecordFormat, DefaultIsTheValueAndANewline) {
  EXPECT_EQ(render("%s\\n", sample()), "{\"total\":10}\n");
}

TEST(RecordFormat, EscapesAndPercent) {
  EXPECT_EQ(render("a\\tb\\\\c 100%%\\r\\n", sample()), "a\tb\\c 100%\r\n");
  EXPECT_EQ(render("%k\\0", sample()), std::string("order-1\0", 8));
}

TEST(RecordFormat, NullKeyAndValueRenderEmptyWithSizeMinusOne) {
  RecordView r = sample();
  r.key.reset();
  r.value.reset();
  EXPECT_EQ(render("[%k][%s][%S][%K]", r), "[][][-1][-1]");
}

TEST(RecordFormat, OnlyHeaderTemplatesAskForHeaders) {
  EXPECT_TRUE(RecordFormat::compile("%h")->uses_headers());
  EXPECT_FALSE(RecordFormat::compile("%s")->uses_headers());
}

TEST(RecordFormat, RefusesUnknownTokensAndDanglingEscapes) {
  auto unknown = RecordFormat::compile("%x");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("'%x'"), std::string::npos);
  EXPECT_FALSE(RecordFormat::compile("abc%"));
  EXPECT_FALSE(RecordFormat::compile("abc\\"));
  EXPECT_FALSE(RecordFormat::compile("\\q"));
}

}  // namespace
}  // namespace wharf::cli
