// Bad input on the wire against the real broker (reliability.md §6.5 B3): lying size prefixes,
// truncated and half-sent frames, unknown APIs and versions, malformed headers and bodies, and
// Produce requests with corrupt or mis-shaped record batches. For each, the connection gets the
// error response Kafka gives or is closed, the broker keeps serving a well-behaved client on a
// fresh connection, and at the end it shuts down cleanly (a crash shows as a non-zero exit).
// One test runs every attack in a row and then reads back, byte for byte, the records acked
// before the attacks began.
//
// Requests are built with the generated codec and storage::build_batch and sent by the raw client
// (tests/support/raw_client.h) over a POSIX socket, so each test controls every byte. Each test
// starts its own broker.

#include <chrono>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kafka/protocol/generated/api_versions.h"
#include "kafka/protocol/generated/create_topics.h"
#include "kafka/protocol/generated/fetch.h"
#include "kafka/protocol/generated/init_producer_id.h"
#include "kafka/protocol/generated/list_offsets.h"
#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/generated/metadata.h"
#include "kafka/protocol/generated/produce.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"
#include "storage/record_batch.h"
#include "tests/integration/broker_process.h"
#include "tests/support/raw_client.h"

namespace wharf::test {
namespace {

namespace p = kafka::protocol;
using namespace raw;  // Connection, request_frame, round_trip and the header writers

constexpr std::int16_t kUnsupportedVersion = 35;
constexpr std::int16_t kCorruptMessage = 2;
constexpr std::int16_t kMessageTooLarge = 10;
constexpr std::int16_t kInvalidRecord = 87;
// The limit Wharf once applied until a connection had sent ApiVersions; Kafka has none.
constexpr std::size_t kOneMiB = 1024 * 1024;

const std::string kTopic = "kept";
constexpr int kPartitions = 2;

// ---- requests (the raw client, tests/support/raw_client.h, frames and sends them) -------------

p::ApiVersionsRequest api_versions_request() {
  p::ApiVersionsRequest r;
  r.client_software_name = "wharf-malformed-test";
  r.client_software_version = "1.0";
  return r;
}

p::MetadataRequest metadata_request(const std::string& topic) {
  p::MetadataRequest r;
  r.topics = std::vector<p::MetadataRequest::MetadataRequestTopic>{{topic}};
  r.allow_auto_topic_creation = false;
  return r;
}

p::ProduceRequest produce_request(std::int32_t partition, Bytes records) {
  p::ProduceRequest r;
  r.transactional_id = std::nullopt;
  r.acks = -1;
  r.timeout_ms = 10'000;
  r.topic_data.push_back({kTopic, {{partition, std::move(records)}}});
  return r;
}

std::string key_of(int partition, int i) { return fmt::format("key-{}-{}", partition, i); }
std::string value_of(int partition, int i) {
  return fmt::format("value-{}-{}-", partition, i) +
         std::string(static_cast<std::size_t>(i % 97), 'v');
}

Bytes batch_of(int partition, int first, int count) {
  std::vector<storage::Record> records;
  for (int i = first; i < first + count; ++i) {
    storage::Record r;
    r.key = to_bytes(key_of(partition, i));
    r.value = to_bytes(value_of(partition, i));
    r.headers.push_back({"n", to_bytes(std::to_string(i))});
    r.timestamp_ms = 1'700'000'000'000 + i;
    records.push_back(std::move(r));
  }
  return storage::build_batch(records);
}

// A well-behaved client on a fresh connection: ApiVersions v3, then Metadata v8 for the test
// topic. Returns "" if both were answered correctly, else what went wrong.
std::string served_error(int port) {
  Connection conn(port);
  if (!conn.connected()) return "cannot connect: " + conn.error();
  std::string error;
  auto versions = round_trip<p::ApiVersionsResponse>(conn, api_versions_request(), 3, 1, error);
  if (!versions) return "ApiVersions: " + error;
  if (versions->error_code != 0) return fmt::format("ApiVersions error {}", versions->error_code);
  if (versions->api_keys.size() < 5) return "ApiVersions lists too few APIs";
  auto metadata = round_trip<p::MetadataResponse>(conn, metadata_request(kTopic), 8, 2, error);
  if (!metadata) return "Metadata: " + error;
  if (metadata->brokers.size() != 1 || metadata->brokers[0].port != port)
    return "Metadata: wrong broker list";
  if (metadata->topics.size() != 1 || metadata->topics[0].name != kTopic ||
      metadata->topics[0].error_code != 0 ||
      metadata->topics[0].partitions.size() != static_cast<std::size_t>(kPartitions)) {
    return "Metadata: wrong topic";
  }
  return "";
}

// ---- the fixture ----------------------------------------------------------------------------

class MalformedFramesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.start()) << broker_.last_output();
    Connection conn(port());
    ASSERT_TRUE(conn.connected()) << conn.error();
    p::CreateTopicsRequest create;
    create.topics.push_back({kTopic, kPartitions, 1, {}, {}});
    std::string error;
    auto created = round_trip<p::CreateTopicsResponse>(conn, create, 4, 1, error);
    ASSERT_TRUE(created.has_value()) << error;
    ASSERT_EQ(created->topics.size(), 1u);
    ASSERT_EQ(created->topics[0].error_code, 0);
  }

  void TearDown() override {
    // SIGTERM: a broker that crashed or aborted on the way reports a non-zero status here, and
    // a clean shutdown shows that no connection was left wedged.
    EXPECT_EQ(broker_.stop(), 0) << broker_.last_output();
  }

  int port() const { return broker_.port(); }

  // After each attack: a fresh, well-behaved client is still served.
  void expect_served() { EXPECT_EQ(served_error(port()), ""); }

  // Opens a connection, sends `bytes`, and expects the broker to close it without answering.
  void expect_closed_after(const Bytes& bytes, const std::string& what) {
    SCOPED_TRACE(what);
    Connection conn(port());
    ASSERT_TRUE(conn.connected()) << conn.error();
    // The broker may close (and reset) before the last bytes are sent; that is fine.
    (void)conn.send(bytes);
    EXPECT_TRUE(conn.closed_by_broker()) << conn.error();
  }

  // Produces one batch on `conn`; returns the partition's response.
  std::optional<p::ProduceResponse::PartitionProduceResponse> produce(Connection& conn,
                                                                      std::int32_t partition,
                                                                      Bytes records,
                                                                      std::int32_t correlation_id) {
    std::string error;
    auto resp = round_trip<p::ProduceResponse>(conn, produce_request(partition, std::move(records)),
                                               7, correlation_id, error);
    EXPECT_TRUE(resp.has_value()) << error;
    if (!resp) return std::nullopt;
    EXPECT_EQ(resp->responses.size(), 1u);
    if (resp->responses.size() != 1 || resp->responses[0].partition_responses.size() != 1)
      return std::nullopt;
    EXPECT_EQ(resp->responses[0].name, kTopic);
    return resp->responses[0].partition_responses[0];
  }

  // Reads a whole partition with Fetch v11; returns its records in offset order.
  std::vector<storage::Record> read_partition(std::int32_t partition,
                                              std::int64_t* high_watermark = nullptr) {
    Connection conn(port());
    std::vector<storage::Record> out;
    std::int64_t next = 0;
    for (int round = 0; round < 10'000; ++round) {
      p::FetchRequest fetch;
      fetch.max_wait_ms = 0;
      fetch.min_bytes = 0;
      fetch.max_bytes = 1 << 20;
      fetch.topics.push_back({kTopic, {{partition, -1, next, -1, 64 * 1024}}});
      std::string error;
      auto resp = round_trip<p::FetchResponse>(conn, fetch, 11, 100 + round, error);
      EXPECT_TRUE(resp.has_value()) << error;
      if (!resp || resp->responses.size() != 1 || resp->responses[0].partitions.size() != 1) break;
      const auto& pd = resp->responses[0].partitions[0];
      EXPECT_EQ(pd.error_code, 0);
      if (high_watermark) *high_watermark = pd.high_watermark;
      if (pd.error_code != 0 || !pd.records || pd.records->empty()) break;
      ByteView rest(*pd.records);
      while (!rest.empty()) {
        auto h = storage::parse_header(rest);
        if (!h || h->total_bytes() > rest.size()) break;  // a partial batch at the end
        auto records = storage::read_records(rest.first(h->total_bytes()));
        EXPECT_TRUE(records.has_value()) << records.error().to_string();
        if (!records) return out;
        for (auto& r : *records) {
          if (r.offset.value() >= next) out.push_back(std::move(r));
        }
        next = h->next_offset().value();
        rest = rest.subspan(h->total_bytes());
      }
      if (next >= pd.high_watermark) break;
    }
    return out;
  }

  // ---- attacks: each expects the right answer or a close, then a served client ----

  void negative_sizes() {
    for (std::int32_t size : {-1, -100, INT32_MIN}) {
      expect_closed_after(size_only(size), fmt::format("size {}", size));
    }
    expect_served();
  }

  void tiny_sizes() {
    // 0, and sizes too small for any request header (10 bytes at least).
    for (std::int32_t size : {0, 1, 9}) {
      Bytes frame = size_only(size);
      frame.resize(frame.size() + static_cast<std::size_t>(size), std::byte{0});
      expect_closed_after(frame, fmt::format("size {}", size));
    }
    expect_served();
  }

  void maximum_size() {
    expect_closed_after(size_only(INT32_MAX), "size 2^31-1 before ApiVersions");
    {
      SCOPED_TRACE("size 2^31-1 after ApiVersions");
      Connection conn(port());
      std::string error;
      ASSERT_TRUE(round_trip<p::ApiVersionsResponse>(conn, api_versions_request(), 3, 1, error))
          << error;
      (void)conn.send(size_only(INT32_MAX));
      EXPECT_TRUE(conn.closed_by_broker()) << conn.error();
    }
    expect_served();
  }

  void above_one_mib_before_api_versions() {
    // A Produce just over 1 MiB as the very first request on a connection, as a client that
    // never sends ApiVersions (old sarama, many tools) sends it. socket.request.max.bytes
    // (100 MiB) applies from the first request, as in Kafka: the frame is read and answered; its
    // batch is above max.message.bytes (1048588), so the partition gets MESSAGE_TOO_LARGE and
    // nothing is appended.
    std::vector<storage::Record> records(1);
    records[0].value = Bytes(kOneMiB + 1024, std::byte{'b'});
    const Bytes big = request_frame(produce_request(0, storage::build_batch(records)), 7, 7);
    ASSERT_GT(big.size() - 4, kOneMiB);
    Connection conn(port());
    ASSERT_TRUE(conn.send(big)) << conn.error();
    auto frame = conn.read_frame();
    ASSERT_TRUE(frame.has_value()) << conn.error();
    std::string error;
    auto resp = parse_response<p::ProduceResponse>(*frame, 7, 7, 7, error);
    ASSERT_TRUE(resp.has_value()) << error;
    ASSERT_EQ(resp->responses.size(), 1u);
    ASSERT_EQ(resp->responses[0].partition_responses.size(), 1u);
    EXPECT_EQ(resp->responses[0].partition_responses[0].error_code, kMessageTooLarge);
    EXPECT_EQ(resp->responses[0].partition_responses[0].base_offset, -1);
    expect_served();
  }

  void truncated_body_then_close() {
    const Bytes frame = request_frame(metadata_request(kTopic), 8, 3);
    for (std::size_t keep : {std::size_t{4}, std::size_t{6}, frame.size() - 1}) {
      Connection conn(port());
      ASSERT_TRUE(conn.send(ByteView(frame).first(keep)));
      conn.close();
    }
    expect_served();
  }

  void truncated_body_then_wait() {
    // The request read timeout (30 s) is too long for a test; what matters is that a client
    // stuck half-way through a frame holds up nobody else, and that its request is answered
    // once the rest arrives.
    const Bytes frame = request_frame(api_versions_request(), 3, 42);
    Connection slow(port());
    ASSERT_TRUE(slow.send(ByteView(frame).first(frame.size() / 2)));
    Connection stalled_in_size(port());
    ASSERT_TRUE(stalled_in_size.send(ByteView(frame).first(2)));
    for (int i = 0; i < 3; ++i) expect_served();
    EXPECT_TRUE(slow.open_and_silent_for(std::chrono::milliseconds(200)));
    ASSERT_TRUE(slow.send(ByteView(frame).subspan(frame.size() / 2)));
    auto response = slow.read_frame();
    ASSERT_TRUE(response.has_value()) << slow.error();
    std::string error;
    auto versions = parse_response<p::ApiVersionsResponse>(*response, 3, 3, 42, error);
    ASSERT_TRUE(versions.has_value()) << error;
    EXPECT_EQ(versions->error_code, 0);
  }

  // The broker's advertised ranges, from ApiVersions v3: api_key -> (min, max).
  std::map<std::int16_t, std::pair<std::int16_t, std::int16_t>> advertised() {
    Connection conn(port());
    std::string error;
    auto versions = round_trip<p::ApiVersionsResponse>(conn, api_versions_request(), 3, 1, error);
    EXPECT_TRUE(versions.has_value()) << error;
    std::map<std::int16_t, std::pair<std::int16_t, std::int16_t>> out;
    if (versions) {
      for (const auto& k : versions->api_keys) out[k.api_key] = {k.min_version, k.max_version};
    }
    return out;
  }

  void unknown_api_keys() {
    // 9999 and -1 are unknown to Kafka. Keys the codec knows but the broker does not advertise
    // must be refused the same way (taken from the broker's own list, so the test follows it).
    std::vector<std::int16_t> keys = {9999, -1};
    const auto offered = advertised();
    ASSERT_FALSE(offered.empty());
    p::for_each_api([&](auto api) {
      const std::int16_t key = decltype(api)::Request::kApiKey;
      if (!offered.contains(key)) keys.push_back(key);
    });
    for (std::int16_t key : keys) {
      Bytes frame = raw_header_v1(key, 0, 5, 4, "test");
      append(frame, Bytes(16, std::byte{0}));
      expect_closed_after(with_size_prefix(frame), fmt::format("api key {}", key));
    }
    expect_served();
  }

  void unknown_versions() {
    // Metadata v50 (far above), Produce and Fetch one above their advertised maximum, Fetch
    // one below its minimum, Metadata -1. Only ApiVersions answers a version it does not know.
    struct Case {
      std::int16_t key, version;
    };
    const auto offered = advertised();
    ASSERT_TRUE(offered.contains(0) && offered.contains(1) && offered.contains(3));
    std::vector<Case> cases = {{3, 50},
                               {0, static_cast<std::int16_t>(offered.at(0).second + 1)},
                               {1, static_cast<std::int16_t>(offered.at(1).second + 1)},
                               {3, -1}};
    if (offered.at(1).first > 0)
      cases.push_back({1, static_cast<std::int16_t>(offered.at(1).first - 1)});
    for (const auto& c : cases) {
      Bytes frame = c.version >= 0 ? header_bytes(c.key, c.version, 6)
                                   : raw_header_v1(c.key, c.version, 6, -1);
      append(frame, body_bytes(metadata_request(kTopic), 8));
      expect_closed_after(with_size_prefix(frame), fmt::format("api {} v{}", c.key, c.version));
    }
    expect_served();
  }

  void api_versions_v99() {
    Connection conn(port());
    std::string error;
    auto current = round_trip<p::ApiVersionsResponse>(conn, api_versions_request(), 3, 1, error);
    ASSERT_TRUE(current.has_value()) << error;
    // A v99 request: header v2 (flexible), then a body only a future client could describe.
    Bytes frame = header_bytes(18, 99, 77);
    append(frame, Bytes{std::byte{0x03}, std::byte{'f'}, std::byte{'o'}, std::byte{0x00},
                        std::byte{0x00}});
    ASSERT_TRUE(conn.send(with_size_prefix(frame)));
    auto response = conn.read_frame();
    ASSERT_TRUE(response.has_value()) << conn.error();
    // KIP-511: response header v0 and a v0 body, so that any client can read it.
    auto old = parse_response<p::ApiVersionsResponse>(*response, 99, 0, 77, error);
    ASSERT_TRUE(old.has_value()) << error;
    EXPECT_EQ(old->error_code, kUnsupportedVersion);
    EXPECT_EQ(old->api_keys, current->api_keys);
    bool found = false;
    for (const auto& k : old->api_keys) {
      if (k.api_key == 18) {
        found = true;
        EXPECT_EQ(k.min_version, 0);
        EXPECT_EQ(k.max_version, 3);
      }
    }
    EXPECT_TRUE(found) << "ApiVersions missing from its own list";
    // The client retries with a version from the list, on the same connection.
    auto retry = round_trip<p::ApiVersionsResponse>(conn, api_versions_request(), 3, 78, error);
    ASSERT_TRUE(retry.has_value()) << error;
    EXPECT_EQ(retry->error_code, 0);
    expect_served();
  }

  void produce_with_bad_crc() {
    Connection conn(port());
    std::int64_t before = 0;
    (void)read_partition(1, &before);
    Bytes batch = batch_of(1, 0, 5);
    batch[batch.size() - 3] ^= std::byte{0x40};  // a value byte: covered by the CRC
    auto r = produce(conn, 1, batch, 11);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error_code, kCorruptMessage);
    EXPECT_EQ(r->base_offset, -1);
    // A corrupt CRC field itself, on the same connection, which stays usable.
    Bytes bad_field = batch_of(1, 0, 5);
    bad_field[storage::batch_layout::kCrc] ^= std::byte{0x01};
    r = produce(conn, 1, bad_field, 12);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error_code, kCorruptMessage);
    std::int64_t after = 0;
    (void)read_partition(1, &after);
    EXPECT_EQ(after, before) << "a rejected batch must not be appended";
    expect_served();
  }

  void produce_with_two_batches() {
    Connection conn(port());
    std::int64_t before = 0;
    (void)read_partition(1, &before);
    Bytes two = batch_of(1, 0, 3);
    append(two, batch_of(1, 3, 3));
    auto r = produce(conn, 1, two, 13);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error_code, kInvalidRecord);
    EXPECT_EQ(r->base_offset, -1);
    // A batch followed by a few stray bytes is refused the same way.
    Bytes trailing = batch_of(1, 0, 3);
    append(trailing, Bytes(7, std::byte{0}));
    r = produce(conn, 1, trailing, 14);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error_code, kInvalidRecord);
    std::int64_t after = 0;
    (void)read_partition(1, &after);
    EXPECT_EQ(after, before) << "a rejected request must not append anything";
    expect_served();
  }

  void trailing_garbage_after_metadata() {
    // Kafka reads what a request's version defines and ignores bytes after it (librdkafka
    // 2.0.2 sends three stray bytes after some OffsetFetch v7 requests), so both are answered.
    Bytes good = request_frame(metadata_request(kTopic), 8, 20);
    Bytes bad = header_bytes(3, 8, 21);
    append(bad, body_bytes(metadata_request(kTopic), 8));
    append(bad, to_bytes("garbage"));
    append(good, with_size_prefix(bad));
    Connection conn(port());
    ASSERT_TRUE(conn.send(good));
    for (std::int32_t correlation : {20, 21}) {
      auto frame = conn.read_frame();
      ASSERT_TRUE(frame.has_value()) << conn.error();
      std::string error;
      auto metadata = parse_response<p::MetadataResponse>(*frame, 8, 8, correlation, error);
      ASSERT_TRUE(metadata.has_value()) << error;
      EXPECT_EQ(metadata->topics.size(), 1u);
    }
    expect_served();
  }

  void negative_client_id_length() {
    for (std::int16_t length : {std::int16_t{-2}, std::int16_t{-1000}, std::int16_t{INT16_MIN}}) {
      Bytes frame = raw_header_v1(3, 8, 8, length);
      append(frame, body_bytes(metadata_request(kTopic), 8));
      expect_closed_after(with_size_prefix(frame), fmt::format("client id length {}", length));
    }
    {
      // The control: -1 is a null client id, which is legal.
      SCOPED_TRACE("client id length -1");
      Bytes frame = raw_header_v1(3, 8, 9, -1);
      append(frame, body_bytes(metadata_request(kTopic), 8));
      Connection conn(port());
      ASSERT_TRUE(conn.send(with_size_prefix(frame)));
      auto response = conn.read_frame();
      ASSERT_TRUE(response.has_value()) << conn.error();
      std::string error;
      EXPECT_TRUE(parse_response<p::MetadataResponse>(*response, 8, 8, 9, error).has_value())
          << error;
    }
    // A client id length longer than the frame.
    Bytes frame = raw_header_v1(3, 8, 10, 30000, "short");
    expect_closed_after(with_size_prefix(frame), "client id length past the end");
    expect_served();
  }

  void lying_array_count() {
    // Metadata v8 claiming two billion topics in a few bytes: refused before any allocation.
    Bytes frame = header_bytes(3, 8, 30);
    append_be<std::int32_t>(frame, INT32_MAX);
    append(frame, Bytes{std::byte{0}, std::byte{1}, std::byte{'x'}, std::byte{1}, std::byte{0},
                        std::byte{0}});
    expect_closed_after(with_size_prefix(frame), "topic count 2^31-1");
    expect_served();
  }

  // Creates `topic` with one partition; false (and a test failure) if that does not work.
  bool create_topic(Connection& conn, const std::string& topic) {
    p::CreateTopicsRequest create;
    create.topics.push_back({topic, 1, 1, {}, {}});
    std::string error;
    auto created = round_trip<p::CreateTopicsResponse>(conn, create, 4, 50, error);
    EXPECT_TRUE(created.has_value()) << error;
    const bool ok = created && created->topics.size() == 1 &&
                    (created->topics[0].error_code == 0 || created->topics[0].error_code == 36);
    EXPECT_TRUE(ok) << topic;
    return ok;
  }

  void extreme_timestamps_then_list_offsets() {
    // A batch whose base timestamp is INT64_MAX and whose second record is one millisecond
    // later: that record's absolute time does not fit in an int64. ListOffsets by time reads
    // the stored records back, which once overflowed (undefined behaviour; an abort under
    // UBSan).
    const std::string topic = "extreme-timestamps";
    Connection conn(port());
    ASSERT_TRUE(create_topic(conn, topic));
    std::vector<storage::Record> records(2);
    records[0].value = to_bytes("first");
    records[0].timestamp_ms = 0;
    records[1].value = to_bytes("second");
    records[1].timestamp_ms = 1;
    Bytes batch = storage::build_batch(records);
    store_be<std::int64_t>(batch, storage::batch_layout::kBaseTimestamp, INT64_MAX);
    store_be<std::int64_t>(batch, storage::batch_layout::kMaxTimestamp, INT64_MAX);
    store_be<std::uint32_t>(batch, storage::batch_layout::kCrc, storage::compute_crc(batch));
    p::ProduceRequest produce;
    produce.transactional_id = std::nullopt;
    produce.acks = -1;
    produce.timeout_ms = 10'000;
    produce.topic_data.push_back({topic, {{0, batch}}});
    std::string error;
    auto produced = round_trip<p::ProduceResponse>(conn, produce, 7, 51, error);
    ASSERT_TRUE(produced.has_value()) << error;
    ASSERT_EQ(produced->responses.size(), 1u);
    ASSERT_EQ(produced->responses[0].partition_responses.size(), 1u);
    const std::int16_t produce_error = produced->responses[0].partition_responses[0].error_code;
    if (produce_error == 0) {
      for (std::int64_t timestamp : {std::int64_t{0}, INT64_MAX}) {
        p::ListOffsetsRequest list;
        list.replica_id = -1;
        list.topics.push_back({topic, {{0, -1, timestamp, 1}}});
        auto listed = round_trip<p::ListOffsetsResponse>(conn, list, 4, 52, error);
        ASSERT_TRUE(listed.has_value()) << error;
        ASSERT_EQ(listed->topics.size(), 1u);
        ASSERT_EQ(listed->topics[0].partitions.size(), 1u);
        EXPECT_EQ(listed->topics[0].partitions[0].error_code, 0);
        EXPECT_EQ(listed->topics[0].partitions[0].offset, 0) << "timestamp " << timestamp;
      }
    } else {
      // Refusing such a batch outright (INVALID_TIMESTAMP) is as good as storing it.
      EXPECT_EQ(produce_error, 32);
    }
    expect_served();
  }

  void create_topics_with_impossible_arguments() {
    // What a 1-broker Kafka refuses: replication factor 0 or below -1 (38), and a manual
    // assignment that does not name partitions 0..n-1 once each (39).
    p::CreateTopicsRequest create;
    create.topics.push_back({"rf-zero", 1, 0, {}, {}});
    create.topics.push_back({"rf-minus-two", 1, -2, {}, {}});
    create.topics.push_back({"assign-duplicate", -1, -1, {{5, {0}}, {5, {0}}}, {}});
    create.topics.push_back({"assign-gap", -1, -1, {{0, {0}}, {2, {0}}}, {}});
    create.topics.push_back({"assign-ok", -1, -1, {{1, {0}}, {0, {0}}}, {}});
    Connection conn(port());
    std::string error;
    auto created = round_trip<p::CreateTopicsResponse>(conn, create, 4, 60, error);
    ASSERT_TRUE(created.has_value()) << error;
    std::map<std::string, std::int16_t> codes;
    for (const auto& t : created->topics) codes[t.name] = t.error_code;
    EXPECT_EQ(codes, (std::map<std::string, std::int16_t>{{"rf-zero", 38},
                                                          {"rf-minus-two", 38},
                                                          {"assign-duplicate", 39},
                                                          {"assign-gap", 39},
                                                          {"assign-ok", 0}}));
    for (const std::string name : {"rf-zero", "rf-minus-two", "assign-duplicate", "assign-gap"}) {
      auto metadata = round_trip<p::MetadataResponse>(conn, metadata_request(name), 8, 61, error);
      ASSERT_TRUE(metadata.has_value()) << error;
      ASSERT_EQ(metadata->topics.size(), 1u);
      EXPECT_EQ(metadata->topics[0].error_code, 3) << name << " must not exist";
    }
    expect_served();
  }

  BrokerProcess broker_;
  std::unique_ptr<Connection> straggler_;  // declared after broker_: closed before it is destroyed
};

