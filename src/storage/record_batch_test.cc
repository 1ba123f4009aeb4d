#include "storage/record_batch.h"

#include <algorithm>
#include <limits>

#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "tests/support/compressed_batch.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

namespace bl = batch_layout;

TEST(RecordBatch, BuiltBatchValidatesAndRoundTripsRecords) {
  std::vector<Record> in(3);
  for (int i = 0; i < 3; ++i) {
    in[i].key = to_bytes("k" + std::to_string(i));
    in[i].value = to_bytes("value " + std::to_string(i));
    in[i].timestamp_ms = 1000 + i;
  }
  in[1].key.reset();
  in[2].headers.push_back({"trace", to_bytes("abc")});
  in[2].headers.push_back({"empty", std::nullopt});
  Bytes batch = build_batch(in, {ProducerId(7), ProducerEpoch(1), 10});
  auto h = validate_batch(batch, {});
  ASSERT_TRUE(h.has_value()) << h.error().to_string();
  EXPECT_EQ(h->record_count, 3);
  EXPECT_EQ(h->last_offset_delta, 2);
  EXPECT_EQ(h->base_timestamp, 1000);
  EXPECT_EQ(h->max_timestamp, 1002);
  EXPECT_EQ(h->producer_id, ProducerId(7));
  EXPECT_EQ(h->base_sequence, 10);
  EXPECT_EQ(h->last_sequence(), 12);
  EXPECT_EQ(h->total_bytes(), batch.size());

  patch_base_offset(batch, Offset(100));
  ASSERT_TRUE(validate_batch(batch, {}).has_value()) << "base offset is outside the CRC";
  auto records = read_records(batch);
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].offset, Offset(100));
  EXPECT_EQ((*records)[2].offset, Offset(102));
  EXPECT_EQ((*records)[2].timestamp_ms, 1002);
  EXPECT_FALSE((*records)[1].key.has_value());
  EXPECT_EQ(as_chars(*(*records)[1].value), "value 1");
  ASSERT_EQ((*records)[2].headers.size(), 2u);
  EXPECT_EQ((*records)[2].headers[0].first, "trace");
  EXPECT_FALSE((*records)[2].headers[1].second.has_value());
}

TEST(RecordBatch, CrcCoversAttributesToTheEndOnly) {
  Bytes batch = test::simple_batch("hello");
  EXPECT_EQ(load_be<std::uint32_t>(batch, bl::kCrc),
            crc32c::value(ByteView(batch).subspan(bl::kAttributes)));
  patch_partition_leader_epoch(batch, 5);
  EXPECT_TRUE(validate_batch(batch, {}).has_value());
  batch[bl::kHeaderBytes + 3] ^= std::byte{1};
  auto bad = validate_batch(batch, {});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorruptMessage);
  EXPECT_NE(bad.error().message().find("CRC"), std::string::npos);
}

TEST(RecordBatch, RejectsWrongMagicLengthAndCounts) {
  Bytes good = test::simple_batch("x");
  {
    Bytes b = good;
    b[bl::kMagic] = std::byte{1};
    EXPECT_EQ(validate_batch(b, {}).error().code(), ErrorCode::kUnsupported);
  }
  {
    Bytes b = good;
    b.pop_back();
    EXPECT_EQ(validate_batch(b, {}).error().code(), ErrorCode::kCorruptMessage);
  }
  {
    Bytes b = good;
    store_be<std::int32_t>(b, bl::kLength, 10);
    EXPECT_EQ(validate_batch(b, {}).error().code(), ErrorCode::kCorruptMessage);
  }
  {
    Bytes b =
        good;  // record count 2 but last offset delta 0: recompute the CRC so only the rule trips
    store_be<std::int32_t>(b, bl::kRecordCount, 2);
    store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
    EXPECT_EQ(validate_batch(b, {}).error().code(), ErrorCode::kInvalidRecord);
  }
  {
    Bytes b = good;
    store_be<std::int16_t>(b, bl::kAttributes, 6);  // codec 6 does not exist
    store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
    EXPECT_EQ(validate_batch(b, {}).error().code(), ErrorCode::kUnsupported);
  }
  EXPECT_EQ(validate_batch(good, {.batch_bytes_max = 10}).error().code(),
            ErrorCode::kMessageTooLarge);
  EXPECT_FALSE(validate_batch(ByteView(good).first(20), {}).has_value());
}

