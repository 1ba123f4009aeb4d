// Checkout's HTTP front (Boost.Beast): POST /orders in event-driven mode (store + outbox, answer
// once durable) or in convoy mode (store, then call the six dependencies in turn, answer when
// the last one returned), and the dependencies themselves for convoy mode (POST /work/<group>,
// answered after that group's latency).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <wharf/wharf.h>

#include "model.h"
#include "order_store.h"

namespace wharf::checkout {

struct CheckoutServiceOptions {
  std::string listen = "127.0.0.1:0";
  // Convoy mode when set: HOST:PORT of the dependencies' service, called for each of `groups`
  // in order; their latencies are recorded into `stats` (same order as `groups`).
  std::string dependencies;
  std::vector<std::string> groups;
  std::vector<GroupStats*> stats;
};

class CheckoutService {
 public:
  // Serves on one I/O thread until destroyed.
  static Result<std::unique_ptr<CheckoutService>> start(OrderStore& store,
                                                        CheckoutServiceOptions options);
  ~CheckoutService();
  // Stops serving (idempotent). The I/O context stays alive until destruction, so the store's
  // writer may still complete orders queued before: stop, then destroy the OrderStore, then
  // this.
  void stop();
  std::string address() const;  // HOST:PORT it listens on

  struct Impl;

 private:
  explicit CheckoutService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The convoy chain's dependencies: POST /work/<group> waits `latency[group]` (a timer, no
// thread held) and answers 200.
class DependencyService {
 public:
  static Result<std::unique_ptr<DependencyService>> start(
      std::string listen, std::map<std::string, std::chrono::microseconds> latency);
  ~DependencyService();
  std::string address() const;

  struct Impl;

 private:
  explicit DependencyService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port"; kInvalidArgument otherwise.
Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& address);

}  // namespace wharf::checkout
