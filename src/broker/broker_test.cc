// The broker in process: Broker::start on an in-memory file system and a ManualClock, a producer
// and a consumer through the raw client, the admin API over HTTP, a clean stop, and a restart
// on the same files that serves the same records.
#include "broker/broker.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "io/memory_file_system.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_server.h"

namespace wharf::broker {
namespace {

namespace p = kafka::protocol;

BrokerConfig test_config() {
  BrokerConfig c;
  c.data_dir = "/broker-data";
  c.server = test::test_server_config();
  c.server.connections_max = 64;  // the start-up descriptor check stays within any test limit
  c.admin_listen = "127.0.0.1:0";
  return c;
}

// Everything in `topic` partition 0 from offset 0, with Fetch v11.
std::vector<std::string> fetch_all(int port, const std::string& topic) {
  test::raw::Connection conn(port);
  std::string error;
  auto resp = test::raw::round_trip<p::FetchResponse>(conn, test::fetch_request(topic, 0, 0, 0, 0),
                                                      11, 1, error);
  EXPECT_TRUE(resp.has_value()) << error;
  if (!resp || resp->responses.size() != 1 || resp->responses[0].partitions.size() != 1) return {};
  const auto& pd = resp->responses[0].partitions[0];
  EXPECT_EQ(pd.error_code, 0);
  return pd.records ? test::values_of(*pd.records) : std::vector<std::string>{};
}

TEST(BrokerTest, ServesProduceFetchAndAdminAndKeepsRecordsAcrossACleanRestart) {
  io::MemoryFileSystem fs;
  ManualClock clock;
  {
    auto broker = Broker::start(test_config(), fs, clock);
    ASSERT_TRUE(broker.has_value()) << broker.error().to_string();
    const int port = (*broker)->kafka_port();
    ASSERT_NE((*broker)->admin_port(), 0);

    auto created = (*broker)->log().create_topic("events", 1);
    ASSERT_TRUE(created.has_value()) << created.error().to_string();
    test::raw::Connection producer(port);
    std::string error;
    auto resp = test::raw::round_trip<p::ProduceResponse>(
        producer, test::produce_request("events", 0, test::batch_of({"first", "second"})), 7, 1,
        error);
    ASSERT_TRUE(resp.has_value()) << error;
    ASSERT_EQ(resp->responses.size(), 1u);
    ASSERT_EQ(resp->responses[0].partition_responses.size(), 1u);
    EXPECT_EQ(resp->responses[0].partition_responses[0].error_code, 0);
    EXPECT_EQ(resp->responses[0].partition_responses[0].base_offset, 0);

    EXPECT_EQ(fetch_all(port, "events"), (std::vector<std::string>{"first", "second"}));
    auto ready = test::http_get((*broker)->admin_port(), "/readyz");
    ASSERT_TRUE(ready.has_value()) << ready.error().to_string();
    EXPECT_EQ(ready->status, 200);

    auto stopped = (*broker)->stop();
    EXPECT_TRUE(stopped.has_value()) << stopped.error().to_string();
    EXPECT_TRUE(producer.closed_by_broker()) << producer.error();
  }
  // What a clean stop left in the files: a second broker on them serves the same records.
  auto again = Broker::start(test_config(), fs, clock);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(fetch_all((*again)->kafka_port(), "events"),
            (std::vector<std::string>{"first", "second"}));
  EXPECT_TRUE((*again)->stop().has_value());
}

TEST(BrokerSettingsTest, FetchReadAheadTakesZeroToTurnItOffAndRefusesWhatIsOutOfRange) {
  BrokerConfig c;
  EXPECT_EQ(c.server.fetch_read_ahead_bytes_max, 64u << 20) << "on by default";
  ASSERT_TRUE(apply_setting(c, "fetch.read.ahead.max.bytes", "0").has_value());
  EXPECT_EQ(c.server.fetch_read_ahead_bytes_max, 0u);
  ASSERT_TRUE(apply_setting(c, "fetch.read.ahead.max.bytes", "1048576").has_value());
  EXPECT_EQ(c.server.fetch_read_ahead_bytes_max, 1u << 20);
  for (const char* bad : {"-1", "17179869185", "lots"}) {
    auto s = apply_setting(c, "fetch.read.ahead.max.bytes", bad);
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_NE(s.error().message().find("fetch.read.ahead.max.bytes"), std::string::npos)
        << s.error().message();
  }
  EXPECT_EQ(c.server.fetch_read_ahead_bytes_max, 1u << 20) << "a refused value changes nothing";
}

TEST(BrokerSettingsTest, ALongOrInvalidKeyOrValueIsQuotedShortInItsError) {
  BrokerConfig c;
  const std::string huge(32 * 1024, '9');
  const std::string bad_utf8 = "\xff\xfe" + std::string(40000, 'k');
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"fetch.read.ahead.max.bytes", huge + "x"},
                                                        {"listen", huge},
                                                        {"auto.create.topics.enable", huge},
                                                        {bad_utf8, "1"}}) {
    auto s = apply_setting(c, key, value);
    ASSERT_FALSE(s.has_value());
    EXPECT_LT(s.error().message().size(), 400u) << s.error().message().substr(0, 200);
    EXPECT_EQ(s.error().message().find('\xff'), std::string::npos) << "raw bytes are escaped";
  }
}

