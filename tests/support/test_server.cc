#include "tests/support/test_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "base/check.h"
#include "storage/record_batch.h"

namespace wharf::test {

void ReadGate::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

void ReadGate::open() {
  {
    std::lock_guard lock(mu_);
    closed_ = false;
  }
  cv_.notify_all();
}

void ReadGate::throw_next(int n) {
  std::lock_guard lock(mu_);
  throws_ = n;
}

void ReadGate::pass() {
  std::unique_lock lock(mu_);
  if (throws_ > 0) {
    --throws_;
    throw std::bad_alloc();
  }
  if (!closed_) return;
  ++waiting_;
  cv_.notify_all();
  cv_.wait(lock, [this] { return !closed_; });
  --waiting_;
}

bool ReadGate::wait_for_reader(std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, bound, [this] { return waiting_ > 0; });
}

namespace {

class GatedFile final : public io::ForwardingFile {
 public:
  GatedFile(std::unique_ptr<io::File> inner, ReadGate* gate)
      : io::ForwardingFile(std::move(inner)), gate_(gate) {}
  Result<std::size_t> read_at(FilePosition position, MutableByteView dst) override {
    if (gate_ != nullptr) gate_->pass();
    return inner().read_at(position, dst);
  }

 private:
  ReadGate* gate_;  // null: never held
};

bool is_log_file(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".log") == 0;
}

}  // namespace

Result<std::unique_ptr<io::File>> GatedFileSystem::open(const std::string& path,
                                                        io::OpenMode mode) {
  WHARF_ASSIGN_OR_RETURN(auto file, inner().open(path, mode));
  return std::unique_ptr<io::File>(
      std::make_unique<GatedFile>(std::move(file), is_log_file(path) ? &gate_ : nullptr));
}

kafka::ServerConfig test_server_config() {
  kafka::ServerConfig c;
  c.listen_host = "127.0.0.1";
  c.listen_port = 0;
  c.cluster_id = "wharf-test-cluster";
  c.storage_threads = 2;
  c.offsets_topic_partitions = 1;
  c.group_initial_rebalance_delay = std::chrono::milliseconds(0);
  return c;
}

TestServer::TestServer(kafka::ServerConfig config) : config_(std::move(config)) {}

TestServer::~TestServer() {
  gate_.open();  // a read held by a failed test would keep stop() from draining
  stop();
}

Status TestServer::start() {
  WHARF_CHECK(server_ == nullptr);
  const std::string data_dir = "/data";
  WHARF_RETURN_IF_ERROR(fs_.create_dirs(data_dir));
  storage::LogManagerOptions options;
  options.data_dir = data_dir;
  options.background = false;
  WHARF_ASSIGN_OR_RETURN(log_, storage::LogManager::open(fs_, options, clock_));
  WHARF_ASSIGN_OR_RETURN(producer_ids_, kafka::ProducerIdAllocator::open(fs_, data_dir));
  server_ = std::make_unique<kafka::KafkaServer>(config_, *log_, *producer_ids_, clock_);
  return server_->start();
}

void TestServer::stop() {
  if (server_) server_->stop();
}

kafka::protocol::ProduceRequest produce_request(const std::string& topic, std::int32_t partition,
                                                Bytes batch) {
  kafka::protocol::ProduceRequest r;
  r.transactional_id = std::nullopt;
  r.acks = -1;
  r.timeout_ms = 10'000;
  r.topic_data.push_back({topic, {{partition, std::move(batch)}}});
  return r;
}

kafka::protocol::FetchRequest fetch_request(const std::string& topic, std::int32_t partition,
                                            std::int64_t offset, std::int32_t max_wait_ms,
                                            std::int32_t min_bytes) {
  kafka::protocol::FetchRequest r;
  r.max_wait_ms = max_wait_ms;
  r.min_bytes = min_bytes;
  r.max_bytes = 1 << 20;
  r.topics.push_back({topic, {{partition, -1, offset, -1, 1 << 20}}});
  return r;
}

Result<HttpReply> http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return fail(ErrorCode::kIoError, "socket: {}", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(ErrorCode::kIoError, "connect: {}", std::strerror(errno));
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return fail(ErrorCode::kIoError, "send: {}", std::strerror(errno));
  }
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(ErrorCode::kTimeout, "no end of response within 10 s");
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::kIoError, "recv: {}", std::strerror(errno));
    if (n == 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  // "HTTP/1.1 200 OK\r\n...headers...\r\n\r\nbody"
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || !raw.starts_with("HTTP/1.") || head_end == std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "not an HTTP response: '{}'", raw.substr(0, 80));
  }
  HttpReply reply;
  reply.status = std::atoi(raw.substr(9, 3).c_str());
  reply.body = raw.substr(head_end + 4);
  return reply;
}

Bytes batch_of(const std::vector<std::string>& values) {
  std::vector<storage::Record> records;
  for (std::size_t i = 0; i < values.size(); ++i) {
    storage::Record r;
    r.value = to_bytes(values[i]);
    r.timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i);
    records.push_back(std::move(r));
  }
  return storage::build_batch(records);
}

std::vector<std::string> values_of(ByteView record_set) {
  std::vector<std::string> out;
  while (!record_set.empty()) {
    auto h = storage::parse_header(record_set);
    if (!h || h->total_bytes() > record_set.size()) break;
    auto records = storage::read_records(record_set.first(h->total_bytes()));
    if (!records) break;
    for (const auto& r : *records) {
      out.push_back(r.value ? std::string(as_chars(*r.value)) : std::string("<null>"));
    }
    record_set = record_set.subspan(h->total_bytes());
  }
  return out;
}

}  // namespace wharf::test
