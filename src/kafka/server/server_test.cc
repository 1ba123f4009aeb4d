// The Kafka server in process (tests/support/test_server.h): the connection watchdog, Fetch's
// long poll and the shutdown drain, driven by a ManualClock and a read gate instead of sleeps.
// Every wait is for an event, bounded by the raw client's 10 s read timeout; nothing asserts how
// long anything took.
#include "kafka/server/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/metrics.h"
#include "kafka/protocol/errors.h"
#include "kafka/protocol/generated/api_versions.h"
#include "kafka/server/fetch_read_ahead.h"
#include "kafka/server/handler_context.h"
#include "tests/support/compressed_batch.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_server.h"

namespace wharf::kafka {
namespace {

namespace p = protocol;
using test::raw::Connection;
using test::raw::round_trip;
using namespace std::chrono_literals;

constexpr std::int16_t kFetchVersion = 11;
constexpr std::int16_t kProduceVersion = 7;

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerConfig config = test::test_server_config()) {
    server_ = std::make_unique<test::TestServer>(std::move(config));
    auto s = server_->start();
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
  }

  void create_topic(const std::string& name) {
    auto t = server_->log().create_topic(name, 1);
    ASSERT_TRUE(t.has_value()) << t.error().to_string();
  }

  // ApiVersions v3 on `conn`: true if it was answered without error.
  bool api_versions(Connection& conn, std::int32_t correlation_id) {
    p::ApiVersionsRequest req;
    req.client_software_name = "wharf-server-test";
    req.client_software_version = "1";
    std::string error;
    auto resp = round_trip<p::ApiVersionsResponse>(conn, req, 3, correlation_id, error);
    EXPECT_TRUE(resp.has_value()) << error;
    return resp && resp->error_code == 0;
  }

  void produce(Connection& conn, const std::string& topic, const std::vector<std::string>& values,
               std::int32_t correlation_id) {
    std::string error;
    auto resp = round_trip<p::ProduceResponse>(
        conn, test::produce_request(topic, 0, test::batch_of(values)), kProduceVersion,
        correlation_id, error);
    ASSERT_TRUE(resp.has_value()) << error;
    ASSERT_EQ(resp->responses.size(), 1u);
    ASSERT_EQ(resp->responses[0].partition_responses.size(), 1u);
    EXPECT_EQ(resp->responses[0].partition_responses[0].error_code, 0);
  }

  // Reads the one Fetch response `conn` is waiting for; the partition's record values.
  std::optional<std::vector<std::string>> read_fetch_response(Connection& conn,
                                                              std::int32_t correlation_id) {
    auto frame = conn.read_frame();
    EXPECT_TRUE(frame.has_value()) << "no Fetch response: " << conn.error();
    if (!frame) return std::nullopt;
    std::string error;
    auto resp = test::raw::parse_response<p::FetchResponse>(*frame, kFetchVersion, kFetchVersion,
                                                            correlation_id, error);
    EXPECT_TRUE(resp.has_value()) << error;
    if (!resp || resp->responses.size() != 1 || resp->responses[0].partitions.size() != 1) {
      ADD_FAILURE() << "not one partition in the Fetch response";
      return std::nullopt;
    }
    const auto& pd = resp->responses[0].partitions[0];
    EXPECT_EQ(pd.error_code, 0);
    if (!pd.records) return std::vector<std::string>{};
    return test::values_of(*pd.records);
  }

  std::unique_ptr<test::TestServer> server_;
};

TEST_F(ServerTest, ApiVersionsAdvertisesProduceAndFetch) {
  start();
  Connection conn(server_->port());
  ASSERT_TRUE(conn.connected()) << conn.error();
  p::ApiVersionsRequest req;
  req.client_software_name = "wharf-server-test";
  req.client_software_version = "1";
  std::string error;
  auto resp = round_trip<p::ApiVersionsResponse>(conn, req, 3, 1, error);
  ASSERT_TRUE(resp.has_value()) << error;
  EXPECT_EQ(resp->error_code, 0);
  bool produce = false, fetch = false;
  for (const auto& api : resp->api_keys) {
    if (api.api_key == 0) produce = api.max_version >= kProduceVersion;
    if (api.api_key == 1) fetch = api.max_version >= kFetchVersion;
  }
  EXPECT_TRUE(produce);
  EXPECT_TRUE(fetch);
  EXPECT_TRUE(api_versions(conn, 2));  // the connection stays usable
}

