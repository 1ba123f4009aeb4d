// The hostile-client suite (issue 9; reliability.md §6.5): raw frames through every API with
// the longest string in every string field, the exact requests that used to abort the broker,
// compressed batches that lie, and resource exhaustion (a client that stops reading, a size
// prefix that never completes, many connections declaring huge frames). Each test runs the real
// `wharf serve` binary and expects every bad request to fail alone (an error code or a closed
// connection) while the broker keeps serving a well-behaved client and, at the end, shuts down
// cleanly (a crash or abort shows as a non-zero exit status). Every loop and wait is bounded.
#include <sys/types.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "kafka/protocol/generated/alter_configs.h"
#include "kafka/protocol/generated/api_versions.h"
#include "kafka/protocol/generated/create_partitions.h"
#include "kafka/protocol/generated/create_topics.h"
#include "kafka/protocol/generated/describe_configs.h"
#include "kafka/protocol/generated/fetch.h"
#include "kafka/protocol/generated/incremental_alter_configs.h"
#include "kafka/protocol/generated/join_group.h"
#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/generated/metadata.h"
#include "kafka/protocol/generated/produce.h"
#include "kafka/protocol/generated/test_samples.h"
#include "storage/record_batch.h"
#include "tests/integration/broker_process.h"
#include "tests/support/compressed_batch.h"
#include "tests/support/raw_client.h"

