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

// ---- compress() and recompress_batch() ----

constexpr Compression kAllCodecs[] = {Compression::kNone, Compression::kGzip, Compression::kSnappy,
                                      Compression::kLz4, Compression::kZstd};

// `bytes` of a mix that exercises every codec: runs of text, then noise, repeated, so the output
// spans many snappy (32 KiB) and lz4 (64 KiB) blocks and gzip/zstd need several output steps.
Bytes mixed_bytes(std::size_t bytes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out;
  out.reserve(bytes);
  while (out.size() < bytes) {
    const std::string text = "record-" + std::to_string(out.size()) + "-";
    for (int i = 0; i < 50 && out.size() < bytes; ++i)
      for (char c : text)
        if (out.size() < bytes) out.push_back(static_cast<std::byte>(c));
    for (int i = 0; i < 3000 && out.size() < bytes; ++i)
      out.push_back(static_cast<std::byte>(rng()));
  }
  return out;
}

TEST(Compression, WhatCompressWritesDecompressReadsBackForEveryCodecAndSize) {
  const Bytes plain = three_records();
  const std::vector<Bytes> inputs = {Bytes{}, Bytes{std::byte{42}},
                                     Bytes(plain.begin() + bl::kHeaderBytes, plain.end()),
                                     mixed_bytes(3 * 1024 * 1024 + 17, 1), Bytes(5'000'000)};
  for (auto codec : kCodecs) {
    for (const auto& in : inputs) {
      SCOPED_TRACE(fmt::format("codec {} input {} bytes", static_cast<int>(codec), in.size()));
      auto out = compress(codec, in, std::nullopt, kBatchBytesHardMax);
      ASSERT_TRUE(out.has_value()) << out.error().to_string();
      auto back = decompress(codec, *out, kDecompressedBatchBytesMax);
      ASSERT_TRUE(back.has_value()) << back.error().to_string();
      EXPECT_EQ(*back, in);
      if (in.size() == 5'000'000) {
        EXPECT_LT(out->size(), in.size() / 20);  // zeros shrink
      }
    }
  }
}

TEST(Compression, EveryLevelKafkaAcceptsCompresses) {
  const Bytes in = mixed_bytes(300 * 1024, 2);
  const std::vector<std::pair<Compression, std::vector<int>>> levels = {
      {Compression::kGzip, {-1, 1, 9}},
      {Compression::kLz4, {1, 2, 3, 9, 17}},
      {Compression::kZstd, {-131072, -5, 1, 3, 19, 22}}};
  for (const auto& [codec, each] : levels) {
    for (int level : each) {
      SCOPED_TRACE(fmt::format("codec {} level {}", static_cast<int>(codec), level));
      auto out = compress(codec, in, level, kBatchBytesHardMax);
      ASSERT_TRUE(out.has_value()) << out.error().to_string();
      auto back = decompress(codec, *out, kDecompressedBatchBytesMax);
      ASSERT_TRUE(back.has_value()) << back.error().to_string();
      EXPECT_EQ(*back, in);
    }
  }
}

TEST(Compression, UltraZstdLevelsKeepTheWindowThatDecompressAccepts) {
  // Level 20 picks a 2^25 window for inputs this large (2^24 once fitted to 9 MiB); decompress
  // accepts at most 2^23, so compress caps it.
  const Bytes in = mixed_bytes(9 * 1024 * 1024, 4);
  auto out = compress(Compression::kZstd, in, 20, kBatchBytesHardMax);
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  auto back = decompress(Compression::kZstd, *out, kDecompressedBatchBytesMax);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(*back, in);
}

