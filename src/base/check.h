// Invariant checks. A failed check is a bug in Wharf, never a consequence of client input: it
// prints where and why, then aborts the process at once (no unwinding, no partial writes).
//
// WHARF_CHECK is always on. WHARF_DCHECK is for costly checks and is compiled only into debug and
// sanitizer builds (WHARF_DEBUG_CHECKS).
#pragma once

#include <string>

#include <fmt/format.h>

namespace wharf::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& message);
}  // namespace wharf::detail

#define WHARF_CHECK(cond, ...)                                                                 \
  do {                                                                                         \
    if (!(cond)) [[unlikely]] {                                                                \
      ::wharf::detail::check_failed(__FILE__, __LINE__, #cond, ::fmt::format("" __VA_ARGS__)); \
    }                                                                                          \
  } while (0)

#if defined(WHARF_DEBUG_CHECKS)
#define WHARF_DCHECK(cond, ...) WHARF_CHECK(cond __VA_OPT__(, ) __VA_ARGS__)
#else
#define WHARF_DCHECK(cond, ...) \
  do {                          \
  } while (0)
#endif
