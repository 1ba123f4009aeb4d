// Pipelined produce, in process on the in-memory file system: while a sync is held, one
// connection's later produces are read and written (not waiting for the first one's sync), no
// response leaves before its batch is durable, and the responses come in request order. The
// syncs are held by the file system, so nothing here depends on timing.
#include <thread>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "io/fault_file_system.h"
#include "io/memory_file_system.h"
#include "kafka/protocol/errors.h"
#include "kafka/protocol/generated/create_topics.h"
#include "kafka/protocol/generated/fetch.h"
#include "kafka/protocol/generated/produce.h"
#include "kafka/server/handler_context.h"
#include "kafka/server/producer_ids.h"
#include "kafka/server/server.h"
#include "storage/log_manager.h"
#include "tests/support/raw_client.h"
#include "tests/support/storage_fixtures.h"
#include "tests/support/test_server.h"

namespace wharf::kafka {
namespace {

namespace p = protocol;
using test::raw::Connection;

class PipeliningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::LogManagerOptions options;
    options.data_dir = "/data";
    options.background = false;
    auto log = storage::LogManager::open(fault_, options, clock_);
    ASSERT_TRUE(log.has_value()) << log.error().to_string();
    log_ = std::move(*log);
    auto ids = ProducerIdAllocator::open(fault_, "/data");
    ASSERT_TRUE(ids.has_value()) << ids.error().to_string();
    ids_ = std::move(*ids);
    ServerConfig config;
    config.listen_port = 0;
    server_ = std::make_unique<KafkaServer>(config, *log_, *ids_, clock_);
    ASSERT_TRUE(server_->start().has_value());
    ASSERT_TRUE(log_->create_topic("t", 1).has_value());
  }
  void TearDown() override {
    fault_.release_syncs();
    if (server_) server_->stop();
    if (log_) (void)log_->close();
  }

  static Bytes produce_frame(int sequence, std::int32_t correlation_id) {
    p::ProduceRequest request;
    request.transactional_id = std::nullopt;
    request.acks = -1;
    request.timeout_ms = 30'000;
    request.topic_data.push_back({"t", {{0, test::simple_batch(fmt::format("r{}", sequence))}}});
    return test::raw::request_frame(request, 7, correlation_id);
  }
  Offset log_end() { return (*log_->partition("t", PartitionId(0)))->log_end_offset(); }

  io::MemoryFileSystem mem_;
  io::FaultFileSystem fault_{mem_};
  SystemClock clock_;
  std::unique_ptr<storage::LogManager> log_;
  std::unique_ptr<ProducerIdAllocator> ids_;
  std::unique_ptr<KafkaServer> server_;
};

// Waits for `done` with a generous bound (a hang fails the test instead of stalling ctest);
// never a timing assertion.
template <typename F>
bool eventually(F done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST_F(PipeliningTest, LaterProducesAreWrittenWhileTheFirstSyncIsHeldAndAnsweredInOrder) {
  Connection conn(server_->bound_port(), 0, std::chrono::seconds(60));
  ASSERT_TRUE(conn.connected()) << conn.error();
  // Two rounds on one connection: the second checks that the connection still reads ahead
  // after it has written pipelined responses.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    const int first = round * 5;
    fault_.hold_syncs();
    const auto syncs_before = fault_.syncs();
    ASSERT_TRUE(conn.send(produce_frame(first, 100 + first)));
    // The first produce's sync starts and blocks.
    ASSERT_TRUE(eventually([&] { return fault_.syncs_waiting() == 1; }));
    for (int i = first + 1; i < first + 5; ++i) ASSERT_TRUE(conn.send(produce_frame(i, 100 + i)));
    // The connection read on and wrote all of them while that sync was held: without
    // pipelining the second produce would not even be read before the first was answered.
    ASSERT_TRUE(eventually([&] { return log_end() == Offset(first + 5); }))
        << "log end " << log_end().value();
    EXPECT_EQ((*log_->partition("t", PartitionId(0)))->high_watermark(), Offset(first))
        << "nothing is visible before it is durable";
    EXPECT_TRUE(conn.open_and_silent_for(std::chrono::milliseconds(0)))
        << "no response leaves before its batch is durable";
    fault_.release_syncs();
    for (int i = first; i < first + 5; ++i) {
      auto frame = conn.read_frame();
      ASSERT_TRUE(frame.has_value()) << conn.error();
      std::string error;
      auto resp = test::raw::parse_response<p::ProduceResponse>(*frame, 7, 7, 100 + i, error);
      ASSERT_TRUE(resp.has_value()) << "response " << i << ": " << error;
      const auto& part = resp->responses.at(0).partition_responses.at(0);
      EXPECT_EQ(part.error_code, 0);
      EXPECT_EQ(part.base_offset, i) << "appended and answered in request order";
    }
    // The held sync covered the first batch; the four written meanwhile shared the next one.
    EXPECT_EQ(fault_.syncs() - syncs_before, 2u);
  }
}

