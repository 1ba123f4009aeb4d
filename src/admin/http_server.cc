#include "admin/http_server.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "base/log.h"

namespace wharf::admin {
using asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

std::string reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}
}  // namespace

class HttpServer::Impl {
 public:
  Impl(std::string host, std::uint16_t port, Handler handler)
      : host_(std::move(host)), port_(port), handler_(std::move(handler)) {}

  Status start() {
    asio::error_code ec;
    auto address = asio::ip::make_address(host_, ec);
    if (ec)
      return fail(ErrorCode::kInvalidArgument, "admin listen address '{}': {}", host_,
                  ec.message());
    tcp::endpoint ep(address, port_);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return fail(ErrorCode::kIoError, "cannot listen on {}:{} for the admin API: {}", host_, port_,
                  ec.message());
    bound_port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] {
      try {
        io_.run();
      } catch (const std::exception& e) {
        WHARF_LOG_ERROR("admin HTTP thread stopped by an exception: {}", e.what());
      }
    });
    return ok();
  }

  void stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      asio::error_code ignore;
      acceptor_.close(ignore);
      io_.stop();
    });
    thread_.join();
  }

  std::uint16_t bound_port() const { return bound_port_; }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;
      }
      if (open_ >= kConnectionsMax) {
        // Full. Connections that have not sent a request yet give way, oldest first, so that
        // idle or stalled clients can never lock health probes out for the 10 s deadline.
        if (reading_heads_.empty()) {
          asio::error_code ignore;
          socket.close(ignore);
          continue;
        }
        if (auto oldest = reading_heads_.begin()->second.lock()) {
          asio::error_code ignore;
          oldest->close(ignore);
        }
        reading_heads_.erase(reading_heads_.begin());
      }
      asio::co_spawn(io_, serve(std::make_shared<tcp::socket>(std::move(socket))), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> sock) {
    tcp::socket& socket = *sock;
    ++open_;
    // Slow or stalled clients are cut off; the timer holds its own reference to the socket.
    auto deadline = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(10));
    deadline->async_wait([sock](const asio::error_code& ec) {
      if (!ec) {
        asio::error_code ignore;
        sock->close(ignore);
      }
    });
    std::string head;
    const std::uint64_t id = next_id_++;
    reading_heads_.emplace(id, sock);
    auto [ec, n] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(head, kRequestHeadBytesMax), "\r\n\r\n", use_tuple);
    reading_heads_.erase(id);
    HttpResponse resp;
    bool head_only = false;
    if (ec == asio::error::not_found) {
      resp = {431, "text/plain; charset=utf-8", "request head too large\n"};
    } else if (ec) {
      deadline->cancel();
      --open_;
      co_return;
    } else {
      const auto line_end = head.find("\r\n");
      const std::string line = head.substr(0, line_end);
      const auto sp1 = line.find(' ');
      const auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
      if (sp1 == std::string::npos || sp2 == std::string::npos) {
        resp = {400, "text/plain; charset=utf-8", "bad request line\n"};
      } else {
        HttpRequest req;
        req.method = line.substr(0, sp1);
        std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        if (auto q = target.find('?'); q != std::string::npos) {
          req.query = target.substr(q + 1);
          target.resize(q);
        }
        req.path = target;
        head_only = req.method == "HEAD";
        if (req.method != "GET" && req.method != "HEAD") {
          resp = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
        } else {
          try {
            resp = handler_(req);
          } catch (const std::exception& e) {
            resp = {500, "text/plain; charset=utf-8",
                    std::string("internal error: ") + e.what() + "\n"};
          }
        }
      }
    }
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) +
                      "\r\n" + "Content-Type: " + resp.content_type +
                      "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                      "\r\nConnection: close\r\n\r\n";
    if (!head_only) out += resp.body;
    (void)co_await asio::async_write(socket, asio::buffer(out), use_tuple);
    asio::error_code ignore;
    socket.shutdown(tcp::socket::shutdown_both, ignore);
    socket.close(ignore);
    deadline->cancel();
    --open_;
  }

  std::string host_;
  std::uint16_t port_;
  Handler handler_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
  std::atomic<std::uint16_t> bound_port_{0};
  std::size_t open_ = 0;
  // Connections still reading their request head, oldest first (the I/O thread only).
  std::map<std::uint64_t, std::weak_ptr<tcp::socket>> reading_heads_;
  std::uint64_t next_id_ = 0;
};

HttpServer::HttpServer(std::string host, std::uint16_t port, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(host), port, std::move(handler))) {}
HttpServer::~HttpServer() { stop(); }
Status HttpServer::start() { return impl_->start(); }
void HttpServer::stop() { impl_->stop(); }
std::uint16_t HttpServer::bound_port() const { return impl_->bound_port(); }

}  // namespace wharf::admin
