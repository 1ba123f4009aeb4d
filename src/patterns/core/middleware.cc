#include "wharf/middleware.h"

#include "base/log.h"
#include "base/metrics.h"

namespace wharf {

Middleware timeout(std::chrono::milliseconds limit) {
  return [limit](Handler next) -> Handler {
    return [limit, next = std::move(next)](const Message& m, Context& ctx) -> Status {
      Deadline deadline{std::chrono::steady_clock::now() + limit};
      Deadline* outer = ctx.get<Deadline>();
      if (outer && outer->at < deadline.at) deadline = *outer;  // never extend an outer deadline
      ctx.set(&deadline);
      Status s = next(m, ctx);
      ctx.set(outer);
      return s;
    };
  };
}

Middleware recover() {
  return [](Handler next) -> Handler {
    return [next = std::move(next)](const Message& m, Context& ctx) -> Status {
      try {
        return next(m, ctx);
      } catch (const std::exception& e) {
        return fail(ErrorCode::kInternal, "handler threw on {}/{}/{} ({} {}): {}", m.topic,
                    m.partition, m.offset, m.type, m.id, e.what());
      } catch (...) {
        return fail(ErrorCode::kInternal, "handler threw a non-exception on {}/{}/{} ({} {})",
                    m.topic, m.partition, m.offset, m.type, m.id);
      }
    };
  };
}

Middleware log_errors() {
  return [](Handler next) -> Handler {
    return [next = std::move(next)](const Message& m, Context& ctx) -> Status {
      Status s = next(m, ctx);
      if (!s) {
        log(LogLevel::kWarn, "group {}: {}/{}/{} ({} {}): {}", ctx.group(), m.topic, m.partition,
            m.offset, m.type, m.id, s.error().to_string());
      }
      return s;
    };
  };
}

Middleware type_metrics() {
  return [](Handler next) -> Handler {
    return [next = std::move(next)](const Message& m, Context& ctx) -> Status {
      const auto started = std::chrono::steady_clock::now();
      Status s = next(m, ctx);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      auto& r = metrics::registry();
      r.histogram("wharf_handler_type_latency_seconds",
                  "Time in a handler per message, by event type")
          .with({{"group", ctx.group()}, {"topic", m.topic}, {"type", m.type}})
          .observe(seconds);
      r.counter("wharf_handler_type_messages_total", "Messages handled, by event type and result")
          .with({{"group", ctx.group()},
                 {"topic", m.topic},
                 {"type", m.type},
                 {"result", s ? "ok" : "error"}})
          .inc();
      return s;
    };
  };
}

}  // namespace wharf
