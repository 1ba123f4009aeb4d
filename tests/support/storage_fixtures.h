// Test fixtures for the storage engine: deterministic record batches whose contents can be
// regenerated from (seed, index), so a test or the crash checker can tell byte for byte whether
// what recovery returns is what was written. Test code only; header-only.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "storage/record_batch.h"

namespace wharf::test {

// The batch with index `n` of stream `seed`: 1..max_records records with values of
// value_bytes, fully determined by (seed, n). Offsets are not set (base offset 0).
inline Bytes deterministic_batch(std::uint64_t seed, std::uint64_t n, std::size_t value_bytes = 100,
                                 int max_records = 4, storage::BatchOptions options = {}) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + n * 0xBF58476D1CE4E5B9ull + 1;
  auto next = [&] {
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return x;
  };
  const int records = 1 + static_cast<int>(next() % static_cast<std::uint64_t>(max_records));
  std::vector<storage::Record> rs;
  for (int r = 0; r < records; ++r) {
    storage::Record rec;
    rec.key = to_bytes("key-" + std::to_string(n) + "-" + std::to_string(r));
    Bytes value(value_bytes);
    for (auto& b : value) b = static_cast<std::byte>(next());
    rec.value = std::move(value);
    rec.timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(n) * 10 + r;
    rs.push_back(std::move(rec));
  }
  return storage::build_batch(rs, options);
}

inline Bytes simple_batch(std::string_view value, std::int64_t timestamp_ms = 1'700'000'000'000,
                          storage::BatchOptions options = {}) {
  storage::Record rec;
  rec.value = to_bytes(value);
  rec.timestamp_ms = timestamp_ms;
  return storage::build_batch({rec}, options);
}

// Splits a byte range of whole batches into their headers, up to the first that does not parse.
inline std::vector<storage::BatchHeader> headers_of(ByteView bytes) {
  std::vector<storage::BatchHeader> out;
  auto walked = storage::for_each_batch(bytes, [&out](ByteView batch) {
    auto h = storage::parse_header(batch);
    if (h) out.push_back(*h);
    return h.has_value();
  });
  (void)walked;  // a malformed length ends the list as a bad header does
  return out;
}

}  // namespace wharf::test

namespace wharf::storage {
// Readable test failures.
inline std::ostream& operator<<(std::ostream& os, const TimestampedOffset& t) {
  return os << "{offset " << t.offset.value() << ", timestamp " << t.timestamp_ms << "}";
}
}  // namespace wharf::storage
