// Plain value types shared by the Kafka protocol codecs, and forward declarations of Reader and
// Writer so that generated message headers stay light (they never include the codec templates).
// Values only: no ownership beyond their own members, no threads, no durability.
#pragma once

#include <array>
#include <cstdint>

namespace wharf::kafka::protocol {

// Kafka's UUID (topic ids): 16 raw bytes on the wire, in order. All zero is Kafka's "no id".
using Uuid = std::array<std::uint8_t, 16>;

// first_flexible_version of an API that has no flexible version at all.
inline constexpr std::int16_t kNeverFlexible = -1;

class Reader;
class Writer;

}  // namespace wharf::kafka::protocol
