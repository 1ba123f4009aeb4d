// Kafka API keys (the int16 at the start of every request) for the APIs Wharf's codec knows.
// The numbers are Kafka's and never change; generated messages carry the same value as
// XRequest::kApiKey (a test checks that they agree). Constants only: no threads, no durability.
#pragma once

#include <cstdint>

namespace wharf::kafka::protocol {

enum class ApiKey : std::int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kDescribeGroups = 15,
  kListGroups = 16,
  kSaslHandshake = 17,
  kApiVersions = 18,
  kCreateTopics = 19,
  kDeleteTopics = 20,
  kDeleteRecords = 21,
  kInitProducerId = 22,
  kOffsetForLeaderEpoch = 23,
  kDescribeConfigs = 32,
  kAlterConfigs = 33,
  kDescribeLogDirs = 35,
  kSaslAuthenticate = 36,
  kCreatePartitions = 37,
  kDeleteGroups = 42,
  kIncrementalAlterConfigs = 44,
  kOffsetDelete = 47,
  kDescribeCluster = 60,
  kDescribeProducers = 61,
};

constexpr std::int16_t to_int(ApiKey key) { return static_cast<std::int16_t>(key); }

}  // namespace wharf::kafka::protocol
