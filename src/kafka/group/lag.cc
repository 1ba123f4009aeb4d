#include "kafka/group/lag.h"

#include <algorithm>

#include "kafka/protocol/generated/consumer_protocol.h"
#include "kafka/protocol/reader.h"
#include "wharf/lag.h"

namespace wharf::kafka::group {

std::map<std::pair<std::string, std::int32_t>, std::string> assigned_partitions(
    const GroupMetrics& group) {
  std::map<std::pair<std::string, std::int32_t>, std::string> out;
  if (group.protocol_type != "consumer") return out;
  for (const auto& m : group.member_list) {
    // ConsumerProtocol bytes start with an int16 version; newer versions decode as our newest.
    if (m.assignment.size() < 2) continue;
    const auto version = std::min<std::int16_t>(load_be<std::int16_t>(m.assignment, 0),
                                                protocol::ConsumerProtocolAssignment::kMaxVersion);
    protocol::Reader reader(ByteView(m.assignment).subspan(2));
    protocol::ConsumerProtocolAssignment a;
    if (version < 0 || !a.decode(reader, version)) continue;
    for (const auto& tp : a.assigned_partitions) {
      for (auto p : tp.partitions) out[{tp.topic, p}] = m.member_id;
    }
  }
  return out;
}

std::vector<GroupLag> LagTracker::compute(const std::vector<GroupMetrics>& groups,
                                          const HighWatermark& hwm, std::int64_t now_ms) {
  std::vector<GroupLag> out;
  decltype(previous_) next;
  for (const auto& g : groups) {
    GroupLag gl;
    gl.group_id = g.group_id;
    auto owners = assigned_partitions(g);
    std::map<std::pair<std::string, std::int32_t>, PartitionLag> parts;
    for (const auto& [key, c] : g.offsets) {
      auto& pl = parts[key];
      pl.committed = c.offset;
    }
    for (const auto& [key, owner] : owners) parts[key].owner = owner;
    for (auto& [key, pl] : parts) {
      pl.topic = key.first;
      pl.partition = key.second;
      if (auto h = hwm(key.first, key.second)) pl.high_watermark = *h;
      if (pl.committed >= 0 && pl.high_watermark >= 0) {
        pl.lag = lag::partition_lag(pl.high_watermark, pl.committed);
        gl.total_lag += pl.lag;
      }
      const auto id = std::make_tuple(g.group_id, key.first, key.second);
      if (pl.committed >= 0) {
        if (auto prev = previous_.find(id);
            prev != previous_.end() && now_ms > prev->second.second) {
          pl.rate =
              static_cast<double>(std::max<std::int64_t>(0, pl.committed - prev->second.first)) *
              1000.0 / static_cast<double>(now_ms - prev->second.second);
        }
        next[id] = {pl.committed, now_ms};
      }
      gl.partitions.push_back(pl);
    }
    std::map<std::string, std::vector<const PartitionLag*>> by_topic;
    for (const auto& pl : gl.partitions) by_topic[pl.topic].push_back(&pl);
    for (const auto& [topic, pls] : by_topic) {
      TopicSkew ts;
      ts.topic = topic;
      lag::LagSummary lags;
      double rate_sum = 0;
      for (const auto* pl : pls) {
        if (pl->lag >= 0) lags.add(pl->lag);
        ts.rate_max = std::max(ts.rate_max, pl->rate);
        rate_sum += pl->rate;
      }
      ts.lag_max = lags.max;
      ts.lag_mean = lags.mean();
      ts.lag_skew = lags.skew();
      ts.rate_mean = pls.empty() ? 0 : rate_sum / static_cast<double>(pls.size());
      ts.rate_skew = lag::skew(ts.rate_max, ts.rate_mean);
      gl.topics.push_back(ts);
    }
    out.push_back(std::move(gl));
  }
  previous_ = std::move(next);
  return out;
}

}  // namespace wharf::kafka::group
