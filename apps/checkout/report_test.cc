// The report renderers on one hand-built run: JSON carries the numbers unchanged, HTML escapes
// what it is given and draws one SVG per chart, and the text has an aligned row per group.
#include "checkout/report.h"

#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace wharf::checkout {
namespace {

constexpr char kEvilGroup[] = "<script>alert(1)</script>";

LatencyHistogram::Snapshot uniform_snapshot(std::int64_t from_micros, std::int64_t to_micros) {
  LatencyHistogram h;
  for (std::int64_t v = from_micros; v < to_micros; ++v) h.record(v);
  return h.snapshot();
}

RunReport sample_run() {
  RunReport run;
  run.mode = "events";
  run.transport = "embedded";
  run.target_rate = 1000;
  run.duration_s = 30;
  run.offered = 30000;
  run.accepted = 29950;
  run.rejected = 50;
  run.accept = uniform_snapshot(1000, 3000);  // 1..3 ms
  run.settings = {{"failure_rate", "0.01"}, {"slow_dependency", "payments \"200ms\""}};
  run.note = "warm cache & one broker";

  GroupReport billing;
  billing.name = "billing";
  billing.handled = 29950;
  billing.retries = 12;
  billing.dead_letters = 3;
  billing.duplicates = 7;
  billing.e2e = uniform_snapshot(10'000, 50'000);  // 10..50 ms
  billing.max_lag = 4321;
  billing.final_lag = 17;
  billing.max_skew = 2.5;

  GroupReport evil;
  evil.name = kEvilGroup;
  evil.handled = 29949;
  evil.retries = 1;
  evil.e2e = uniform_snapshot(200, 900);
  evil.max_lag = 99;
  run.groups = {billing, evil};

  for (int t = 1; t <= 3; ++t) {
    SecondSample s;
    s.t_s = t;
    s.offered_per_s = 1000 + 117 * t;  // peaks at 1351
    s.accepted_per_s = 990 + 100 * t;
    s.accept_p99_ms = 2.5 * t;
    s.lag = {{"billing", 100 * t}, {kEvilGroup, 5 * t}};
    s.e2e_p99_ms = {{"billing", 40.0 + t}, {kEvilGroup, 0.9}};
    run.series.push_back(s);
  }
  return run;
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

TEST(ReportJson, RoundTripsTheNumbers) {
  const RunReport run = sample_run();
  const nlohmann::json j = nlohmann::json::parse(report_json(run).dump());

  EXPECT_EQ(j["mode"], "events");
  EXPECT_EQ(j["transport"], "embedded");
  EXPECT_EQ(j["target_rate"].get<double>(), 1000.0);
  EXPECT_EQ(j["duration_s"].get<double>(), 30.0);
  EXPECT_EQ(j["offered"].get<std::uint64_t>(), 30000u);
  EXPECT_EQ(j["accepted"].get<std::uint64_t>(), 29950u);
  EXPECT_EQ(j["rejected"].get<std::uint64_t>(), 50u);
  EXPECT_DOUBLE_EQ(j["throughput_per_s"].get<double>(), 29950.0 / 30);
  EXPECT_EQ(j["note"], run.note);
  EXPECT_EQ(j["settings"]["slow_dependency"], "payments \"200ms\"");

  const auto& accept = j["accept"];
  EXPECT_EQ(accept["count"].get<std::uint64_t>(), 2000u);
  EXPECT_DOUBLE_EQ(accept["p50_ms"].get<double>(), run.accept.percentile(50) / 1000.0);
  EXPECT_DOUBLE_EQ(accept["p99_ms"].get<double>(), run.accept.percentile(99) / 1000.0);
  EXPECT_DOUBLE_EQ(accept["p999_ms"].get<double>(), run.accept.percentile(99.9) / 1000.0);
  EXPECT_DOUBLE_EQ(accept["max_ms"].get<double>(), 2.999);
  EXPECT_NEAR(accept["p50_ms"].get<double>(), 2.0, 0.02);
  EXPECT_NEAR(accept["mean_ms"].get<double>(), 1.9995, 1e-9);

  ASSERT_EQ(j["groups"].size(), 2u);
  const auto& g = j["groups"][0];
  EXPECT_EQ(g["name"], "billing");
  EXPECT_EQ(g["handled"].get<std::uint64_t>(), 29950u);
  EXPECT_EQ(g["retries"].get<std::uint64_t>(), 12u);
  EXPECT_EQ(g["dead_letters"].get<std::uint64_t>(), 3u);
  EXPECT_EQ(g["duplicates"].get<std::uint64_t>(), 7u);
  EXPECT_EQ(g["max_lag"].get<std::int64_t>(), 4321);
  EXPECT_EQ(g["final_lag"].get<std::int64_t>(), 17);
  EXPECT_DOUBLE_EQ(g["max_skew"].get<double>(), 2.5);
  EXPECT_NEAR(g["e2e"]["p95_ms"].get<double>(), 48.0, 0.5);
  EXPECT_EQ(j["groups"][1]["name"], kEvilGroup);

  ASSERT_EQ(j["series"].size(), 3u);
  const auto& s = j["series"][2];
  EXPECT_DOUBLE_EQ(s["t_s"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(s["offered_per_s"].get<double>(), 1351.0);
  EXPECT_DOUBLE_EQ(s["accepted_per_s"].get<double>(), 1290.0);
  EXPECT_DOUBLE_EQ(s["accept_p99_ms"].get<double>(), 7.5);
  EXPECT_EQ(s["lag"]["billing"].get<std::int64_t>(), 300);
  EXPECT_DOUBLE_EQ(s["e2e_p99_ms"]["billing"].get<double>(), 43.0);
}

TEST(ReportHtml, EscapesEveryStringItIsGiven) {
  const std::string html = report_html({sample_run()});
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // In the group table and in two chart legends.
  EXPECT_GE(count_of(html, "&lt;script&gt;alert(1)&lt;/script&gt;"), 3u);
  EXPECT_NE(html.find("warm cache &amp; one broker"), std::string::npos);
  EXPECT_NE(html.find("payments &quot;200ms&quot;"), std::string::npos);
}

TEST(ReportHtml, DrawsOneSvgPerChartWithALinePerSeries) {
  const std::string one = report_html({sample_run()});
  EXPECT_EQ(count_of(one, "<svg"), 4u);
  EXPECT_EQ(count_of(one, "</svg>"), 4u);
  // offered + accepted, accept p99, two groups' lag, two groups' e2e p99.
  EXPECT_EQ(count_of(one, "<polyline"), 7u);
  EXPECT_EQ(one.find("Comparison"), std::string::npos);
  // Self-contained: the only URL is the SVG namespace, which is a name, not a fetch.
  EXPECT_EQ(count_of(one, "http"), count_of(one, "http://www.w3.org/2000/svg"));
  EXPECT_EQ(count_of(one, "src="), 0u);
  EXPECT_EQ(count_of(one, "<script"), 0u);
  // Offered peaks at 1351 orders/s: the axis rounds up to 1400 in steps of 200.
  EXPECT_NE(one.find(">1400</text>"), std::string::npos);
  EXPECT_EQ(one.find(">1600</text>"), std::string::npos);
  EXPECT_NE(one.find("orders/s"), std::string::npos);
  EXPECT_NE(one.find("time since start (s)"), std::string::npos);
  EXPECT_NE(one.find("lag (messages)"), std::string::npos);

  RunReport convoy = sample_run();
  convoy.mode = "convoy";
  convoy.series.clear();  // charts still drawn, empty
  const std::string two = report_html({sample_run(), convoy});
  EXPECT_EQ(count_of(two, "<svg"), 8u);
  EXPECT_EQ(count_of(two, "no data"), 4u);
  EXPECT_NE(two.find("<h2>Comparison</h2>"), std::string::npos);
  EXPECT_NE(two.find("<td>convoy / embedded / 1000.0 orders/s</td>"), std::string::npos);
}

TEST(ReportText, HasAnAlignedRowPerGroup) {
  const RunReport run = sample_run();
  const std::string text = report_text(run);
  EXPECT_NE(text.find("events / embedded / 1000.0 orders/s"), std::string::npos);
  EXPECT_NE(text.find("998.3"), std::string::npos);  // 29950 accepted / 30 s

  std::istringstream lines(text);
  std::string line, header, billing, evil;
  while (std::getline(lines, line)) {
    if (line.rfind("group ", 0) == 0) header = line;
    if (line.rfind("billing ", 0) == 0) billing = line;
    if (line.rfind(kEvilGroup, 0) == 0) evil = line;
  }
  ASSERT_FALSE(header.empty()) << text;
  ASSERT_FALSE(billing.empty()) << text;
  ASSERT_FALSE(evil.empty()) << text;
  EXPECT_EQ(billing.size(), header.size());
  EXPECT_EQ(evil.size(), header.size());

  std::istringstream cells(billing);
  std::vector<std::string> fields;
  for (std::string f; cells >> f;) fields.push_back(f);
  ASSERT_EQ(fields.size(), 12u) << billing;
  EXPECT_EQ(fields[1], "29950");
  EXPECT_EQ(fields[6], "4321");                  // max lag
  EXPECT_EQ(fields[7], "17");                    // final lag
  EXPECT_EQ(fields[8], "2.50");                  // max skew
  EXPECT_EQ(fields[9], "12");                    // retries
  EXPECT_EQ(fields[10], "3");                    // dead letters
  EXPECT_EQ(fields[11], "7");                    // duplicates
  EXPECT_NEAR(std::stod(fields[4]), 49.6, 0.5);  // e2e p99 ms
}

}  // namespace
}  // namespace wharf::checkout
