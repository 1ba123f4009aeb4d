// The codecs of Kafka record batches. Decompression serves validation on produce (Kafka
// decompresses every compressed batch it accepts, and so does Wharf) and the log cleaner;
// compression serves a topic's compression.type, with which the broker rewrites a batch whose
// codec differs (recompress_batch). Every codec runs with a budget: output past `bytes_max`
// stops it with an error, so a small batch cannot make the broker allocate more than the budget
// (a "zip bomb"), and a recompressed batch never grows past what the topic accepts. Pure
// functions; any thread.
#pragma once

#include <cstddef>
#include <optional>

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

// `input` compressed with the framing Kafka's Java broker writes, which every client reads:
// gzip with a gzip wrapper; snappy in the xerial framing of snappy-java (header, then blocks of
// at most 32 KiB of input); lz4 in the LZ4 frame format with independent 64 KiB blocks and no
// checksum of the content (as KafkaLZ4BlockOutputStream); zstd as one standard frame. `level`
// is the topic's compression.<codec>.level (gzip -1 or 1..9, lz4 1..17, zstd -131072..22;
// nullopt: Kafka's default, -1, 9 and 3; snappy has none). Errors: kMessageTooLarge (more than
// `bytes_max` bytes of output, or an input larger than kDecompressedBatchBytesMax), kInternal
// (the library failed), kUnsupported (unknown codec). REQUIRES: compression != kNone.
[[nodiscard]] Result<Bytes> compress(Compression compression, ByteView input,
                                     std::optional<int> level, std::size_t bytes_max);

// What a topic's compression.type makes of a batch on produce: `target` is nullopt for
// `producer` (keep the producer's codec) and kNone for `uncompressed`.
struct Recompression {
  std::optional<Compression> target;
  std::optional<int> level;  // see compress()
};

// True when a batch with `header` must be rewritten before it is stored: the topic names a codec
// other than the batch's. Control batches are never rewritten (Kafka never compresses them).
bool needs_recompression(const BatchHeader& header, const Recompression& recompression);

// `batch` (one whole batch that validated) with its records stored under `recompression.target`:
// the records are decompressed (within kDecompressedBatchBytesMax) and compressed again, or
// stored plain for kNone. Only the codec bits of attributes, `length` and the CRC change; offsets,
// timestamps, producer id, epoch, sequence and the transactional bit are kept, and the records
// are the same bytes once decompressed. The result is at most `batch_bytes_max` bytes, else
// kMessageTooLarge (as Kafka's RecordTooLargeException after recompression).
// REQUIRES: needs_recompression(header of batch, recompression).
[[nodiscard]] Result<Bytes> recompress_batch(ByteView batch, const Recompression& recompression,
                                             std::size_t batch_bytes_max);

}  // namespace wharf::storage