TEST_F(MalformedFramesTest, NegativeSizeClosesTheConnection) { negative_sizes(); }
TEST_F(MalformedFramesTest, SizeZeroAndSizesBelowTheSmallestHeaderCloseTheConnection) {
  tiny_sizes();
}
TEST_F(MalformedFramesTest, SizeTwoToThe31MinusOneClosesTheConnectionBeforeAndAfterApiVersions) {
  maximum_size();
}
TEST_F(MalformedFramesTest, ProduceAboveOneMibAsTheFirstRequestIsAnsweredWithoutApiVersions) {
  above_one_mib_before_api_versions();
}

// Many small records in two partitions, 1.2 MiB in one Produce, as a sarama async producer
// batches them, sent before (and without) ApiVersions: both batches are appended and readable.
TEST_F(MalformedFramesTest, ProduceOfManySmallRecordsAboveOneMibIsAppendedWithoutApiVersions) {
  constexpr int kRecords = 600;  // 1 KiB values: 600 KiB per partition
  p::ProduceRequest request;
  request.transactional_id = std::nullopt;
  request.acks = -1;
  request.timeout_ms = 10'000;
  request.topic_data.push_back({kTopic, {}});
  for (int partition = 0; partition < kPartitions; ++partition) {
    std::vector<storage::Record> records(kRecords);
    for (int i = 0; i < kRecords; ++i) {
      records[static_cast<std::size_t>(i)].value =
          Bytes(1024, static_cast<std::byte>('a' + (i + partition) % 26));
    }
    request.topic_data[0].partition_data.push_back({partition, storage::build_batch(records)});
  }
  const Bytes frame = request_frame(request, 7, 5);
  ASSERT_GT(frame.size() - 4, kOneMiB);

  Connection conn(port());
  ASSERT_TRUE(conn.send(frame)) << conn.error();
  auto response = conn.read_frame();
  ASSERT_TRUE(response.has_value()) << conn.error();
  std::string error;
  auto resp = parse_response<p::ProduceResponse>(*response, 7, 7, 5, error);
  ASSERT_TRUE(resp.has_value()) << error;
  ASSERT_EQ(resp->responses.size(), 1u);
  ASSERT_EQ(resp->responses[0].partition_responses.size(), static_cast<std::size_t>(kPartitions));
  for (const auto& pr : resp->responses[0].partition_responses) {
    EXPECT_EQ(pr.error_code, 0) << "partition " << pr.index;
    EXPECT_EQ(pr.base_offset, 0) << "partition " << pr.index;
  }
  for (int partition = 0; partition < kPartitions; ++partition) {
    SCOPED_TRACE(fmt::format("partition {}", partition));
    std::int64_t high_watermark = -1;
    auto records = read_partition(partition, &high_watermark);
    EXPECT_EQ(high_watermark, kRecords);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(kRecords));
    ASSERT_TRUE(records.back().value.has_value());
    EXPECT_EQ(*records.back().value,
              Bytes(1024, static_cast<std::byte>('a' + (kRecords - 1 + partition) % 26)));
  }
}
TEST_F(MalformedFramesTest, TruncatedBodyThenCloseLeavesTheBrokerServing) {
  truncated_body_then_close();
}
TEST_F(MalformedFramesTest, HalfSentRequestBlocksNoOtherClientAndIsAnsweredWhenCompleted) {
  truncated_body_then_wait();
}
TEST_F(MalformedFramesTest, UnknownOrUnadvertisedApiKeyClosesTheConnection) { unknown_api_keys(); }
TEST_F(MalformedFramesTest, UnknownVersionOfAKnownApiClosesTheConnection) { unknown_versions(); }
TEST_F(MalformedFramesTest, ApiVersionsV99GetsAV0ResponseWithError35AndTheAdvertisedRanges) {
  api_versions_v99();
}
TEST_F(MalformedFramesTest, ProduceWithABadCrcGetsCorruptMessageAndAppendsNothing) {
  produce_with_bad_crc();
}
TEST_F(MalformedFramesTest, ProduceWithTwoBatchesInOnePartitionGetsInvalidRecordAndAppendsNothing) {
  produce_with_two_batches();
}
TEST_F(MalformedFramesTest, BytesAfterAValidBodyAreIgnoredAsKafkaDoes) {
  trailing_garbage_after_metadata();
}
TEST_F(MalformedFramesTest, NegativeClientIdLengthOtherThanMinusOneClosesTheConnection) {
  negative_client_id_length();
}
TEST_F(MalformedFramesTest, ArrayCountAboveTheBytesLeftClosesTheConnection) { lying_array_count(); }
TEST_F(MalformedFramesTest, TimestampsThatOverflowWhenReadBackKeepListOffsetsWorking) {
  extreme_timestamps_then_list_offsets();
}
// Some clients leave a batch's max_timestamp at -1. As Kafka, the broker computes it from the
// records on produce and rewrites the header (and the CRC it covers), so ListOffsets by time,
// the time index and time retention see the records' times.
TEST_F(MalformedFramesTest, MaxTimestampMinusOneIsComputedFromTheRecordsOnProduce) {
  const std::string topic = "max-timestamp";
  Connection conn(port());
  ASSERT_TRUE(create_topic(conn, topic));
  auto produce = [&](Bytes batch, std::int32_t correlation_id) {
    p::ProduceRequest request;
    request.transactional_id = std::nullopt;
    request.acks = -1;
    request.timeout_ms = 10'000;
    request.topic_data.push_back({topic, {{0, std::move(batch)}}});
    std::string error;
    auto resp = round_trip<p::ProduceResponse>(conn, request, 7, correlation_id, error);
    EXPECT_TRUE(resp.has_value()) << error;
    if (!resp || resp->responses.size() != 1 || resp->responses[0].partition_responses.size() != 1)
      return std::int64_t{-100};
    EXPECT_EQ(resp->responses[0].partition_responses[0].error_code, 0);
    return resp->responses[0].partition_responses[0].base_offset;
  };
  std::vector<storage::Record> first(1);
  first[0].value = to_bytes("first");
  first[0].timestamp_ms = 1000;
  ASSERT_EQ(produce(storage::build_batch(first), 60), 0);
  // Records at 5000, 7000 and 6000 (out of order), max_timestamp -1 with a valid CRC.
  std::vector<storage::Record> records(3);
  const std::int64_t times[] = {5000, 7000, 6000};
  for (std::size_t i = 0; i < records.size(); ++i) {
    records[i].value = to_bytes(fmt::format("r{}", i));
    records[i].timestamp_ms = times[i];
  }
  Bytes batch = storage::build_batch(records);
  store_be<std::int64_t>(batch, storage::batch_layout::kMaxTimestamp, -1);
  store_be<std::uint32_t>(batch, storage::batch_layout::kCrc, storage::compute_crc(batch));
  ASSERT_EQ(produce(batch, 61), 1);

  // timestamp -> (offset, timestamp) ListOffsets v4 answers.
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> cases = {
      {1001, 1, 5000}, {5000, 1, 5000}, {6500, 2, 7000}, {7000, 2, 7000}, {7001, -1, -1}};
  for (const auto& [timestamp, offset, found] : cases) {
    SCOPED_TRACE(fmt::format("ListOffsets timestamp {}", timestamp));
    p::ListOffsetsRequest list;
    list.replica_id = -1;
    list.topics.push_back({topic, {{0, -1, timestamp, 1}}});
    std::string error;
    auto listed = round_trip<p::ListOffsetsResponse>(conn, list, 4, 62, error);
    ASSERT_TRUE(listed.has_value()) << error;
    ASSERT_EQ(listed->topics.size(), 1u);
    ASSERT_EQ(listed->topics[0].partitions.size(), 1u);
    EXPECT_EQ(listed->topics[0].partitions[0].error_code, 0);
    EXPECT_EQ(listed->topics[0].partitions[0].offset, offset);
    EXPECT_EQ(listed->topics[0].partitions[0].timestamp, found);
  }

  // The stored batch, as a consumer fetches it: max_timestamp 7000 under a valid CRC-32C.
  p::FetchRequest fetch;
  fetch.max_wait_ms = 0;
  fetch.min_bytes = 0;
  fetch.max_bytes = 1 << 20;
  fetch.topics.push_back({topic, {{0, -1, 1, -1, 1 << 20}}});
  std::string error;
  auto fetched = round_trip<p::FetchResponse>(conn, fetch, 11, 63, error);
  ASSERT_TRUE(fetched.has_value()) << error;
  ASSERT_EQ(fetched->responses.size(), 1u);
  ASSERT_EQ(fetched->responses[0].partitions.size(), 1u);
  const auto& records_bytes = fetched->responses[0].partitions[0].records;
  ASSERT_TRUE(records_bytes && !records_bytes->empty());
  auto stored = storage::check_batch_crc(*records_bytes);
  ASSERT_TRUE(stored.has_value()) << stored.error().to_string();
  EXPECT_EQ(stored->base_offset.value(), 1);
  EXPECT_EQ(stored->base_timestamp, 5000);
  EXPECT_EQ(stored->max_timestamp, 7000);
  auto read_back = storage::read_records(*records_bytes);
  ASSERT_TRUE(read_back.has_value()) << read_back.error().to_string();
  ASSERT_EQ(read_back->size(), 3u);
  EXPECT_EQ((*read_back)[1].timestamp_ms, 7000);
  EXPECT_EQ(as_chars(*(*read_back)[2].value), "r2");
}