TEST(Compression, OutputHasTheFramingKafkaWrites) {
  const Bytes in = mixed_bytes(100 * 1024, 3);
  auto gz = compress(Compression::kGzip, in, std::nullopt, kBatchBytesHardMax);
  ASSERT_TRUE(gz.has_value());
  EXPECT_EQ((*gz)[0], std::byte{0x1f});  // gzip member header, not a zlib stream
  EXPECT_EQ((*gz)[1], std::byte{0x8b});

  // snappy-java: magic, version 1, compatible version 1, then [int32 length][block] that cover
  // the input in 32 KiB blocks: 100 KiB makes four.
  auto sn = compress(Compression::kSnappy, in, std::nullopt, kBatchBytesHardMax);
  ASSERT_TRUE(sn.has_value());
  const Bytes magic = {std::byte{0x82}, std::byte{'S'}, std::byte{'N'}, std::byte{'A'},
                       std::byte{'P'},  std::byte{'P'}, std::byte{'Y'}, std::byte{0}};
  ASSERT_GT(sn->size(), 16u);
  EXPECT_EQ(Bytes(sn->begin(), sn->begin() + 8), magic);
  EXPECT_EQ(load_be<std::int32_t>(*sn, 8), 1);
  EXPECT_EQ(load_be<std::int32_t>(*sn, 12), 1);
  int blocks = 0;
  for (std::size_t pos = 16; pos < sn->size(); ++blocks) {
    const auto length = load_be<std::int32_t>(*sn, pos);
    ASSERT_GT(length, 0);
    pos += 4 + static_cast<std::size_t>(length);
    ASSERT_LE(pos, sn->size());
  }
  EXPECT_EQ(blocks, 4);

  // LZ4 frame: magic 0x184D2204; FLG version 01, independent blocks, no content size, no
  // content checksum, no dictionary; BD 64 KiB blocks.
  auto lz = compress(Compression::kLz4, in, std::nullopt, kBatchBytesHardMax);
  ASSERT_TRUE(lz.has_value());
  EXPECT_EQ(load_be<std::uint32_t>(*lz, 0), 0x04224D18u);
  EXPECT_EQ(static_cast<unsigned>((*lz)[4]), 0x60u);
  EXPECT_EQ(static_cast<unsigned>((*lz)[5]), 0x40u);

  auto zs = compress(Compression::kZstd, in, std::nullopt, kBatchBytesHardMax);
  ASSERT_TRUE(zs.has_value());
  EXPECT_EQ(load_be<std::uint32_t>(*zs, 0), 0x28B52FFDu);
}

TEST(Compression, OutputPastItsBoundStopsWithMessageTooLarge) {
  std::mt19937 rng(5);
  Bytes noise(200 * 1024);
  for (auto& b : noise) b = static_cast<std::byte>(rng());
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    auto out = compress(codec, noise, std::nullopt, 100 * 1024);  // noise does not shrink
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code(), ErrorCode::kMessageTooLarge) << out.error().to_string();
    auto tiny = compress(codec, Bytes{}, std::nullopt, 4);  // not even the framing fits
    ASSERT_FALSE(tiny.has_value());
    EXPECT_EQ(tiny.error().code(), ErrorCode::kMessageTooLarge);
  }
}

// An idempotent batch of three records, compressed with `codec`.
Bytes idempotent_batch(Compression codec) {
  BatchOptions options;
  options.producer_id = ProducerId(7);
  options.producer_epoch = ProducerEpoch(2);
  options.base_sequence = 40;
  std::vector<Record> in(3);
  for (int i = 0; i < 3; ++i) {
    in[i].key = to_bytes("key-" + std::to_string(i));
    in[i].value = to_bytes(std::string(300, static_cast<char>('a' + i)));
    in[i].headers.emplace_back("h", to_bytes("v" + std::to_string(i)));
    in[i].timestamp_ms = 1'700'000'000'000 + 5 * i;
  }
  const Bytes plain = build_batch(in, options);
  return codec == Compression::kNone ? plain : test::compress_batch(plain, codec);
}

Bytes records_of(ByteView batch) {
  auto h = parse_header(batch);
  EXPECT_TRUE(h.has_value());
  const ByteView body = batch.subspan(bl::kHeaderBytes);
  if (h->compression() == Compression::kNone) return Bytes(body.begin(), body.end());
  auto out = decompress(h->compression(), body, kDecompressedBatchBytesMax);
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  return out ? *out : Bytes{};
}

