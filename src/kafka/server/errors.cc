#include "kafka/server/errors.h"

namespace wharf::kafka {

KafkaError to_kafka_error(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument: return KafkaError::kInvalidRequest;
    case ErrorCode::kNotFound: return KafkaError::kUnknownTopicOrPartition;
    case ErrorCode::kAlreadyExists: return KafkaError::kTopicAlreadyExists;
    case ErrorCode::kOutOfRange: return KafkaError::kOffsetOutOfRange;
    // Stored data that fails its checks, and I/O failures, are storage errors: retriable for
    // the client, and the partition is fenced or refused until an operator looks.
    case ErrorCode::kCorruption: return KafkaError::kKafkaStorageError;
    case ErrorCode::kIoError: return KafkaError::kKafkaStorageError;
    case ErrorCode::kNoSpace: return KafkaError::kKafkaStorageError;
    case ErrorCode::kFenced: return KafkaError::kKafkaStorageError;
    case ErrorCode::kMessageTooLarge: return KafkaError::kMessageTooLarge;
    case ErrorCode::kInvalidRecord: return KafkaError::kInvalidRecord;
    case ErrorCode::kCorruptMessage: return KafkaError::kCorruptMessage;
    case ErrorCode::kUnsupported: return KafkaError::kUnsupportedForMessageFormat;
    case ErrorCode::kOutOfOrderSequence: return KafkaError::kOutOfOrderSequenceNumber;
    case ErrorCode::kInvalidProducerEpoch: return KafkaError::kInvalidProducerEpoch;
    case ErrorCode::kResourceExhausted: return KafkaError::kThrottlingQuotaExceeded;
    case ErrorCode::kTimeout: return KafkaError::kRequestTimedOut;
    // Retriable, and makes clients refresh metadata and come back after the restart.
    case ErrorCode::kShuttingDown: return KafkaError::kNotLeaderOrFollower;
    // The broker itself never produces these three (they come from SQL stores and peers).
    case ErrorCode::kConflict: return KafkaError::kUnknownServerError;
    case ErrorCode::kUnavailable: return KafkaError::kUnknownServerError;
    case ErrorCode::kConstraint: return KafkaError::kUnknownServerError;
    case ErrorCode::kInternal: return KafkaError::kUnknownServerError;
  }
  return KafkaError::kUnknownServerError;
}

}  // namespace wharf::kafka