TEST(RecordBatch, RejectsRecordFramingThatLies) {
  Bytes b = test::simple_batch("hello world");
  // The first record's length varint sits right after the header; claim a huge length.
  b[bl::kHeaderBytes] = std::byte{0x7E};  // zigzag 63
  store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
  auto r = validate_batch(b, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorruptMessage);
}

TEST(RecordBatch, TruncationAtEveryByteIsAnErrorNeverACrash) {
  Bytes b = test::deterministic_batch(1, 1, 50, 3);
  for (std::size_t n = 0; n < b.size(); ++n) {
    EXPECT_FALSE(validate_batch(ByteView(b).first(n), {}).has_value()) << n;
    EXPECT_FALSE(read_records(ByteView(b).first(n)).has_value()) << n;
  }
}

// Varints of one and two bytes are decoded inline, longer ones by base/varint.h: every width,
// at each boundary, must read back the same on the validating and the building walk.
TEST(RecordBatch, FieldsAtEveryVarintWidthValidateAndReadBack) {
  // Zigzag: 63 is the largest one-byte length, 8191 the largest two-byte one.
  const std::size_t sizes[] = {0, 1, 63, 64, 65, 8191, 8192, 8193, 1'048'575, 1'048'576};
  // Timestamp deltas of one to ten bytes (base timestamp 0, so the delta is the timestamp).
  const std::int64_t deltas[] = {0,
                                 -1,
                                 63,
                                 -64,
                                 64,
                                 -65,
                                 8191,
                                 -8192,
                                 8192,
                                 1LL << 40,
                                 -(1LL << 50),
                                 std::numeric_limits<std::int64_t>::max(),
                                 std::numeric_limits<std::int64_t>::min()};
  std::vector<Record> in;
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    Record r;
    r.key = Bytes(sizes[i], std::byte{'k'});
    r.value = Bytes(sizes[std::size(sizes) - 1 - i], std::byte{'v'});
    r.headers.push_back({std::string(sizes[i] % 9000, 'h'), Bytes(sizes[i] % 300, std::byte{1})});
    in.push_back(std::move(r));
  }
  // build_batch stores each timestamp as a delta from the first record's, which is 0 here.
  for (std::int64_t delta : deltas) {
    Record r;
    r.value = to_bytes("t");
    r.timestamp_ms = delta;
    in.push_back(std::move(r));
  }
  const Bytes batch = build_batch(in);
  auto h = validate_batch_records(batch, {.batch_bytes_max = 64 << 20});
  ASSERT_TRUE(h.has_value()) << h.error().to_string();
  EXPECT_EQ(h->records_max_timestamp, std::numeric_limits<std::int64_t>::max());
  auto out = read_records(batch);
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  ASSERT_EQ(out->size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*out)[i].key, in[i].key);
    EXPECT_EQ((*out)[i].value, in[i].value);
    EXPECT_EQ((*out)[i].headers, in[i].headers);
    EXPECT_EQ((*out)[i].timestamp_ms, in[i].timestamp_ms);
    EXPECT_EQ((*out)[i].offset, Offset(static_cast<std::int64_t>(i)));
  }
}