TEST_F(MalformedFramesTest, CreateTopicsWithImpossibleReplicationOrAssignmentGetsKafkasErrors) {
  create_topics_with_impossible_arguments();
}

TEST_F(MalformedFramesTest, RecordsAckedBeforeEveryAttackAreStillReadableAfterThem) {
  constexpr int kBatches = 20, kPerBatch = 25;
  {
    Connection conn(port());
    for (int partition = 0; partition < kPartitions; ++partition) {
      for (int b = 0; b < kBatches; ++b) {
        auto r = produce(conn, partition, batch_of(partition, b * kPerBatch, kPerBatch), 1000 + b);
        ASSERT_TRUE(r.has_value());
        ASSERT_EQ(r->error_code, 0);
        ASSERT_EQ(r->base_offset, b * kPerBatch);
      }
    }
  }
  negative_sizes();
  tiny_sizes();
  maximum_size();
  above_one_mib_before_api_versions();
  truncated_body_then_close();
  truncated_body_then_wait();
  unknown_api_keys();
  unknown_versions();
  api_versions_v99();
  produce_with_bad_crc();
  produce_with_two_batches();
  trailing_garbage_after_metadata();
  negative_client_id_length();
  lying_array_count();
  extreme_timestamps_then_list_offsets();
  create_topics_with_impossible_arguments();
  // Leave one connection half-way through a frame, open past TearDown: the clean shutdown
  // there must not wait for it.
  straggler_ = std::make_unique<Connection>(port());
  ASSERT_TRUE(straggler_->send(size_only(100)));

  for (int partition = 0; partition < kPartitions; ++partition) {
    SCOPED_TRACE(fmt::format("partition {}", partition));
    std::int64_t high_watermark = -1;
    auto records = read_partition(partition, &high_watermark);
    EXPECT_EQ(high_watermark, kBatches * kPerBatch);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(kBatches * kPerBatch));
    for (int i = 0; i < kBatches * kPerBatch; ++i) {
      const auto& r = records[static_cast<std::size_t>(i)];
      EXPECT_EQ(r.offset.value(), i);
      ASSERT_TRUE(r.key && r.value);
      EXPECT_EQ(as_chars(*r.key), key_of(partition, i));
      EXPECT_EQ(as_chars(*r.value), value_of(partition, i));
      EXPECT_EQ(r.timestamp_ms, 1'700'000'000'000 + i);
      ASSERT_EQ(r.headers.size(), 1u);
      EXPECT_EQ(r.headers[0].first, "n");
    }
  }
}

