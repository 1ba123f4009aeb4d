// Kafka's protocol error codes: the one enum the broker's handlers and the group coordinator
// use, the one switch that names them and says which ones a client retries, and the one place
// where Wharf's internal ErrorCode becomes one of them (exhaustive switches with no default, so
// a new code fails to compile until it is mapped). Constant data and pure functions; any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/error.h"

namespace wharf::kafka::protocol {

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
  kOffsetMetadataTooLarge = 12,
  kCoordinatorNotAvailable = 15,
  kNotCoordinator = 16,
  kInvalidTopicException = 17,
  kRecordListTooLarge = 18,
  kInvalidRequiredAcks = 21,
  kIllegalGeneration = 22,
  kInconsistentGroupProtocol = 23,
  kInvalidGroupId = 24,
  kUnknownMemberId = 25,
  kInvalidSessionTimeout = 26,
  kRebalanceInProgress = 27,
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
  kNonEmptyGroup = 68,
  kGroupIdNotFound = 69,
  kUnknownLeaderEpoch = 75,
  kUnsupportedCompressionType = 76,
  kMemberIdRequired = 79,
  kGroupMaxSizeReached = 81,
  kFencedInstanceId = 82,
  kGroupSubscribedToTopic = 86,
  kInvalidRecord = 87,
  kThrottlingQuotaExceeded = 89,
  kMismatchedEndpointType = 114,
  kUnsupportedEndpointType = 115,
};

constexpr std::int16_t code(KafkaError e) { return static_cast<std::int16_t>(e); }

// Kafka's name for the code ("NOT_COORDINATOR"), as clients print it.
std::string_view name(KafkaError e);

// Whether Kafka's clients treat the code as retriable (RetriableException in Errors.java).
bool retriable(KafkaError e);

// The Kafka error a client should see for an internal error.
KafkaError to_kafka_error(ErrorCode code);
inline KafkaError to_kafka_error(const Error& e) { return to_kafka_error(e.code()); }

}  // namespace wharf::kafka::protocol