// Validation takes records by a fast walk (reads that may run a few bytes past a record that
// lies, within the bytes after it) as long as it can, and from the first record it does not
// take by walk_records<false>. Here every byte of records of every shape (null, empty and
// two-byte keys and values, headers with null values, varints of one to four bytes) is set to
// values that end, continue or overflow a varint, with the CRC made right, and the last record
// takes every size from 7 to 22 bytes, so that the record before it is taken by the fast walk
// or, within the slack of the end, by the full one. Validation and the building walk
// (read_records) must agree on every batch, and on its largest timestamp and null keys. (How
// far past a lying record the fast walk reads is the next test's.)
TEST(RecordBatch, EveryWalkJudgesEveryChangedByteAlikeAtEveryDistanceFromTheEnd) {
  int accepted = 0, refused = 0;
  for (std::size_t last_value = 0; last_value <= 15; ++last_value) {
    std::vector<Record> in(5);
    in[0].key = Bytes(70, std::byte{'k'});
    in[0].value = Bytes(200, std::byte{'v'});
    in[0].headers.push_back({"h", Bytes(3, std::byte{1})});
    in[0].headers.push_back({"n", std::nullopt});
    in[1].value = to_bytes("x");
    in[1].timestamp_ms = 1 << 22;          // a four-byte delta: only the bounded walk takes it
    in[2].value = to_bytes("0123456789");  // null key
    in[2].timestamp_ms = 1 << 15;          // a three-byte delta
    // The fast walk's last record: what it reads past a lie lands in the last record, or past
    // the buffer if the slack were too small.
    in[3].key = Bytes{};
    in[3].value = Bytes{};
    in[3].headers.push_back({std::string(70, 'h'), Bytes{}});
    in[4].value = Bytes(last_value, std::byte{'z'});
    const Bytes good = build_batch(in);
    ASSERT_TRUE(validate_batch(good, {})) << last_value;
    for (std::size_t pos = bl::kHeaderBytes; pos < good.size(); ++pos) {
      for (std::uint8_t value : {0x00, 0x01, 0x02, 0x7E, 0x7F, 0x80, 0x81, 0xFE, 0xFF}) {
        Bytes b = good;  // a copy: its buffer ends where the batch does
        b[pos] = std::byte{value};
        store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
        auto v = validate_batch_records(b, {});
        auto r = read_records(b);
        ASSERT_EQ(v.has_value(), r.has_value())
            << "byte " << pos << " = " << int(value) << ", last value " << last_value << ": "
            << (v ? r.error().to_string() : v.error().to_string());
        if (v) {
          ++accepted;
          ASSERT_EQ(r->size(), in.size());
          std::int64_t max_timestamp = std::numeric_limits<std::int64_t>::min();
          std::int32_t null_keys = 0;
          for (const Record& record : *r) {
            max_timestamp = std::max(max_timestamp, record.timestamp_ms);
            null_keys += !record.key.has_value();
          }
          EXPECT_EQ(v->records_max_timestamp, max_timestamp) << "byte " << pos;
          EXPECT_EQ(v->null_key_records, null_keys) << "byte " << pos;
        } else {
          ++refused;
          EXPECT_TRUE(v.error().code() == ErrorCode::kCorruptMessage ||
                      v.error().code() == ErrorCode::kInvalidRecord)
              << v.error().to_string();
        }
      }
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

// A record that says it is one byte long, followed by what the fast walk reads next, every
// varint three bytes long: the timestamp delta, the offset delta and the key length are read
// before any position is checked, the most it reads past a record (9 bytes). With every number
// of bytes after the record, the batch's buffer ending there, the walk must refuse it without
// reading past the buffer: under ASan a read past it fails the test (it does with a slack of 8).
TEST(RecordBatch, TheFastWalkReadsNoFurtherPastALyingRecordThanItsSlack) {
  const std::vector<std::uint8_t> after = {
      0x80, 0x80, 0x00,  // timestamp delta 0
      0x80, 0x80, 0x00,  // offset delta 0
      0x81, 0x80, 0x00,  // key length -1
      0x81, 0x80, 0x00,  // value length -1
      0x80, 0x80, 0x00,  // header count 0
  };
  for (std::size_t n = 0; n <= after.size() + 8; ++n) {
    Bytes b = build_batch({Record{}});
    b.resize(bl::kHeaderBytes);
    b.push_back(std::byte{0x02});  // record length 1
    b.push_back(std::byte{0x00});  // attributes
    for (std::size_t i = 0; i < n; ++i) {
      b.push_back(std::byte{i < after.size() ? after[i] : std::uint8_t{0}});
    }
    store_be<std::int32_t>(b, bl::kLength,
                           static_cast<std::int32_t>(b.size() - bl::kLogOverheadBytes));
    store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
    const Bytes exact = b;  // a copy: its buffer ends where the batch does
    auto v = validate_batch(exact, {});
    ASSERT_FALSE(v) << n;
    EXPECT_EQ(v.error().code(), ErrorCode::kCorruptMessage) << n;
  }
}

TEST(RecordBatch, LogAppendTimeSetsAttributeAndTimestampAndKeepsCrcValid) {
  Bytes b = test::simple_batch("v", 5);
  apply_log_append_time(b, 123456);
  auto h = validate_batch(b, {});
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->max_timestamp, 123456);
  EXPECT_TRUE(h->attributes & batch_attributes::kLogAppendTime);
}

// Records out of time order, and a client that wrote -1 as the batch's max_timestamp.
Bytes batch_with_max_timestamp_minus_one() {
  std::vector<Record> in(3);
  in[0].timestamp_ms = 5000;
  in[1].timestamp_ms = 7000;
  in[2].timestamp_ms = 6000;
  for (auto& r : in) r.value = to_bytes("v");
  Bytes b = build_batch(in);
  store_be<std::int64_t>(b, bl::kMaxTimestamp, -1);
  store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
  return b;
}

TEST(RecordBatch, ValidationComputesTheMaxTimestampFromTheRecordsNotTheHeader) {
  const Bytes b = batch_with_max_timestamp_minus_one();
  auto v = validate_batch_records(b, {});
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  EXPECT_EQ(v->header.max_timestamp, -1) << "the header as the client wrote it";
  EXPECT_EQ(v->records_max_timestamp, 7000);
}

TEST(RecordBatch, RecordsMaxTimestampWrapsAsJavaLongsDo) {
  std::vector<Record> in(2);
  in[0].timestamp_ms = 0;
  in[1].timestamp_ms = 1;
  Bytes b = build_batch(in);
  store_be<std::int64_t>(b, bl::kBaseTimestamp, std::numeric_limits<std::int64_t>::max());
  store_be<std::uint32_t>(b, bl::kCrc, compute_crc(b));
  auto v = validate_batch_records(b, {});
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  // The second record's time wraps to INT64_MIN; the first is the largest.
  EXPECT_EQ(v->records_max_timestamp, std::numeric_limits<std::int64_t>::max());
}

TEST(RecordBatch, SetMaxTimestampRewritesTheFieldAndKeepsTheCrcValid) {
  Bytes b = batch_with_max_timestamp_minus_one();
  const Bytes before = b;
  set_max_timestamp(b, -1);
  EXPECT_EQ(b, before) << "the same value leaves the bytes alone";
  set_max_timestamp(b, 7000);
  auto h = validate_batch(b, {});
  ASSERT_TRUE(h.has_value()) << h.error().to_string();
  EXPECT_EQ(h->max_timestamp, 7000);
  EXPECT_EQ(h->attributes & batch_attributes::kLogAppendTime, 0);
  EXPECT_EQ(Bytes(b.begin() + bl::kHeaderBytes, b.end()),
            Bytes(before.begin() + bl::kHeaderBytes, before.end()))
      << "records unchanged";
}

TEST(RecordBatch, LastSequenceWrapsAtInt32Max) {
  BatchHeader h;
  h.base_sequence = std::numeric_limits<std::int32_t>::max() - 1;
  h.last_offset_delta = 3;
  EXPECT_EQ(h.last_sequence(), 1);
}

// Three batches back to back, as a segment stores them and a fetch sends them.
Bytes three_batches() {
  Bytes out;
  for (int i = 0; i < 3; ++i) {
    Bytes b = test::simple_batch(std::string(static_cast<std::size_t>(10 * (i + 1)), 'v'));
    patch_base_offset(b, Offset(i));
    append(out, b);
  }
  return out;
}

TEST(ForEachBatch, VisitsEveryWholeBatchWithExactlyItsBytes) {
  const Bytes bytes = three_batches();
  std::vector<ByteView> seen;
  auto walked = for_each_batch(bytes, [&](ByteView batch) { seen.push_back(batch); });
  ASSERT_TRUE(walked.has_value()) << walked.error().to_string();
  EXPECT_EQ(*walked, bytes.size());
  ASSERT_EQ(seen.size(), 3u);
  std::size_t pos = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].data(), bytes.data() + pos);
    auto h = check_batch_crc(seen[i]);
    ASSERT_TRUE(h.has_value()) << h.error().to_string();
    EXPECT_EQ(h->base_offset, Offset(static_cast<std::int64_t>(i)));
    pos += seen[i].size();
  }
}