// A config file is read whole, bounded: a wrong path (a device, a log file) is refused before it
// can fill memory, and a bad line is named by its number.
TEST(BrokerSettingsTest, AConfigFileIsReadBoundedAndItsBadLinesAreNamed) {
  std::string dir = (std::filesystem::temp_directory_path() / "wharf-config-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
    return dir + "/" + name;
  };
  BrokerConfig c;
  auto good = apply_config_file(
      c, write("good.properties", "# a comment\n\n  num.partitions = 7\r\nlisten=127.0.0.1:0"));
  ASSERT_TRUE(good.has_value()) << good.error().to_string();
  EXPECT_EQ(c.server.default_partitions, 7);

  auto bad_line = apply_config_file(c, write("bad.properties", "num.partitions=3\nnonsense\n"));
  ASSERT_FALSE(bad_line.has_value());
  EXPECT_NE(bad_line.error().message().find("bad.properties:2"), std::string::npos)
      << bad_line.error().message();

  // Exactly the bound is read; one byte more is refused, in a file and from a device alike.
  std::string at_bound(kConfigFileBytesMax, '\n');
  at_bound.replace(0, 17, "num.partitions=5\n");
  auto ok = apply_config_file(c, write("at-bound.properties", at_bound));
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ(c.server.default_partitions, 5);
  for (const std::string& path :
       {write("over.properties", "num.partitions=9\n" + at_bound), std::string("/dev/zero")}) {
    auto over = apply_config_file(c, path);
    ASSERT_FALSE(over.has_value()) << path;
    EXPECT_EQ(over.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(over.error().message().find("larger than 1048576 bytes"), std::string::npos)
        << over.error().message();
  }
  EXPECT_EQ(c.server.default_partitions, 5) << "a refused file changes nothing";

  auto missing = apply_config_file(c, dir + "/missing.properties");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  std::filesystem::remove_all(dir);
}

// meta.properties is read from disk and its cluster.id goes into every Metadata response, so the
// file's size and the id's bytes are checked before the broker serves anything.
TEST(BrokerTest, RefusesToStartOnAMetaPropertiesItCannotTrust) {
  const std::string meta = "/broker-data/meta.properties";
  const std::string huge_id(300, 'a');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cluster.id=\n", "cluster.id '' is not"},
      {"cluster.id=" + huge_id + "\n", "is not 1 to 255 printable"},
      {"cluster.id=abc\x01\xff def\n", "abc\\x01\\xff def"},
      {"cluster.id=" + std::string(2 << 20, 'x'), "more than the 1048576"},
  };
  for (const auto& [contents, expected] : cases) {
    io::MemoryFileSystem fs;
    ManualClock clock;
    ASSERT_TRUE(io::create_dirs_durable(fs, "/broker-data"));
    ASSERT_TRUE(io::write_file_atomic(fs, meta, as_bytes(contents)));
    auto broker = Broker::start(test_config(), fs, clock);
    ASSERT_FALSE(broker.has_value()) << contents.substr(0, 40);
    const std::string message = broker.error().to_string();
    EXPECT_NE(message.find(expected), std::string::npos) << message.substr(0, 300);
    EXPECT_LT(message.size(), 600u) << "the id is quoted short";
  }
}

TEST(BrokerTest, TakesTheClusterIdLineIgnoringCommentsAndTrailingBlanks) {
  io::MemoryFileSystem fs;
  ManualClock clock;
  ASSERT_TRUE(io::create_dirs_durable(fs, "/broker-data"));
  ASSERT_TRUE(io::write_file_atomic(fs, "/broker-data/meta.properties",
                                    as_bytes("#cluster.id=old\r\nversion=1\r\n"
                                             "cluster.id=Abc-123_xyz \t\r\n")));
  auto broker = Broker::start(test_config(), fs, clock);
  ASSERT_TRUE(broker.has_value()) << broker.error().to_string();
  EXPECT_EQ((*broker)->cluster_id(), "Abc-123_xyz");
  EXPECT_TRUE((*broker)->stop().has_value());
}

}  // namespace
}  // namespace wharf::broker
