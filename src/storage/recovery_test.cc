// Recovery and fault-injection tests of the partition log on the crash-modelling in-memory
// file system: what was acknowledged must come back byte for byte, torn tails are cut, and
// corruption before the tail is refused with file and position.
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "io/fault_file_system.h"
#include "io/memory_file_system.h"
#include "storage/partition.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

constexpr char kDir[] = "/data/t/0";

class RecoveryTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Partition>> try_open(TopicConfig config = {}) {
    return Partition::open(fault_, kDir, config, clock_);
  }
  std::unique_ptr<Partition> open(TopicConfig config = {}) {
    auto p = try_open(config);
    EXPECT_TRUE(p.has_value()) << p.error().to_string();
    return p ? std::move(*p) : nullptr;
  }
  // Simulates kill -9 plus power loss: only durable bytes and directory entries remain.
  void crash(std::unique_ptr<Partition>& p) {
    p.reset();
    mem_.crash();
    fault_.revive();
    fault_.clear_faults();
  }
  Bytes all_bytes(Partition& p) {
    Bytes out;
    Offset at = p.log_start_offset();
    while (at < p.high_watermark()) {
      auto r = p.read(at, 1 << 20);
      EXPECT_TRUE(r.has_value());
      if (!r || r->records.empty()) break;
      append(out, r->records);
      at = test::headers_of(r->records).back().next_offset();
    }
    return out;
  }
  // Flips one byte of a file in place and makes it durable.
  void flip_byte(const std::string& path, std::uint64_t position) {
    auto f = mem_.open(path, io::OpenMode::kReadWrite);
    ASSERT_TRUE(f.has_value());
    std::array<std::byte, 1> b;
    ASSERT_TRUE((*f)->read_at(FilePosition(position), b).has_value());
    b[0] ^= std::byte{0x55};
    ASSERT_TRUE((*f)->write_at(FilePosition(position), b).has_value());
    ASSERT_TRUE((*f)->sync().has_value());
  }
  std::string log_path(Offset base = Offset(0)) {
    return io::join_path(kDir, segment_file_name(base, ".log"));
  }

  io::MemoryFileSystem mem_;
  io::FaultFileSystem fault_{mem_};
  ManualClock clock_;

  friend void expect_damaged_length_refused(RecoveryTest& t, std::size_t length_byte);
};

void expect_damaged_length_refused(RecoveryTest& t, std::size_t length_byte) {
  auto p = t.open();
  std::vector<std::uint64_t> positions;
  for (int i = 0; i < 6; ++i) {
    positions.push_back(p->size_bytes());
    ASSERT_TRUE(p->append(test::deterministic_batch(5, i)).has_value());
  }
  const std::uint64_t size = p->size_bytes();
  t.crash(p);
  t.flip_byte(t.log_path(), positions[2] + batch_layout::kLength + length_byte);
  auto reopened = t.try_open();
  ASSERT_FALSE(reopened.has_value()) << "intact batches 3..5 would have been cut";
  EXPECT_EQ(reopened.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(reopened.error().message().find(t.log_path()), std::string::npos);
  EXPECT_NE(reopened.error().message().find("position " + std::to_string(positions[2])),
            std::string::npos)
      << reopened.error().message();
  EXPECT_EQ(t.mem_.durable_contents(t.log_path())->size(), size);
}

TEST_F(RecoveryTest, CleanShutdownSkipsTheScanAndKeepsEverything) {
  auto p = open();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(p->append(test::deterministic_batch(1, i)).has_value());
  const Bytes before = all_bytes(*p);
  // The comparisons below compare something: all 30 batches were read back before the close.
  const auto batches = test::headers_of(before);
  ASSERT_EQ(batches.size(), 30u);
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  p = open();
  EXPECT_TRUE(p->recovery_report().clean_shutdown);
  EXPECT_EQ(p->recovery_report().bytes_scanned, 0u);
  EXPECT_EQ(p->log_end_offset(), batches.back().next_offset());
  EXPECT_EQ(all_bytes(*p), before);
  // The marker was consumed: a crash now means a full scan of the one segment next time.
  crash(p);
  p = open();
  EXPECT_FALSE(p->recovery_report().clean_shutdown);
  EXPECT_EQ(p->recovery_report().bytes_scanned, before.size());
  EXPECT_EQ(all_bytes(*p), before);
}

TEST_F(RecoveryTest, MarkerThatDoesNotMatchTheLogIsNotTrusted) {
  auto p = open();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p->append(test::deterministic_batch(2, i)).has_value());
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  // Something appended after the marker was written (e.g. a restored backup): sizes differ.
  {
    auto f = mem_.open(log_path(), io::OpenMode::kReadWrite);
    ASSERT_TRUE((*f)->append(as_bytes("garbage tail")).has_value());
    ASSERT_TRUE((*f)->sync().has_value());
  }
  p = open();
  EXPECT_FALSE(p->recovery_report().clean_shutdown);
  EXPECT_EQ(p->recovery_report().torn_bytes_truncated, 12u);
  EXPECT_EQ(p->log_end_offset(), Offset(p->log_end_offset()));
}

