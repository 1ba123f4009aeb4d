// Middleware: functions from handler to handler (Router::use). Each is small and does one
// thing; retries, dead letters and idempotency come as further middleware of the same shape.
//
// Correlation and trace propagation need no middleware: Context::publish carries the handled
// message's correlation id and traceparent onto what a handler publishes and sets the
// causation id.
#pragma once

#include <chrono>
#include <functional>

#include "wharf/router.h"

namespace wharf {

// The handler's deadline, set by timeout(): handlers that loop or wait check it
// (ctx.get<Deadline>()) and give up with kTimeout. Cooperative: a synchronous handler cannot be
// interrupted safely, and one that finished its side effects late must not be reported failed
// (that would run them again).
struct Deadline {
  std::chrono::steady_clock::time_point at;
  bool expired() const { return std::chrono::steady_clock::now() >= at; }
};
Middleware timeout(std::chrono::milliseconds limit);

// Exceptions thrown by the handler become kInternal errors naming the message; they never
// reach the router's threads.
Middleware recover();

// Logs every error with topic, partition, offset, type and id (at warn), then returns it.
Middleware log_errors();

// Counts handled messages and their latency per group, topic and type into the process
// registry (wharf_handler_messages_total, wharf_handler_latency_seconds); the router already
// does this per group, this adds the type.
Middleware type_metrics();

}  // namespace wharf
