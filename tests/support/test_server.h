// Test support: a KafkaServer in this process, on 127.0.0.1 (a free port), over an in-memory
// file system and a ManualClock that the test steps. Unit tests of the server, the admin API
// and the broker use it with the blocking raw client of tests/support/raw_client.h, so that
// idle timeouts, long-poll deadlines and shutdown drain can be tested without the broker binary.
//
// The file system can hold reads of `.log` files at a gate (ReadGate): a Fetch then stays in
// flight, on a storage thread, until the test opens the gate, which is how a test gets a request
// that is certainly in flight when it calls stop().
//
// Threads: the test thread owns the fixture; the server runs its own network and storage
// threads. The fixture must outlive every connection the test opens to it. No durability beyond
// the MemoryFileSystem's crash model.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/result.h"
#include "io/file_system.h"
#include "io/forwarding_file_system.h"
#include "io/memory_file_system.h"
#include "kafka/protocol/generated/fetch.h"
#include "kafka/protocol/generated/produce.h"
#include "kafka/server/producer_ids.h"
#include "kafka/server/server.h"
#include "storage/log_manager.h"

namespace wharf::test {

// Blocks readers while closed. Any thread.
class ReadGate {
 public:
  void close();
  void open();
  // Called by a reader: returns at once while open, else when the gate opens.
  void pass();
  // True once a reader waits at the closed gate; false if none did within `bound`.
  bool wait_for_reader(std::chrono::milliseconds bound);
  // The next `n` readers throw std::bad_alloc instead of reading (the one exception a read can
  // raise: an allocation failing).
  void throw_next(int n);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  int waiting_ = 0;
  int throws_ = 0;
};

// A FileSystem that forwards to another and makes every read of a `.log` file pass `gate`.
class GatedFileSystem final : public io::ForwardingFileSystem {
 public:
  GatedFileSystem(io::FileSystem& inner, ReadGate& gate)
      : io::ForwardingFileSystem(inner), gate_(gate) {}
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override;

 private:
  ReadGate& gate_;
};

// Settings for tests: few storage threads, and a ServerConfig the test may change before start().
kafka::ServerConfig test_server_config();

class TestServer {
 public:
  explicit TestServer(kafka::ServerConfig config = test_server_config());
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Opens the log and the producer-id allocator under /data and starts the server.
  [[nodiscard]] Status start();
  // KafkaServer::stop(): drains in-flight requests, closes every connection. Idempotent. It
  // does not open the read gate (the destructor does): a read held there delays the drain.
  void stop();

  int port() const { return static_cast<int>(server_->bound_port()); }
  ManualClock& clock() { return clock_; }
  ReadGate& read_gate() { return gate_; }
  io::MemoryFileSystem& memory_fs() { return memory_fs_; }
  storage::LogManager& log() { return *log_; }
  kafka::KafkaServer& server() { return *server_; }
  kafka::ServerConfig& config() { return config_; }

 private:
  kafka::ServerConfig config_;
  ManualClock clock_;
  io::MemoryFileSystem memory_fs_;
  ReadGate gate_;
  GatedFileSystem fs_{memory_fs_, gate_};
  std::unique_ptr<storage::LogManager> log_;
  std::unique_ptr<kafka::ProducerIdAllocator> producer_ids_;
  std::unique_ptr<kafka::KafkaServer> server_;
};

// A Produce (acks=-1) of one batch to `topic`/`partition`.
kafka::protocol::ProduceRequest produce_request(const std::string& topic, std::int32_t partition,
                                                Bytes batch);
// A Fetch of one partition from `offset`, waiting up to `max_wait_ms` for `min_bytes`.
kafka::protocol::FetchRequest fetch_request(const std::string& topic, std::int32_t partition,
                                            std::int64_t offset, std::int32_t max_wait_ms,
                                            std::int32_t min_bytes);

// What a blocking HTTP/1.1 GET to 127.0.0.1:`port` got back.
struct HttpReply {
  int status = 0;
  std::string body;
};
// One GET (Connection: close), read to EOF; every wait bounded by 10 s. Why not, on failure.
[[nodiscard]] Result<HttpReply> http_get(int port, const std::string& path);

// One uncompressed batch holding `values` (no keys), as a producer sends it.
Bytes batch_of(const std::vector<std::string>& values);
// The values of every record in `record_set` (whole batches back to back), in offset order.
std::vector<std::string> values_of(ByteView record_set);

}  // namespace wharf::test
