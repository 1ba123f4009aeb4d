// Hostile input that costs the client little and the broker much: a request that names one long
// string (up to 32,767 bytes) once and then many small elements under it. A handler that copies
// the string per element would allocate gigabytes for a request of a few hundred kilobytes.
// This binary replaces operator new to count every byte allocated in the process, and checks
// that handling such a request allocates a small multiple of its size, not string x elements.
// (Counts bytes, not time: nothing here depends on how fast the machine is.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "kafka/protocol/errors.h"
#include "kafka/protocol/generated/fetch.h"
#include "kafka/protocol/generated/offset_commit.h"
#include "kafka/protocol/generated/produce.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_server.h"

namespace {
std::atomic<std::size_t> g_allocated{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocated.fetch_add(size, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace wharf::kafka {
namespace {

namespace p = protocol;
using test::raw::Connection;

constexpr std::size_t kLongString = 32'767;  // the longest a Kafka STRING can be
constexpr int kElements = 20'000;
// A copy of the long string per element would be kLongString * kElements = 655 MB. What the
// request really needs is its own size (under 1 MB here) a few times over, plus fixed costs.
constexpr std::size_t kAllocatedMax = 64u << 20;

class AmplificationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<test::TestServer>();
    auto s = server_->start();
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    ASSERT_TRUE(server_->log().create_topic("t", 1).has_value());
  }

  // Bytes allocated in this process while `request` (version `v`) was sent and answered.
  template <typename Response, typename Request>
  std::size_t allocated_for(const Request& request, std::int16_t v, Response& out) {
    Connection conn(server_->port());
    EXPECT_TRUE(conn.connected()) << conn.error();
    const Bytes frame = test::raw::request_frame(request, v, 7);
    const std::size_t before = g_allocated.load();
    EXPECT_TRUE(conn.send(frame)) << conn.error();
    auto reply = conn.read_frame();
    const std::size_t used = g_allocated.load() - before;
    EXPECT_TRUE(reply.has_value()) << conn.error();
    if (reply) {
      std::string error;
      auto parsed = test::raw::parse_response<Response>(*reply, v, v, 7, error);
      EXPECT_TRUE(parsed.has_value()) << error;
      if (parsed) out = std::move(*parsed);
    }
    return used;
  }

  std::unique_ptr<test::TestServer> server_;
};

TEST_F(AmplificationTest, ProduceCopiesALongTopicNameOncePerTopicNotPerPartition) {
  p::ProduceRequest req;
  req.transactional_id = std::nullopt;
  req.acks = -1;
  req.timeout_ms = 30'000;
  p::ProduceRequest::TopicProduceData t;
  t.name = std::string(kLongString, 'x');
  for (int i = 0; i < kElements; ++i) t.partition_data.push_back({i, std::nullopt});
  req.topic_data.push_back(std::move(t));
  p::ProduceResponse resp;
  const std::size_t used = allocated_for(req, 7, resp);
  ASSERT_EQ(resp.responses.size(), 1u);
  EXPECT_EQ(resp.responses[0].partition_responses.size(), static_cast<std::size_t>(kElements));
  EXPECT_LT(used, kAllocatedMax);
}

TEST_F(AmplificationTest, FetchCopiesALongTopicNameOncePerTopicNotPerPartition) {
  auto req = test::fetch_request("t", 0, 0, 0, 0);
  req.topics[0].topic = std::string(kLongString, 'x');
  const auto one = req.topics[0].partitions[0];
  req.topics[0].partitions.clear();
  for (int i = 0; i < kElements; ++i) {
    auto pt = one;
    pt.partition = i;
    req.topics[0].partitions.push_back(pt);
  }
  p::FetchResponse resp;
  const std::size_t used = allocated_for(req, 11, resp);
  ASSERT_EQ(resp.responses.size(), 1u);
  EXPECT_EQ(resp.responses[0].partitions.size(), static_cast<std::size_t>(kElements));
  EXPECT_EQ(resp.responses[0].partitions[0].error_code,
            p::code(p::KafkaError::kUnknownTopicOrPartition));
  EXPECT_LT(used, kAllocatedMax);
}

TEST_F(AmplificationTest, OffsetCommitOfOnePartitionNamedManyTimesKeepsOneRecord) {
  p::OffsetCommitRequest req;
  req.group_id = std::string(kLongString, 'g');
  req.generation_id_or_member_epoch = -1;  // a commit outside a group (assign() consumers)
  p::OffsetCommitRequest::OffsetCommitRequestTopic t;
  t.name = "t";
  for (int i = 0; i < kElements; ++i) {
    p::OffsetCommitRequest::OffsetCommitRequestPartition pt;
    pt.partition_index = 0;
    pt.committed_offset = i;
    t.partitions.push_back(pt);
  }
  req.topics.push_back(std::move(t));
  p::OffsetCommitResponse resp;
  const std::size_t used = allocated_for(req, 7, resp);
  ASSERT_EQ(resp.topics.size(), 1u);
  ASSERT_EQ(resp.topics[0].partitions.size(), static_cast<std::size_t>(kElements));
  for (const auto& pr : resp.topics[0].partitions) EXPECT_EQ(pr.error_code, 0);
  EXPECT_LT(used, kAllocatedMax);
}

}  // namespace
}  // namespace wharf::kafka
