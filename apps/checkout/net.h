// Boost.Asio and Beast names as the checkout's HTTP code uses them (http.cc, load.cc).
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace wharf::checkout::net_detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using net::awaitable;

// Completion token for co_await that stores the error in `ec` instead of throwing.
inline auto nothrow(boost::system::error_code& ec) {
  return net::redirect_error(net::use_awaitable, ec);
}

}  // namespace wharf::checkout::net_detail