// ListOffsets v0 (Burrow 1.2.1 and other sarama-era clients send only v0; Kafka served it
// through 3.9): the answer is the OldStyleOffsets array, one offset for latest and earliest.
TEST_F(MalformedFramesTest, ListOffsetsV0AnswersOldStyleOffsets) {
  const std::string topic = "list-offsets-v0";
  Connection conn(port());
  ASSERT_TRUE(create_topic(conn, topic));
  auto versions = advertised();
  ASSERT_TRUE(versions.contains(2));
  EXPECT_EQ(versions.at(2).first, 0) << "ListOffsets must be advertised from v0";
  std::vector<storage::Record> records(3);
  for (std::size_t i = 0; i < records.size(); ++i) {
    records[i].value = to_bytes(fmt::format("r{}", i));
    records[i].timestamp_ms = 1000 * static_cast<std::int64_t>(i + 1);  // 1000, 2000, 3000
  }
  p::ProduceRequest produce;
  produce.transactional_id = std::nullopt;
  produce.acks = -1;
  produce.timeout_ms = 10'000;
  produce.topic_data.push_back({topic, {{0, storage::build_batch(records)}}});
  std::string error;
  auto produced = round_trip<p::ProduceResponse>(conn, produce, 7, 70, error);
  ASSERT_TRUE(produced.has_value()) << error;
  ASSERT_EQ(produced->responses[0].partition_responses[0].error_code, 0);

  // (timestamp, max_num_offsets) -> the offsets Kafka 3.x answered.
  const std::vector<std::tuple<std::int64_t, std::int32_t, std::vector<std::int64_t>>> cases = {
      {-1, 1, {3}}, {-2, 1, {0}}, {-1, 0, {}}, {2000, 1, {1}}, {9000, 1, {3}}};
  std::int32_t correlation_id = 71;
  for (const auto& [timestamp, max_num_offsets, offsets] : cases) {
    SCOPED_TRACE(fmt::format("ListOffsets v0 timestamp {} max {}", timestamp, max_num_offsets));
    p::ListOffsetsRequest list;
    list.replica_id = -1;
    list.topics.push_back({topic, {{0, -1, timestamp, max_num_offsets}}});
    list.topics.push_back({"no-such-topic", {{0, -1, -1, 1}}});
    auto listed = round_trip<p::ListOffsetsResponse>(conn, list, 0, correlation_id++, error);
    ASSERT_TRUE(listed.has_value()) << error;
    ASSERT_EQ(listed->topics.size(), 2u);
    ASSERT_EQ(listed->topics[0].partitions.size(), 1u);
    EXPECT_EQ(listed->topics[0].partitions[0].error_code, 0);
    EXPECT_EQ(listed->topics[0].partitions[0].old_style_offsets, offsets);
    ASSERT_EQ(listed->topics[1].partitions.size(), 1u);
    EXPECT_EQ(listed->topics[1].partitions[0].error_code, 3);
    EXPECT_TRUE(listed->topics[1].partitions[0].old_style_offsets.empty());
  }
  expect_served();
}

