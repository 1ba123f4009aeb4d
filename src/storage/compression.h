// Decompression of the records section of a compressed Kafka record batch, for validation on
// produce (Kafka decompresses every compressed batch it accepts, and so does Wharf; the bytes
// stored are still the compressed bytes the producer sent). Every codec runs with a budget:
// output past `bytes_max` stops the decompression with an error, so a small batch cannot make
// the broker allocate more than the budget (a "zip bomb"). Pure functions; any thread.
#pragma once

#include <cstddef>

#include "base/bytes.h"
#include "base/result.h"
#include "storage/record_batch.h"

namespace wharf::storage {

// The records of a compressed batch, decompressed. Errors: kCorruptMessage (the bytes are not
// valid data of that codec, or end early), kMessageTooLarge (more than `bytes_max` bytes of
// output), kUnsupported (unknown codec). gzip takes a zlib or gzip stream; snappy takes raw
// snappy or the xerial framing Java clients write; lz4 takes the LZ4 frame format; zstd takes
// one or more zstd frames. REQUIRES: compression != kNone.
[[nodiscard]] Result<Bytes> decompress(Compression compression, ByteView input,
                                       std::size_t bytes_max);

}  // namespace wharf::storage
