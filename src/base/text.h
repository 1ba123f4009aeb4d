// Bounded, printable and valid-UTF-8 forms of strings a client sent (topic names, group ids,
// config names). Any string a client controls passes through one of these before it is put into
// an error message, a log line, JSON or a Prometheus label, so that a 32 KiB name cannot make a
// response unencodable and one bad byte cannot break a scrape. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wharf {

// How many bytes of a client string an error message quotes: enough to recognise a name,
// and small enough that any message stays far below an int16 string length (32767).
inline constexpr std::size_t kEchoBytesMax = 64;

// `s` cut to `bytes_max` bytes, with printable ASCII kept and every other byte written as
// \xNN; a cut string ends in "...(N bytes)". The result is at most 4 * bytes_max + 24 bytes.
std::string excerpt(std::string_view s, std::size_t bytes_max = kEchoBytesMax);

// True if `s` is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF).
bool is_valid_utf8(std::string_view s);

// `s` with every ill-formed UTF-8 sequence replaced by U+FFFD; `s` itself when it is valid.
std::string to_valid_utf8(std::string_view s);

}  // namespace wharf
