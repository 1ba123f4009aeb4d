#include "cli/client_args.h"

#include <charconv>
#include <ctime>

namespace wharf::cli {

Result<std::pair<std::string, std::string>> parse_key_value(std::string_view text,
                                                            std::string_view what) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return fail(ErrorCode::kInvalidArgument, "{}: expected key=value, got '{}'", what, text);
  }
  return std::pair<std::string, std::string>(std::string(text.substr(0, eq)),
                                             std::string(text.substr(eq + 1)));
}

Result<std::int64_t> parse_int64(std::string_view text, std::string_view what) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a whole number", what, text);
  }
  return value;
}

Result<OffsetSpec> parse_offset_spec(std::string_view text) {
  if (text == "beginning" || text == "earliest" || text == "oldest")
    return OffsetSpec{OffsetSpec::Kind::kBeginning, 0};
  if (text == "end" || text == "latest" || text == "newest")
    return OffsetSpec{OffsetSpec::Kind::kEnd, 0};
  auto n = parse_int64(text, "--offset");
  if (!n) {
    return fail(ErrorCode::kInvalidArgument,
                "--offset: expected beginning, end, an offset N or -N (N before the end), got '{}'",
                text);
  }
  if (*n < 0) return OffsetSpec{OffsetSpec::Kind::kFromEnd, -*n};
  return OffsetSpec{OffsetSpec::Kind::kAbsolute, *n};
}

namespace {

// Reads exactly `digits` decimal digits at `pos`.
bool read_digits(std::string_view s, std::size_t& pos, int digits, int& out) {
  if (pos + static_cast<std::size_t>(digits) > s.size()) return false;
  out = 0;
  for (int i = 0; i < digits; ++i) {
    const char c = s[pos + static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += static_cast<std::size_t>(digits);
  return true;
}

}  // namespace

Result<std::int64_t> parse_datetime_ms(std::string_view s) {
  auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument,
                "'{}' is not an ISO 8601 date-time (e.g. 2024-05-01T12:00:00Z or "
                "2024-05-01T14:00:00+02:00)",
                s);
  };
  std::size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::int64_t millis = 0;
  if (!read_digits(s, pos, 4, year) || pos >= s.size() || s[pos++] != '-' ||
      !read_digits(s, pos, 2, month) || pos >= s.size() || s[pos++] != '-' ||
      !read_digits(s, pos, 2, day)) {
    return bad();
  }
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    ++pos;
    if (!read_digits(s, pos, 2, hour) || pos >= s.size() || s[pos++] != ':' ||
        !read_digits(s, pos, 2, minute)) {
      return bad();
    }
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!read_digits(s, pos, 2, second)) return bad();
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        int scale = 100;
        const std::size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          millis += (s[pos] - '0') * scale;  // digits past milliseconds add 0
          scale /= 10;
          ++pos;
        }
        if (pos == start) return bad();
      }
    }
  }
  int offset_minutes = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      const int sign = s[pos++] == '-' ? -1 : 1;
      int oh = 0, om = 0;
      if (!read_digits(s, pos, 2, oh)) return bad();
      if (pos < s.size() && s[pos] == ':') ++pos;
      if (pos < s.size() && !read_digits(s, pos, 2, om)) return bad();
      if (oh > 23 || om > 59) return bad();
      offset_minutes = sign * (oh * 60 + om);
    } else {
      return bad();
    }
  }
  if (pos != s.size()) return bad();
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    return bad();
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t t = timegm(&tm);
  if (tm.tm_mday != day) return bad();  // timegm normalised an impossible date such as 02-30
  return (static_cast<std::int64_t>(t) - offset_minutes * 60LL) * 1000 + millis;
}

}  // namespace wharf::cli
