// Test support: a seeded source of pseudo-random field values, and sample_value(), which fills
// one field of any generated message type. The generated fill_sample() functions
// (generated/test_samples.h) call it for every field that exists in a version, so that
// round-trip tests and fuzz seeds exercise every field, nullable form and array of every API.
// Deterministic for a given seed; one SampleSource per thread; no durability. Never linked into
// the broker.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "base/byte_buffer.h"
#include "base/bytes.h"
#include "kafka/protocol/types.h"

namespace wharf::kafka::protocol::testing {

class SampleSource {
 public:
  explicit SampleSource(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t next() { return rng_(); }
  // True one time in `n`.
  bool one_in(std::uint64_t n) { return next() % n == 0; }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

  // When set, every string is exactly this many bytes (hostile-client tests: the longest string
  // a non-flexible version can carry is 32767 bytes).
  void set_string_bytes(std::optional<std::size_t> bytes) { string_bytes_ = bytes; }
  std::optional<std::size_t> string_bytes() const { return string_bytes_; }

 private:
  std::mt19937_64 rng_;
  std::optional<std::size_t> string_bytes_;
};

namespace detail {
template <typename T>
inline constexpr bool kIsVector = false;
template <typename T>
inline constexpr bool kIsVector<std::vector<T>> = true;
template <typename T>
inline constexpr bool kIsOptional = false;
template <typename T>
inline constexpr bool kIsOptional<std::optional<T>> = true;
}  // namespace detail

// Sets `out` to a pseudo-random value. `nullable` allows null (sometimes) where T can be null;
// arrays get 0 to 3 elements; structs are filled by their generated fill_sample (found by ADL).
template <typename T>
void sample_value(T& out, std::int16_t v, SampleSource& s, bool nullable) {
  if constexpr (std::is_same_v<T, bool>) {
    out = s.one_in(2);
  } else if constexpr (std::is_integral_v<T>) {
    // Small values, negative ones and extremes, as protocols see them.
    switch (s.below(4)) {
      case 0:
        out = static_cast<T>(s.below(8));
        break;
      case 1:
        out = static_cast<T>(-1);
        break;
      case 2:
        out = static_cast<T>(s.next());
        break;
      default:
        out = std::numeric_limits<T>::max();
        break;
    }
  } else if constexpr (std::is_same_v<T, double>) {
    out = static_cast<double>(static_cast<std::int32_t>(s.next())) / 8.0;
  } else if constexpr (std::is_same_v<T, Uuid>) {
    for (auto& b : out) b = static_cast<std::uint8_t>(s.next());
  } else if constexpr (std::is_same_v<T, std::string>) {
    out.clear();
    for (std::size_t i = s.string_bytes().value_or(s.below(9)); i > 0; --i) {
      out.push_back(static_cast<char>('a' + s.below(26)));
    }
  } else if constexpr (std::is_same_v<T, Bytes>) {
    out.clear();
    for (std::size_t i = s.below(9); i > 0; --i) out.push_back(static_cast<std::byte>(s.next()));
  } else if constexpr (std::is_same_v<T, ByteBuffer>) {
    Bytes bytes;
    sample_value(bytes, v, s, false);
    out = bytes;
  } else if constexpr (detail::kIsVector<T>) {
    out.clear();
    for (std::size_t i = s.below(4); i > 0; --i) sample_value(out.emplace_back(), v, s, false);
  } else if constexpr (detail::kIsOptional<T>) {
    if (nullable && s.one_in(4)) {
      out.reset();
    } else {
      sample_value(out.emplace(), v, s, false);
    }
  } else {
    fill_sample(out, v, s);
  }
}

}  // namespace wharf::kafka::protocol::testing