TEST_F(ServerTest, AnUnknownApiKeyClosesTheConnection) {
  start();
  Connection conn(server_->port());
  ASSERT_TRUE(conn.connected()) << conn.error();
  ASSERT_TRUE(conn.send(test::raw::with_size_prefix(test::raw::raw_header_v1(999, 0, 7, -1))));
  EXPECT_TRUE(conn.closed_by_broker()) << conn.error();
  Connection other(server_->port());  // the server itself carries on
  EXPECT_TRUE(api_versions(other, 1));
}

TEST_F(ServerTest, IdleConnectionIsClosedOnceTheClockPassesTheIdleTimeoutAndABusyOneIsKept) {
  auto config = test::test_server_config();
  config.idle_timeout = 60s;
  start(config);
  Connection idle(server_->port());
  Connection active(server_->port());
  // A round trip on each: both are accepted (their last activity is the clock's start).
  ASSERT_TRUE(api_versions(idle, 1));
  ASSERT_TRUE(api_versions(active, 1));

  server_->clock().advance(40s);
  ASSERT_TRUE(api_versions(active, 2));  // activity at +40 s
  server_->clock().advance(30s);         // idle for 70 s, active for 30 s

  // The watchdog looks once a second (real time); the read waits up to 10 s for the close.
  EXPECT_TRUE(idle.closed_by_broker()) << idle.error();
  // The active connection saw the same watchdog passes and is still served.
  EXPECT_TRUE(active.open_and_silent_for(1500ms));
  EXPECT_TRUE(api_versions(active, 3));
}

TEST_F(ServerTest, FetchWithNoDataAnswersEmptyAtItsDeadline) {
  start();
  create_topic("quiet");
  Connection conn(server_->port());
  ASSERT_TRUE(conn.send(
      test::raw::request_frame(test::fetch_request("quiet", 0, 0, 200, 1), kFetchVersion, 1)));
  // Nothing is produced: the answer comes at the deadline (200 ms), well within the 10 s read.
  auto values = read_fetch_response(conn, 1);
  ASSERT_TRUE(values.has_value());
  EXPECT_TRUE(values->empty());
}

