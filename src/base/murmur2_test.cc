#include "base/murmur2.h"

#include <gtest/gtest.h>

namespace wharf {
namespace {

// Values from librdkafka 2.0.2's murmur2 partitioner on the same keys (it matches the Java
// client), masked to 31 bits as both partitioners do.
TEST(Murmur2, MatchesKafkaClientsPartitioner) {
  const std::pair<const char*, std::uint32_t> cases[] = {
      {"kafka", 1348980580u}, {"giberish123456789", 257239820u},
      {"1234", 533297940u},   {"234", 1740638666u},
      {"34", 121188570u},     {"4", 1514888353u},
      {"", 275646681u},
  };
  for (const auto& [key, want] : cases) {
    EXPECT_EQ(murmur2(as_bytes(key)) & 0x7fffffffu, want) << key;
  }
  EXPECT_EQ(partition_for_key(as_bytes("kafka"), 6), static_cast<std::int32_t>(1348980580u % 6));
}

}  // namespace
}  // namespace wharf
