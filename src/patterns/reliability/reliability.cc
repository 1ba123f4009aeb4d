#include "wharf/reliability.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
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
        if (s || ctx.deferred()) return s;
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

Middleware retry_topics(Router& router, const std::string& topic, RetryTopicsOptions options) {
  if (!options.retryable) options.retryable = retryable_by_default;
  const Bus& bus = router.bus();
  const std::int32_t partitions = bus->partition_count(topic).value_or(0);
  for (std::size_t level = 1; level <= options.delays.size(); ++level) {
    const std::string retry_topic = fmt::format("{}.retry.{}", topic, level);
    router.route(retry_topic, topic);
    if (partitions > 0) {
      if (Status s = bus->ensure_topic(retry_topic, partitions); !s) {
        log(LogLevel::kWarn, "retry topic {}: {}", retry_topic, s.error().to_string());
      }
    }
  }
  auto shared = std::make_shared<const RetryTopicsOptions>(std::move(options));
  return [shared, topic](Handler next) -> Handler {
    return [shared, topic, next = std::move(next)](const Message& m, Context& ctx) -> Status {
      const RetryTopicsOptions& o = *shared;
      const Clock& clock = o.clock ? *o.clock : SystemClock::instance();
      std::int32_t level = 0;
      if (m.topic != topic) {
        auto original = m.header(kHeaderRetryTopic);
        if (!original || *original != topic) return next(m, ctx);  // another topic's business
        level = std::atoi(std::string(m.header(kHeaderRetryLevel).value_or("0")).c_str());
        const std::int64_t due =
            std::atoll(std::string(m.header(kHeaderRetryDue).value_or("0")).c_str());
        const std::int64_t now = clock.now_ms();
        if (due > now) {
          ctx.defer(std::chrono::milliseconds(due - now));
          return fail(ErrorCode::kUnavailable, "retry of {} due in {} ms", m.id, due - now);
        }
      }
      Status s = next(m, ctx);
      if (s) return s;
      const std::int64_t now = clock.now_ms();
      const std::int64_t first_failure =
          level == 0
              ? now
              : std::atoll(std::string(m.header(kHeaderRetryFirstFailure).value_or("0")).c_str());
      if (!o.retryable(s.error()) || static_cast<std::size_t>(level) >= o.delays.size()) {
        if (FailureInfo* f = ctx.get<FailureInfo>()) {
          f->attempts += level + 1;
          if (f->first_failure_ms == 0 || first_failure < f->first_failure_ms)
            f->first_failure_ms = first_failure;
          f->last_failure_ms = now;
        }
        return s;
      }
      Message again = m;
      again.topic.clear();
      again.partition = -1;
      again.offset = -1;
      if (level == 0) {
        again.set_header(kHeaderRetryTopic, m.topic);
        again.set_header(kHeaderRetryPartition, std::to_string(m.partition));
        again.set_header(kHeaderRetryOffset, std::to_string(m.offset));
        again.set_header(kHeaderRetryFirstFailure, std::to_string(now));
      }
      again.set_header(kHeaderRetryLevel, std::to_string(level + 1));
      again.set_header(kHeaderRetryDue,
                       std::to_string(now + o.delays[static_cast<std::size_t>(level)].count()));
      const std::string next_topic = fmt::format("{}.retry.{}", topic, level + 1);
      if (Status p = ctx.bus().publish(next_topic, std::move(again)); !p) {
        return fail(std::move(p).error().with_context(fmt::format("retry topic {}", next_topic)));
      }
      metrics::registry()
          .counter("wharf_retries_total", "Handler calls made again after a failure")
          .with({{"group", ctx.group()}, {"topic", topic}})
          .inc();
      return ok();
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
      if (s || ctx.deferred()) return s;  // a message not due yet is no failure
      if (o.applies && !o.applies(s.error())) return s;
      const Clock& clock = o.clock ? *o.clock : SystemClock::instance();
      if (info.attempts == 0) {
        info.attempts = 1;
        info.first_failure_ms = info.last_failure_ms = clock.now_ms();
      }
      // A message that went through retry topics is dead-lettered for its original topic, at its
      // original place.
      const std::string original_topic = std::string(m.header(kHeaderRetryTopic).value_or(m.topic));
      const std::string original_partition =
          std::string(m.header(kHeaderRetryPartition).value_or(std::to_string(m.partition)));
      const std::string original_offset =
          std::string(m.header(kHeaderRetryOffset).value_or(std::to_string(m.offset)));
      const std::string topic = o.topic ? o.topic(m) : original_topic + o.suffix;
      Message dead = m;  // same id, key, type, payload and headers
      dead.topic.clear();
      dead.partition = -1;
      dead.offset = -1;
      dead.set_header(kHeaderDlqTopic, original_topic);
      dead.set_header(kHeaderDlqPartition, original_partition);
      dead.set_header(kHeaderDlqOffset, original_offset);
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
