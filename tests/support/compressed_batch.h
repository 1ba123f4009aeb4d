// Test helper: turns an uncompressed v2 batch (storage::build_batch) into a compressed one, as
// producers write it, and lets a test lie in it (a record count that does not match, bytes
// that are not valid data of the codec). Compression uses the codec libraries directly, so
// the broker's decompression is checked against independent encoders. Tests only.
#pragma once

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <stdexcept>

#include "base/crc32c.h"
#include "storage/record_batch.h"

namespace wharf::test {

inline Bytes compress_bytes(storage::Compression codec, ByteView in) {
  Bytes out;
  switch (codec) {
    case storage::Compression::kNone:
      return Bytes(in.begin(), in.end());
    case storage::Compression::kGzip: {
      z_stream z{};
      if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2");
      out.resize(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
      z.avail_in = static_cast<uInt>(in.size());
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
      out.resize(z.total_out);
      deflateEnd(&z);
      return out;
    }
    case storage::Compression::kSnappy: {
      std::size_t n = snappy_max_compressed_length(in.size());
      out.resize(n);
      if (snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(),
                          reinterpret_cast<char*>(out.data()), &n) != SNAPPY_OK) {
        throw std::runtime_error("snappy_compress");
      }
      out.resize(n);
      return out;
    }
    case storage::Compression::kLz4: {
      out.resize(LZ4F_compressFrameBound(in.size(), nullptr));
      const std::size_t n =
          LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), nullptr);
      if (LZ4F_isError(n)) throw std::runtime_error("LZ4F_compressFrame");
      out.resize(n);
      return out;
    }
    case storage::Compression::kZstd: {
      out.resize(ZSTD_compressBound(in.size()));
      const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
      if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress");
      out.resize(n);
      return out;
    }
  }
  return out;
}

// Replaces the records section of `batch` with `records` (any bytes), flags `codec`, and sets
// record_count, last_offset_delta, length and the CRC so that only the contents can be wrong.
inline Bytes rebuild_batch(const Bytes& batch, storage::Compression codec, ByteView records,
                           std::int32_t record_count) {
  namespace bl = storage::batch_layout;
  Bytes out(bl::kHeaderBytes + records.size());
  std::copy(batch.begin(), batch.begin() + bl::kHeaderBytes, out.begin());
  std::copy(records.begin(), records.end(), out.begin() + bl::kHeaderBytes);
  store_be<std::int32_t>(out, bl::kLength,
                         static_cast<std::int32_t>(out.size() - bl::kPartitionLeaderEpoch));
  auto attributes = load_be<std::int16_t>(out, bl::kAttributes);
  attributes =
      static_cast<std::int16_t>((attributes & ~storage::batch_attributes::kCompressionMask) |
                                static_cast<std::int16_t>(codec));
  store_be<std::int16_t>(out, bl::kAttributes, attributes);
  store_be<std::int32_t>(out, bl::kRecordCount, record_count);
  store_be<std::int32_t>(out, bl::kLastOffsetDelta, record_count - 1);
  store_be<std::uint32_t>(out, bl::kCrc, storage::compute_crc(out));
  return out;
}

// `batch` (uncompressed, from build_batch) compressed with `codec`; `record_count` defaults to
// the true count and can be set to lie.
inline Bytes compress_batch(const Bytes& batch, storage::Compression codec,
                            std::int32_t record_count = -1) {
  namespace bl = storage::batch_layout;
  const auto records = ByteView(batch).subspan(bl::kHeaderBytes);
  if (record_count < 0) record_count = load_be<std::int32_t>(batch, bl::kRecordCount);
  return rebuild_batch(batch, codec, compress_bytes(codec, records), record_count);
}

}  // namespace wharf::test
