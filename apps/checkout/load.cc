#include "load.h"

#include <fmt/format.h>

#include <deque>
#include <random>
#include <thread>

#include "http.h"
#include "model.h"
#include "net.h"

namespace wharf::checkout {
namespace {

using namespace net_detail;

struct Job {
  std::int64_t scheduled_us = 0;
  std::uint64_t seq = 0;
};

class Generator {
 public:
  Generator(const LoadOptions& o, LoadStats& s, tcp::endpoint ep)
      : options_(o), stats_(s), endpoint_(ep), rng_(std::random_device{}()) {}

  void run(std::stop_token stop) {
    net::co_spawn(io_, schedule(), net::detached);
    std::thread t([this] { io_.run(); });
    // Waits for the schedule, then for the outstanding orders up to the drain time.
    const auto deadline_after_schedule = options_.drain;
    while (!stats_.scheduling_done.load() && !stop.stop_requested())
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto drain_until = std::chrono::steady_clock::now() + deadline_after_schedule;
    while (!io_.stopped() && !stop.stop_requested() &&
           std::chrono::steady_clock::now() < drain_until) {
      const auto answered = stats_.accepted.load() + stats_.rejected.load();
      if (answered >= stats_.offered.load()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto answered = stats_.accepted.load() + stats_.rejected.load();
    const auto offered = stats_.offered.load();
    stats_.unfinished.store(offered > answered ? offered - answered : 0);
    io_.stop();
    t.join();
  }

 private:
  struct Worker {
    explicit Worker(net::io_context& io) : wake(io, net::steady_timer::time_point::max()) {}
    net::steady_timer wake;
    std::optional<Job> job;
  };

  awaitable<void> schedule() {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t start_us = now_us();
    stats_.first_scheduled_us.store(start_us);
    const double rate = options_.rate;
    std::uint64_t next = 0;
    net::steady_timer tick(io_);
    boost::system::error_code ec;
    while (true) {
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      if (elapsed >= options_.duration) break;
      const auto due = static_cast<std::uint64_t>(elapsed.count() * rate) + 1;
      for (; next < due; ++next) {
        dispatch(Job{start_us + static_cast<std::int64_t>(static_cast<double>(next) * 1e6 / rate),
                     next});
        stats_.offered.fetch_add(1, std::memory_order_relaxed);
      }
      tick.expires_after(std::chrono::microseconds(500));
      co_await tick.async_wait(nothrow(ec));
    }
    stats_.scheduling_done.store(true);
    // Idle workers exit; busy ones finish the queue first.
    for (auto* w : idle_) w->wake.cancel();
    idle_.clear();
  }

  void dispatch(Job job) {
    if (!idle_.empty()) {
      Worker* w = idle_.back();
      idle_.pop_back();
      w->job = job;
      w->wake.cancel();
    } else if (connections_ < options_.connections_max) {
      ++connections_;
      net::co_spawn(io_, work(job), net::detached);
    } else {
      queue_.push_back(job);
    }
  }

  std::string body(const Job& job, bool& poison_out) {
    std::uniform_int_distribution<int> customer(1, 100'000), cents(100, 100'000), items(1, 5);
    std::uniform_real_distribution<double> unit(0, 1);
    const bool poison = unit(rng_) < options_.poison_rate;
    poison_out = poison;
    return fmt::format(
        "{{\"customer_id\":\"c{}\",\"total_cents\":{},\"items\":{},\"poison\":{},"
        "\"scheduled_us\":{}}}",
        customer(rng_), cents(rng_), items(rng_), poison ? "true" : "false", job.scheduled_us);
  }

  void failed(const std::string& what) {
    stats_.rejected.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(stats_.mu);
    if (stats_.first_error.empty()) stats_.first_error = what;
  }

  awaitable<void> work(Job first) {
    Worker self(io_);
    self.job = first;
    beast::tcp_stream stream(io_);
    boost::system::error_code ec;
    co_await stream.async_connect(endpoint_, nothrow(ec));
    if (ec) {
      failed("connect: " + ec.message());
      --connections_;
      co_return;
    }
    stream.socket().set_option(tcp::no_delay(true), ec);
    beast::flat_buffer buffer;
    while (true) {
      if (!self.job) {
        if (!queue_.empty()) {
          self.job = queue_.front();
          queue_.pop_front();
        } else if (stats_.scheduling_done.load()) {
          break;
        } else {
          self.wake.expires_at(net::steady_timer::time_point::max());
          idle_.push_back(&self);
          co_await self.wake.async_wait(nothrow(ec));
          if (!self.job) {
            // Woken without a job: the schedule ended (it took us off the idle list).
            continue;
          }
        }
      }
      const Job job = *self.job;
      self.job.reset();
      http::request<http::string_body> req{http::verb::post, "/orders", 11};
      req.set(http::field::host, "checkout");
      req.set(http::field::content_type, "application/json");
      req.keep_alive(true);
      bool poison = false;
      req.body() = body(job, poison);
      req.prepare_payload();
      co_await http::async_write(stream, req, nothrow(ec));
      if (ec) {
        failed("send: " + ec.message());
        break;
      }
      http::response<http::string_body> res;
      co_await http::async_read(stream, buffer, res, nothrow(ec));
      if (ec) {
        failed("receive: " + ec.message());
        break;
      }
      stats_.last_answer_us.store(now_us(), std::memory_order_relaxed);
      if (res.result() == http::status::created) {
        stats_.accept.record(now_us() - job.scheduled_us);
        stats_.accepted.fetch_add(1, std::memory_order_relaxed);
        if (poison) stats_.poison_accepted.fetch_add(1, std::memory_order_relaxed);
      } else {
        failed(fmt::format("HTTP {}: {}", res.result_int(), res.body().substr(0, 200)));
      }
    }
    --connections_;
  }

  const LoadOptions& options_;
  LoadStats& stats_;
  tcp::endpoint endpoint_;
  net::io_context io_{1};
  std::mt19937_64 rng_;
  std::deque<Job> queue_;
  std::vector<Worker*> idle_;
  std::size_t connections_ = 0;
};

}  // namespace

Status run_load(const LoadOptions& options, LoadStats& stats, std::stop_token stop) {
  WHARF_ASSIGN_OR_RETURN(auto hp, split_host_port(options.target));
  boost::system::error_code ec;
  auto ip = net::ip::make_address(hp.first, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, "target '{}': {}", options.target, ec.message());
  if (options.rate <= 0) return fail(ErrorCode::kInvalidArgument, "the rate must be positive");
  Generator g(options, stats, tcp::endpoint(ip, hp.second));
  g.run(stop);
  return ok();
}

}  // namespace wharf::checkout
