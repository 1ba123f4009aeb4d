// Error values for expected failures (I/O, corruption, bad input, conflicts).
//
// Public: the broker's modules and the pattern library share these types, and users of the
// library meet them in every signature (`wharf::Status`, `wharf::Result<T>`).
//
// An Error is a small canonical code, a human message and optionally the std::error_code it came
// from. Errors are plain values: copyable, thread-agnostic, never thrown. Context is added as an
// error travels up (`with_context`). The Kafka error-code mapping lives in exactly one switch in
// the protocol layer; this header knows nothing of Kafka.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace wharf {

enum class ErrorCode {
  kInvalidArgument,       // the caller passed something malformed or out of range
  kNotFound,              // a topic, partition, file or offset that does not exist
  kAlreadyExists,         // create of something that exists
  kOutOfRange,            // an offset or position outside what is stored
  kCorruption,            // stored bytes fail a check (CRC, length, ordering)
  kIoError,               // the OS reported an I/O failure
  kNoSpace,               // ENOSPC / EDQUOT
  kFenced,                // a partition refused writes after a failed sync; reopen to recover
  kMessageTooLarge,       // a batch or request over its named limit
  kInvalidRecord,         // a record batch that is well-formed bytes but breaks Kafka's rules
  kCorruptMessage,        // a record batch whose CRC or framing is wrong
  kUnsupported,           // a version, codec or feature we do not implement
  kOutOfOrderSequence,    // idempotent producer: a gap in sequence numbers
  kInvalidProducerEpoch,  // idempotent producer: an epoch older than the current one
  kResourceExhausted,     // a bounded queue, table or budget is full
  kTimeout,               // a wait ran out
  kShuttingDown,          // the component is stopping and takes no new work
  kConflict,              // a concurrent writer won: expected-version mismatch, serialization
                          // failure, deadlock, a busy database; retryable
  kUnavailable,           // a database, broker or peer cannot be reached now; retryable
  kConstraint,            // a database constraint refused the write (unique, foreign key, check)
  kInternal,              // a bug we caught; should never reach a user
};

std::string_view error_code_name(ErrorCode code);

// Whether trying the same operation again may succeed without anyone changing anything:
// kConflict, kUnavailable and kTimeout. Retry middleware and SQL transaction helpers use it.
bool is_retryable(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message, std::error_code sys = {})
      : code_(code), message_(std::move(message)), sys_(sys) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::error_code sys() const { return sys_; }

  // Prefixes the message with where the error was met: "open segment 42: <message>".
  Error with_context(std::string_view context) && {
    message_ = fmt::format("{}: {}", context, message_);
    return std::move(*this);
  }
  Error with_context(std::string_view context) const& {
    Error copy = *this;
    return std::move(copy).with_context(context);
  }

  // "<code name>: <message>[ (<system message>)]"
  std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
  std::error_code sys_;
};

// Builds an Error from a format string: make_error(ErrorCode::kCorruption, "bad crc at {}", pos).
template <typename... Args>
Error make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Error(code, fmt::format(format, std::forward<Args>(args)...));
}

// An Error for a failed system call, keeping errno. ENOSPC and EDQUOT map to kNoSpace.
Error errno_error(int err, std::string_view what);

}  // namespace wharf
