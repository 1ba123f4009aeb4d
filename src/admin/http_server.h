// A small HTTP/1.1 server for the admin API: GET and HEAD only, one request per connection
// (Connection: close), bounded request size and time. Runs its own Asio io_context on one
// thread, so a slow scrape never touches the Kafka network thread. Handlers run on that
// thread and must not block for long. No durability.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"

namespace wharf::admin {

struct HttpRequest {
  std::string method;  // GET or HEAD
  std::string path;    // without the query string
  std::string query;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Limits: request head 8 KiB, 10 s to send it, 256 connections at once.
  static constexpr std::size_t kRequestHeadBytesMax = 8192;
  static constexpr std::size_t kConnectionsMax = 256;

  HttpServer(std::string host, std::uint16_t port, Handler handler);
  ~HttpServer();
  [[nodiscard]] Status start();
  void stop();
  std::uint16_t bound_port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wharf::admin
