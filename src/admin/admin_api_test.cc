// The admin HTTP API in process: an HttpServer serving AdminApi over the in-process Kafka
// server of tests/support/test_server.h, asked over HTTP like a scraper or a probe would.
#include "admin/admin_api.h"

#include <gtest/gtest.h>

#include "admin/http_server.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_server.h"

namespace wharf::admin {
namespace {

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = kafka_.start();
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    api_ = std::make_unique<AdminApi>(kafka_.log(), kafka_.server());
    http_ = std::make_unique<HttpServer>("127.0.0.1", 0,
                                         [this](const HttpRequest& r) { return api_->handle(r); });
    s = http_->start();
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
  }
  void TearDown() override {
    if (http_) http_->stop();
    kafka_.stop();
  }

  test::HttpReply get(const std::string& path) {
    auto reply = test::http_get(http_->bound_port(), path);
    EXPECT_TRUE(reply.has_value()) << path << ": " << reply.error().to_string();
    return reply ? *reply : test::HttpReply{};
  }

  test::TestServer kafka_;
  std::unique_ptr<AdminApi> api_;
  std::unique_ptr<HttpServer> http_;
};

TEST_F(AdminApiTest, HealthzAndReadyzFollowTheKafkaServer) {
  auto health = get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  auto ready = get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");

  kafka_.stop();
  EXPECT_EQ(get("/readyz").status, 503);   // not serving once stopped
  EXPECT_EQ(get("/healthz").status, 200);  // the process is alive
  EXPECT_EQ(get("/no-such-page").status, 404);
}

TEST_F(AdminApiTest, TopicsAndMetricsShowWhatAProducerSent) {
  auto created = kafka_.log().create_topic("admin-orders", 1);
  ASSERT_TRUE(created.has_value()) << created.error().to_string();
  test::raw::Connection conn(kafka_.port());
  std::string error;
  auto resp = test::raw::round_trip<kafka::protocol::ProduceResponse>(
      conn, test::produce_request("admin-orders", 0, test::batch_of({"x", "y", "z"})), 7, 1, error);
  ASSERT_TRUE(resp.has_value()) << error;
  ASSERT_EQ(resp->responses.size(), 1u);
  ASSERT_EQ(resp->responses[0].partition_responses.size(), 1u);
  ASSERT_EQ(resp->responses[0].partition_responses[0].error_code, 0);

  auto topics = get("/v1/topics");
  EXPECT_EQ(topics.status, 200);
  EXPECT_NE(topics.body.find("\"admin-orders\""), std::string::npos) << topics.body;

  auto metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  bool found = false;
  std::size_t at = 0;
  while (!found &&
         (at = metrics.body.find("wharf_partition_records_in_total{", at)) != std::string::npos) {
    const auto line = metrics.body.substr(at, metrics.body.find('\n', at) - at);
    found = line.find("topic=\"admin-orders\"") != std::string::npos && line.ends_with(" 3");
    ++at;
  }
  EXPECT_TRUE(found) << "no records_in sample of 3 for admin-orders in:\n" << metrics.body;
}

}  // namespace
}  // namespace wharf::admin