TEST(Compression, RecompressedBatchKeepsEveryFieldAndRecordAndChangesOnlyTheCodec) {
  for (auto from : kAllCodecs) {
    for (auto to : kAllCodecs) {
      if (from == to) continue;
      SCOPED_TRACE(fmt::format("{} -> {}", static_cast<int>(from), static_cast<int>(to)));
      const Bytes batch = idempotent_batch(from);
      const Recompression recompression{to, std::nullopt};
      auto sent = validate_batch(batch, {});
      ASSERT_TRUE(sent.has_value());
      ASSERT_TRUE(needs_recompression(*sent, recompression));
      auto out = recompress_batch(batch, recompression, ValidationLimits{}.batch_bytes_max);
      ASSERT_TRUE(out.has_value()) << out.error().to_string();
      auto h = validate_batch(*out, {});  // length and CRC match, records decode
      ASSERT_TRUE(h.has_value()) << h.error().to_string();
      EXPECT_EQ(h->compression(), to);
      EXPECT_EQ(h->attributes & ~batch_attributes::kCompressionMask,
                sent->attributes & ~batch_attributes::kCompressionMask);
      EXPECT_EQ(h->base_offset, sent->base_offset);
      EXPECT_EQ(h->partition_leader_epoch, sent->partition_leader_epoch);
      EXPECT_EQ(h->last_offset_delta, sent->last_offset_delta);
      EXPECT_EQ(h->base_timestamp, sent->base_timestamp);
      EXPECT_EQ(h->max_timestamp, sent->max_timestamp);
      EXPECT_EQ(h->producer_id, ProducerId(7));
      EXPECT_EQ(h->producer_epoch, ProducerEpoch(2));
      EXPECT_EQ(h->base_sequence, 40);
      EXPECT_EQ(h->record_count, 3);
      EXPECT_EQ(records_of(*out), records_of(batch));
      EXPECT_EQ(h->total_bytes(), out->size());
    }
  }
}

TEST(Compression, TransactionalBitSurvivesAndControlBatchesAreNeverRecompressed) {
  BatchOptions options;
  options.producer_id = ProducerId(3);
  options.producer_epoch = ProducerEpoch(0);
  options.base_sequence = 0;
  options.transactional = true;
  Record r;
  r.value = to_bytes(std::string(100, 'x'));
  const Bytes txn = build_batch({r}, options);
  auto out = recompress_batch(txn, {Compression::kLz4, 1}, ValidationLimits{}.batch_bytes_max);
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  auto h = validate_batch(*out, {});
  ASSERT_TRUE(h.has_value()) << h.error().to_string();
  EXPECT_TRUE(h->is_transactional());
  EXPECT_EQ(h->compression(), Compression::kLz4);

  BatchHeader control = *parse_header(txn);
  control.attributes |= batch_attributes::kControl;
  EXPECT_FALSE(needs_recompression(control, {Compression::kGzip, std::nullopt}));
  EXPECT_FALSE(needs_recompression(*parse_header(txn), {std::nullopt, std::nullopt}));  // producer
  EXPECT_FALSE(needs_recompression(*parse_header(txn), {Compression::kNone, std::nullopt}));
}

TEST(Compression, RecompressedBatchOverMaxMessageBytesIsRefusedBeforeItIsBuilt) {
  // 200 records of 1,000 zeros: ~2 KiB gzip, ~200 KiB once stored uncompressed.
  std::vector<Record> in(200);
  for (auto& r : in) r.value = Bytes(1000);
  const Bytes gz = test::compress_batch(build_batch(in), Compression::kGzip);
  ASSERT_LT(gz.size(), 10'000u);
  auto plain = recompress_batch(gz, {Compression::kNone, std::nullopt}, 100'000);
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().code(), ErrorCode::kMessageTooLarge);
  EXPECT_NE(plain.error().message().find("max.message.bytes 100000"), std::string::npos)
      << plain.error().message();
  // Noise does not compress: stored as zstd it stays over a bound of half its size.
  std::mt19937 rng(11);
  for (auto& r : in)
    for (auto& b : *r.value) b = static_cast<std::byte>(rng());
  const Bytes noise = build_batch(in);
  auto zstd = recompress_batch(noise, {Compression::kZstd, std::nullopt}, noise.size() / 2);
  ASSERT_FALSE(zstd.has_value());
  EXPECT_EQ(zstd.error().code(), ErrorCode::kMessageTooLarge);
  auto fits = recompress_batch(noise, {Compression::kZstd, std::nullopt}, noise.size() + 1000);
  ASSERT_TRUE(fits.has_value()) << fits.error().to_string();
}

}  // namespace
}  // namespace wharf::storage
