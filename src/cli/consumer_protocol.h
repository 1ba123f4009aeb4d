// Decoder for the member assignment of a "consumer" group: Kafka's ConsumerProtocolAssignment
// (clients/src/main/resources/common/message/ConsumerProtocolAssignment.json), the bytes the
// group leader hands each member in SyncGroup and that DescribeGroups returns:
//
//   int16  version                       (0..3 share this layout; later versions only append)
//   int32  topic count, then per topic:  int16 name length, name bytes,
//                                        int32 partition count, int32 partitions...
//   bytes  user data                     (int32 length, -1 = null; absent in some encoders)
//
// Pure code; `wharf group describe` uses it on bytes from rd_kafka_list_groups. Input comes from
// the network, so every length is checked against what is left before it is used.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace wharf::cli {

struct ConsumerAssignment {
  std::int16_t version = 0;
  std::vector<std::pair<std::string, std::vector<std::int32_t>>> topics;  // in wire order
  std::int32_t user_data_bytes = -1;                                      // -1: null or absent
};

// An empty input is an empty assignment (a member that has not been assigned yet).
[[nodiscard]] Result<ConsumerAssignment> decode_consumer_assignment(ByteView bytes);

// "orders[0,1,2] payments[4]": the assignment as one short line.
std::string to_string(const ConsumerAssignment& assignment);

}  // namespace wharf::cli
