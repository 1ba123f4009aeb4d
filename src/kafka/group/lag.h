// Consumer lag and partition skew, the first-class metrics of a consumer group: per partition
// committed offset, high watermark and lag; per topic the largest partition's lag and
// consumption rate against the mean (skew 1.0 = even; 3.0 = the worst partition has three
// times the average). Rates come from the change in committed offsets between two calls, so
// the tracker keeps the previous sample. Not thread-safe; the admin API calls it on one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "kafka/group/coordinator.h"

namespace wharf::kafka::group {

struct PartitionLag {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t committed = -1;       // -1: nothing committed yet
  std::int64_t high_watermark = -1;  // -1: topic or partition unknown
  std::int64_t lag = -1;             // -1: unknown (no commit or no partition)
  double rate = 0;                   // committed records per second since the last sample
  std::string owner;                 // member id holding it now, if assigned
};

struct TopicSkew {
  std::string topic;
  std::int64_t lag_max = 0;
  double lag_mean = 0;
  double lag_skew = 0;  // lag_max / lag_mean; 0 when the mean is 0
  double rate_max = 0;
  double rate_mean = 0;
  double rate_skew = 0;  // rate_max / rate_mean; 0 when the mean is 0
};

struct GroupLag {
  std::string group_id;
  std::int64_t total_lag = 0;
  std::vector<PartitionLag> partitions;
  std::vector<TopicSkew> topics;
};

// The partitions each member holds, from ConsumerProtocolAssignment bytes ("consumer" groups).
std::map<std::pair<std::string, std::int32_t>, std::string> assigned_partitions(
    const GroupMetrics& group);

class LagTracker {
 public:
  using HighWatermark =
      std::function<std::optional<std::int64_t>(const std::string& topic, std::int32_t partition)>;
  std::vector<GroupLag> compute(const std::vector<GroupMetrics>& groups, const HighWatermark& hwm,
                                std::int64_t now_ms);

 private:
  std::map<std::tuple<std::string, std::string, std::int32_t>,
           std::pair<std::int64_t, std::int64_t>>
      previous_;
};

}  // namespace wharf::kafka::group
