// Parsers for the arguments of the Kafka-client commands (topic, produce, consume, group):
// key=value pairs, consume's --offset forms and reset-offsets' --to-datetime. Pure functions,
// no I/O and no librdkafka, so they are unit-tested on their own (client_args_test.cc). Any
// thread; no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace wharf::cli {

// "key=value" → {key, value}. The key must be non-empty; the value may be empty and may itself
// contain '='. `what` names the flag in the error ("--config: expected key=value, got 'x'").
[[nodiscard]] Result<std::pair<std::string, std::string>> parse_key_value(std::string_view text,
                                                                          std::string_view what);

// Where `wharf consume --offset` starts reading a partition.
struct OffsetSpec {
  enum class Kind {
    kBeginning,  // "beginning": the log start offset
    kEnd,        // "end": the high watermark (only records produced from now on)
    kAbsolute,   // "N": offset N
    kFromEnd,    // "-N": N records before the high watermark
  };
  Kind kind = Kind::kEnd;
  std::int64_t value = 0;  // the N of kAbsolute and kFromEnd
};

[[nodiscard]] Result<OffsetSpec> parse_offset_spec(std::string_view text);

// ISO 8601 date-time → milliseconds since the Unix epoch. Accepts YYYY-MM-DD, optionally followed
// by THH:MM[:SS[.fraction]] and a zone: Z, +HH:MM, +HHMM or +HH (and the '-' forms). Without a
// zone the time is UTC (not local time: a command should mean the same on every machine).
[[nodiscard]] Result<std::int64_t> parse_datetime_ms(std::string_view text);

// A strictly parsed integer (the whole text, in range).
[[nodiscard]] Result<std::int64_t> parse_int64(std::string_view text, std::string_view what);

}  // namespace wharf::cli