// IncrementalAlterConfigs sets and deletes the Kafka topic configs Wharf only stores, as it does
// the applied ones; DescribeConfigs v3 reports them with their source and Kafka's type.
TEST_F(MalformedFramesTest, IncrementalAlterConfigsSetsAndDeletesStoredOnlyKafkaConfigs) {
  const std::string topic = "incremental-configs";
  Connection conn(port());
  ASSERT_TRUE(create_topic(conn, topic));
  std::int32_t correlation_id = 80;
  auto alter = [&](std::vector<p::IncrementalAlterConfigsRequest::AlterableConfig> configs) {
    p::IncrementalAlterConfigsRequest request;
    request.resources.push_back({2, topic, std::move(configs)});
    std::string error;
    auto resp =
        round_trip<p::IncrementalAlterConfigsResponse>(conn, request, 1, correlation_id++, error);
    EXPECT_TRUE(resp.has_value()) << error;
    return resp && resp->responses.size() == 1 ? resp->responses[0].error_code : std::int16_t{-100};
  };
  // name -> (value, source, type)
  auto describe = [&] {
    p::DescribeConfigsRequest request;
    request.resources.push_back({2, topic, std::nullopt});
    std::string error;
    auto resp = round_trip<p::DescribeConfigsResponse>(conn, request, 3, correlation_id++, error);
    EXPECT_TRUE(resp.has_value()) << error;
    std::map<std::string, std::tuple<std::string, int, int>> out;
    if (resp && resp->results.size() == 1) {
      for (const auto& c : resp->results[0].configs)
        out[c.name] = {c.value.value_or("<null>"), c.config_source, c.config_type};
    }
    return out;
  };
  using Entry = std::tuple<std::string, int, int>;
  constexpr int kDynamicTopic = 1, kDefault = 5, kBoolean = 1, kString = 2, kInt = 3;
  EXPECT_EQ(alter({{"compression.type", 0, "zstd"},
                   {"min.insync.replicas", 0, "2"},
                   {"preallocate", 0, "true"}}),
            0);
  auto configs = describe();
  EXPECT_EQ(configs["compression.type"], (Entry{"zstd", kDynamicTopic, kString}));
  EXPECT_EQ(configs["min.insync.replicas"], (Entry{"2", kDynamicTopic, kInt}));
  EXPECT_EQ(configs["preallocate"], (Entry{"true", kDynamicTopic, kBoolean}));
  EXPECT_EQ(configs["segment.index.bytes"], (Entry{"10485760", kDefault, kInt}));

  // A bad value or an unknown name fails the whole resource and changes nothing.
  EXPECT_EQ(alter({{"compression.type", 1, std::nullopt}, {"min.insync.replicas", 0, "two"}}), 40);
  EXPECT_EQ(alter({{"min.insync.replica", 0, "1"}}), 40);
  EXPECT_EQ(describe()["compression.type"], (Entry{"zstd", kDynamicTopic, kString}));

  EXPECT_EQ(alter({{"compression.type", 1, std::nullopt}}), 0);  // DELETE: back to Kafka's default
  configs = describe();
  EXPECT_EQ(configs["compression.type"], (Entry{"producer", kDefault, kString}));
  EXPECT_EQ(configs["min.insync.replicas"], (Entry{"2", kDynamicTopic, kInt}));
  expect_served();
}