// Under sync.policy none or interval, a small produce on a connection with nothing queued is
// written on the network thread. One that must start a segment goes to the storage strand, and
// the connection's later produces follow it there until it is done (to any partition), so its
// writes and responses keep request order. Under `always` every produce takes the strand.
TEST_F(PipeliningTest, SmallProducesAreWrittenOnTheNetworkThreadAndFollowAQueuedWriteInOrder) {
  ASSERT_TRUE(
      log_->create_topic("r", 1, {{"segment.bytes", "4096"}, {"sync.policy", "none"}}).has_value());
  ASSERT_TRUE(log_->create_topic("n", 1, {{"sync.policy", "interval:60000"}}).has_value());
  auto frame_for = [](const std::string& topic, std::string value, std::int32_t correlation_id) {
    p::ProduceRequest request;
    request.transactional_id = std::nullopt;
    request.acks = -1;
    request.timeout_ms = 30'000;
    request.topic_data.push_back({topic, {{0, test::simple_batch(value)}}});
    return test::raw::request_frame(request, 7, correlation_id);
  };
  auto expect_answer = [](Connection& conn, std::int32_t correlation_id, std::int64_t offset) {
    auto frame = conn.read_frame();
    ASSERT_TRUE(frame.has_value()) << conn.error();
    std::string error;
    auto resp = test::raw::parse_response<p::ProduceResponse>(*frame, 7, 7, correlation_id, error);
    ASSERT_TRUE(resp.has_value()) << error;
    const auto& part = resp->responses.at(0).partition_responses.at(0);
    EXPECT_EQ(part.error_code, 0) << "response " << correlation_id;
    EXPECT_EQ(part.base_offset, offset) << "response " << correlation_id;
  };
  Connection conn(server_->bound_port(), 0, std::chrono::seconds(60));
  ASSERT_TRUE(conn.connected()) << conn.error();
  const auto inline_before = produce_written_inline().value();
  ASSERT_TRUE(conn.send(frame_for("r", "r0", 1)));
  expect_answer(conn, 1, 0);
  EXPECT_EQ(produce_written_inline().value(), inline_before + 1) << "written on the network thread";

  // The next batch does not fit the 4 KiB segment: its write rolls, and the roll's sync is held.
  fault_.hold_syncs();
  ASSERT_TRUE(conn.send(frame_for("r", std::string(5000, 'x'), 2)));
  ASSERT_TRUE(eventually([&] { return fault_.syncs_waiting() == 1; }));
  // Produces to another partition, whose lock is free, still wait behind the queued write.
  ASSERT_TRUE(conn.send(frame_for("n", "n0", 3)));
  ASSERT_TRUE(conn.send(frame_for("n", "n1", 4)));
  // (The roll holds r's lock, so the test does not ask that partition anything.)
  EXPECT_TRUE(conn.open_and_silent_for(std::chrono::milliseconds(50)));
  EXPECT_EQ(produce_written_inline().value(), inline_before + 1)
      << "the later produces wait behind the queued write";
  fault_.release_syncs();
  expect_answer(conn, 2, 1);
  expect_answer(conn, 3, 0);
  expect_answer(conn, 4, 1);
  EXPECT_EQ(produce_written_inline().value(), inline_before + 1)
      << "those followed the write that started a segment";

  // Nothing is queued any more: the next small produce is written on the network thread again.
  ASSERT_TRUE(conn.send(frame_for("n", "n2", 5)));
  expect_answer(conn, 5, 2);
  EXPECT_EQ(produce_written_inline().value(), inline_before + 2);

  // One over the inline bound goes to a storage thread, as does one to an `always` topic.
  ASSERT_TRUE(conn.send(frame_for("n", std::string(kProduceInlineBytesMax, 'y'), 6)));
  expect_answer(conn, 6, 3);
  ASSERT_TRUE(conn.send(frame_for("t", "t0", 7)));
  expect_answer(conn, 7, 0);
  EXPECT_EQ(produce_written_inline().value(), inline_before + 2);
}