TEST_F(RecoveryTest, TornWriteAtEveryByteOfTheFinalBatchKeepsEveryAcknowledgedBatch) {
  const Bytes final_batch = test::deterministic_batch(3, 99, 80, 3);
  for (std::size_t keep = 0; keep < final_batch.size(); ++keep) {
    io::MemoryFileSystem mem;
    io::FaultFileSystem fault(mem);
    Bytes acked;
    Offset acked_end;
    {
      auto p = Partition::open(fault, kDir, {}, clock_);
      ASSERT_TRUE(p.has_value());
      for (int i = 0; i < 5; ++i) {
        Bytes b = test::deterministic_batch(3, i, 80, 3);
        auto r = (*p)->append(b);
        ASSERT_TRUE(r.has_value());
        patch_base_offset(b, r->base_offset);
        append(acked, b);
        acked_end = r->last_offset + 1;
      }
      fault.tear_nth_write(1, keep);
      Bytes torn = final_batch;
      ASSERT_FALSE((*p)->append(torn).has_value()) << keep;
    }
    mem.crash();
    fault.revive();
    auto p = Partition::open(fault, kDir, {}, clock_);
    ASSERT_TRUE(p.has_value()) << "keep=" << keep << ": " << p.error().to_string();
    EXPECT_EQ((*p)->log_end_offset(), acked_end) << keep;
    EXPECT_EQ((*p)->recovery_report().torn_bytes_truncated, keep) << keep;
    auto r = (*p)->read(Offset(0), 1 << 20);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->records, acked) << keep;
    // New appends continue right after the acknowledged ones.
    auto next = (*p)->append(test::simple_batch("after"));
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->base_offset, acked_end);
  }
}

TEST_F(RecoveryTest, CorruptFinalBatchIsCutAsATornTail) {
  auto p = open();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(p->append(test::deterministic_batch(4, i)).has_value());
  const std::uint64_t size = p->size_bytes();
  crash(p);
  flip_byte(log_path(), size - 3);
  p = open();
  EXPECT_GT(p->recovery_report().torn_bytes_truncated, 0u);
  EXPECT_NE(p->recovery_report().torn_tail_reason.find("CRC"), std::string::npos);
  EXPECT_EQ(test::headers_of(all_bytes(*p)).size(), 3u);
}

