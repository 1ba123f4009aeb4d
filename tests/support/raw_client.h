// Test support: a raw Kafka-protocol client over a POSIX socket, for tests that must control
// every byte a client sends (hostile and malformed input). Requests are built with the generated
// codec; every read is bounded by kIoTimeout. Test thread only.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kafka/protocol/header.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"

namespace wharf::test::raw {

namespace p = kafka::protocol;

// Every wait on the broker is bounded; a healthy broker answers in milliseconds.
inline constexpr auto kIoTimeout = std::chrono::seconds(10);

inline Bytes with_size_prefix(const Bytes& header_and_body) {
  Bytes out;
  append_be<std::int32_t>(out, static_cast<std::int32_t>(header_and_body.size()));
  append(out, header_and_body);
  return out;
}

inline Bytes size_only(std::int32_t size) {
  Bytes out;
  append_be<std::int32_t>(out, size);
  return out;
}

// A request header in whatever version (api_key, version) calls for, as a client writes it.
inline Bytes header_bytes(std::int16_t api_key, std::int16_t version, std::int32_t correlation_id,
                          const std::string& client_id = "wharf-hostile-test") {
  Bytes out;
  p::Writer w(out);
  p::RequestHeader h;
  h.request_api_key = api_key;
  h.request_api_version = version;
  h.correlation_id = correlation_id;
  h.client_id = client_id;
  p::encode_request_header(w, h);
  EXPECT_TRUE(w.status().has_value()) << w.status().error().to_string();
  return out;
}

// A v1 request header written field by field, for values the codec refuses to write (an api
// key it does not know, a negative client id length other than -1).
inline Bytes raw_header_v1(std::int16_t api_key, std::int16_t version, std::int32_t correlation_id,
                           std::int16_t client_id_length, std::string_view client_id = "") {
  Bytes out;
  append_be<std::int16_t>(out, api_key);
  append_be<std::int16_t>(out, version);
  append_be<std::int32_t>(out, correlation_id);
  append_be<std::int16_t>(out, client_id_length);
  append(out, as_bytes(client_id));
  return out;
}

template <typename Message>
Bytes body_bytes(const Message& message, std::int16_t version) {
  auto encoded = p::encode_message(message, version);
  EXPECT_TRUE(encoded.has_value()) << encoded.error().to_string();
  return encoded ? *encoded : Bytes{};
}

// header + body with its size prefix: one complete, well-formed request frame.
template <typename Request>
Bytes request_frame(const Request& request, std::int16_t version, std::int32_t correlation_id,
                    const std::string& client_id = "wharf-hostile-test") {
  Bytes frame = header_bytes(Request::kApiKey, version, correlation_id, client_id);
  append(frame, body_bytes(request, version));
  return with_size_prefix(frame);
}

// One client connection to the broker on 127.0.0.1 with bounded reads. Test thread only.
class Connection {
 public:
  // `receive_buffer_bytes` > 0 shrinks the socket's receive buffer (a client that reads slowly);
  // `timeout` bounds every read.
  explicit Connection(int port, int receive_buffer_bytes = 0,
                      std::chrono::milliseconds timeout =
                          std::chrono::duration_cast<std::chrono::milliseconds>(kIoTimeout))
      : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    if (receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      error_ = fmt::format("connect: {}", std::strerror(errno));
      close();
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& error() const { return error_; }

  // False if the peer is gone (EPIPE, ECONNRESET).
  bool send(ByteView bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = fmt::format("send: {}", std::strerror(errno));
        return false;
      }
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // One response frame (without its size prefix), or nullopt if the connection closed or
  // nothing complete arrived within the timeout.
  std::optional<Bytes> read_frame() {
    Bytes size(4);
    if (!read_exact(size)) return std::nullopt;
    const std::int32_t n = load_be<std::int32_t>(size, 0);
    if (n < 4 || n > 64 * 1024 * 1024) {
      error_ = fmt::format("response size {}", n);
      return std::nullopt;
    }
    Bytes frame(static_cast<std::size_t>(n));
    if (!read_exact(frame)) return std::nullopt;
    return frame;
  }

  // True if the broker closed the connection (EOF or reset) within the timeout without sending
  // anything first.
  bool closed_by_broker() {
    std::byte b;
    const ssize_t n = read_some(&b, 1);
    if (n == 0) return true;
    if (n < 0) return error_ == "reset";
    error_ = "the broker sent data instead of closing";
    return false;
  }

  // True if the connection is still open and silent for `wait`.
  bool open_and_silent_for(std::chrono::milliseconds wait) {
    pollfd pfd{fd_, POLLIN, 0};
    const int r = ::poll(&pfd, 1, static_cast<int>(wait.count()));
    return r == 0;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  // Returns bytes read, 0 on EOF, -1 on timeout ("timeout") or error ("reset" for ECONNRESET).
  ssize_t read_some(std::byte* out, std::size_t size) {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        error_ = "timeout";
        return -1;
      }
      pollfd pfd{fd_, POLLIN, 0};
      const int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) continue;
      const ssize_t n = ::recv(fd_, out, size, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) error_ = errno == ECONNRESET ? "reset" : std::strerror(errno);
      return n;
    }
  }

  bool read_exact(Bytes& out) {
    std::size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = read_some(out.data() + got, out.size() - got);
      if (n <= 0) {
        if (n == 0) error_ = "closed";
        return false;
      }
      got += static_cast<std::size_t>(n);
    }
    return true;
  }

  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string error_;
};

// Decodes a response frame: header for (api_key, version) with the expected correlation id,
// then a body that uses every byte. Writes what went wrong to `error`.
template <typename Response>
std::optional<Response> parse_response(const Bytes& frame, std::int16_t request_version,
                                       std::int16_t body_version, std::int32_t correlation_id,
                                       std::string& error) {
  p::Reader r(frame);
  auto header = p::decode_response_header(r, Response::kApiKey, request_version);
  if (!header) {
    error = "response header: " + header.error().to_string();
    return std::nullopt;
  }
  if (header->correlation_id != correlation_id) {
    error = fmt::format("correlation id {}, expected {}", header->correlation_id, correlation_id);
    return std::nullopt;
  }
  auto body = p::decode_message<Response>(ByteView(frame).subspan(r.position()), body_version);
  if (!body) {
    error = fmt::format("{} v{}: {}", Response::kName, body_version, body.error().to_string());
    return std::nullopt;
  }
  return std::move(*body);
}

// Sends one request on `conn` and decodes its response.
template <typename Response, typename Request>
std::optional<Response> round_trip(Connection& conn, const Request& request, std::int16_t version,
                                   std::int32_t correlation_id, std::string& error) {
  if (!conn.send(request_frame(request, version, correlation_id))) {
    error = conn.error();
    return std::nullopt;
  }
  auto frame = conn.read_frame();
  if (!frame) {
    error = fmt::format("{} v{}: no response ({})", Request::kName, version, conn.error());
    return std::nullopt;
  }
  return parse_response<Response>(*frame, version, version, correlation_id, error);
}

}  // namespace wharf::test::raw
