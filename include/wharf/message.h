// The envelope every event travels in, and its mapping to Kafka records.
//
// A Message is a plain value: a stable id (UUIDv7, kept across retries, replays and outbox
// re-sends, so consumers can deduplicate), the event's type name and schema version, its key
// (which picks the partition), its aggregate id, correlation and causation ids, a W3C
// traceparent, a timestamp, a content type and the payload bytes. On Kafka it is a record whose
// key is the message key, whose value is the payload, and whose headers follow the CloudEvents
// Kafka binding in binary mode (`ce_id`, `ce_type`, ...): docs/formats/message-headers.md. A
// consumer in any language reads them without Wharf.
//
// Threads: values, no shared state. new_message_id() is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wharf/result.h"

namespace wharf {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct Message {
  std::string id;                 // UUIDv7 text; publish() fills it when empty
  std::string type;               // "checkout.OrderPlaced"
  std::int32_t version = 1;       // schema version of the payload
  std::string key;                // partition key; empty: no key (round-robin)
  std::string aggregate_id;       // the entity the event is about; optional
  std::string correlation_id;     // the conversation it belongs to; defaults to its own id
  std::string causation_id;       // the id of the message that caused it; optional
  std::string traceparent;        // W3C trace context; optional
  std::int64_t timestamp_ms = 0;  // publish() fills it from the clock when 0
  std::string content_type = "application/json";
  std::string source = "wharf";  // CloudEvents source: the producing service
  std::string payload;
  Headers headers;  // any further headers (retry counts, dead-letter reasons), in order

  // Where a subscriber received it; -1 until then.
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;

  // The value of the last header named `name` among `headers`, if any.
  std::optional<std::string_view> header(std::string_view name) const;
  // Replaces every header named `name` with one of this value.
  void set_header(std::string_view name, std::string value);
  // Bytes this message holds in memory (payload, key and headers), for backpressure budgets.
  std::size_t size_bytes() const;
};

// A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by
// creation time and index well in SQL stores.
std::string new_message_id();
// Milliseconds since the Unix epoch encoded in a UUIDv7; an error for anything else.
[[nodiscard]] Result<std::int64_t> message_id_time_ms(std::string_view id);

using HeaderView = std::pair<std::string_view, std::string_view>;

// The Kafka headers a Message is published with: the CloudEvents attributes first, then
// `headers` as they are. The visitor form copies nothing (transports add them directly); the
// views live as long as `message` (and the visitor call, for the formatted time).
void visit_kafka_headers(const Message& message,
                         const std::function<void(std::string_view, std::string_view)>& visit);
Headers to_kafka_headers(const Message& message);

// A Message from a Kafka record; every record becomes a message, none is dropped. Records
// published by other clients without the CloudEvents headers are accepted: the type is then
// empty, the id is derived from topic/partition/offset ("kafka:orders/3/1042", stable across
// redeliveries), and every header is kept in `headers`. Envelope headers that are present but
// unusable are kept raw in `headers`, with a `wharf-envelope-error` header saying what is wrong:
// a version that is not a positive number makes the version 0 (a typed decode then fails with
// kUnsupported); an id that is empty, longer than kMessageIdBytesMax or not UTF-8 (it could not
// be a key in the SQL stores) is replaced by the derived id, the raw one kept as
// `wharf-original-ce-id`.
Message from_kafka_record(std::string topic, std::int32_t partition, std::int64_t offset,
                          std::int64_t timestamp_ms, std::string key, std::string value,
                          std::span<const HeaderView> headers);
Message from_kafka_record(std::string topic, std::int32_t partition, std::int64_t offset,
                          std::int64_t timestamp_ms, std::string key, std::string value,
                          const Headers& headers);

// The longest message id taken from a record (UUIDv7 text is 36 bytes); longer ids are
// replaced (see from_kafka_record) so that SQL stores can key on every id: PostgreSQL's B-tree
// rows hold at most about 2,700 bytes.
inline constexpr std::size_t kMessageIdBytesMax = 128;
inline constexpr std::string_view kHeaderEnvelopeError = "wharf-envelope-error";
inline constexpr std::string_view kHeaderOriginalId = "wharf-original-ce-id";

// Keys map to partitions as the Java client does: murmur2 of the key bytes, positive, modulo
// the partition count. An empty key returns nullopt (the transport spreads those).
std::optional<std::int32_t> partition_of_key(std::string_view key, std::int32_t partitions);

}  // namespace wharf
