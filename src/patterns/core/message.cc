#include "wharf/message.h"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>

#include "base/bytes.h"
#include "base/murmur2.h"
#include "base/text.h"

namespace wharf {
namespace {

// CloudEvents Kafka protocol binding, binary content mode: attributes as `ce_` headers, the
// data as the record value, datacontenttype as `content-type`. Extensions carry the rest.
constexpr std::string_view kSpecVersion = "1.0";
constexpr std::string_view kHeaderSpecVersion = "ce_specversion";
constexpr std::string_view kHeaderId = "ce_id";
constexpr std::string_view kHeaderType = "ce_type";
constexpr std::string_view kHeaderSource = "ce_source";
constexpr std::string_view kHeaderTime = "ce_time";
constexpr std::string_view kHeaderContentType = "content-type";
constexpr std::string_view kHeaderVersion = "ce_schemaversion";
constexpr std::string_view kHeaderAggregate = "ce_aggregateid";
constexpr std::string_view kHeaderCorrelation = "ce_correlationid";
constexpr std::string_view kHeaderCausation = "ce_causationid";
constexpr std::string_view kHeaderTraceparent = "ce_traceparent";

std::string format_time_ms(std::int64_t ms) {
  // RFC 3339 in UTC with milliseconds: 2026-11-30T08:53:41.123Z. The date-and-second prefix is
  // cached per thread: publishers format many timestamps of the same second.
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached_prefix;
  const std::int64_t second = ms / 1000;
  if (second != cached_second) {
    std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&t, &tm);
    cached_prefix = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = second;
  }
  const int milli = static_cast<int>(ms % 1000);
  std::string out = cached_prefix;
  out.push_back(static_cast<char>('0' + milli / 100));
  out.push_back(static_cast<char>('0' + milli / 10 % 10));
  out.push_back(static_cast<char>('0' + milli % 10));
  out.push_back('Z');
  return out;
}

}  // namespace

std::optional<std::string_view> Message::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return std::string_view(it->second);
  }
  return std::nullopt;
}

void Message::set_header(std::string_view name, std::string value) {
  std::erase_if(headers, [&](const auto& h) { return h.first == name; });
  headers.emplace_back(std::string(name), std::move(value));
}

std::size_t Message::size_bytes() const {
  std::size_t n = payload.size() + key.size() + id.size() + type.size() + 64;
  for (const auto& [k, v] : headers) n += k.size() + v.size();
  return n;
}

std::string new_message_id() {
  // Random bits from a per-thread generator seeded from the OS; the time prefix keeps ids of
  // one millisecond apart sortable, the 74 random bits make collisions negligible.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::array<std::uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  const std::uint64_t r1 = rng();
  const std::uint64_t r2 = rng();
  for (int i = 6; i < 16; ++i)
    b[i] = static_cast<std::uint8_t>((i < 14 ? r1 : r2) >> (8 * (i % 8)));
  b[6] = static_cast<std::uint8_t>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  std::size_t pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++pos;  // the dashes of 8-4-4-4-12
    id[pos++] = kHex[b[i] >> 4];
    id[pos++] = kHex[b[i] & 0x0f];
  }
  return id;
}

Result<std::int64_t> message_id_time_ms(std::string_view id) {
  if (id.size() != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7') {
    return fail(ErrorCode::kInvalidArgument, "'{}' is not a UUIDv7", id.substr(0, 64));
  }
  std::string hex = std::string(id.substr(0, 8)) + std::string(id.substr(9, 4));
  std::uint64_t ms = 0;
  auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), ms, 16);
  if (ec != std::errc() || p != hex.data() + hex.size()) {
    return fail(ErrorCode::kInvalidArgument, "'{}' is not a UUIDv7", id.substr(0, 64));
  }
  return static_cast<std::int64_t>(ms);
}

