// libFuzzer target: arbitrary bytes as a request frame body (what follows the int32 size).
// Decodes the request header, then the body of whichever generated API and version the header
// names (so every API/version is reachable), and the same bytes as that API's response. Any
// crash, sanitizer report, or huge allocation is a bug: client bytes must only ever produce an
// error. A successful decode must also survive a round trip: encode, decode again, compare.
// Then the same frame goes to a real broker running in this process (memory file system,
// loopback port): every handler decodes it, does its work and encodes its response, so a
// response that cannot be encoded, or any check a request can trip, aborts here (issue 9).
//
// Build: see tests/fuzz/CMakeLists.txt. Seeds: tests/fuzz/corpus/request_decode/.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/check.h"
#include "base/clock.h"
#include "io/memory_file_system.h"
#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"
#include "kafka/server/producer_ids.h"
#include "kafka/server/server.h"
#include "storage/log_manager.h"

namespace {

using namespace wharf::kafka::protocol;

// Small limits: a fuzz input is at most a few KB, and this keeps out-of-memory reports real.
constexpr ReaderLimits kLimits{.array_elements_max = 4096, .elements_total_max = 65536};

template <typename Message>
void decode_and_round_trip(wharf::ByteView body, std::int16_t version) {
  auto decoded = decode_message<Message>(body, version, kLimits);
  if (!decoded) return;
  auto encoded = encode_message(*decoded, version);
  WHARF_CHECK(encoded.has_value(), "{} v{} decoded but does not encode: {}", Message::kName,
              version, encoded.error().to_string());
  auto again = decode_message<Message>(*encoded, version, kLimits);
  WHARF_CHECK(again.has_value(), "{} v{} re-decode failed: {}", Message::kName, version,
              again.error().to_string());
  WHARF_CHECK(*again == *decoded, "{} v{} changed in a round trip", Message::kName, version);
}

// One broker for the whole run, never destroyed (its threads outlive the fuzzing loop).
struct InProcessBroker {
  wharf::io::MemoryFileSystem fs;
  std::unique_ptr<wharf::storage::LogManager> log;
  std::unique_ptr<wharf::kafka::ProducerIdAllocator> producer_ids;
  std::unique_ptr<wharf::kafka::KafkaServer> server;
};

InProcessBroker& broker() {
  static InProcessBroker* b = [] {
    auto* broker = new InProcessBroker;
    wharf::storage::LogManagerOptions options;
    options.data_dir = "/data";
    options.background = false;
    broker->log = std::move(
        *wharf::storage::LogManager::open(broker->fs, options, wharf::SystemClock::instance()));
    broker->producer_ids = std::move(*wharf::kafka::ProducerIdAllocator::open(broker->fs, "/data"));
    wharf::kafka::ServerConfig config;
    config.listen_port = 0;
    config.storage_threads = 2;
    config.offsets_topic_partitions = 1;
    config.group_initial_rebalance_delay = std::chrono::milliseconds(0);
    config.fetch_wait_max =
        std::chrono::milliseconds(50);  // a fuzzed long poll must not stall the run
    broker->server = std::make_unique<wharf::kafka::KafkaServer>(
        config, *broker->log, *broker->producer_ids, wharf::SystemClock::instance());
    WHARF_CHECK(broker->server->start().has_value());
    return broker;
  }();
  return *b;
}

// Sends `frame` (size-prefixed) and half-closes; reads whatever comes back until the broker
// closes or 2 s pass (a parked JoinGroup may wait for its rebalance).
void send_to_broker(wharf::ByteView frame) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(broker().server->bound_port());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    wharf::Bytes out;
    wharf::append_be<std::int32_t>(out, static_cast<std::int32_t>(frame.size()));
    wharf::append(out, frame);
    (void)::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    std::byte sink[4096];
    for (int i = 0; i < 40; ++i) {
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      if (::recv(fd, sink, sizeof sink, 0) <= 0) break;
    }
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wharf::ByteView frame(reinterpret_cast<const std::byte*>(data), size);
  Reader reader(frame, kLimits);
  auto header = decode_request_header(reader);
  if (!header) return 0;
  auto body = frame.subspan(reader.position());
  const std::int16_t version = header->request_api_version;
  for_each_api([&](auto api) {
    using Api = decltype(api);
    if (Api::Request::kApiKey != header->request_api_key) return;
    decode_and_round_trip<typename Api::Request>(body, version);
    decode_and_round_trip<typename Api::Response>(body, version);
  });
  send_to_broker(frame);
  return 0;
}
