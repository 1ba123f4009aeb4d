// The in-process wake-up: Outbox::publish_message() raises it, idle relays wait on it. One per
// process (relays of every store share it; a wake-up for another store costs one empty pass).
// Thread-safe. raise() takes no lock unless a relay is waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>

namespace wharf::outbox_detail {

class Signal {
 public:
  std::uint64_t generation() const { return generation_.load(); }
  void raise() {
    generation_.fetch_add(1);
    if (waiters_.load() > 0) {
      std::lock_guard lock(mutex_);
      cv_.notify_all();
    }
  }
  // Returns once generation() differs from `seen`, after `timeout`, or when `stop` is requested.
  void wait(std::uint64_t seen, std::chrono::milliseconds timeout, std::stop_token stop) {
    waiters_.fetch_add(1);
    {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, stop, timeout, [&] { return generation_.load() != seen; });
    }
    waiters_.fetch_sub(1);
  }

 private:
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> waiters_{0};
  std::mutex mutex_;
  std::condition_variable_any cv_;
};

Signal& signal();

}  // namespace wharf::outbox_detail