// Produce v0-2 carry message formats v0/v1, which Kafka 4.0 removed (KIP-896) and Wharf does not
// serve (docs/broker.md): every partition gets UNSUPPORTED_VERSION and nothing is appended.
TEST_F(MalformedFramesTest, ProduceV0ToV2GetUnsupportedVersionAndAppendNothing) {
  const std::string topic = "old-produce";
  Connection conn(port());
  ASSERT_TRUE(create_topic(conn, topic));
  std::vector<storage::Record> records(1);
  records[0].value = to_bytes("old");
  std::int32_t correlation_id = 90;
  for (std::int16_t version = 0; version <= 2; ++version) {
    SCOPED_TRACE(fmt::format("Produce v{}", version));
    p::ProduceRequest produce;
    produce.acks = 1;
    produce.timeout_ms = 10'000;
    produce.topic_data.push_back({topic, {{0, storage::build_batch(records)}}});
    std::string error;
    auto resp = round_trip<p::ProduceResponse>(conn, produce, version, correlation_id++, error);
    ASSERT_TRUE(resp.has_value()) << error;
    ASSERT_EQ(resp->responses.size(), 1u);
    ASSERT_EQ(resp->responses[0].partition_responses.size(), 1u);
    EXPECT_EQ(resp->responses[0].partition_responses[0].error_code, kUnsupportedVersion);
  }
  p::ListOffsetsRequest list;
  list.replica_id = -1;
  list.topics.push_back({topic, {{0, -1, -1, 1}}});
  std::string error;
  auto listed = round_trip<p::ListOffsetsResponse>(conn, list, 1, correlation_id++, error);
  ASSERT_TRUE(listed.has_value()) << error;
  EXPECT_EQ(listed->topics[0].partitions[0].offset, 0) << "nothing may be appended";
  expect_served();
}

