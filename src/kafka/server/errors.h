// Kafka's protocol error codes, and the one place where Wharf's internal ErrorCode becomes one
// of them (an exhaustive switch with no default, so a new ErrorCode fails to compile until it
// is mapped). Constant data and pure functions; any thread.
#pragma once

#include <cstdint>

#include "base/error.h"

namespace wharf::kafka {

// The subset of org.apache.kafka.common.protocol.Errors that Wharf sends.
enum class KafkaError : std::int16_t {
  kUnknownServerError = -1,
  kNone = 0,
  kOffsetOutOfRange = 1,
  kCorruptMessage = 2,
  kUnknownTopicOrPartition = 3,
  kInvalidFetchSize = 4,
  kLeaderNotAvailable = 5,
  kNotLeaderOrFollower = 6,
  kRequestTimedOut = 7,
  kMessageTooLarge = 10,
  kCoordinatorNotAvailable = 15,
  kNotCoordinator = 16,
  kInvalidTopicException = 17,
  kRecordListTooLarge = 18,
  kInvalidRequiredAcks = 21,
  kTopicAuthorizationFailed = 29,
  kInvalidTimestamp = 32,
  kUnsupportedVersion = 35,
  kTopicAlreadyExists = 36,
  kInvalidPartitions = 37,
  kInvalidReplicationFactor = 38,
  kInvalidReplicaAssignment = 39,
  kInvalidConfig = 40,
  kInvalidRequest = 42,
  kUnsupportedForMessageFormat = 43,
  kPolicyViolation = 44,
  kOutOfOrderSequenceNumber = 45,
  kDuplicateSequenceNumber = 46,
  kInvalidProducerEpoch = 47,
  kKafkaStorageError = 56,
  kUnknownLeaderEpoch = 75,
  kUnsupportedCompressionType = 76,
  kInvalidRecord = 87,
  kThrottlingQuotaExceeded = 89,
  kMismatchedEndpointType = 114,
  kUnsupportedEndpointType = 115,
};

constexpr std::int16_t code(KafkaError e) { return static_cast<std::int16_t>(e); }

// The Kafka error a client should see for an internal error.
KafkaError to_kafka_error(ErrorCode code);
inline KafkaError to_kafka_error(const Error& e) { return to_kafka_error(e.code()); }

}  // namespace wharf::kafka
