// The injectable clock. Production code asks a Clock for time instead of calling std::chrono
// directly, so tests can drive timeouts, retention and segment age deterministically.
// Public: the pattern library takes a Clock in its options.
// SystemClock is stateless and thread-safe; ManualClock is thread-safe (atomics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace wharf {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (record timestamps, retention by time).
  virtual std::int64_t now_ms() const = 0;
  // Monotonic time for measuring intervals and deadlines.
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told to. Both views advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  std::int64_t now_ms() const override { return now_ms_.load(); }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }
  void advance(std::chrono::milliseconds d) { now_ms_ += d.count(); }
  void set_ms(std::int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace wharf