TEST_F(ServerTest, AProduceWakesAParkedFetchBeforeItsDeadline) {
  auto config = test::test_server_config();
  config.fetch_wait_max = 60s;
  start(config);
  create_topic("wake");
  Connection consumer(server_->port());
  // A minute's wait, far beyond the client's 10 s read bound: only the produce can answer it.
  ASSERT_TRUE(consumer.send(
      test::raw::request_frame(test::fetch_request("wake", 0, 0, 60'000, 1), kFetchVersion, 1)));
  Connection producer(server_->port());
  produce(producer, "wake", {"a", "b"}, 1);
  auto values = read_fetch_response(consumer, 1);
  ASSERT_TRUE(values.has_value());
  EXPECT_EQ(*values, (std::vector<std::string>{"a", "b"}));
}

TEST_F(ServerTest, StopAnswersTheRequestInFlightAndClosesIdleConnections) {
  auto config = test::test_server_config();
  config.shutdown_grace = 120s;  // the drain must not depend on how fast this machine is
  start(config);
  create_topic("drain");
  Connection producer(server_->port());
  produce(producer, "drain", {"one", "two", "three"}, 1);
  Connection idle(server_->port());
  ASSERT_TRUE(api_versions(idle, 1));

  // Hold the Fetch's segment read: the request is then certainly in flight.
  server_->read_gate().close();
  Connection consumer(server_->port());
  ASSERT_TRUE(consumer.send(
      test::raw::request_frame(test::fetch_request("drain", 0, 0, 0, 1), kFetchVersion, 1)));
  ASSERT_TRUE(server_->read_gate().wait_for_reader(10s)) << "the Fetch never read the log";

  std::atomic<bool> stopped = false;
  std::thread stopper([&] {
    server_->server().stop();
    stopped = true;
  });
  // stop() closes idle connections at once, while the Fetch is still held.
  EXPECT_TRUE(idle.closed_by_broker()) << idle.error();
  EXPECT_TRUE(producer.closed_by_broker()) << producer.error();
  EXPECT_FALSE(stopped.load());  // it waits for the request in flight

  server_->read_gate().open();
  auto values = read_fetch_response(consumer, 1);
  ASSERT_TRUE(values.has_value());
  EXPECT_EQ(*values, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_TRUE(consumer.closed_by_broker()) << consumer.error();
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_FALSE(server_->server().serving());
}

// KIP-110, as Kafka applies it: a topic whose compression.type is zstd answers Fetch v9 and
// older UNSUPPORTED_COMPRESSION_TYPE (76); v10+ reads it. A zstd batch in a `producer` topic is
// served to any version, as stored (Kafka does not look inside the batches either).
TEST_F(ServerTest, ZstdTopicsAreRefusedToFetchBelowV10AndProducerTopicsServeWhatIsStored) {
  start();
  ASSERT_TRUE(server_->log().create_topic("zstd-topic", 1, {{"compression.type", "zstd"}}));
  create_topic("producer-topic");
  Connection producer(server_->port());
  produce(producer, "zstd-topic", {"a", "b"}, 1);  // stored recompressed with zstd
  std::string error;
  auto compressed = round_trip<p::ProduceResponse>(
      producer,
      test::produce_request(
          "producer-topic", 0,
          test::compress_batch(test::batch_of({"c", "d"}), storage::Compression::kZstd)),
      kProduceVersion, 2, error);
  ASSERT_TRUE(compressed.has_value()) << error;
  ASSERT_EQ(compressed->responses[0].partition_responses[0].error_code, 0);

  Connection consumer(server_->port());
  std::int32_t correlation_id = 10;
  auto fetch = [&](const std::string& topic, std::int16_t version) {
    auto resp = round_trip<p::FetchResponse>(consumer, test::fetch_request(topic, 0, 0, 0, 1),
                                             version, ++correlation_id, error);
    EXPECT_TRUE(resp.has_value()) << error;
    EXPECT_TRUE(resp && resp->responses.size() == 1 && resp->responses[0].partitions.size() == 1);
    return resp ? resp->responses[0].partitions[0] : p::FetchResponse::PartitionData{};
  };
  auto codecs = [](const std::optional<ByteBuffer>& records) {
    std::vector<storage::Compression> out;
    if (!records) return out;
    (void)storage::for_each_batch(*records, [&out](ByteView batch) {
      auto header = storage::parse_header(batch);
      if (header) out.push_back(header->compression());
    });
    return out;
  };
  const std::vector<storage::Compression> one_zstd_batch = {storage::Compression::kZstd};
  for (const std::int16_t old : {4, 9}) {
    SCOPED_TRACE(testing::Message() << "Fetch v" << old);
    auto refused = fetch("zstd-topic", old);
    EXPECT_EQ(refused.error_code,
              static_cast<std::int16_t>(p::KafkaError::kUnsupportedCompressionType));
    EXPECT_TRUE(!refused.records || refused.records->empty());
    auto as_stored = fetch("producer-topic", old);
    EXPECT_EQ(as_stored.error_code, 0);
    EXPECT_EQ(codecs(as_stored.records), one_zstd_batch);
  }
  auto current = fetch("zstd-topic", 10);
  EXPECT_EQ(current.error_code, 0);
  EXPECT_EQ(codecs(current.records), one_zstd_batch);
}

TEST_F(ServerTest, DeletingTheTopicAnswersAFetchParkedOnItAtOnce) {
  start();
  create_topic("gone");
  Connection consumer(server_->port());
  ASSERT_TRUE(consumer.send(
      test::raw::request_frame(test::fetch_request("gone", 0, 0, 60'000, 1), kFetchVersion, 1)));
  // Delete only once the fetch is parked (without a wake-up it would wait out its 60 s, past
  // the raw client's 10 s read timeout).
  auto& parked = FetchWaiters::parked_gauge();
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (parked.value() < 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_GE(parked.value(), 1) << "the fetch never parked";
  ASSERT_TRUE(server_->log().delete_topic("gone").has_value());
  auto frame = consumer.read_frame();
  ASSERT_TRUE(frame.has_value()) << "no Fetch response: " << consumer.error();
  std::string error;
  auto resp =
      test::raw::parse_response<p::FetchResponse>(*frame, kFetchVersion, kFetchVersion, 1, error);
  ASSERT_TRUE(resp.has_value()) << error;
  EXPECT_EQ(resp->responses.at(0).partitions.at(0).error_code,
            p::code(p::KafkaError::kUnknownTopicOrPartition));
}

// Read-ahead (fetch_read_ahead.h): a consumer's next Fetch is served from a read started when
// the last one was answered. Each test waits until that read holds its bytes, so the Fetch after
// it certainly meets it, then checks that it answers what a read would have.
class ReadAheadTest : public ServerTest {
 protected:
  // One Fetch of partition 0 from `offset`, at most one batch (a limit of 1 byte: KIP-74 serves
  // the first batch whole). Its error code and values.
  std::pair<std::int16_t, std::vector<std::string>> fetch_one(
      Connection& conn, const std::string& topic, std::int64_t offset, std::int32_t correlation_id,
      std::int16_t version = kFetchVersion) {
    auto req = test::fetch_request(topic, 0, offset, 0, 0);
    req.topics[0].partitions[0].partition_max_bytes = 1;
    std::string error;
    auto resp = round_trip<p::FetchResponse>(conn, req, version, correlation_id, error);
    EXPECT_TRUE(resp.has_value()) << error;
    if (!resp) return {-1, {}};
    const auto& pd = resp->responses.at(0).partitions.at(0);
    return {pd.error_code, pd.records ? test::values_of(*pd.records) : std::vector<std::string>{}};
  }
  // Until the read ahead holds `bytes` (it reserves 1 byte, the limit, until it has read). The
  // gauge is the process's: counted from what it showed when the test began.
  void wait_until_held(std::size_t bytes) {
    const double want = held_before_ + static_cast<double>(bytes);
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (held_.value() != want && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(held_.value(), want) << "the read ahead never held " << bytes << " bytes";
  }
  double used() const { return read_ahead_used().value(); }
  // Fetches answered on the network thread, without the hop to a storage thread.
  double answered_here() const { return fetch_answered_from_read_ahead().value(); }
  // One produce, so one batch, per character of `values`, to partition 0 of `topic`.
  void produce_each(Connection& conn, const std::string& topic, const std::string& values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      produce(conn, topic, {std::string(1, values[i])}, static_cast<std::int32_t>(i));
    }
  }
  // Topic "t" holding batches "a", "b", "c"; the first fetched, and the second read ahead.
  void fetch_a_then_hold_b(Connection& conn) {
    create_topic("t");
    produce_each(conn, "t", "abc");
    EXPECT_EQ(fetch_one(conn, "t", 0, 10).second, std::vector<std::string>{"a"});
    wait_until_held(batch_bytes_);
  }

  metrics::Gauge& held_ = read_ahead_held_bytes();
  const std::size_t batch_bytes_ = test::batch_of({"b"}).size();
  const double held_before_ = held_.value();
};

TEST_F(ReadAheadTest, AConsumerReadingInOrderGetsEachBatchOnceFromTheReadAhead) {
  start();
  Connection conn(server_->port());
  fetch_a_then_hold_b(conn);
  const double used_before = used();
  const double here_before = answered_here();
  EXPECT_EQ(fetch_one(conn, "t", 1, 11).second, std::vector<std::string>{"b"});
  EXPECT_EQ(used(), used_before + 1) << "offset 1 came from the read ahead";
  EXPECT_EQ(answered_here(), here_before + 1) << "a finished read ahead needs no storage hop";
  wait_until_held(batch_bytes_);
  EXPECT_EQ(fetch_one(conn, "t", 2, 12).second, std::vector<std::string>{"c"});
  EXPECT_EQ(used(), used_before + 2);
  EXPECT_EQ(answered_here(), here_before + 2);
  // Nothing follows offset 2: nothing is read ahead, and nothing is left held.
  EXPECT_EQ(held_.value(), held_before_);
}

TEST_F(ReadAheadTest, RecordsDeletedMeanwhileAreNotServedFromTheReadAhead) {
  start();
  Connection conn(server_->port());
  fetch_a_then_hold_b(conn);  // "b" is offset 1
  auto part = server_->log().partition("t", PartitionId(0));
  ASSERT_TRUE(part.has_value());
  ASSERT_TRUE((*part)->advance_log_start(Offset(2)).has_value());  // DeleteRecords up to 2
  const double here_before = answered_here();
  EXPECT_EQ(fetch_one(conn, "t", 1, 11).first, p::code(p::KafkaError::kOffsetOutOfRange));
  EXPECT_EQ(answered_here(), here_before) << "below the log start: the storage path answers";
}

TEST_F(ReadAheadTest, AZstdTopicIsRefusedToAnOldFetchEvenWithTheRecordsReadAhead) {
  start();
  Connection conn(server_->port());
  fetch_a_then_hold_b(conn);
  ASSERT_TRUE(server_->log().alter_config("t", {{"compression.type", "zstd"}}).has_value());
  const double here_before = answered_here();
  const auto [error, values] = fetch_one(conn, "t", 1, 11, 9);  // Fetch v9: before KIP-110
  EXPECT_EQ(error, p::code(p::KafkaError::kUnsupportedCompressionType));
  EXPECT_TRUE(values.empty());
  EXPECT_EQ(answered_here(), here_before) << "the storage path answers the refusal";
}

TEST_F(ReadAheadTest, ATopicDeletedAndCreatedAgainServesItsNewRecords) {
  start();
  Connection conn(server_->port());
  fetch_a_then_hold_b(conn);  // "b", offset 1 of the old topic
  ASSERT_TRUE(server_->log().delete_topic("t").has_value());
  create_topic("t");
  produce_each(conn, "t", "xyz");
  const double here_before = answered_here();
  EXPECT_EQ(fetch_one(conn, "t", 1, 11).second, std::vector<std::string>{"y"});
  EXPECT_EQ(answered_here(), here_before) << "the held read is of the old topic's partition";
}

TEST_F(ReadAheadTest, BytesNoFetchAsksForAreDroppedOnceOld) {
  start();
  Connection conn(server_->port());
  fetch_a_then_hold_b(conn);
  // The connection's watchdog (every second, real time) drops them on the server's clock.
  server_->clock().advance(FetchReadAhead::kHeldMax + 1ms);
  wait_until_held(0);
  EXPECT_EQ(fetch_one(conn, "t", 1, 11).second, std::vector<std::string>{"b"});
}

TEST_F(ServerTest, AFetchCountsTheRecordsAndBytesItSends) {
  start();
  create_topic("counted");
  Connection conn(server_->port());
  produce(conn, "counted", {"x", "y"}, 1);  // one batch of two records
  const metrics::Labels labels = {{"topic", "counted"}, {"partition", "0"}};
  auto& records_out = metrics::registry()
                          .counter("wharf_partition_records_out_total",
                                   "Records sent to consumers (whole batches).")
                          .with(labels);
  auto& bytes_out =
      metrics::registry()
          .counter("wharf_partition_bytes_out_total", "Record-batch bytes sent to consumers.")
          .with(labels);
  const double records_before = records_out.value(), bytes_before = bytes_out.value();
  std::string error;
  auto resp = round_trip<p::FetchResponse>(conn, test::fetch_request("counted", 0, 0, 0, 0),
                                           kFetchVersion, 2, error);
  ASSERT_TRUE(resp.has_value()) << error;
  EXPECT_EQ(test::values_of(*resp->responses.at(0).partitions.at(0).records),
            (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(records_out.value(), records_before + 2);
  EXPECT_EQ(bytes_out.value(), bytes_before + test::batch_of({"x", "y"}).size());
}

TEST_F(ReadAheadTest, AZeroBudgetTurnsItOff) {
  auto config = test::test_server_config();
  config.fetch_read_ahead_bytes_max = 0;
  start(config);
  create_topic("t");
  Connection conn(server_->port());
  produce_each(conn, "t", "abc");
  const double used_before = used();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fetch_one(conn, "t", i, 10 + i).second,
              std::vector<std::string>{std::string(1, static_cast<char>('a' + i))});
    EXPECT_EQ(held_.value(), held_before_);
  }
  EXPECT_EQ(used(), used_before);
}

// An acks=0 produce gets no response; one that fails closes the connection instead (as Kafka
// does), so that the producer notices. That close is not counted as a malformed request.
TEST_F(ServerTest, AFailedAcksZeroProduceClosesTheConnectionWithoutCountingItMalformed) {
  start();
  auto& malformed = metrics::registry()
                        .counter("wharf_requests_malformed_total",
                                 "Requests that closed their connection: bad size, header, "
                                 "version or body.")
                        .with({});
  const auto malformed_before = malformed.value();
  Connection conn(server_->port());
  auto req = test::produce_request("no-such-topic", 0, test::batch_of({"lost"}));
  req.acks = 0;
  ASSERT_TRUE(conn.send(test::raw::request_frame(req, kProduceVersion, 1)));
  EXPECT_TRUE(conn.closed_by_broker()) << conn.error();
  EXPECT_EQ(malformed.value(), malformed_before);
}

}  // namespace
}  // namespace wharf::kafka
