#include "storage/compression.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/support/compressed_batch.h"

namespace wharf::storage {
namespace {

namespace bl = batch_layout;

constexpr Compression kCodecs[] = {Compression::kGzip, Compression::kSnappy, Compression::kLz4,
                                   Compression::kZstd};

Bytes three_records() {
  std::vector<Record> in(3);
  for (int i = 0; i < 3; ++i) {
    in[i].key = to_bytes("key-" + std::to_string(i));
    in[i].value = to_bytes(std::string(200, static_cast<char>('a' + i)));
    in[i].timestamp_ms = 1000 + i;
  }
  return build_batch(in);
}

TEST(Compression, EachCodecRoundTripsTheRecords) {
  const Bytes plain = three_records();
  const auto records = ByteView(plain).subspan(bl::kHeaderBytes);
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    auto out = decompress(codec, test::compress_bytes(codec, records), kDecompressedBatchBytesMax);
    ASSERT_TRUE(out.has_value()) << out.error().to_string();
    EXPECT_EQ(*out, Bytes(records.begin(), records.end()));
  }
}

TEST(Compression, SnappyAcceptsTheXerialFramingOfJavaClients) {
  const Bytes plain = three_records();
  const auto records = ByteView(plain).subspan(bl::kHeaderBytes);
  const Bytes block = test::compress_bytes(Compression::kSnappy, records);
  Bytes framed = {std::byte{0x82}, std::byte{'S'}, std::byte{'N'}, std::byte{'A'},
                  std::byte{'P'},  std::byte{'P'}, std::byte{'Y'}, std::byte{0}};
  append_be<std::int32_t>(framed, 1);
  append_be<std::int32_t>(framed, 1);
  append_be<std::int32_t>(framed, static_cast<std::int32_t>(block.size()));
  append(framed, block);
  auto out = decompress(Compression::kSnappy, framed, kDecompressedBatchBytesMax);
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  EXPECT_EQ(*out, Bytes(records.begin(), records.end()));
}

TEST(Compression, ValidBatchOfEachCodecValidates) {
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    auto h = validate_batch(test::compress_batch(three_records(), codec), {});
    ASSERT_TRUE(h.has_value()) << h.error().to_string();
    EXPECT_EQ(h->record_count, 3);
  }
}

TEST(Compression, MaxTimestampOfACompressedBatchIsComputedFromItsRecords) {
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    Bytes b = test::compress_batch(three_records(), codec);
    store_be<std::int64_t>(b, bl::kMaxTimestamp, -1);
    store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
    auto v = validate_batch_records(b, {});
    ASSERT_TRUE(v.has_value()) << v.error().to_string();
    EXPECT_EQ(v->header.max_timestamp, -1);
    EXPECT_EQ(v->records_max_timestamp, 1002);
  }
}

TEST(Compression, BatchDeclaringMoreRecordsThanItHoldsIsRefused) {
  for (auto codec : kCodecs) {
    for (std::int32_t lie : {1000, 0x7fffffff, 2}) {
      SCOPED_TRACE(fmt::format("codec {} count {}", static_cast<int>(codec), lie));
      auto h = validate_batch(test::compress_batch(three_records(), codec, lie), {});
      ASSERT_FALSE(h.has_value());
      EXPECT_EQ(h.error().code(), ErrorCode::kCorruptMessage) << h.error().to_string();
    }
  }
}

TEST(Compression, RandomBytesFlaggedCompressedAreRefused) {
  std::mt19937 rng(9);
  Bytes junk(200);
  for (auto& b : junk) b = static_cast<std::byte>(rng());
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    auto h = validate_batch(test::rebuild_batch(three_records(), codec, junk, 3), {});
    ASSERT_FALSE(h.has_value());
    EXPECT_EQ(h.error().code(), ErrorCode::kCorruptMessage) << h.error().to_string();
  }
}

TEST(Compression, TruncatedCompressedDataIsRefused) {
  const Bytes plain = three_records();
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    Bytes data = test::compress_bytes(codec, ByteView(plain).subspan(bl::kHeaderBytes));
    data.resize(data.size() - 3);
    auto h = validate_batch(test::rebuild_batch(plain, codec, data, 3), {});
    ASSERT_FALSE(h.has_value());
  }
}

TEST(Compression, ExpansionPastTheBudgetIsRefusedWithoutUsingIt) {
  const Bytes zeros(4 * 1024 * 1024);
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    auto out = decompress(codec, test::compress_bytes(codec, zeros), 1024 * 1024);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code(), ErrorCode::kMessageTooLarge);
  }
  ValidationLimits limits;
  limits.decompressed_bytes_max = 100;  // the three records take ~650 bytes
  auto h = validate_batch(test::compress_batch(three_records(), Compression::kZstd), limits);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code(), ErrorCode::kInvalidRecord);
}

}  // namespace
}  // namespace wharf::storage