namespace wharf::test {
namespace {

using namespace raw;

constexpr std::size_t kLongest = 32767;  // the longest int16-length string
constexpr std::int16_t kCorruptMessage = 2;
constexpr std::int16_t kInvalidTopicException = 17;
constexpr std::int16_t kUnknownTopicOrPartition = 3;
const std::string kTopic = "hostile";

// A config file for the broker under test; removed with the test.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    char name[] = "/tmp/wharf-hostile-config.XXXXXX";
    const int fd = ::mkstemp(name);
    path_ = name;
    if (fd >= 0) ::close(fd);
    std::ofstream(path_) << text;
  }
  ~ConfigFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class HostileClientTest : public ::testing::Test {
 protected:
  // Starts a broker with `config` (key=value lines) and creates the test topic.
  void start(const std::string& config = "") {
    config_ = std::make_unique<ConfigFile>(config);
    broker_ = std::make_unique<BrokerProcess>(
        std::vector<std::string>{"--config", config_->path(), "--sync", "none"});
    ASSERT_TRUE(broker_->start()) << broker_->last_output();
    Connection conn(port());
    p::CreateTopicsRequest create;
    create.topics.push_back({kTopic, 1, 1, {}, {}});
    std::string error;
    auto created = round_trip<p::CreateTopicsResponse>(conn, create, 4, 1, error);
    ASSERT_TRUE(created.has_value()) << error;
    ASSERT_EQ(created->topics.at(0).error_code, 0);
  }

  void TearDown() override {
    if (broker_) {
      EXPECT_EQ(broker_->stop(), 0) << "the broker did not survive: " << broker_->last_output();
    }
  }

  int port() const { return broker_->port(); }

  // A fresh, well-behaved client is served: ApiVersions and Metadata answered correctly.
  std::string served_error() {
    Connection conn(port());
    if (!conn.connected()) return "cannot connect: " + conn.error();
    std::string error;
    p::ApiVersionsRequest av;
    av.client_software_name = "wharf-hostile-test";
    av.client_software_version = "1.0";
    auto versions = round_trip<p::ApiVersionsResponse>(conn, av, 3, 1, error);
    if (!versions) return "ApiVersions: " + error;
    p::MetadataRequest md;
    md.topics = std::vector<p::MetadataRequest::MetadataRequestTopic>{{kTopic}};
    md.allow_auto_topic_creation = false;
    auto metadata = round_trip<p::MetadataResponse>(conn, md, 8, 2, error);
    if (!metadata) return "Metadata: " + error;
    if (metadata->topics.size() != 1 || metadata->topics[0].error_code != 0)
      return "Metadata: wrong topic";
    return "";
  }

  std::optional<p::ProduceResponse::PartitionProduceResponse> produce(Connection& conn,
                                                                      Bytes records,
                                                                      std::int32_t correlation_id) {
    p::ProduceRequest r;
    r.transactional_id = std::nullopt;
    r.acks = -1;
    r.timeout_ms = 10'000;
    r.topic_data.push_back({kTopic, {{0, std::move(records)}}});
    std::string error;
    auto resp = round_trip<p::ProduceResponse>(conn, r, 7, correlation_id, error);
    EXPECT_TRUE(resp.has_value()) << error;
    if (!resp || resp->responses.size() != 1 || resp->responses[0].partition_responses.size() != 1)
      return std::nullopt;
    return resp->responses[0].partition_responses[0];
  }

  std::int64_t high_watermark() {
    Connection conn(port());
    p::FetchRequest fetch;
    fetch.max_wait_ms = 0;
    fetch.min_bytes = 0;
    fetch.max_bytes = 1 << 20;
    fetch.topics.push_back({kTopic, {{0, -1, 0, -1, 1 << 20}}});
    std::string error;
    auto resp = round_trip<p::FetchResponse>(conn, fetch, 11, 7, error);
    EXPECT_TRUE(resp.has_value()) << error;
    if (!resp || resp->responses.empty() || resp->responses[0].partitions.empty()) return -1;
    return resp->responses[0].partitions[0].high_watermark;
  }

  std::unique_ptr<ConfigFile> config_;
  std::unique_ptr<BrokerProcess> broker_;
};

Bytes three_records() {
  std::vector<storage::Record> records(3);
  for (int i = 0; i < 3; ++i) {
    records[i].key = to_bytes("k" + std::to_string(i));
    records[i].value = to_bytes("value " + std::to_string(i));
    records[i].timestamp_ms = 1'700'000'000'000 + i;
  }
  return storage::build_batch(records);
}

// ---- defect 1: strings a client sends ------------------------------------------------------

TEST_F(HostileClientTest, LongestStringsInAdminRequestsFailAloneWithBoundedErrors) {
  start();
  const std::string huge(kLongest, 'x');
  std::string error;
  {
    SCOPED_TRACE("CreateTopics: topic name");
    Connection conn(port());
    p::CreateTopicsRequest r;
    r.topics.push_back({huge, 1, 1, {}, {}});
    auto resp = round_trip<p::CreateTopicsResponse>(conn, r, 4, 1, error);
    ASSERT_TRUE(resp.has_value()) << error;
    EXPECT_EQ(resp->topics.at(0).error_code, kInvalidTopicException);
    ASSERT_TRUE(resp->topics.at(0).error_message.has_value());
    EXPECT_LT(resp->topics.at(0).error_message->size(), 1024u)
        << "the error message must not echo the whole name";
  }
  {
    SCOPED_TRACE("CreateTopics: config name and value");
    Connection conn(port());
    p::CreateTopicsRequest r;
    r.topics.push_back({"fine-name", 1, 1, {}, {{huge, huge}}});
    r.topics.push_back({"fine-name-2", 1, 1, {}, {{"retention.ms", huge}}});
    auto resp = round_trip<p::CreateTopicsResponse>(conn, r, 4, 1, error);
    ASSERT_TRUE(resp.has_value()) << error;
    for (const auto& t : resp->topics) EXPECT_NE(t.error_code, 0) << t.name;
  }
  {
    SCOPED_TRACE("CreatePartitions: unknown topic");
    Connection conn(port());
    p::CreatePartitionsRequest r;
    r.topics.push_back({huge, 2, std::nullopt});
    r.timeout_ms = 1000;
    auto resp = round_trip<p::CreatePartitionsResponse>(conn, r, 1, 1, error);
    ASSERT_TRUE(resp.has_value()) << error;
    EXPECT_EQ(resp->results.at(0).error_code, kUnknownTopicOrPartition);
  }
  for (std::int8_t type : {std::int8_t{2}, std::int8_t{4}}) {
    SCOPED_TRACE(fmt::format("DescribeConfigs: resource type {}", type));
    Connection conn(port());
    p::DescribeConfigsRequest r;
    r.resources.push_back({type, huge, std::nullopt});
    auto resp = round_trip<p::DescribeConfigsResponse>(conn, r, 3, 1, error);
    ASSERT_TRUE(resp.has_value()) << error;
    EXPECT_NE(resp->results.at(0).error_code, 0);
  }
  {
    SCOPED_TRACE("AlterConfigs: resource name");
    Connection conn(port());
    p::AlterConfigsRequest r;
    r.resources.push_back({2, huge, {{"retention.ms", "1000"}}});
    auto resp = round_trip<p::AlterConfigsResponse>(conn, r, 1, 1, error);
    ASSERT_TRUE(resp.has_value()) << error;
    EXPECT_EQ(resp->responses.at(0).error_code, kUnknownTopicOrPartition);
  }
  {
    SCOPED_TRACE("IncrementalAlterConfigs: config name with an unknown operation");
    Connection conn(port());
    p::IncrementalAlterConfigsRequest r;
    r.resources.push_back({2, kTopic, {{huge, 7, "v"}}});
    auto resp = round_trip<p::IncrementalAlterConfigsResponse>(conn, r, 1, 1, error);
    ASSERT_TRUE(resp.has_value()) << error;
    EXPECT_NE(resp->responses.at(0).error_code, 0);
  }
  EXPECT_EQ(served_error(), "");
}

TEST_F(HostileClientTest, LongestClientIdStillGetsAnEncodableMemberId) {
  start();
  Connection conn(port());
  p::JoinGroupRequest r;
  r.group_id = "g";
  r.session_timeout_ms = 10'000;
  r.rebalance_timeout_ms = 10'000;
  r.member_id = "";
  r.protocol_type = "consumer";
  r.protocols.push_back({"range", {}});
  ASSERT_TRUE(conn.send(request_frame(r, 4, 1, std::string(kLongest, 'c'))));
  auto frame = conn.read_frame();
  ASSERT_TRUE(frame.has_value()) << conn.error();
  std::string error;
  auto resp = parse_response<p::JoinGroupResponse>(*frame, 4, 4, 1, error);
  ASSERT_TRUE(resp.has_value()) << error;
  EXPECT_EQ(resp->error_code, 79);  // MEMBER_ID_REQUIRED, with the member id to use
  EXPECT_FALSE(resp->member_id.empty());
  EXPECT_LT(resp->member_id.size(), 1024u);
  EXPECT_EQ(served_error(), "");
}

// Every API and version the broker advertises, each request filled with strings of the longest
// length in every string field (pseudo-random other fields, seeded): the broker answers or
// closes that connection, and keeps serving.
TEST_F(HostileClientTest, LongestStringInEveryStringFieldOfEveryApiFailsAlone) {
  start();
  Connection probe(port());
  p::ApiVersionsRequest av;
  av.client_software_name = "wharf-hostile-test";
  av.client_software_version = "1.0";
  std::string error;
  auto versions = round_trip<p::ApiVersionsResponse>(probe, av, 3, 1, error);
  ASSERT_TRUE(versions.has_value()) << error;
  std::map<std::int16_t, std::pair<std::int16_t, std::int16_t>> advertised;
  for (const auto& k : versions->api_keys) advertised[k.api_key] = {k.min_version, k.max_version};
  int sent = 0;
  p::for_each_api([&](auto api) {
    using Req = typename decltype(api)::Request;
    auto it = advertised.find(Req::kApiKey);
    if (it == advertised.end() || Req::kApiKey == 18) return;
    for (std::int16_t v = it->second.first; v <= it->second.second; ++v) {
      if (v < Req::kMinVersion || v > Req::kMaxVersion) continue;
      SCOPED_TRACE(fmt::format("{} v{}", Req::kName, v));
      p::testing::SampleSource source(static_cast<std::uint64_t>(Req::kApiKey) * 1000 +
                                      static_cast<std::uint64_t>(v));
      source.set_string_bytes(kLongest);
      Req request;
      p::testing::fill_sample(request, v, source);
      auto body = p::encode_message(request, v);
      if (!body) continue;  // not representable (e.g. too many long strings for an array)
      Bytes frame = header_bytes(Req::kApiKey, v, 42);
      append(frame, *body);
      // A short read bound: a parked request (long-poll fetch, join) may legitimately not answer.
      Connection conn(port(), 0, std::chrono::milliseconds(1500));
      ASSERT_TRUE(conn.connected()) << conn.error();
      (void)conn.send(with_size_prefix(frame));
      (void)conn.read_frame();
      conn.close();
      ++sent;
      ASSERT_EQ(served_error(), "") << "the broker stopped serving after this request";
    }
  });
  EXPECT_GT(sent, 40);
}

// ---- defect 2: compressed batches ----------------------------------------------------------

TEST_F(HostileClientTest, CompressedBatchesThatLieAreRefusedAndMoveNoOffsets) {
  start();
  Connection conn(port());
  int correlation = 1;
  auto expect_refused = [&](Bytes batch, const std::string& what) {
    SCOPED_TRACE(what);
    auto r = produce(conn, std::move(batch), ++correlation);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error_code, kCorruptMessage);
  };
  expect_refused(compress_batch(three_records(), storage::Compression::kGzip, 1000),
                 "gzip: 1000 declared, 3 held");
  expect_refused(compress_batch(three_records(), storage::Compression::kZstd, 0x7fffffff),
                 "zstd: 2^31-1 declared");
  std::mt19937 rng(2);
  Bytes junk(200);
  for (auto& b : junk) b = static_cast<std::byte>(rng());
  expect_refused(rebuild_batch(three_records(), storage::Compression::kGzip, junk, 3),
                 "200 random bytes as gzip");
  EXPECT_EQ(high_watermark(), 0) << "a refused batch moved the log end";
  auto ok =
      produce(conn, compress_batch(three_records(), storage::Compression::kGzip), ++correlation);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->error_code, 0);
  EXPECT_EQ(ok->base_offset, 0);
  EXPECT_EQ(high_watermark(), 3);
}

