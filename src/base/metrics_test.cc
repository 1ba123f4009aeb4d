#include "base/metrics.h"

#include <thread>

#include <gtest/gtest.h>

namespace wharf::metrics {
namespace {

TEST(Metrics, RendersCountersGaugesHistogramsAndCollectorsInPrometheusFormat) {
  Registry r;
  auto& requests = r.counter("wharf_requests_total", "Requests handled.");
  requests.with({{"api", "Produce"}}).inc(3);
  r.gauge("wharf_connections", "Open connections.").with({}).set(2);
  auto& h = r.histogram("wharf_request_duration_seconds", "Request latency.", {0.001, 0.01});
  h.with({{"api", "Fetch"}}).observe(0.0005);
  h.with({{"api", "Fetch"}}).observe(0.005);
  h.with({{"api", "Fetch"}}).observe(1.0);
  r.add_collector([] {
    return std::vector<CollectedFamily>{
        {"wharf_partition_size_bytes",
         "Bytes.",
         "gauge",
         {{"wharf_partition_size_bytes", {{"topic", "a\"b"}}, 42}}}};
  });
  const std::string text = r.render_prometheus();
  EXPECT_NE(
      text.find("# TYPE wharf_requests_total counter\nwharf_requests_total{api=\"Produce\"} 3\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("wharf_connections 2\n"), std::string::npos);
  EXPECT_NE(text.find("wharf_request_duration_seconds_bucket{api=\"Fetch\",le=\"0.001\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("wharf_request_duration_seconds_bucket{api=\"Fetch\",le=\"0.01\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("wharf_request_duration_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("wharf_request_duration_seconds_count{api=\"Fetch\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("wharf_partition_size_bytes{topic=\"a\\\"b\"} 42\n"), std::string::npos)
      << text;
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.counter("c", "c").with({});
  auto& h = r.histogram("h", "h").with({});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.001);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_NEAR(h.sum(), 40.0, 1e-6);
}

}  // namespace
}  // namespace wharf::metrics
