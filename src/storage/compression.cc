#include "storage/compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "base/check.h"

namespace wharf::storage {
namespace {

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

Result<Bytes> unsnappy(ByteView in, std::size_t bytes_max) {
  // xerial framing (snappy-java): magic, version, compatible version, then blocks of
  // [int32 length][raw snappy]. Anything else is one raw snappy block.
  constexpr std::array<unsigned char, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
  constexpr std::size_t kXerialHeaderBytes = 16;
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

}  // namespace wharf::storage