TEST_F(RecoveryTest, CorruptionBeforeTheTailIsRefusedWithFileAndPosition) {
  auto p = open();
  std::vector<std::uint64_t> positions;
  for (int i = 0; i < 6; ++i) {
    positions.push_back(p->size_bytes());
    ASSERT_TRUE(p->append(test::deterministic_batch(5, i)).has_value());
  }
  const std::uint64_t size = p->size_bytes();
  crash(p);
  flip_byte(log_path(), positions[2] + batch_layout::kHeaderBytes + 5);  // inside batch 2's records
  auto reopened = try_open();
  ASSERT_FALSE(reopened.has_value());
  EXPECT_EQ(reopened.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(reopened.error().message().find(log_path()), std::string::npos);
  EXPECT_NE(reopened.error().message().find("position " + std::to_string(positions[2])),
            std::string::npos)
      << reopened.error().message();
  // Refusing must not have changed the file: the data is still there for an operator.
  EXPECT_EQ(mem_.durable_contents(log_path())->size(), size);
}

// Issue 9, defect 5: a flipped byte in a middle batch's length field hides where the next
// batch starts; recovery must still find the intact batches after it and refuse.
void expect_damaged_length_refused(RecoveryTest& t, std::size_t length_byte);

TEST_F(RecoveryTest, DamagedLengthLowByteOfAMiddleBatchIsRefusedNotCutAsATornTail) {
  expect_damaged_length_refused(*this, 3);
}

TEST_F(RecoveryTest, DamagedLengthHighByteOfAMiddleBatchIsRefusedNotCutAsATornTail) {
  expect_damaged_length_refused(*this, 0);
}

TEST_F(RecoveryTest, DamagedLengthMiddleByteOfAMiddleBatchIsRefusedNotCutAsATornTail) {
  expect_damaged_length_refused(*this, 2);
}

TEST_F(RecoveryTest, CorruptionInAnOlderSegmentChainIsRefused) {
  auto p = open(*TopicConfig::from_map({{"segment.bytes", "4096"}}));
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(p->append(test::deterministic_batch(6, i, 300, 1)).has_value());
  ASSERT_GE(p->segment_count(), 3u);
  crash(p);
  // Damage the length field of the second batch of the first segment, and drop its index so
  // the chain must be walked.
  ASSERT_TRUE(mem_.remove(io::join_path(kDir, segment_file_name(Offset(0), ".index"))).has_value());
  auto first = parse_header(*mem_.durable_contents(log_path()));
  flip_byte(log_path(), first->total_bytes() + batch_layout::kLength + 3);
  auto reopened = try_open(*TopicConfig::from_map({{"segment.bytes", "4096"}}));
  ASSERT_FALSE(reopened.has_value());
  EXPECT_EQ(reopened.error().code(), ErrorCode::kCorruption);
}

TEST_F(RecoveryTest, MissingOrGarbledIndexesAreRebuiltFromTheLog) {
  const auto config =
      *TopicConfig::from_map({{"segment.bytes", "4096"}, {"index.interval.bytes", "256"}});
  auto p = open(config);
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(p->append(test::deterministic_batch(7, i, 300, 1)).has_value());
  const Bytes before = all_bytes(*p);
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  // Garble the first segment's index (wrong positions, still increasing) and truncate the
  // second's to a partial entry.
  {
    auto f = mem_.open(io::join_path(kDir, segment_file_name(Offset(0), ".index")),
                       io::OpenMode::kTruncate);
    Bytes junk;
    for (std::uint32_t i = 0; i < 4; ++i) {
      append_be<std::uint32_t>(junk, i);
      append_be<std::uint32_t>(junk, i * 7 + 1);
    }
    ASSERT_TRUE((*f)->append(junk).has_value());
    ASSERT_TRUE((*f)->sync().has_value());
  }
  auto names = mem_.list_dir(kDir);
  std::string second_index;
  for (const auto& n : *names) {
    if (n.ends_with(".index") && n != segment_file_name(Offset(0), ".index")) {
      second_index = n;
      break;
    }
  }
  ASSERT_FALSE(second_index.empty());
  {
    auto f = mem_.open(io::join_path(kDir, second_index), io::OpenMode::kReadWrite);
    ASSERT_TRUE((*f)->truncate(5).has_value());
    ASSERT_TRUE((*f)->sync().has_value());
  }
  p = open(config);
  EXPECT_EQ(all_bytes(*p), before);
  for (Offset o(0); o < p->log_end_offset(); o += 1) {  // every offset resolves to its batch
    auto r = p->read(o, 1);
    ASSERT_TRUE(r.has_value()) << o.value();
    auto h = test::headers_of(r->records);
    ASSERT_FALSE(h.empty());
    EXPECT_LE(h[0].base_offset, o);
    EXPECT_GE(h[0].last_offset(), o);
  }
}

TEST_F(RecoveryTest, AnIndexLargerThanItsLogCanHoldIsRefusedBeforeItIsRead) {
  // A segment indexes each batch at most once, and a batch is at least its 61-byte header.
  EXPECT_EQ(index_entries_max(61 * 10), 11u);
  auto f = mem_.open("/too-long.index", io::OpenMode::kTruncate);
  ASSERT_TRUE(f.has_value());
  Bytes entries;
  for (std::uint32_t i = 0; i < 3; ++i) {
    append_be<std::uint32_t>(entries, i);
    append_be<std::uint32_t>(entries, i * 100);
  }
  ASSERT_TRUE((*f)->append(entries).has_value());
  OffsetIndex index;
  auto refused = index.load(**f, 2);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kCorruption);
  EXPECT_TRUE(index.entries().empty()) << "nothing was loaded";
  ASSERT_TRUE(index.load(**f, 3).has_value());
  EXPECT_EQ(index.entries().size(), 3u);
}