// ---- defect 7: stalled clients -------------------------------------------------------------

// The TCP state (1 = ESTABLISHED, 4 = FIN_WAIT1, ...) of the IPv4 socket with these ports, from
// /proc/net/tcp; nullopt if there is none.
std::optional<int> tcp_state(int local_port, int remote_port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    unsigned lp = 0, rp = 0, state = 0;
    if (std::sscanf(line.c_str(), " %*d: %*8X:%4X %*8X:%4X %2X", &lp, &rp, &state) == 3 &&
        static_cast<int>(lp) == local_port && static_cast<int>(rp) == remote_port) {
      return static_cast<int>(state);
    }
  }
  return std::nullopt;
}

int local_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST_F(HostileClientTest, SizePrefixThatNeverCompletesIsCutOffAtThePartialRequestLimit) {
  start("request.read.timeout.ms=2000\n");
  Connection conn(port(), 0, std::chrono::seconds(30));  // far below the 10-minute idle timeout
  const Bytes prefix = size_only(64);
  ASSERT_TRUE(conn.send(ByteView(prefix).first(3)));
  EXPECT_TRUE(conn.closed_by_broker()) << conn.error();
  EXPECT_EQ(served_error(), "");
}

TEST_F(HostileClientTest, ClientThatStopsReadingIsCutOffAfterTheIdleTimeout) {
  start("connections.max.idle.ms=3000\n");
  {
    Connection conn(port());
    std::vector<storage::Record> records(1);
    records[0].value = Bytes(900 * 1024, std::byte{'v'});
    for (int i = 0; i < 24; ++i) {
      auto r = produce(conn, storage::build_batch(records), i + 1);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->error_code, 0);
    }
  }
  // ~21 MiB in one fetch response, far beyond what the socket buffers hold; never read.
  Connection reader(port(), 4096, std::chrono::seconds(60));
  p::FetchRequest fetch;
  fetch.max_wait_ms = 0;
  fetch.min_bytes = 1;
  fetch.max_bytes = 64 << 20;
  fetch.topics.push_back({kTopic, {{0, -1, 0, -1, 64 << 20}}});
  ASSERT_TRUE(reader.send(request_frame(fetch, 11, 1)));
  // The broker's end of this connection, as the kernel shows it: ESTABLISHED until the broker
  // gives up and closes it (then FIN_WAIT1, its unsent bytes stuck behind our zero window).
  // Bounded wait; the broker should close after ~3 s of no progress.
  bool broker_closed = false;
  for (int i = 0; i < 240 && !broker_closed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto state = tcp_state(port(), local_port(reader.fd()));
    broker_closed = state.has_value() && *state != 1;
  }
  EXPECT_TRUE(broker_closed) << "the broker kept a connection whose client reads nothing";
  // Draining now ends in EOF before the whole response: the rest was dropped with the connection.
  Bytes sink(1 << 20);
  std::size_t drained = 0;
  bool eof = false;
  for (int i = 0; i < 2000 && !eof; ++i) {
    const ssize_t n = ::recv(reader.fd(), sink.data(), sink.size(), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) eof = true;
    if (n > 0) drained += static_cast<std::size_t>(n);
    if (n < 0 && errno == EAGAIN) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(eof) << "still connected after draining " << drained << " bytes";
  EXPECT_LT(drained, std::size_t{21} << 20) << "the whole response was delivered";
  EXPECT_EQ(served_error(), "");
}

