#include "http.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "net.h"

namespace wharf::checkout {
namespace {

using namespace net_detail;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Route = std::function<awaitable<Response>(Request&)>;

// Requests are small JSON documents; anything larger is refused by the parser (headers are
// bounded by Beast's default of 8 KiB).
constexpr std::size_t kRequestBodyMax = 64 * 1024;
// A connection that sends nothing for this long (between or inside requests) is closed...
constexpr std::chrono::minutes kIdleTimeout{10};
// ...and so is one that stops reading its response.
constexpr std::chrono::seconds kWriteTimeout{30};

Response reply(http::status status, std::string body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

Response error_reply(http::status status, const std::string& message) {
  return reply(status, nlohmann::json{{"error", message}}.dump(
                           -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

awaitable<void> session(tcp::socket socket, const Route& route) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kRequestBodyMax);
    stream.expires_after(kIdleTimeout);
    co_await http::async_read(stream, buffer, parser, nothrow(ec));
    if (ec) break;
    Request req = parser.release();
    Response res = co_await route(req);
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    stream.expires_after(kWriteTimeout);
    co_await http::async_write(stream, res, nothrow(ec));
    if (ec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// An HTTP/1.1 server on one I/O thread: every handler runs on that thread, so they share state
// without locks.
class HttpServer {
 public:
  Status listen(const std::string& address) {
    WHARF_ASSIGN_OR_RETURN(auto hp, split_host_port(address));
    boost::system::error_code ec;
    auto ip = net::ip::make_address(hp.first, ec);
    if (ec)
      return fail(ErrorCode::kInvalidArgument, "listen address '{}': {}", address, ec.message());
    tcp::endpoint ep(ip, hp.second);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail(ErrorCode::kIoError, "cannot listen on {}: {}", address, ec.message());
    return ok();
  }
  void start(Route route) {
    route_ = std::move(route);
    net::co_spawn(io_, accept_loop(), net::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  void stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string address() const {
    auto ep = acceptor_.local_endpoint();
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  net::io_context& io() { return io_; }

 private:
  awaitable<void> accept_loop() {
    while (true) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(nothrow(ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors or similar: back off instead of spinning.
        net::steady_timer pause(io_, std::chrono::milliseconds(10));
        co_await pause.async_wait(nothrow(ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      net::co_spawn(io_, session(std::move(socket), route_), net::detached);
    }
  }

  net::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  Route route_;
  std::thread thread_;
};

// Keep-alive connections to one dependency, used by one request at a time.
struct Pool {
  tcp::endpoint endpoint;
  std::string target;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle;
};

awaitable<Status> call(Pool& pool) {
  boost::system::error_code ec;
  std::unique_ptr<beast::tcp_stream> s;
  if (!pool.idle.empty()) {
    s = std::move(pool.idle.back());
    pool.idle.pop_back();
  } else {
    s = std::make_unique<beast::tcp_stream>(co_await net::this_coro::executor);
    co_await s->async_connect(pool.endpoint, nothrow(ec));
    if (ec) co_return fail(ErrorCode::kUnavailable, "connect {}: {}", pool.target, ec.message());
    s->socket().set_option(tcp::no_delay(true), ec);
  }
  http::request<http::empty_body> req{http::verb::post, pool.target, 11};
  req.set(http::field::host, "dependencies");
  req.keep_alive(true);
  co_await http::async_write(*s, req, nothrow(ec));
  if (ec) co_return fail(ErrorCode::kUnavailable, "{}: {}", pool.target, ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  co_await http::async_read(*s, buffer, res, nothrow(ec));
  if (ec) co_return fail(ErrorCode::kUnavailable, "{}: {}", pool.target, ec.message());
  if (res.result() != http::status::ok)
    co_return fail(ErrorCode::kUnavailable, "{} answered {}", pool.target, res.result_int());
  if (res.keep_alive()) pool.idle.push_back(std::move(s));
  co_return ok();
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return fail(ErrorCode::kInvalidArgument, "'{}' is not HOST:PORT", address);
  try {
    const int port = std::stoi(address.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    return std::make_pair(address.substr(0, colon), static_cast<std::uint16_t>(port));
  } catch (const std::exception&) {
    return fail(ErrorCode::kInvalidArgument, "'{}' is not HOST:PORT", address);
  }
}

// ---------------------------------------------------------------------------------------------

struct CheckoutService::Impl {
  OrderStore& store;
  CheckoutServiceOptions options;
  HttpServer server;
  std::vector<Pool> pools;  // convoy mode: one per group, used on the I/O thread only

  Impl(OrderStore& s, CheckoutServiceOptions o) : store(s), options(std::move(o)) {}

  // Waits on the I/O thread for the writer thread's group commit.
  awaitable<Status> store_order(Order order) {
    auto timer =
        std::make_shared<net::steady_timer>(server.io(), net::steady_timer::time_point::max());
    auto result = std::make_shared<Status>(ok());
    store.submit(std::move(order), [timer, result](Status s) {
      net::post(timer->get_executor(), [timer, result, s = std::move(s)]() mutable {
        *result = std::move(s);
        timer->cancel();
      });
    });
    boost::system::error_code ec;
    co_await timer->async_wait(nothrow(ec));
    co_return *result;
  }

  awaitable<Response> route(Request& req) {
    if (req.method() == http::verb::get && req.target() == "/healthz") {
      co_return reply(http::status::ok, "{\"status\":\"ok\"}");
    }
    if (req.target() != "/orders") co_return error_reply(http::status::not_found, "no such path");
    if (req.method() != http::verb::post)
      co_return error_reply(http::status::method_not_allowed, "POST an order");
    Order order;
    try {
      const auto j = nlohmann::json::parse(req.body());
      order.customer_id = j.at("customer_id").get<std::string>();
      order.total_cents = j.at("total_cents").get<std::int64_t>();
      order.items = j.at("items").get<std::int32_t>();
      order.poison = j.value("poison", false);
      order.scheduled_us = j.value("scheduled_us", now_us());
    } catch (const std::exception& e) {
      co_return error_reply(http::status::bad_request, std::string("bad order: ") + e.what());
    }
    if (order.customer_id.empty() || order.customer_id.size() > 256 || order.total_cents < 0 ||
        order.items <= 0) {
      co_return error_reply(
          http::status::bad_request,
          "an order needs a customer_id (1-256 bytes), total_cents >= 0, items > 0");
    }
    order.order_id = new_message_id();
    const std::int64_t scheduled = order.scheduled_us;
    std::string id = order.order_id;
    Status s = co_await store_order(std::move(order));
    if (!s) co_return error_reply(http::status::service_unavailable, s.error().to_string());
    // Convoy mode: every dependency on the request path, one after the other.
    for (std::size_t i = 0; i < pools.size(); ++i) {
      Status c = co_await call(pools[i]);
      if (!c) co_return error_reply(http::status::bad_gateway, c.error().to_string());
      GroupStats* st = options.stats[i];
      st->handled.fetch_add(1, std::memory_order_relaxed);
      st->e2e.record(now_us() - scheduled);
    }
    co_return reply(http::status::created, "{\"order_id\":\"" + id + "\"}");
  }
};

Result<std::unique_ptr<CheckoutService>> CheckoutService::start(OrderStore& store,
                                                                CheckoutServiceOptions options) {
  auto impl = std::make_unique<Impl>(store, std::move(options));
  if (!impl->options.dependencies.empty()) {
    WHARF_ASSIGN_OR_RETURN(auto hp, split_host_port(impl->options.dependencies));
    boost::system::error_code ec;
    auto ip = net::ip::make_address(hp.first, ec);
    if (ec) return fail(ErrorCode::kInvalidArgument, "dependencies address: {}", ec.message());
    if (impl->options.stats.size() != impl->options.groups.size())
      return fail(ErrorCode::kInvalidArgument, "one GroupStats per convoy group");
    for (const auto& g : impl->options.groups)
      impl->pools.push_back(Pool{tcp::endpoint(ip, hp.second), "/work/" + g, {}});
  }
  WHARF_RETURN_IF_ERROR(impl->server.listen(impl->options.listen));
  Impl* raw = impl.get();
  impl->server.start([raw](Request& req) { return raw->route(req); });
  return std::unique_ptr<CheckoutService>(new CheckoutService(std::move(impl)));
}

CheckoutService::CheckoutService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CheckoutService::~CheckoutService() { stop(); }
void CheckoutService::stop() { impl_->server.stop(); }
std::string CheckoutService::address() const { return impl_->server.address(); }

// ---------------------------------------------------------------------------------------------

struct DependencyService::Impl {
  std::map<std::string, std::chrono::microseconds> latency;
  HttpServer server;

  awaitable<Response> route(Request& req) {
    const std::string target(req.target());
    const std::string prefix = "/work/";
    if (req.method() != http::verb::post || target.rfind(prefix, 0) != 0)
      co_return error_reply(http::status::not_found, "POST /work/<group>");
    auto it = latency.find(target.substr(prefix.size()));
    if (it == latency.end()) co_return error_reply(http::status::not_found, "unknown group");
    if (it->second.count() > 0) {
      net::steady_timer t(server.io(), it->second);
      boost::system::error_code ec;
      co_await t.async_wait(nothrow(ec));
    }
    co_return reply(http::status::ok, "{}");
  }
};

Result<std::unique_ptr<DependencyService>> DependencyService::start(
    std::string listen, std::map<std::string, std::chrono::microseconds> latency) {
  auto impl = std::make_unique<Impl>();
  impl->latency = std::move(latency);
  WHARF_RETURN_IF_ERROR(impl->server.listen(listen));
  Impl* raw = impl.get();
  impl->server.start([raw](Request& req) { return raw->route(req); });
  return std::unique_ptr<DependencyService>(new DependencyService(std::move(impl)));
}

DependencyService::DependencyService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DependencyService::~DependencyService() { impl_->server.stop(); }
std::string DependencyService::address() const { return impl_->server.address(); }

}  // namespace wharf::checkout