TEST_F(RecoveryTest, ProducerStateSurvivesCrashRollAndCleanShutdown) {
  const auto config = *TopicConfig::from_map({{"segment.bytes", "4096"}});
  BatchOptions o{ProducerId(42), ProducerEpoch(3), 0};
  auto p = open(config);
  std::map<int, Offset> offsets;
  auto send = [&](Partition& part, int seq) {
    o.base_sequence = seq;
    return part.append(test::simple_batch(std::string(500, 'p'), 1, o));
  };
  for (int seq = 0; seq < 20; ++seq) offsets[seq] = send(*p, seq)->base_offset;
  ASSERT_GE(p->segment_count(), 2u);

  auto check_retries = [&](Partition& part) {
    for (int seq = 15; seq < 20; ++seq) {
      auto r = send(part, seq);
      ASSERT_TRUE(r.has_value()) << seq;
      EXPECT_TRUE(r->duplicate) << seq;
      EXPECT_EQ(r->base_offset, offsets[seq]);
    }
    EXPECT_EQ(send(part, 25).error().code(), ErrorCode::kOutOfOrderSequence);
    o.producer_epoch = ProducerEpoch(2);
    EXPECT_EQ(send(part, 20).error().code(), ErrorCode::kInvalidProducerEpoch);
    o.producer_epoch = ProducerEpoch(3);
  };
  crash(p);  // rebuilt from the roll snapshot plus the headers after it
  p = open(config);
  EXPECT_GE(p->recovery_report().snapshot_offset, 0);
  check_retries(*p);
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  p = open(config);  // from the clean-shutdown snapshot
  check_retries(*p);
  crash(p);
  // With every snapshot garbled the state is rebuilt from the log alone.
  const auto names = *mem_.list_dir(kDir);
  for (const auto& n : names) {
    if (n.ends_with(".snapshot")) flip_byte(io::join_path(kDir, n), 9);
  }
  p = open(config);
  EXPECT_EQ(p->recovery_report().snapshot_offset, -1);
  check_retries(*p);
}

// Drives appends (with rolls) and a close through a fault at the n-th call of one kind, then
// crashes and checks that every acknowledged batch is back byte for byte, followed only by
// batches that were attempted (never garbage), with no gap.
struct FaultCase {
  const char* name;
  void (*arm)(io::FaultFileSystem&, std::uint64_t n);
};

