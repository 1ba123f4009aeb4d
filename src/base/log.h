// Logging: one line per event to stderr, with level and time, via spdlog (kept out of this
// header so it does not reach every translation unit). Thread-safe. The level comes from
// WHARF_LOG_LEVEL (trace, debug, info, warn, error, off) or set_log_level().
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace wharf {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(level)) log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace wharf

#define WHARF_LOG_DEBUG(...) ::wharf::log(::wharf::LogLevel::kDebug, __VA_ARGS__)
#define WHARF_LOG_INFO(...) ::wharf::log(::wharf::LogLevel::kInfo, __VA_ARGS__)
#define WHARF_LOG_WARN(...) ::wharf::log(::wharf::LogLevel::kWarn, __VA_ARGS__)
#define WHARF_LOG_ERROR(...) ::wharf::log(::wharf::LogLevel::kError, __VA_ARGS__)
