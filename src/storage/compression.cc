#include "storage/compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "base/check.h"
#include "storage/limits.h"

namespace wharf::storage {
namespace {

namespace bl = batch_layout;

// Output grows in steps of this size (or less near the budget), so memory follows the bytes
// actually produced rather than any size the input declares.
constexpr std::size_t kGrowBytes = 256 * 1024;

Error too_large(std::string_view codec, std::size_t bytes_max) {
  return make_error(ErrorCode::kMessageTooLarge,
                    "{} batch expands past the {}-byte decompression budget", codec, bytes_max);
}

// Makes room for more output: returns false if the budget is used up.
bool grow(Bytes& out, std::size_t used, std::size_t bytes_max) {
  if (used >= bytes_max) return false;
  if (out.size() - used == 0) out.resize(std::min(bytes_max, used + kGrowBytes));
  return true;
}

Result<Bytes> gunzip(ByteView in, std::size_t bytes_max) {
  z_stream z{};
  // 15 window bits + 32: accept a zlib or a gzip header, as Kafka's GZIPInputStream and
  // librdkafka's producers write gzip.
  if (inflateInit2(&z, 15 + 32) != Z_OK)
    return fail(ErrorCode::kInternal, "zlib inflateInit2 failed");
  std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&z, &inflateEnd);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  Bytes out;
  std::size_t used = 0;
  for (;;) {
    if (!grow(out, used, bytes_max)) return tl::unexpected(too_large("gzip", bytes_max));
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(out.size() - used);
    const int rc = inflate(&z, Z_NO_FLUSH);
    used = out.size() - z.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && z.avail_in == 0)
      return fail(ErrorCode::kCorruptMessage, "gzip data ends early");
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return fail(ErrorCode::kCorruptMessage, "gzip: {}", z.msg ? z.msg : "invalid data");
    }
  }
  if (z.avail_in != 0)
    return fail(ErrorCode::kCorruptMessage, "{} bytes after the gzip stream", z.avail_in);
  out.resize(used);
  return out;
}

Status snappy_raw_append(ByteView in, Bytes& out, std::size_t bytes_max) {
  std::size_t length = 0;
  const auto* src = reinterpret_cast<const char*>(in.data());
  // Validation costs no memory, so a block that lies about its length allocates nothing.
  if (snappy_validate_compressed_buffer(src, in.size()) != SNAPPY_OK ||
      snappy_uncompressed_length(src, in.size(), &length) != SNAPPY_OK) {
    return fail(ErrorCode::kCorruptMessage, "snappy: invalid block header");
  }
  if (length > bytes_max - out.size()) return tl::unexpected(too_large("snappy", bytes_max));
  const std::size_t at = out.size();
  out.resize(at + length);
  std::size_t produced = length;
  if (snappy_uncompress(src, in.size(), reinterpret_cast<char*>(out.data() + at), &produced) !=
          SNAPPY_OK ||
      produced != length) {
    return fail(ErrorCode::kCorruptMessage, "snappy: invalid data");
  }
  return ok();
}

// xerial framing (snappy-java): magic, version, compatible version, then blocks of
// [int32 length][raw snappy].
constexpr std::array<unsigned char, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t kXerialHeaderBytes = 16;

Result<Bytes> unsnappy(ByteView in, std::size_t bytes_max) {
  // Anything without the xerial magic is one raw snappy block.
  Bytes out;
  if (in.size() >= kXerialHeaderBytes &&
      std::memcmp(in.data(), kXerialMagic.data(), kXerialMagic.size()) == 0) {
    std::size_t pos = kXerialHeaderBytes;
    while (pos < in.size()) {
      if (in.size() - pos < 4)
        return fail(ErrorCode::kCorruptMessage, "snappy: truncated block length");
      const std::int32_t block = load_be<std::int32_t>(in, pos);
      pos += 4;
      if (block < 0 || static_cast<std::size_t>(block) > in.size() - pos) {
        return fail(ErrorCode::kCorruptMessage, "snappy: block length {} exceeds the {} bytes left",
                    block, in.size() - pos);
      }
      WHARF_RETURN_IF_ERROR(
          snappy_raw_append(in.subspan(pos, static_cast<std::size_t>(block)), out, bytes_max));
      pos += static_cast<std::size_t>(block);
    }
    return out;
  }
  WHARF_RETURN_IF_ERROR(snappy_raw_append(in, out, bytes_max));
  return out;
}