TEST(ForEachBatch, EmptyBytesWalkNothing) {
  int calls = 0;
  auto walked = for_each_batch(ByteView(), [&](ByteView) { ++calls; });
  ASSERT_TRUE(walked.has_value());
  EXPECT_EQ(*walked, 0u);
  EXPECT_EQ(calls, 0);
}

TEST(ForEachBatch, StopsAtAPartialTailCutAnywhere) {
  const Bytes bytes = three_batches();
  const auto sizes = test::headers_of(bytes);
  ASSERT_EQ(sizes.size(), 3u);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    std::size_t whole = 0, count = 0;
    for (const auto& h : sizes) {
      if (whole + h.total_bytes() > cut) break;
      whole += h.total_bytes();
      ++count;
    }
    std::size_t calls = 0;
    auto walked = for_each_batch(ByteView(bytes).first(cut), [&](ByteView) { ++calls; });
    ASSERT_TRUE(walked.has_value()) << "cut at " << cut << ": " << walked.error().to_string();
    EXPECT_EQ(*walked, whole) << "cut at " << cut;
    EXPECT_EQ(calls, count) << "cut at " << cut;
  }
}

TEST(ForEachBatch, ALengthBelowTheMinimumIsAnErrorNamingItsPosition) {
  const Bytes good = three_batches();
  const std::size_t second = test::headers_of(good)[0].total_bytes();
  for (std::int32_t length :
       {0, -1, bl::kLengthMin - 1, std::numeric_limits<std::int32_t>::min()}) {
    Bytes bytes = good;
    store_be<std::int32_t>(bytes, second + bl::kLength, length);
    int calls = 0;
    auto walked = for_each_batch(bytes, [&](ByteView) { ++calls; });
    ASSERT_FALSE(walked.has_value()) << "length " << length;
    EXPECT_EQ(walked.error().code(), ErrorCode::kCorruptMessage);
    EXPECT_NE(walked.error().message().find("at byte " + std::to_string(second)), std::string::npos)
        << walked.error().message();
    EXPECT_EQ(calls, 1) << "only the batch before the bad length";
  }
}