TEST_F(RecoveryTest, EveryWriteSyncAndRenamePathSurvivesAnInjectedFailure) {
  const FaultCase cases[] = {
      {"write", [](io::FaultFileSystem& f, std::uint64_t n) { f.fail_nth_write(n); }},
      {"short write", [](io::FaultFileSystem& f, std::uint64_t n) { f.short_write_nth(n, 7); }},
      {"torn write", [](io::FaultFileSystem& f, std::uint64_t n) { f.tear_nth_write(n, 30); }},
      {"sync", [](io::FaultFileSystem& f, std::uint64_t n) { f.fail_nth_sync(n); }},
      {"sync_dir", [](io::FaultFileSystem& f, std::uint64_t n) { f.fail_nth_sync_dir(n); }},
      {"rename", [](io::FaultFileSystem& f, std::uint64_t n) { f.fail_nth_rename(n); }},
      {"open", [](io::FaultFileSystem& f, std::uint64_t n) { f.fail_nth_open(n); }},
  };
  const auto config =
      *TopicConfig::from_map({{"segment.bytes", "4096"}, {"index.interval.bytes", "512"}});
  for (const auto& c : cases) {
    for (std::uint64_t n = 1; n <= 60; ++n) {
      io::MemoryFileSystem mem;
      io::FaultFileSystem fault(mem);
      std::vector<Bytes> attempted;  // as they would be stored, in offset order
      Offset acked_end(0);
      {
        auto p = Partition::open(fault, kDir, config, clock_);
        ASSERT_TRUE(p.has_value());
        c.arm(fault, n);
        for (int i = 0; i < 25; ++i) {
          Bytes b = test::deterministic_batch(8, i, 250, 2);
          const Offset at = (*p)->log_end_offset();
          auto r = (*p)->append(b);
          if (r) {
            ASSERT_EQ(r->base_offset, at);
            acked_end = r->last_offset + 1;
          }
          patch_base_offset(b, at);
          attempted.push_back(b);
        }
        (void)(*p)->close();
      }
      mem.crash();
      fault.revive();
      fault.clear_faults();
      auto p = Partition::open(fault, kDir, config, clock_);
      ASSERT_TRUE(p.has_value()) << c.name << " n=" << n << ": " << p.error().to_string();
      ASSERT_GE((*p)->log_end_offset(), acked_end) << c.name << " n=" << n;
      // Walk what is stored: each batch must equal an attempted batch at that offset.
      Offset at(0);
      while (at < (*p)->high_watermark()) {
        auto r = (*p)->read(at, 1 << 20);
        ASSERT_TRUE(r.has_value());
        for (const auto& h : test::headers_of(r->records)) {
          ASSERT_EQ(h.base_offset, at) << c.name << " n=" << n;
          bool matched = false;
          for (const auto& a : attempted) {
            if (parse_header(a)->base_offset == at && a.size() == h.total_bytes()) {
              std::size_t pos = 0;
              for (const auto& hh : test::headers_of(r->records)) {
                if (hh.base_offset == at) break;
                pos += hh.total_bytes();
              }
              matched = std::equal(a.begin(), a.end(),
                                   r->records.begin() + static_cast<std::ptrdiff_t>(pos));
              if (matched) break;
            }
          }
          ASSERT_TRUE(matched) << c.name << " n=" << n << " offset " << at.value();
          at = h.next_offset();
        }
      }
    }
  }
}

TEST_F(RecoveryTest, RecoveryIsIdempotentAndSurvivesCrashesDuringRecovery) {
  auto p = open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p->append(test::deterministic_batch(9, i)).has_value());
  const std::uint64_t size = p->size_bytes();
  const Offset end = p->log_end_offset();
  // An unsynced partial batch at the tail, made durable as if by the page cache.
  {
    auto f = mem_.open(log_path(), io::OpenMode::kReadWrite);
    Bytes partial = test::deterministic_batch(9, 10);
    partial.resize(40);
    ASSERT_TRUE((*f)->append(partial).has_value());
    ASSERT_TRUE((*f)->sync().has_value());
  }
  crash(p);
  for (std::uint64_t n = 1; n <= 6; ++n) {  // die at the n-th write/sync of recovery itself
    fault_.fail_nth_sync(n);
    {
      auto attempt = try_open();  // may fail part-way; what it did must not make things worse
    }
    fault_.clear_faults();
    mem_.crash();
    fault_.revive();
  }
  p = open();
  EXPECT_EQ(p->log_end_offset(), end);
  EXPECT_EQ(p->size_bytes(), size);
  crash(p);
  p = open();
  EXPECT_EQ(p->log_end_offset(), end);
  EXPECT_EQ(p->size_bytes(), size);
}

TEST_F(RecoveryTest, LeftoverTempFilesAndOrphanIndexesAreRemoved) {
  auto p = open();
  ASSERT_TRUE(p->append(test::simple_batch("x")).has_value());
  crash(p);
  for (const char* name : {"00000000000000000500.snapshot.tmp", "00000000000000000700.index"}) {
    auto f = mem_.open(io::join_path(kDir, name), io::OpenMode::kTruncate);
    ASSERT_TRUE(f.has_value());
  }
  mem_.sync_everything();
  p = open();
  auto names = *mem_.list_dir(kDir);
  EXPECT_EQ(std::count(names.begin(), names.end(), "00000000000000000500.snapshot.tmp"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "00000000000000000700.index"), 0);
  EXPECT_EQ(p->log_end_offset(), Offset(1));
}

}  // namespace
}  // namespace wharf::storage