Result<Bytes> unlz4(ByteView in, std::size_t bytes_max) {
  LZ4F_dctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
    return fail(ErrorCode::kInternal, "LZ4F_createDecompressionContext failed");
  }
  std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)> guard(
      ctx, &LZ4F_freeDecompressionContext);
  Bytes out;
  std::size_t used = 0;
  std::size_t pos = 0;
  std::size_t hint = 1;
  while (pos < in.size()) {
    if (!grow(out, used, bytes_max)) return tl::unexpected(too_large("lz4", bytes_max));
    std::size_t dst = out.size() - used;
    std::size_t src = in.size() - pos;
    hint = LZ4F_decompress(ctx, out.data() + used, &dst, in.data() + pos, &src, nullptr);
    if (LZ4F_isError(hint))
      return fail(ErrorCode::kCorruptMessage, "lz4: {}", LZ4F_getErrorName(hint));
    used += dst;
    pos += src;
    if (hint == 0 && pos < in.size())
      return fail(ErrorCode::kCorruptMessage, "{} bytes after the lz4 frame", in.size() - pos);
    if (src == 0 && dst == 0 && used < out.size())
      return fail(ErrorCode::kCorruptMessage, "lz4: no progress");
  }
  // Everything consumed: the frame must also be complete (flush what the decoder holds).
  while (hint != 0) {
    if (!grow(out, used, bytes_max)) return tl::unexpected(too_large("lz4", bytes_max));
    std::size_t dst = out.size() - used;
    std::size_t src = 0;
    hint = LZ4F_decompress(ctx, out.data() + used, &dst, nullptr, &src, nullptr);
    if (LZ4F_isError(hint))
      return fail(ErrorCode::kCorruptMessage, "lz4: {}", LZ4F_getErrorName(hint));
    if (dst == 0 && hint != 0) return fail(ErrorCode::kCorruptMessage, "lz4 frame ends early");
    used += dst;
  }
  out.resize(used);
  return out;
}

Result<Bytes> unzstd(ByteView in, std::size_t bytes_max) {
  ZSTD_DStream* ds = ZSTD_createDStream();
  if (ds == nullptr) return fail(ErrorCode::kInternal, "ZSTD_createDStream failed");
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> guard(ds, &ZSTD_freeDStream);
  // The decoder's own window memory is bounded too (2^27 = 128 MiB is zstd's default cap; a
  // producer's level never needs more than 2^23 for a batch this small).
  ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax, 23);
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  Bytes out;
  std::size_t used = 0;
  std::size_t rc = 1;
  while (input.pos < input.size || rc != 0) {
    if (!grow(out, used, bytes_max)) return tl::unexpected(too_large("zstd", bytes_max));
    ZSTD_outBuffer output{out.data() + used, out.size() - used, 0};
    const std::size_t in_before = input.pos;
    rc = ZSTD_decompressStream(ds, &output, &input);
    if (ZSTD_isError(rc))
      return fail(ErrorCode::kCorruptMessage, "zstd: {}", ZSTD_getErrorName(rc));
    used += output.pos;
    if (input.pos == input.size && rc != 0 && output.pos == 0 && input.pos == in_before) {
      return fail(ErrorCode::kCorruptMessage, "zstd frame ends early");
    }
  }
  out.resize(used);
  return out;
}

// ---- Compression ----

// zstd windows above 2^23 are refused by unzstd (and need that much memory in every consumer);
// only the "ultra" levels 20..22 choose larger ones, and only for inputs above 8 MiB.
constexpr int kZstdWindowLog = 23;
constexpr int kZstdLevelWindowAbove23 = 20;

Error output_too_large(std::string_view codec, std::size_t bytes_max) {
  return make_error(ErrorCode::kMessageTooLarge, "{} output exceeds {} bytes", codec, bytes_max);
}

Result<Bytes> gzip(ByteView in, int level, std::size_t bytes_max) {
  z_stream z{};
  // 15 window bits + 16: a gzip wrapper, as Java's GZIPOutputStream (Kafka's gzip) writes; memory
  // level 8 is zlib's default.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail(ErrorCode::kInternal, "zlib deflateInit2 failed (level {})", level);
  std::unique_ptr<z_stream, decltype(&deflateEnd)> guard(&z, &deflateEnd);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  Bytes out;
  std::size_t used = 0;
  for (;;) {
    if (!grow(out, used, bytes_max)) return tl::unexpected(output_too_large("gzip", bytes_max));
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(out.size() - used);
    const int rc = deflate(&z, Z_FINISH);
    used = out.size() - z.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return fail(ErrorCode::kInternal, "zlib deflate: {}", z.msg ? z.msg : "failed");
  }
  out.resize(used);
  return out;
}

