// postgres_outbox_listener(): LISTEN wharf_outbox on a dedicated libpq connection
// (library wharf_patterns_outbox_postgres). Used by one relay thread at a time. A broken
// connection is dropped; the next wait reconnects (at most once per wait), and until then the
// wait is the plain polling interval, so a lost connection delays publication, never loses it.
#include <poll.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include <libpq-fe.h>

#include "base/log.h"
#include "wharf/outbox.h"

namespace wharf {
namespace {

// The longest a wait sleeps in poll() before it looks at its stop token again.
constexpr std::chrono::milliseconds kStopCheckInterval{100};

class PostgresListener final : public OutboxWakeup {
 public:
  explicit PostgresListener(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~PostgresListener() override { drop(); }

  void wait(std::chrono::milliseconds timeout, std::stop_token stop) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (conn_ == nullptr && !connect()) {
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      cv.wait_until(lock, stop, deadline, [] { return false; });
      return;
    }
    while (!stop.stop_requested()) {
      if (drain()) return;
      if (conn_ == nullptr)
        return;  // broken: the caller's next pass polls; the next wait reconnects
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      pollfd p{PQsocket(conn_), POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(std::min(left, kStopCheckInterval).count()));
    }
  }

 private:
  bool connect() {
    conn_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      WHARF_LOG_WARN("outbox listener: connect: {}", PQerrorMessage(conn_));
      drop();
      return false;
    }
    PGresult* r = PQexec(conn_, "LISTEN wharf_outbox");
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
      WHARF_LOG_WARN("outbox listener: LISTEN: {}", PQerrorMessage(conn_));
      drop();
    }
    return ok;
  }

  // Reads what arrived; true when at least one notification did.
  bool drain() {
    if (PQconsumeInput(conn_) == 0) {
      WHARF_LOG_WARN("outbox listener: connection lost: {}", PQerrorMessage(conn_));
      drop();
      return false;
    }
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  }

  void drop() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  std::string conninfo_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<OutboxWakeup> postgres_outbox_listener(std::string conninfo) {
  return std::make_unique<PostgresListener>(std::move(conninfo));
}

}  // namespace wharf