// A producer that sends many requests without waiting (librdkafka with linger.ms=0, or an
// idempotent producer with 5 in flight): the broker reads on while earlier produces wait for
// their sync, and answers in request order. A Metadata request in the middle is answered in its
// place too. Then everything is fetched back, in order.
TEST_F(MalformedFramesTest, PipelinedRequestsAreAnsweredInOrderAndAppendedInOrder) {
  const std::string topic = "pipelined";
  Connection conn(port());
  ASSERT_TRUE(create_topic(conn, topic));
  p::InitProducerIdRequest init;
  init.transactional_id = std::nullopt;
  init.transaction_timeout_ms = 60'000;
  std::string error;
  auto pid = round_trip<p::InitProducerIdResponse>(conn, init, 1, 70, error);
  ASSERT_TRUE(pid.has_value()) << error;
  ASSERT_EQ(pid->error_code, 0);

  constexpr int kRequests = 200, kMetadataAt = 100;
  Bytes frames;
  std::vector<std::int32_t> correlation_ids;
  int sequence = 0;
  for (int i = 0; i < kRequests; ++i) {
    const std::int32_t id = 1000 + i;
    if (i == kMetadataAt) {
      p::MetadataRequest metadata;
      metadata.topics = std::vector<p::MetadataRequest::MetadataRequestTopic>{{topic}};
      append(frames, request_frame(metadata, 4, id));
      correlation_ids.push_back(id);
      continue;
    }
    storage::Record record;
    record.value = to_bytes(fmt::format("record-{}", sequence));
    record.timestamp_ms = 1'700'000'000'000;
    storage::BatchOptions options{ProducerId(pid->producer_id), ProducerEpoch(pid->producer_epoch),
                                  sequence};
    p::ProduceRequest produce;
    produce.transactional_id = std::nullopt;
    produce.acks = -1;
    produce.timeout_ms = 10'000;
    produce.topic_data.push_back({topic, {{0, storage::build_batch({record}, options)}}});
    append(frames, request_frame(produce, 7, id));
    correlation_ids.push_back(id);
    ++sequence;
  }
  // All at once: the broker has every request before the first sync ends.
  ASSERT_TRUE(conn.send(frames)) << conn.error();
  std::int64_t next_offset = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto frame = conn.read_frame();
    ASSERT_TRUE(frame.has_value()) << "response " << i << ": " << conn.error();
    if (i == kMetadataAt) {
      auto metadata = parse_response<p::MetadataResponse>(*frame, 4, 4, correlation_ids[i], error);
      ASSERT_TRUE(metadata.has_value()) << error;
      ASSERT_EQ(metadata->topics.size(), 1u);
      EXPECT_EQ(metadata->topics[0].error_code, 0);
      continue;
    }
    auto produced = parse_response<p::ProduceResponse>(*frame, 7, 7, correlation_ids[i], error);
    ASSERT_TRUE(produced.has_value()) << "response " << i << ": " << error;
    ASSERT_EQ(produced->responses.size(), 1u);
    const auto& part = produced->responses[0].partition_responses.at(0);
    ASSERT_EQ(part.error_code, 0) << "response " << i;
    EXPECT_EQ(part.base_offset, next_offset) << "appended in request order";
    ++next_offset;
  }

  p::FetchRequest fetch;
  fetch.max_wait_ms = 0;
  fetch.min_bytes = 0;
  fetch.max_bytes = 1 << 20;
  fetch.topics.push_back({topic, {{0, -1, 0, -1, 1 << 20}}});
  auto fetched = round_trip<p::FetchResponse>(conn, fetch, 11, 90, error);
  ASSERT_TRUE(fetched.has_value()) << error;
  const auto& partition = fetched->responses.at(0).partitions.at(0);
  EXPECT_EQ(partition.high_watermark, next_offset) << "every acknowledged record is readable";
  ASSERT_TRUE(partition.records.has_value());
  int expected = 0;
  ByteView rest(*partition.records);
  while (!rest.empty()) {
    auto header = storage::parse_header(rest);
    ASSERT_TRUE(header.has_value());
    auto records = storage::read_records(rest.first(header->total_bytes()));
    ASSERT_TRUE(records.has_value());
    for (const auto& r : *records) {
      EXPECT_EQ(as_chars(*r.value), fmt::format("record-{}", expected));
      ++expected;
    }
    rest = rest.subspan(header->total_bytes());
  }
  EXPECT_EQ(expected, kRequests - 1);
}

}  // namespace
}  // namespace wharf::test
