// Partition sizes on disk (for `wharf topic describe`), from Kafka's DescribeLogDirs API.
// librdkafka 2.0.2 has no call for it, so this sends the one request itself: a blocking
// connection to the partition leader, DescribeLogDirs v1 built with the generated codec, every
// wait bounded by the timeout. Main thread only; nothing is written locally.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"

namespace wharf::kafka::client {

// Bytes on disk of each of `partitions` of `topic` on the broker at host:port (summed over its
// log directories; a partition the broker does not report is left out). Fails on a connection
// error, a timeout, a malformed answer or sizes whose sum does not fit an int64.
[[nodiscard]] Result<std::map<std::int32_t, std::int64_t>> partition_sizes(
    const std::string& host, int port, const std::string& topic,
    const std::vector<std::int32_t>& partitions, int timeout_ms);

// Adds `bytes` to `sizes[partition]`; fails (and leaves it unchanged) if `bytes` is negative or
// the sum would overflow, as a broker's answer might claim.
[[nodiscard]] Status add_partition_size(std::map<std::int32_t, std::int64_t>& sizes,
                                        std::int32_t partition, std::int64_t bytes);

}  // namespace wharf::kafka::client
