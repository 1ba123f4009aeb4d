// The Kafka error table: codes, names and retriability as Kafka's clients know them, and the
// mapping from internal errors.

#include "kafka/protocol/errors.h"

#include <gtest/gtest.h>

namespace wharf::kafka::protocol {
namespace {

TEST(KafkaErrorTest, CodesAndNamesMatchKafka) {
  EXPECT_EQ(code(KafkaError::kNotCoordinator), 16);
  EXPECT_EQ(name(KafkaError::kNotCoordinator), "NOT_COORDINATOR");
  EXPECT_EQ(code(KafkaError::kFencedInstanceId), 82);
  EXPECT_EQ(name(KafkaError::kFencedInstanceId), "FENCED_INSTANCE_ID");
  EXPECT_EQ(code(KafkaError::kUnknownServerError), -1);
  EXPECT_EQ(name(KafkaError::kUnknownServerError), "UNKNOWN_SERVER_ERROR");
  EXPECT_EQ(name(KafkaError::kKafkaStorageError), "KAFKA_STORAGE_ERROR");
}

TEST(KafkaErrorTest, RetriableFollowsKafkasClients) {
  EXPECT_TRUE(retriable(KafkaError::kKafkaStorageError));
  EXPECT_TRUE(retriable(KafkaError::kNotLeaderOrFollower));
  EXPECT_TRUE(retriable(KafkaError::kCoordinatorNotAvailable));
  EXPECT_FALSE(retriable(KafkaError::kNone));
  EXPECT_FALSE(retriable(KafkaError::kUnknownMemberId));
  EXPECT_FALSE(retriable(KafkaError::kOutOfOrderSequenceNumber));
}

TEST(KafkaErrorTest, InternalErrorsMapToKafkaCodes) {
  EXPECT_EQ(to_kafka_error(ErrorCode::kCorruption), KafkaError::kKafkaStorageError);
  EXPECT_EQ(to_kafka_error(ErrorCode::kShuttingDown), KafkaError::kNotLeaderOrFollower);
  EXPECT_EQ(to_kafka_error(ErrorCode::kOutOfOrderSequence), KafkaError::kOutOfOrderSequenceNumber);
  // Every internal error that can reach a client maps to a retriable code or a definite one,
  // never silently to NONE.
  for (auto c : {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kIoError,
                 ErrorCode::kInternal, ErrorCode::kTimeout}) {
    EXPECT_NE(to_kafka_error(c), KafkaError::kNone);
  }
}

}  // namespace
}  // namespace wharf::kafka::protocol
