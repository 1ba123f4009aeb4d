// The storage engine's limits, each with its reason. Every queue, buffer and size the engine
// accepts is bounded here; docs/limits.md lists them for users.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wharf::storage {

// A batch larger than this is never written and, in recovery, is treated as a bad batch rather
// than read into memory. It caps max.message.bytes; a corrupt length field can therefore never
// make recovery allocate more than this.
inline constexpr std::size_t kBatchBytesHardMax = 64 * 1024 * 1024;

// A compressed batch is decompressed on produce to check its records; its records may not
// expand past this many bytes (a larger expansion is refused as INVALID_RECORD). It equals
// kBatchBytesHardMax: at Kafka's default max.message.bytes (1 MiB) that allows a 64:1 ratio,
// beyond what real record data compresses to, and the storage threads (8) together hold at
// most 512 MiB of decompressed records.
inline constexpr std::size_t kDecompressedBatchBytesMax = 64 * 1024 * 1024;

// Index entries store 32-bit positions, so a segment must stay below 4 GiB; segment.bytes is
// capped at 2 GiB like Kafka's (Integer.MAX_VALUE), leaving room for the last batch.
inline constexpr std::uint64_t kSegmentBytesMax = 2ull * 1024 * 1024 * 1024 - 1;
inline constexpr std::uint64_t kSegmentBytesMin = 4096;

// Index entries store 32-bit relative offsets; a segment rolls before it would overflow them.
inline constexpr std::int64_t kSegmentOffsetsMax = 0x7fff'ffff;

// Recovery reads the log in chunks of this size: big enough to run at disk speed, small enough
// to bound memory (one chunk per partition being recovered).
inline constexpr std::size_t kScanChunkBytes = 8 * 1024 * 1024;

// Metadata files (topic.json, the clean-shutdown marker, the log-start file, the broker's
// meta.properties and producer_ids) are a few hundred bytes; a larger one is damage and is
// refused before it is read into memory. Topic configs that would make topic.json larger are
// refused when created or altered (INVALID_CONFIG), so the broker never writes one.
inline constexpr std::size_t kMetadataFileBytesMax = 1024 * 1024;

// Partitions per topic and topics per node: a bound on files and memory, not a design limit.
inline constexpr std::int32_t kPartitionsPerTopicMax = 10'000;
inline constexpr std::size_t kTopicNameBytesMax = 249;  // Kafka's limit

// Idempotent-producer state: batches remembered per producer per partition (Kafka's 5, the
// maximum in-flight requests with idempotence) and producers remembered per partition.
inline constexpr std::size_t kProducerBatchesRetained = 5;
inline constexpr std::size_t kProducersPerPartitionMax = 100'000;

}  // namespace wharf::storage
