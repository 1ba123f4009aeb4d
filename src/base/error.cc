#include "base/error.h"

#include <cerrno>

namespace wharf {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kAlreadyExists:
      return "already exists";
    case ErrorCode::kOutOfRange:
      return "out of range";
    case ErrorCode::kCorruption:
      return "corruption";
    case ErrorCode::kIoError:
      return "I/O error";
    case ErrorCode::kNoSpace:
      return "no space";
    case ErrorCode::kFenced:
      return "fenced";
    case ErrorCode::kMessageTooLarge:
      return "message too large";
    case ErrorCode::kInvalidRecord:
      return "invalid record";
    case ErrorCode::kCorruptMessage:
      return "corrupt message";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kOutOfOrderSequence:
      return "out of order sequence";
    case ErrorCode::kInvalidProducerEpoch:
      return "invalid producer epoch";
    case ErrorCode::kResourceExhausted:
      return "resource exhausted";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kShuttingDown:
      return "shutting down";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kConstraint:
      return "constraint violated";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

bool is_retryable(ErrorCode code) {
  return code == ErrorCode::kConflict || code == ErrorCode::kUnavailable ||
         code == ErrorCode::kTimeout;
}

std::string Error::to_string() const {
  if (sys_) return fmt::format("{}: {} ({})", error_code_name(code_), message_, sys_.message());
  return fmt::format("{}: {}", error_code_name(code_), message_);
}

Error errno_error(int err, std::string_view what) {
  ErrorCode code = ErrorCode::kIoError;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::kNoSpace;
  if (err == ENOENT) code = ErrorCode::kNotFound;
  if (err == EEXIST) code = ErrorCode::kAlreadyExists;
  if (err == EMFILE || err == ENFILE) {
    // Said in the message itself (which clients see), not only in the errno text of to_string.
    // The code stays kIoError: what fails (a roll, a create) is handled like any I/O failure.
    return Error(
        code,
        fmt::format("{}: too many open files ({} limit reached; docs/limits.md says what each "
                    "partition and connection costs)",
                    what, err == EMFILE ? "the process's descriptor" : "the system's file table"),
        std::error_code(err, std::generic_category()));
  }
  return Error(code, std::string(what), std::error_code(err, std::generic_category()));
}

}  // namespace wharf