// snappy-java's SnappyOutputStream, which Kafka uses: version 1, compatible version 1, blocks of
// at most 32 KiB of input (its default block size). librdkafka and Java both read it.
Result<Bytes> snappy_xerial(ByteView in, std::size_t bytes_max) {
  constexpr std::size_t kBlockBytes = 32 * 1024;
  if (bytes_max < kXerialHeaderBytes) return tl::unexpected(output_too_large("snappy", bytes_max));
  Bytes out;
  for (unsigned char c : kXerialMagic) out.push_back(static_cast<std::byte>(c));
  append_be<std::int32_t>(out, 1);
  append_be<std::int32_t>(out, 1);
  Bytes block(snappy_max_compressed_length(kBlockBytes));
  for (std::size_t pos = 0; pos < in.size();) {
    const std::size_t n = std::min(kBlockBytes, in.size() - pos);
    std::size_t length = block.size();
    if (snappy_compress(reinterpret_cast<const char*>(in.data() + pos), n,
                        reinterpret_cast<char*>(block.data()), &length) != SNAPPY_OK) {
      return fail(ErrorCode::kInternal, "snappy_compress failed");
    }
    if (length + 4 > bytes_max - out.size())
      return tl::unexpected(output_too_large("snappy", bytes_max));
    append_be<std::int32_t>(out, static_cast<std::int32_t>(length));
    append(out, ByteView(block).first(length));
    pos += n;
  }
  return out;
}

// KafkaLZ4BlockOutputStream's frame: 64 KiB blocks, each compressed on its own (Kafka's reader
// decodes every block without the ones before it), no content size, no content checksum. liblz4
// uses LZ4HC from level 3 (Kafka's default compression.lz4.level is 9), its fast mode below.
Result<Bytes> lz4(ByteView in, int level, std::size_t bytes_max) {
  constexpr std::size_t kChunkBytes = 64 * 1024;
  LZ4F_cctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createCompressionContext(&ctx, LZ4F_VERSION)))
    return fail(ErrorCode::kInternal, "LZ4F_createCompressionContext failed");
  std::unique_ptr<LZ4F_cctx, decltype(&LZ4F_freeCompressionContext)> guard(
      ctx, &LZ4F_freeCompressionContext);
  LZ4F_preferences_t prefs;
  std::memset(&prefs, 0, sizeof(prefs));
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.compressionLevel = level;
  prefs.autoFlush = 1;  // every update emits its blocks: the scratch below is always enough
  // Bound for one chunk, the frame header (at most 19 bytes) or the end mark.
  Bytes scratch(LZ4F_compressBound(kChunkBytes, &prefs));
  Bytes out;
  auto put = [&](std::size_t n) -> Status {
    if (LZ4F_isError(n)) return fail(ErrorCode::kInternal, "lz4: {}", LZ4F_getErrorName(n));
    if (n > bytes_max - out.size()) return tl::unexpected(output_too_large("lz4", bytes_max));
    append(out, ByteView(scratch).first(n));
    return ok();
  };
  WHARF_RETURN_IF_ERROR(put(LZ4F_compressBegin(ctx, scratch.data(), scratch.size(), &prefs)));
  for (std::size_t pos = 0; pos < in.size();) {
    const std::size_t n = std::min(kChunkBytes, in.size() - pos);
    WHARF_RETURN_IF_ERROR(
        put(LZ4F_compressUpdate(ctx, scratch.data(), scratch.size(), in.data() + pos, n, nullptr)));
    pos += n;
  }
  WHARF_RETURN_IF_ERROR(put(LZ4F_compressEnd(ctx, scratch.data(), scratch.size(), nullptr)));
  return out;
}

Result<Bytes> zstd(ByteView in, int level, std::size_t bytes_max) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) return fail(ErrorCode::kInternal, "ZSTD_createCCtx failed");
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> guard(cctx, &ZSTD_freeCCtx);
  auto set = [&](ZSTD_cParameter p, int v) -> Status {
    const std::size_t rc = ZSTD_CCtx_setParameter(cctx, p, v);
    if (ZSTD_isError(rc)) return fail(ErrorCode::kInternal, "zstd: {}", ZSTD_getErrorName(rc));
    return ok();
  };
  WHARF_RETURN_IF_ERROR(set(ZSTD_c_compressionLevel, level));
  if (level >= kZstdLevelWindowAbove23)
    WHARF_RETURN_IF_ERROR(set(ZSTD_c_windowLog, kZstdWindowLog));
  // The size is known: the frame records it, and the window shrinks to fit a small batch.
  const std::size_t pledged = ZSTD_CCtx_setPledgedSrcSize(cctx, in.size());
  if (ZSTD_isError(pledged))
    return fail(ErrorCode::kInternal, "zstd: {}", ZSTD_getErrorName(pledged));
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  Bytes out;
  std::size_t used = 0;
  for (;;) {
    if (!grow(out, used, bytes_max)) return tl::unexpected(output_too_large("zstd", bytes_max));
    ZSTD_outBuffer output{out.data() + used, out.size() - used, 0};
    const std::size_t rc = ZSTD_compressStream2(cctx, &output, &input, ZSTD_e_end);
    if (ZSTD_isError(rc)) return fail(ErrorCode::kInternal, "zstd: {}", ZSTD_getErrorName(rc));
    used += output.pos;
    if (rc == 0) break;
  }
  out.resize(used);
  return out;
}