TEST(ForEachBatch, AHugeLengthIsAPartialTailNotAnOverflow) {
  Bytes bytes = three_batches();
  store_be<std::int32_t>(bytes, bl::kLength, std::numeric_limits<std::int32_t>::max());
  int calls = 0;
  auto walked = for_each_batch(bytes, [&](ByteView) { ++calls; });
  ASSERT_TRUE(walked.has_value()) << walked.error().to_string();
  EXPECT_EQ(*walked, 0u);
  EXPECT_EQ(calls, 0);
  auto framed = framed_batch_bytes(bytes);
  ASSERT_TRUE(framed.has_value());
  EXPECT_EQ(*framed, std::nullopt);
}

TEST(ForEachBatch, ABatchOfTheMinimumLengthIsFramed) {
  Bytes bytes(bl::kHeaderBytes);
  store_be<std::int32_t>(bytes, bl::kLength, bl::kLengthMin);
  auto framed = framed_batch_bytes(bytes);
  ASSERT_TRUE(framed.has_value()) << framed.error().to_string();
  EXPECT_EQ(*framed, std::optional<std::size_t>(bl::kHeaderBytes));
  EXPECT_EQ(bl::kLogOverheadBytes + static_cast<std::size_t>(bl::kLengthMin), bl::kHeaderBytes);
  // Fewer bytes than the framing: a partial tail, not an error.
  auto short_framed = framed_batch_bytes(ByteView(bytes).first(bl::kLogOverheadBytes - 1));
  ASSERT_TRUE(short_framed.has_value());
  EXPECT_EQ(*short_framed, std::nullopt);
}

TEST(ForEachBatch, TheCallbackStopsTheWalkOrFailsIt) {
  const Bytes bytes = three_batches();
  const std::size_t first = test::headers_of(bytes)[0].total_bytes();
  int calls = 0;
  auto stopped = for_each_batch(bytes, [&](ByteView) { return ++calls < 2; });
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(*stopped, first) << "the stopping batch is not counted";
  EXPECT_EQ(calls, 2);
  calls = 0;
  auto failed = for_each_batch(bytes, [&](ByteView) -> Status {
    if (++calls == 2) return fail(ErrorCode::kInvalidRecord, "second");
    return ok();
  });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kInvalidRecord);
  EXPECT_EQ(failed.error().message(), "second");
  EXPECT_EQ(calls, 2);
}

