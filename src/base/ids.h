// Strong types for ids, offsets and positions, so that mixing an offset with a byte position (or
// a partition id with a producer epoch) fails to compile. Plain values, no ownership, no threads.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>

#include <fmt/format.h>

namespace wharf {

template <typename Tag, typename Rep>
class StrongInt {
 public:
  using rep = Rep;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep value) : value_(value) {}
  constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const StrongInt&) const = default;

  constexpr StrongInt operator+(Rep delta) const { return StrongInt(value_ + delta); }
  constexpr StrongInt operator-(Rep delta) const { return StrongInt(value_ - delta); }
  constexpr Rep operator-(StrongInt other) const { return value_ - other.value_; }
  constexpr StrongInt& operator+=(Rep delta) {
    value_ += delta;
    return *this;
  }

  static constexpr StrongInt max() { return StrongInt(std::numeric_limits<Rep>::max()); }

 private:
  Rep value_{};
};

// A record offset within a partition (Kafka's int64 offset).
using Offset = StrongInt<struct OffsetTag, std::int64_t>;
// A byte position within a file.
using FilePosition = StrongInt<struct FilePositionTag, std::uint64_t>;
using PartitionId = StrongInt<struct PartitionIdTag, std::int32_t>;
using ProducerId = StrongInt<struct ProducerIdTag, std::int64_t>;
using ProducerEpoch = StrongInt<struct ProducerEpochTag, std::int16_t>;

inline constexpr ProducerId kNoProducerId{-1};
inline constexpr ProducerEpoch kNoProducerEpoch{-1};

}  // namespace wharf

template <typename Tag, typename Rep>
struct std::hash<wharf::StrongInt<Tag, Rep>> {
  std::size_t operator()(const wharf::StrongInt<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value());
  }
};

template <typename Tag, typename Rep>
struct fmt::formatter<wharf::StrongInt<Tag, Rep>> : fmt::formatter<Rep> {
  auto format(const wharf::StrongInt<Tag, Rep>& id, fmt::format_context& ctx) const {
    return fmt::formatter<Rep>::format(id.value(), ctx);
  }
};