void visit_kafka_headers(const Message& m,
                         const std::function<void(std::string_view, std::string_view)>& visit) {
  visit(kHeaderSpecVersion, kSpecVersion);
  visit(kHeaderId, m.id);
  visit(kHeaderSource, m.source.empty() ? std::string_view("wharf") : std::string_view(m.source));
  if (!m.type.empty()) visit(kHeaderType, m.type);
  char version[16];
  const auto [end, ec] = std::to_chars(version, version + sizeof version, m.version);
  (void)ec;  // an int32 always fits 16 characters
  visit(kHeaderVersion, std::string_view(version, static_cast<std::size_t>(end - version)));
  if (m.timestamp_ms > 0) {
    const std::string time = format_time_ms(m.timestamp_ms);
    visit(kHeaderTime, time);
  }
  if (!m.content_type.empty()) visit(kHeaderContentType, m.content_type);
  if (!m.aggregate_id.empty()) visit(kHeaderAggregate, m.aggregate_id);
  if (!m.correlation_id.empty()) visit(kHeaderCorrelation, m.correlation_id);
  if (!m.causation_id.empty()) visit(kHeaderCausation, m.causation_id);
  if (!m.traceparent.empty()) visit(kHeaderTraceparent, m.traceparent);
  for (const auto& [k, v] : m.headers) visit(k, v);
}

Headers to_kafka_headers(const Message& m) {
  Headers h;
  h.reserve(12 + m.headers.size());
  visit_kafka_headers(m, [&](std::string_view k, std::string_view v) { h.emplace_back(k, v); });
  return h;
}

Message from_kafka_record(std::string topic, std::int32_t partition, std::int64_t offset,
                          std::int64_t timestamp_ms, std::string key, std::string value,
                          const Headers& headers) {
  std::vector<HeaderView> views;
  views.reserve(headers.size());
  for (const auto& [k, v] : headers) views.emplace_back(k, v);
  return from_kafka_record(std::move(topic), partition, offset, timestamp_ms, std::move(key),
                           std::move(value), views);
}

Message from_kafka_record(std::string topic, std::int32_t partition, std::int64_t offset,
                          std::int64_t timestamp_ms, std::string key, std::string value,
                          std::span<const HeaderView> headers) {
  Message m;
  m.topic = std::move(topic);
  m.partition = partition;
  m.offset = offset;
  m.timestamp_ms = timestamp_ms;
  m.key = std::move(key);
  m.payload = std::move(value);
  m.content_type.clear();
  m.source.clear();
  for (const auto& [name, v] : headers) {
    if (name == kHeaderSpecVersion) {
      // CloudEvents 1.0 is the only version written; a reader takes the attributes it knows.
    } else if (name == kHeaderId) {
      if (v.empty() || v.size() > kMessageIdBytesMax || !is_valid_utf8(v)) {
        // Ids are keys in SQL stores (inbox, parking): one that could not be stored gets the
        // derived id below; the raw value stays with the message.
        m.headers.emplace_back(std::string(kHeaderOriginalId), std::string(v));
        m.headers.emplace_back(std::string(kHeaderEnvelopeError),
                               fmt::format("{} is empty, longer than {} bytes or not UTF-8",
                                           kHeaderId, kMessageIdBytesMax));
      } else {
        m.id = v;
      }
    } else if (name == kHeaderType) {
      m.type = v;
    } else if (name == kHeaderSource) {
      m.source = v;
    } else if (name == kHeaderTime) {
      // The record timestamp is authoritative (set by the producer, kept by the log).
    } else if (name == kHeaderContentType) {
      m.content_type = v;
    } else if (name == kHeaderVersion) {
      std::int32_t version = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), version);
      if (ec != std::errc() || p != v.data() + v.size() || version < 1) {
        // Delivered, not dropped: version 0 makes a typed decode fail with kUnsupported (no
        // upcaster from 0), which the handler's middleware classifies (dead letter).
        m.version = 0;
        m.headers.emplace_back(std::string(name), std::string(v));
        m.headers.emplace_back(
            std::string(kHeaderEnvelopeError),
            fmt::format("{} is '{}', not a version number", kHeaderVersion, excerpt(v, 32)));
      } else {
        m.version = version;
      }
    } else if (name == kHeaderAggregate) {
      m.aggregate_id = v;
    } else if (name == kHeaderCorrelation) {
      m.correlation_id = v;
    } else if (name == kHeaderCausation) {
      m.causation_id = v;
    } else if (name == kHeaderTraceparent) {
      m.traceparent = v;
    } else {
      m.headers.emplace_back(std::string(name), std::string(v));
    }
  }
  if (m.id.empty()) m.id = fmt::format("kafka:{}/{}/{}", m.topic, partition, offset);
  return m;
}

std::optional<std::int32_t> partition_of_key(std::string_view key, std::int32_t partitions) {
  if (key.empty() || partitions <= 0) return std::nullopt;
  return partition_for_key(as_bytes(key), partitions);
}

}  // namespace wharf
