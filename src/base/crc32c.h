// CRC-32C (Castagnoli), the checksum of Kafka record batch v2 and of our own file formats.
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at start-up) and a
// portable slicing-by-8 table otherwise; both give identical results (tested against RFC 3720's
// published vectors). Thread-safe, no allocation.
#pragma once

#include <cstdint>

#include "base/bytes.h"

namespace wharf::crc32c {

// Extends `crc` (the value returned for the bytes before) over `data`. Start with 0.
std::uint32_t extend(std::uint32_t crc, ByteView data);
inline std::uint32_t value(ByteView data) { return extend(0, data); }

// The two implementations, exposed for tests and benchmarks.
std::uint32_t extend_portable(std::uint32_t crc, ByteView data);
std::uint32_t extend_hardware(std::uint32_t crc, ByteView data);  // REQUIRES: has_hardware()
bool has_hardware();

}  // namespace wharf::crc32c
