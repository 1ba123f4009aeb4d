#include "kafka/server/handler_context.h"

#include "base/log.h"
#include "base/text.h"

namespace wharf::kafka {

void AppendErrorReporter::failed(const std::string& topic, std::int32_t partition,
                                 const Error& error) {
  const bool no_space = error.code() == ErrorCode::kNoSpace;
  const bool storage = no_space || error.code() == ErrorCode::kIoError ||
                       error.code() == ErrorCode::kFenced || error.code() == ErrorCode::kCorruption;
  if (storage) errors_.inc();
  if (no_space && !disk_full_.load()) set_disk_full(true);
  std::uint64_t not_logged = 0;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_logged_ < kLogInterval) {
      ++not_logged_;
      return;
    }
    last_logged_ = now;
    not_logged = std::exchange(not_logged_, 0);
  }
  WHARF_LOG_WARN(
      "produce to {}-{}: {} ({} more failed append(s) not logged in the last {} s){}",
      excerpt(topic), partition, error.to_string(), not_logged, kLogInterval.count(),
      no_space
          ? "; the disk is full: producers get KAFKA_STORAGE_ERROR and retry, /readyz answers 503 "
            "until an append succeeds; free space or lower retention"
          : "");
}

void AppendErrorReporter::set_disk_full(bool full) {
  disk_full_.store(full);
  full_.set(full ? 1 : 0);
  // Near full, small appends may fit between large ones that do not: the state can flip on
  // every request, so the flips are logged at most once per interval too.
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_state_logged_ < kLogInterval) return;
    last_state_logged_ = now;
  }
  if (full) {
    WHARF_LOG_ERROR(
        "the disk is full: appends fail with KAFKA_STORAGE_ERROR; /readyz answers 503 until one "
        "succeeds");
  } else {
    WHARF_LOG_INFO("appends succeed again: the disk is no longer full");
  }
}

PartitionTraffic& HandlerContext::traffic(const std::string& topic, std::int32_t partition) {
  auto key = std::make_pair(topic, partition);
  auto it = traffic_.find(key);
  if (it != traffic_.end()) return it->second;
  const metrics::Labels labels = {{"topic", topic}, {"partition", std::to_string(partition)}};
  auto& reg = metrics::registry();
  PartitionTraffic t{
      &reg.counter("wharf_partition_bytes_in_total", "Record-batch bytes appended by producers.")
           .with(labels),
      &reg.counter("wharf_partition_records_in_total", "Records appended by producers.")
           .with(labels),
      &reg.counter("wharf_partition_bytes_out_total", "Record-batch bytes sent to consumers.")
           .with(labels),
      &reg.counter("wharf_partition_records_out_total",
                   "Records sent to consumers (whole batches).")
           .with(labels)};
  return traffic_.emplace(key, t).first->second;
}

std::string HandlerContext::advertised_host() const {
  if (!config.advertised_host.empty()) return config.advertised_host;
  if (config.listen_host == "0.0.0.0" || config.listen_host == "::") return "127.0.0.1";
  return config.listen_host;
}

std::int32_t HandlerContext::advertised_port() const {
  return config.advertised_port != 0 ? config.advertised_port : bound_port_.load();
}

asio::awaitable<void> HandlerContext::parallel(std::size_t n,
                                               const std::function<void(std::size_t)>& f) {
  if (n == 0) co_return;
  struct State {
    std::atomic<std::size_t> left;
    const std::function<void(std::size_t)>* f;  // lives in the suspended caller's frame
  };
  // State lives in this coroutine's frame, which stays suspended until the last task has
  // decremented `left` (its last use of State) and posted the resumption. The lambda below is
  // a temporary inside co_await, so it must capture nothing with a destructor: g++ 12 destroys
  // such temporaries twice (GCC bug 101367); a captured shared_ptr lost a reference that way
  // and State was freed while storage threads still used it (ASan: heap-use-after-free).
  State local_state;
  local_state.left = n;
  local_state.f = &f;
  State* state = &local_state;
  auto& pool = storage_pool_;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [state, n, &pool](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        for (std::size_t i = 0; i < n; ++i) {
          asio::post(pool, [state, shared, i] {
            (*state->f)(i);
            if (--state->left == 0) {
              auto h = std::move(*shared);
              auto ex = asio::get_associated_executor(h);
              asio::post(ex, std::move(h));
            }
          });
        }
      },
      asio::use_awaitable);
}

}  // namespace wharf::kafka
