#include "wharf/reliability.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "base/log.h"
#include "base/metrics.h"

namespace wharf {
namespace {

void sleep_interruptibly(std::chrono::milliseconds d, std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, d, [] { return false; });
}

std::string cut(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  // Cut on a UTF-8 character boundary so the header stays valid text.
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return std::string(text.substr(0, n)) + "…";
}

}  // namespace

bool retryable_by_default(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
    case ErrorCode::kConstraint:
    case ErrorCode::kInvalidRecord:
    case ErrorCode::kCorruptMessage:
      return false;
    default:
      return true;
  }
}

std::chrono::milliseconds backoff_delay(const RetryOptions& o, std::int32_t attempt) {
  const double nominal = static_cast<double>(o.backoff_initial.count()) *
                         std::pow(std::max(o.backoff_multiplier, 1.0), std::max(attempt - 1, 0));
  const double capped = std::min(nominal, static_cast<double>(o.backoff_max.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(capped));
}

Middleware retry(RetryOptions options) {
  if (!options.sleep) options.sleep = sleep_interruptibly;
  if (!options.retryable) options.retryable = retryable_by_default;
  options.attempts_max = std::max(options.attempts_max, 1);
  auto shared = std::make_shared<const RetryOptions>(std::move(options));
  return [shared](Handler next) -> Handler {
    return [shared, next = std::move(next)](const Message& m, Context& ctx) -> Status {
      const RetryOptions& o = *shared;
      const Clock& clock = o.clock ? *o.clock : SystemClock::instance();
      thread_local std::mt19937_64 rng{std::random_device{}()};
      FailureInfo info;
      FailureInfo* outer = ctx.get<FailureInfo>();
      auto& retries =
          metrics::registry()
              .counter("wharf_retries_total", "Handler calls made again after a failure")
              .with({{"group", ctx.group()}, {"topic", m.topic}});
      Status s = ok();
      for (std::int32_t attempt = 1;; ++attempt) {
        s = next(m, ctx);
        info.attempts = attempt;
        if (s) break;
        const std::int64_t now = clock.now_ms();
        if (info.first_failure_ms == 0) info.first_failure_ms = now;
        info.last_failure_ms = now;
        if (attempt >= o.attempts_max || !o.retryable(s.error()) ||
            ctx.stop_token().stop_requested())
          break;
        auto wait = backoff_delay(o, attempt);
        if (o.jitter > 0 && wait.count() > 0) {
          std::uniform_real_distribution<double> d(1.0 - o.jitter, 1.0 + o.jitter);
          wait = std::chrono::milliseconds(
              static_cast<std::int64_t>(static_cast<double>(wait.count()) * d(rng)));
        }
        retries.inc();
        o.sleep(wait, ctx.stop_token());
      }
      if (!s && outer) {
        // Report the failure to the middleware that asked (dead_letter sets the record before
        // calling down the chain); nested retries add up.
        outer->attempts += info.attempts;
        if (outer->first_failure_ms == 0) outer->first_failure_ms = info.first_failure_ms;
        outer->last_failure_ms = info.last_failure_ms;
      }
      return s;
    };
  };
}

Middleware dead_letter(DeadLetterOptions options) {
  auto shared = std::make_shared<const DeadLetterOptions>(std::move(options));
  return [shared](Handler next) -> Handler {
    return [shared, next = std::move(next)](const Message& m, Context& ctx) -> Status {
      const DeadLetterOptions& o = *shared;
      FailureInfo info;
      FailureInfo* outer = ctx.get<FailureInfo>();
      ctx.set(&info);
      Status s = next(m, ctx);
      ctx.set(outer);
      if (s) return s;
      if (o.applies && !o.applies(s.error())) return s;
      const Clock& clock = o.clock ? *o.clock : SystemClock::instance();
      if (info.attempts == 0) {
        info.attempts = 1;
        info.first_failure_ms = info.last_failure_ms = clock.now_ms();
      }
      const std::string topic = o.topic ? o.topic(m) : m.topic + o.suffix;
      Message dead = m;  // same id, key, type, payload and headers
      dead.topic.clear();
      dead.partition = -1;
      dead.offset = -1;
      dead.set_header(kHeaderDlqTopic, m.topic);
      dead.set_header(kHeaderDlqPartition, std::to_string(m.partition));
      dead.set_header(kHeaderDlqOffset, std::to_string(m.offset));
      dead.set_header(kHeaderDlqGroup, ctx.group());
      dead.set_header(kHeaderDlqErrorClass, std::string(error_code_name(s.error().code())));
      dead.set_header(kHeaderDlqErrorMessage, cut(s.error().message(), kDlqErrorMessageBytesMax));
      dead.set_header(kHeaderDlqAttempts, std::to_string(info.attempts));
      dead.set_header(kHeaderDlqFirstFailure, std::to_string(info.first_failure_ms));
      dead.set_header(kHeaderDlqLastFailure, std::to_string(info.last_failure_ms));
      Status published = ctx.bus().publish(topic, std::move(dead));
      if (!published) {
        log(LogLevel::kWarn,
            "group {}: dead letter of {}/{}/{} to {} failed, it will be handed again: {}",
            ctx.group(), m.topic, m.partition, m.offset, topic, published.error().to_string());
        return fail(std::move(published).error().with_context("dead letter"));
      }
      metrics::registry()
          .counter("wharf_dead_letters_total", "Messages sent to a dead-letter topic")
          .with({{"group", ctx.group()}, {"topic", m.topic}})
          .inc();
      log(LogLevel::kWarn, "group {}: {}/{}/{} ({} {}) sent to {} after {} attempt(s): {}",
          ctx.group(), m.topic, m.partition, m.offset, m.type, m.id, topic, info.attempts,
          cut(s.error().to_string(), 1024));
      return ok();
    };
  };
}

}  // namespace wharf