std::string_view codec_name(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return "uncompressed";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

}  // namespace

Result<Bytes> decompress(Compression compression, ByteView input, std::size_t bytes_max) {
  switch (compression) {
    case Compression::kNone:
      break;
    case Compression::kGzip:
      return gunzip(input, bytes_max);
    case Compression::kSnappy:
      return unsnappy(input, bytes_max);
    case Compression::kLz4:
      return unlz4(input, bytes_max);
    case Compression::kZstd:
      return unzstd(input, bytes_max);
  }
  return fail(ErrorCode::kUnsupported, "compression codec {}", static_cast<int>(compression));
}

Result<Bytes> compress(Compression compression, ByteView input, std::optional<int> level,
                       std::size_t bytes_max) {
  if (input.size() > kDecompressedBatchBytesMax) {
    return fail(ErrorCode::kMessageTooLarge, "{} bytes to compress exceed the {}-byte budget",
                input.size(), kDecompressedBatchBytesMax);
  }
  switch (compression) {
    case Compression::kNone:
      break;
    case Compression::kGzip:
      return gzip(input, level.value_or(Z_DEFAULT_COMPRESSION), bytes_max);
    case Compression::kSnappy:
      return snappy_xerial(input, bytes_max);
    case Compression::kLz4:
      return lz4(input, level.value_or(9), bytes_max);
    case Compression::kZstd:
      return zstd(input, level.value_or(3), bytes_max);
  }
  return fail(ErrorCode::kUnsupported, "compression codec {}", static_cast<int>(compression));
}

bool needs_recompression(const BatchHeader& header, const Recompression& recompression) {
  return recompression.target.has_value() && *recompression.target != header.compression() &&
         !header.is_control();
}

Result<Bytes> recompress_batch(ByteView batch, const Recompression& recompression,
                               std::size_t batch_bytes_max) {
  WHARF_CHECK(batch.size() >= bl::kHeaderBytes && recompression.target.has_value());
  const Compression target = *recompression.target;
  const auto source = static_cast<Compression>(load_be<std::int16_t>(batch, bl::kAttributes) &
                                               batch_attributes::kCompressionMask);
  WHARF_CHECK(source != target);
  const ByteView body = batch.subspan(bl::kHeaderBytes);
  Bytes plain;
  ByteView records = body;
  if (source != Compression::kNone) {
    auto decompressed = decompress(source, body, kDecompressedBatchBytesMax);
    if (!decompressed) {
      // As validate_batch: expanding past the budget is the client's INVALID_RECORD.
      const auto code = decompressed.error().code() == ErrorCode::kMessageTooLarge
                            ? ErrorCode::kInvalidRecord
                            : decompressed.error().code();
      return fail(code, "compressed records: {}", decompressed.error().message());
    }
    plain = std::move(*decompressed);
    records = plain;
  }
  auto refuse = [&](std::string_view size) {
    return fail(ErrorCode::kMessageTooLarge,
                "record batch sent {} is {} bytes once {} for compression.type, more than "
                "max.message.bytes {}",
                codec_name(source), size, codec_name(target), batch_bytes_max);
  };
  // Checked before anything is allocated for the new batch; compress() stops at the same bound.
  if (batch_bytes_max < bl::kHeaderBytes) return refuse(std::to_string(bl::kHeaderBytes));
  const std::size_t records_bytes_max = batch_bytes_max - bl::kHeaderBytes;
  if (target == Compression::kNone && records.size() > records_bytes_max)
    return refuse(std::to_string(bl::kHeaderBytes + records.size()));
  Bytes out(batch.begin(), batch.begin() + bl::kHeaderBytes);
  if (target == Compression::kNone) {
    append(out, records);
  } else {
    auto compressed = compress(target, records, recompression.level, records_bytes_max);
    if (!compressed && compressed.error().code() == ErrorCode::kMessageTooLarge)
      return refuse(fmt::format("over {}", batch_bytes_max));
    if (!compressed) return tl::unexpected(compressed.error());
    append(out, *compressed);
  }
  store_be<std::int32_t>(out, bl::kLength,
                         static_cast<std::int32_t>(out.size() - bl::kPartitionLeaderEpoch));
  const auto attributes = load_be<std::int16_t>(out, bl::kAttributes);
  store_be<std::int16_t>(
      out, bl::kAttributes,
      static_cast<std::int16_t>((attributes & ~batch_attributes::kCompressionMask) |
                                static_cast<std::int16_t>(target)));
  store_be<std::uint32_t>(out, bl::kCrc, compute_crc(out));
  return out;
}

}  // namespace wharf::storage
