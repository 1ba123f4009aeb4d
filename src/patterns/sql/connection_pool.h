// A bounded pool of database connections, shared by the SQLite and PostgreSQL backends.
//
// Owned by one Database; thread-safe. Connections are created on demand by a factory, up to
// `size_max`; acquire() waits up to `acquire_timeout` for one to come back, then fails with
// kResourceExhausted (not kTimeout: a retry inside Database::transaction would only multiply
// the wait of a caller whose load is already too high). A Lease returns its connection when
// destroyed; a connection that says it is unhealthy (`bool healthy() const`) is closed instead,
// freeing its slot so the next acquire() opens a fresh one. Every Lease must be gone before the
// pool is destroyed (checked).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/result.h"

namespace wharf::sql {

template <typename Connection>
class ConnectionPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<Connection>>()>;

  class Lease {
   public:
    Lease() = default;
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), connection_(std::move(other.connection_)) {}
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        reset();
        pool_ = std::exchange(other.pool_, nullptr);
        connection_ = std::move(other.connection_);
      }
      return *this;
    }
    ~Lease() { reset(); }

    Connection* operator->() const { return connection_.get(); }
    Connection& operator*() const { return *connection_; }
    explicit operator bool() const { return connection_ != nullptr; }

    // Gives the connection back (or closes it if unhealthy).
    void reset() {
      if (pool_ != nullptr && connection_ != nullptr) pool_->give_back(std::move(connection_));
      pool_ = nullptr;
      connection_.reset();
    }

   private:
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<Connection> connection_;
  };

  ConnectionPool(std::size_t size_max, std::chrono::milliseconds acquire_timeout, Factory factory)
      : size_max_(size_max), acquire_timeout_(acquire_timeout), factory_(std::move(factory)) {
    WHARF_CHECK(size_max_ > 0);
  }
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool() {
    std::lock_guard lock(mutex_);
    WHARF_CHECK(idle_.size() == open_, "{} connections still leased when the pool closes",
                open_ - idle_.size());
  }

  Result<Lease> acquire() {
    std::unique_lock lock(mutex_);
    const bool available = ready_.wait_for(lock, acquire_timeout_,
                                           [&] { return !idle_.empty() || open_ < size_max_; });
    if (!available) {
      return fail(ErrorCode::kResourceExhausted,
                  "all {} connections busy for {} ms (pool size and acquire timeout are options)",
                  size_max_, acquire_timeout_.count());
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
    ++open_;  // reserve the slot, then connect without holding the lock
    lock.unlock();
    Result<std::unique_ptr<Connection>> connection = factory_();
    if (!connection) {
      lock.lock();
      --open_;
      ready_.notify_one();
      return fail(std::move(connection).error());
    }
    return Lease(this, std::move(*connection));
  }

  std::size_t size_max() const { return size_max_; }

 private:
  void give_back(std::unique_ptr<Connection> connection) {
    const bool keep = connection->healthy();
    if (!keep) connection.reset();  // close outside the lock
    std::lock_guard lock(mutex_);
    if (keep) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
    }
    ready_.notify_one();
  }

  const std::size_t size_max_;
  const std::chrono::milliseconds acquire_timeout_;
  const Factory factory_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<std::unique_ptr<Connection>> idle_;  // at most size_max_
  std::size_t open_ = 0;                           // idle + leased, at most size_max_
};

}  // namespace wharf::sql
