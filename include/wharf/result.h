// Result<T> and Status: the return type of every operation that can fail in an expected way.
//
// Public (the pattern library's signatures use them).
//
// Result<T> is tl::expected<T, Error> (API-compatible with C++23 std::expected: moving to C++23
// is a one-line alias change). Status is Result<void>. Both are [[nodiscard]] through tl's own
// attribute on the class, and every caller must look at them: check, then dereference.
#pragma once

#include <tl/expected.hpp>

#include "wharf/error.h"

namespace wharf {

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

template <typename... Args>
tl::unexpected<Error> fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return tl::unexpected<Error>(make_error(code, format, std::forward<Args>(args)...));
}

inline Status ok() { return {}; }

}  // namespace wharf

// Evaluates a Status-or-Result expression; on error returns it from the enclosing function.
#define WHARF_RETURN_IF_ERROR(expr)                                             \
  do {                                                                          \
    auto wharf_status_ = (expr);                                                \
    if (!wharf_status_) return ::wharf::fail(std::move(wharf_status_).error()); \
  } while (0)

#define WHARF_CONCAT_INNER_(a, b) a##b
#define WHARF_CONCAT_(a, b) WHARF_CONCAT_INNER_(a, b)

// WHARF_ASSIGN_OR_RETURN(auto x, expr): binds the value of a Result, or returns its error.
#define WHARF_ASSIGN_OR_RETURN(lhs, expr) \
  WHARF_ASSIGN_OR_RETURN_IMPL_(WHARF_CONCAT_(wharf_result_, __LINE__), lhs, expr)
#define WHARF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)      \
  auto tmp = (expr);                                      \
  if (!tmp) return ::wharf::fail(std::move(tmp).error()); \
  lhs = std::move(*tmp)