TEST_F(PipeliningTest, AFailedSyncFailsEveryWaitingProduceAndAFetchOfTheFencedPartition) {
  Connection conn(server_->bound_port(), 0, std::chrono::seconds(60));
  ASSERT_TRUE(conn.connected()) << conn.error();
  fault_.fail_nth_sync(1);
  ASSERT_TRUE(conn.send(produce_frame(0, 200)));
  ASSERT_TRUE(conn.send(produce_frame(1, 201)));
  for (int i = 0; i < 2; ++i) {
    auto frame = conn.read_frame();
    ASSERT_TRUE(frame.has_value()) << conn.error();
    std::string error;
    auto resp = test::raw::parse_response<p::ProduceResponse>(*frame, 7, 7, 200 + i, error);
    ASSERT_TRUE(resp.has_value()) << error;
    EXPECT_EQ(resp->responses.at(0).partition_responses.at(0).error_code,
              protocol::code(protocol::KafkaError::kKafkaStorageError))
        << "response " << i << ": the partition is fenced";
  }
  EXPECT_EQ((*log_->partition("t", PartitionId(0)))->high_watermark(), Offset(0));

  // A fetch that would park on the fenced partition (it can never grow) is answered with the
  // storage error at once, rather than re-reading in a loop until its deadline.
  ASSERT_TRUE(
      conn.send(test::raw::request_frame(test::fetch_request("t", 0, 0, 60'000, 1), 11, 300)));
  auto frame = conn.read_frame();
  ASSERT_TRUE(frame.has_value()) << conn.error();
  std::string error;
  auto fetched = test::raw::parse_response<p::FetchResponse>(*frame, 11, 11, 300, error);
  ASSERT_TRUE(fetched.has_value()) << error;
  EXPECT_EQ(fetched->responses.at(0).partitions.at(0).error_code,
            protocol::code(protocol::KafkaError::kKafkaStorageError));
}

// What partitions keep (watch and durable callbacks, the sync runner) reaches the server's
// threads through ThreadPosts, which KafkaServer::stop() closes: afterwards a callback that
// fires (a log closed after the server is gone) posts nothing into the dead server.
TEST(ThreadPostsTest, PostsRunUntilClosedAndAreDroppedAfter) {
  asio::io_context io;
  asio::thread_pool pool(1);
  auto posts = std::make_shared<ThreadPosts>(io, pool);
  std::atomic<int> network = 0, storage = 0;
  EXPECT_TRUE(posts->to_network([&] { ++network; }));
  EXPECT_TRUE(posts->to_storage([&] { ++storage; }));
  posts->close();
  EXPECT_FALSE(posts->to_network([&] { ++network; }));
  EXPECT_FALSE(posts->to_storage([&] { ++storage; }));
  // Both pools are still alive and run what they were given: only the posts before close().
  pool.join();
  io.run();
  EXPECT_EQ(network.load(), 1);
  EXPECT_EQ(storage.load(), 1);
}

}  // namespace
}  // namespace wharf::kafka