// ---- defect 6: declared sizes --------------------------------------------------------------

std::int64_t rss_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

TEST_F(HostileClientTest, DeclaredFrameSizesDoNotReserveMemory) {
  start();
  std::vector<std::unique_ptr<Connection>> liars;
  p::ApiVersionsRequest av;
  av.client_software_name = "wharf-hostile-test";
  av.client_software_version = "1.0";
  for (int i = 0; i < 20; ++i) {
    auto conn = std::make_unique<Connection>(port());
    std::string error;
    // Half of them never send ApiVersions: the 100 MiB limit applies from the first request
    // (as Kafka), so the bound must come from the shared budget, not from being identified.
    if (i % 2 == 0) {
      ASSERT_TRUE(round_trip<p::ApiVersionsResponse>(*conn, av, 3, 1, error).has_value()) << error;
    }
    Bytes declared = size_only(100 * 1024 * 1024 - 1);
    append(declared, header_bytes(3, 8, 2));  // a start of a frame, then nothing more
    ASSERT_TRUE(conn->send(declared));
    liars.push_back(std::move(conn));
  }
  EXPECT_EQ(served_error(), "");  // also makes sure every liar's bytes were read
  const std::int64_t rss = rss_kib(broker_->pid());
  ASSERT_GT(rss, 0);
  EXPECT_LT(rss, 300 * 1024) << "20 declared 100 MiB frames took " << rss / 1024 << " MiB";
}

}  // namespace
}  // namespace wharf::test
