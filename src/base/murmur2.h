// Kafka's default key partitioner hash: murmur2 with seed 0x9747b28c, as in the Java client's
// Utils.murmur2 and librdkafka's "murmur2" partitioner, so a key lands on the same partition
// whichever of them (or Wharf) produced it. Pure function, no allocation.
#pragma once

#include <cstdint>

#include "base/bytes.h"

namespace wharf {

std::uint32_t murmur2(ByteView key);

// partition = (murmur2(key) & 0x7fffffff) % partitions.  REQUIRES: partitions > 0.
inline std::int32_t partition_for_key(ByteView key, std::int32_t partitions) {
  WHARF_CHECK(partitions > 0);
  return static_cast<std::int32_t>((murmur2(key) & 0x7fffffffu) %
                                   static_cast<std::uint32_t>(partitions));
}

}  // namespace wharf
