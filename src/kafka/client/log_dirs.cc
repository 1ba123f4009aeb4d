#include "kafka/client/log_dirs.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>

#include "kafka/protocol/generated/describe_log_dirs.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::client {
namespace {

namespace p = kafka::protocol;
using Clock = std::chrono::steady_clock;

// DescribeLogDirs v1: every Kafka since 2.0 and every Wharf serves it; sizes are the same in
// later versions.
constexpr std::int16_t kVersion = 1;
// A DescribeLogDirs answer for one topic is small; anything larger is not one.
constexpr std::int32_t kResponseBytesMax = 16 * 1024 * 1024;

class Socket {
 public:
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status connect(const std::string& host, int port, Clock::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
      return fail(ErrorCode::kUnavailable, "{}:{}: {}", host, port, ::gai_strerror(rc));
    std::string last_error = "no address";
    for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (wait(pfd, deadline) && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
            err == 0) {
          fd_ = fd;
          break;
        }
        last_error = err != 0 ? std::strerror(err) : "timed out";
      } else {
        last_error = std::strerror(errno);
      }
      ::close(fd);
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) return fail(ErrorCode::kUnavailable, "{}:{}: {}", host, port, last_error);
    return ok();
  }
  Status send_all(ByteView bytes, Clock::time_point deadline) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      pollfd pfd{fd_, POLLOUT, 0};
      if (!wait(pfd, deadline)) return fail(ErrorCode::kTimeout, "sending the request timed out");
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return fail(ErrorCode::kUnavailable, "send: {}", std::strerror(errno));
      sent += static_cast<std::size_t>(n);
    }
    return ok();
  }
  Status read_exact(Bytes& out, Clock::time_point deadline) {
    std::size_t got = 0;
    while (got < out.size()) {
      pollfd pfd{fd_, POLLIN, 0};
      if (!wait(pfd, deadline)) return fail(ErrorCode::kTimeout, "no answer in time");
      const ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n == 0) return fail(ErrorCode::kUnavailable, "the broker closed the connection");
      if (n < 0) return fail(ErrorCode::kUnavailable, "recv: {}", std::strerror(errno));
      got += static_cast<std::size_t>(n);
    }
    return ok();
  }

 private:
  static bool wait(pollfd& pfd, Clock::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      const int r = ::poll(&pfd, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      return r > 0;
    }
  }
  int fd_ = -1;
};

}  // namespace

Status add_partition_size(std::map<std::int32_t, std::int64_t>& sizes, std::int32_t partition,
                          std::int64_t bytes) {
  if (bytes < 0) {
    return fail(ErrorCode::kInvalidArgument, "DescribeLogDirs: partition {} has a size of {} bytes",
                partition, bytes);
  }
  std::int64_t& total = sizes[partition];
  if (bytes > std::numeric_limits<std::int64_t>::max() - total) {
    return fail(ErrorCode::kInvalidArgument,
                "DescribeLogDirs: partition {}'s sizes add up to more than {} bytes", partition,
                std::numeric_limits<std::int64_t>::max());
  }
  total += bytes;
  return ok();
}

Result<std::map<std::int32_t, std::int64_t>> partition_sizes(
    const std::string& host, int port, const std::string& topic,
    const std::vector<std::int32_t>& partitions, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  p::DescribeLogDirsRequest req;
  req.topics = std::vector<p::DescribeLogDirsRequest::DescribableLogDirTopic>{{topic, partitions}};
  p::RequestHeader header;
  header.request_api_key = p::DescribeLogDirsRequest::kApiKey;
  header.request_api_version = kVersion;
  header.correlation_id = 1;
  header.client_id = "wharf-cli";
  Bytes frame(4);
  p::Writer w(frame);
  p::encode_request_header(w, header);
  req.encode(w, kVersion);
  WHARF_RETURN_IF_ERROR(w.status());
  store_be<std::int32_t>(frame, 0, static_cast<std::int32_t>(frame.size() - 4));

  Socket socket;
  WHARF_RETURN_IF_ERROR(socket.connect(host, port, deadline));
  WHARF_RETURN_IF_ERROR(socket.send_all(frame, deadline));
  Bytes size(4);
  WHARF_RETURN_IF_ERROR(socket.read_exact(size, deadline));
  const std::int32_t n = load_be<std::int32_t>(size, 0);
  if (n < 4 || n > kResponseBytesMax)
    return fail(ErrorCode::kInvalidArgument, "DescribeLogDirs answer of {} bytes", n);
  Bytes body(static_cast<std::size_t>(n));
  WHARF_RETURN_IF_ERROR(socket.read_exact(body, deadline));
  p::Reader r(body);
  WHARF_ASSIGN_OR_RETURN(auto response_header,
                         p::decode_response_header(r, header.request_api_key, kVersion));
  if (response_header.correlation_id != header.correlation_id)
    return fail(ErrorCode::kInvalidArgument, "DescribeLogDirs answer for another request");
  p::DescribeLogDirsResponse resp;
  WHARF_RETURN_IF_ERROR(resp.decode(r, kVersion));
  std::map<std::int32_t, std::int64_t> out;
  for (const auto& dir : resp.results) {
    if (dir.error_code != 0) continue;  // an offline log directory holds nothing we can size
    for (const auto& t : dir.topics) {
      if (t.name != topic) continue;
      for (const auto& part : t.partitions) {
        if (part.is_future_key) continue;
        WHARF_RETURN_IF_ERROR(add_partition_size(out, part.partition_index, part.partition_size));
      }
    }
  }
  return out;
}

}  // namespace wharf::kafka::client