// Records at 1000, 1010, 1005 and 1020 (a producer's clock may step back), at offsets 100..103.
Bytes timed_batch() {
  std::vector<Record> in(4);
  const std::int64_t times[] = {1000, 1010, 1005, 1020};
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i].value = to_bytes("v" + std::to_string(i));
    in[i].timestamp_ms = times[i];
  }
  Bytes b = build_batch(in);
  patch_base_offset(b, Offset(100));
  return b;
}

std::optional<TimestampedOffset> search(ByteView batch, std::int64_t timestamp_ms,
                                        Offset offset_min = Offset(0)) {
  auto r = find_record_by_timestamp(batch, timestamp_ms, offset_min);
  EXPECT_TRUE(r.has_value()) << r.error().to_string();
  return r ? *r : std::nullopt;
}

TEST(FindRecordByTimestamp, AnswersTheFirstRecordAtOrAfterTheTimeInEveryCodec) {
  const Bytes plain = timed_batch();
  for (auto codec : {Compression::kNone, Compression::kGzip, Compression::kSnappy,
                     Compression::kLz4, Compression::kZstd}) {
    SCOPED_TRACE(static_cast<int>(codec));
    const Bytes batch = test::compress_batch(plain, codec);
    using T = TimestampedOffset;
    EXPECT_EQ(search(batch, 0), (T{Offset(100), 1000}));
    EXPECT_EQ(search(batch, 1000), (T{Offset(100), 1000}));
    EXPECT_EQ(search(batch, 1001), (T{Offset(101), 1010})) << "the first in offset order";
    EXPECT_EQ(search(batch, 1011), (T{Offset(103), 1020}));
    EXPECT_EQ(search(batch, 1020), (T{Offset(103), 1020}));
    EXPECT_EQ(search(batch, 1021), std::nullopt);
    // Records below offset_min (the log start inside this batch) are skipped.
    EXPECT_EQ(search(batch, 0, Offset(102)), (T{Offset(102), 1005}));
    EXPECT_EQ(search(batch, 1011, Offset(104)), std::nullopt);
  }
}

TEST(FindRecordByTimestamp, EveryRecordOfALogAppendTimeBatchHasTheAppendTime) {
  Bytes batch = timed_batch();
  apply_log_append_time(batch, 5000);
  EXPECT_EQ(search(batch, 3000), (TimestampedOffset{Offset(100), 5000}));
  EXPECT_EQ(search(batch, 3000, Offset(101)), (TimestampedOffset{Offset(101), 5000}));
  EXPECT_EQ(search(batch, 5001), std::nullopt);
}

TEST(FindRecordByTimestamp, ACompactedBatchAnswersWithItsRecordsOriginalOffsets) {
  const Bytes plain = timed_batch();
  // Keep the records at deltas 1 and 3 (1010 and 1020), as the cleaner rewrites a batch.
  Bytes kept;
  auto walked = for_each_record_view(ByteView(plain).subspan(bl::kHeaderBytes), 4, 3,
                                     [&](const RecordView& r) {
                                       if (r.offset_delta % 2 == 1) append(kept, r.bytes);
                                     });
  ASSERT_TRUE(walked.has_value()) << walked.error().to_string();
  const Bytes compacted = rebuild_batch(plain, kept, 2);
  EXPECT_EQ(search(compacted, 0), (TimestampedOffset{Offset(101), 1010}));
  EXPECT_EQ(search(compacted, 1011), (TimestampedOffset{Offset(103), 1020}));
}

TEST(FindRecordByTimestamp, BadBytesAreAnErrorNeverACrash) {
  const Bytes batch = timed_batch();
  for (std::size_t cut = 0; cut < batch.size(); ++cut) {
    EXPECT_FALSE(find_record_by_timestamp(ByteView(batch).first(cut), 0, Offset(0)).has_value())
        << "cut at " << cut;
  }
  Bytes lying = batch;
  store_be<std::int32_t>(lying, bl::kRecordCount, 1000);
  EXPECT_FALSE(find_record_by_timestamp(lying, 0, Offset(0)).has_value());
  const Bytes garbage = test::rebuild_batch(batch, Compression::kGzip, to_bytes("not gzip"), 4);
  EXPECT_FALSE(find_record_by_timestamp(garbage, 0, Offset(0)).has_value());
}

}  // namespace
}  // namespace wharf::storage
