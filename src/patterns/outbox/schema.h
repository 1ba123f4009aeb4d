// The outbox's SQL text for each dialect, shared by the writer (outbox.cc) and the relay
// (relay.cc). The tables are described in docs/formats/outbox.md; change both together.
// No state; no threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "wharf/message.h"
#include "wharf/result.h"

namespace wharf::outbox_detail {

// The envelope columns in the order of the INSERT's placeholders and of the relay's SELECT
// (after `id` and before `created_at_ms`).
inline constexpr std::string_view kRowColumns =
    "message_id, topic, message_key, type, version, aggregate_id, correlation_id, causation_id, "
    "traceparent, content_type, source, timestamp_ms, headers, payload, created_at_ms";

// The first int4 of the PostgreSQL advisory lock that orders writers of one (topic, key):
// 'WHOB' in ASCII, so that it is easy to recognise in pg_locks.
inline constexpr std::int32_t kAdvisoryLockClass = 0x57484F42;

// The channel of the NOTIFY that publish() sends on PostgreSQL.
inline constexpr std::string_view kNotifyChannel = "wharf_outbox";

// The 32-bit lock id of (topic, key): FNV-1a over "topic\0key". Collisions only make two keys
// wait for each other.
std::int32_t key_lock_id(std::string_view topic, std::string_view key);

// JSON [[name, value], ...] of the extra headers; "" when there are none.
std::string encode_headers(const Headers& headers);
[[nodiscard]] Result<Headers> decode_headers(std::string_view json_text);

}  // namespace wharf::outbox_detail
