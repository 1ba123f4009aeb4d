// Log compaction on the crash-modelling in-memory file system: the latest value per key stays,
// offsets are preserved (gaps inside batches), tombstones go after delete.retention.ms, and a
// crash or I/O failure at every step of a swap leaves every latest value readable.
#include "storage/log_cleaner.h"

#include <map>

#include <gtest/gtest.h>

#include "io/fault_file_system.h"
#include "io/memory_file_system.h"
#include "storage/check.h"
#include "tests/support/compressed_batch.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

constexpr char kDir[] = "/data/t/0";

struct Seen {
  std::optional<std::string> value;  // nullopt: a tombstone
  Offset offset;
};

Bytes keyed_batch(const std::vector<std::pair<std::string, std::optional<std::string>>>& kvs,
                  std::int64_t timestamp_ms, BatchOptions options = {}) {
  std::vector<Record> records;
  for (const auto& [k, v] : kvs) {
    Record r;
    r.key = to_bytes(k);
    if (v) r.value = to_bytes(*v);
    r.timestamp_ms = timestamp_ms;
    records.push_back(std::move(r));
  }
  return build_batch(records, options);
}

class LogCleanerTest : public ::testing::Test {
 protected:
  static TopicConfig compact_config(std::map<std::string, std::string> extra = {}) {
    extra.emplace("cleanup.policy", "compact");
    extra.emplace("segment.bytes", "4096");
    extra.emplace("sync.policy", "always");
    auto c = TopicConfig::from_map(extra);
    EXPECT_TRUE(c.has_value());
    return *c;
  }
  std::unique_ptr<Partition> open(const TopicConfig& config) {
    auto p = Partition::open(fault_, kDir, config, clock_);
    EXPECT_TRUE(p.has_value()) << p.error().to_string();
    return p ? std::move(*p) : nullptr;
  }
  // Every record readable from the log start, in order: key -> what each occurrence held.
  std::vector<std::pair<std::string, Seen>> read_all(Partition& p) {
    std::vector<std::pair<std::string, Seen>> out;
    Offset at = p.log_start_offset();
    while (at < p.high_watermark()) {
      auto r = p.read(at, 1 << 20);
      EXPECT_TRUE(r.has_value()) << r.error().to_string();
      if (!r || r->records.empty()) break;
      std::size_t pos = 0;
      for (const auto& h : test::headers_of(r->records)) {
        ByteView batch = ByteView(r->records).subspan(pos, h.total_bytes());
        Bytes plain;  // a compressed batch, decompressed for read_records
        if (h.compression() != Compression::kNone) {
          auto body = decompress(h.compression(), batch.subspan(batch_layout::kHeaderBytes),
                                 kDecompressedBatchBytesMax);
          EXPECT_TRUE(body.has_value()) << body.error().to_string();
          if (!body) break;
          plain = rebuild_batch(batch, *body, h.record_count);
          batch = plain;
        }
        auto records = read_records(batch);
        EXPECT_TRUE(records.has_value()) << records.error().to_string();
        for (const auto& rec : *records) {
          EXPECT_GE(rec.offset, h.base_offset);
          EXPECT_LE(rec.offset, h.last_offset());
          if (rec.offset < at) continue;
          Seen s{std::nullopt, rec.offset};
          if (rec.value) s.value = std::string(as_chars(*rec.value));
          out.emplace_back(std::string(as_chars(*rec.key)), s);
        }
        pos += h.total_bytes();
        at = h.next_offset();
      }
    }
    return out;
  }
  LogCleaner cleaner() { return LogCleaner(CleanerOptions{0, 1 << 20}, clock_); }

  io::MemoryFileSystem mem_;
  io::FaultFileSystem fault_{mem_};
  ManualClock clock_;
};

// Writes `rounds` values of keys k0..k<keys-1> in batches of two records; returns the latest
// (value, offset) per key as acknowledged.
std::map<std::string, Seen> write_rounds(Partition& p, int rounds, int keys, std::int64_t ts) {
  std::map<std::string, Seen> latest;
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < keys; k += 2) {
      std::vector<std::pair<std::string, std::optional<std::string>>> kvs;
      for (int j = k; j < std::min(k + 2, keys); ++j) {
        kvs.emplace_back("k" + std::to_string(j),
                         "value-" + std::to_string(r) + "-" + std::string(100, 'x'));
      }
      auto appended = p.append(keyed_batch(kvs, ts));
      EXPECT_TRUE(appended.has_value()) << appended.error().to_string();
      for (std::size_t j = 0; j < kvs.size(); ++j) {
        latest[kvs[j].first] = Seen{kvs[j].second, appended->base_offset + std::int64_t(j)};
      }
    }
  }
  return latest;
}

void expect_exactly_latest(const std::vector<std::pair<std::string, Seen>>& seen,
                           const std::map<std::string, Seen>& latest) {
  std::map<std::string, int> count;
  for (const auto& [k, s] : seen) {
    ++count[k];
    ASSERT_TRUE(latest.count(k)) << k;
    EXPECT_EQ(s.value, latest.at(k).value) << k;
    EXPECT_EQ(s.offset, latest.at(k).offset) << k;
  }
  for (const auto& [k, s] : latest) {
    if (s.value) {
      EXPECT_EQ(count[k], 1) << k;
    }
  }
}

TEST_F(LogCleanerTest, KeepsTheLatestValuePerKeyAtItsOriginalOffset) {
  auto p = open(compact_config());
  const auto latest = write_rounds(*p, 6, 10, clock_.now_ms());
  ASSERT_TRUE(p->roll().has_value());
  const Offset end = p->log_end_offset();
  const std::uint64_t before = p->size_bytes();
  ASSERT_GT(p->segment_count(), 3u);

  auto c = cleaner();
  auto stats = c.clean(*p);
  ASSERT_TRUE(stats.has_value()) << stats.error().to_string();
  EXPECT_TRUE(stats->ran);
  EXPECT_GT(stats->segments_rewritten, 0);
  EXPECT_EQ(stats->records_removed, 50);
  EXPECT_LT(p->size_bytes(), before);
  EXPECT_EQ(p->log_end_offset(), end);
  EXPECT_EQ(p->log_start_offset(), Offset(0));
  expect_exactly_latest(read_all(*p), latest);
  // `wharf check-data` finds nothing wrong with compacted segments (every CRC, chain, index).
  CheckReport report;
  ASSERT_TRUE(check_partition_dir(fault_, kDir, report).has_value());
  for (const auto& problem : report.problems) ADD_FAILURE() << problem.file << ": " << problem.what;

  // A second pass finds nothing dirty: the ratio is not reached.
  auto again = c.clean(*p);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->ran);

  // Appends continue after the log end, and everything survives a reopen (indexes rebuilt or
  // loaded, chain intact).
  auto more = p->append(keyed_batch({{"k0", "newest"}}, clock_.now_ms()));
  ASSERT_TRUE(more.has_value());
  EXPECT_EQ(more->base_offset, end);
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  mem_.crash();
  p = open(compact_config());
  auto seen = read_all(*p);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().first, "k0");
  EXPECT_EQ(seen.back().second.value, std::optional<std::string>("newest"));
}

TEST_F(LogCleanerTest, ReadsFromAnOffsetInAGapStartAtTheNextSurvivingRecord) {
  auto p = open(compact_config());
  const auto latest = write_rounds(*p, 3, 4, clock_.now_ms());
  ASSERT_TRUE(p->roll().has_value());
  auto c = cleaner();
  ASSERT_TRUE(c.clean(*p).has_value());
  // Offset 0 held k0's first value, which is gone; a read there serves the batch covering it
  // (now empty or holding later records) and the reader moves on past it.
  for (std::int64_t from = 0; from < p->log_end_offset().value(); ++from) {
    auto r = p->read(Offset(from), 1 << 20);
    ASSERT_TRUE(r.has_value()) << from << ": " << r.error().to_string();
    ASSERT_FALSE(r->records.empty()) << from;
    const auto headers = test::headers_of(r->records);
    EXPECT_LE(headers.front().base_offset, Offset(from));
    EXPECT_GE(headers.front().last_offset(), Offset(from));
  }
  // The superseded batches (rounds 0 and 1: offsets 0..7, four batches) became one empty batch
  // covering all their offsets (record count 0); round 2's batches follow unchanged.
  auto first = p->read(Offset(0), 1 << 20);
  ASSERT_TRUE(first.has_value());
  const auto headers = test::headers_of(first->records);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].record_count, 0);
  EXPECT_EQ(headers[0].base_offset, Offset(0));
  EXPECT_EQ(headers[0].last_offset(), Offset(7));
  EXPECT_EQ(headers[1].base_offset, Offset(8));
  EXPECT_EQ(headers[1].record_count, 2);
  expect_exactly_latest(read_all(*p), latest);
}

TEST_F(LogCleanerTest, TombstonesStayForDeleteRetentionThenGo) {
  auto p = open(compact_config({{"delete.retention.ms", "1000"}}));
  auto latest = write_rounds(*p, 3, 4, clock_.now_ms());
  auto tomb = p->append(keyed_batch({{"k1", std::nullopt}}, clock_.now_ms()));
  ASSERT_TRUE(tomb.has_value());
  latest["k1"] = Seen{std::nullopt, tomb->base_offset};
  ASSERT_TRUE(p->roll().has_value());
  auto c = cleaner();
  auto stats = c.clean(*p);
  ASSERT_TRUE(stats.has_value()) << stats.error().to_string();
  EXPECT_EQ(stats->tombstones_kept, 1);
  auto seen = read_all(*p);
  expect_exactly_latest(seen, latest);
  EXPECT_EQ(std::count_if(seen.begin(), seen.end(), [](const auto& s) { return s.first == "k1"; }),
            1);  // the tombstone, and none of k1's values

  clock_.advance(std::chrono::milliseconds(999));
  ASSERT_TRUE(c.clean(*p).has_value());
  EXPECT_EQ(read_all(*p).size(), seen.size());  // not yet

  clock_.advance(std::chrono::milliseconds(1));
  auto later = c.clean(*p);  // no new dirty bytes, but the tombstone's time has come
  ASSERT_TRUE(later.has_value());
  EXPECT_TRUE(later->ran);
  seen = read_all(*p);
  latest.erase("k1");
  expect_exactly_latest(seen, latest);
  EXPECT_EQ(std::count_if(seen.begin(), seen.end(), [](const auto& s) { return s.first == "k1"; }),
            0);
}

TEST_F(LogCleanerTest, TheActiveSegmentAndRecentSegmentsAreNeverRewritten) {
  auto p = open(compact_config({{"min.compaction.lag.ms", "60000"}}));
  write_rounds(*p, 4, 4, clock_.now_ms());
  ASSERT_TRUE(p->roll().has_value());
  auto c = cleaner();
  auto stats = c.clean(*p);
  ASSERT_TRUE(stats.has_value());
  EXPECT_FALSE(stats->ran);  // every segment is younger than the lag
  clock_.advance(std::chrono::minutes(2));
  // segment.ms (7 days) has not passed: the active segment holding the newest rounds stays.
  auto q = p->append(keyed_batch({{"k0", "a"}}, clock_.now_ms()));
  ASSERT_TRUE(q.has_value());
  auto q2 = p->append(keyed_batch({{"k0", "b"}}, clock_.now_ms()));
  ASSERT_TRUE(q2.has_value());
  stats = c.clean(*p);
  ASSERT_TRUE(stats.has_value());
  EXPECT_TRUE(stats->ran);
  auto seen = read_all(*p);
  EXPECT_EQ(std::count_if(
                seen.begin(), seen.end(),
                [](const auto& s) { return s.second.value == std::optional<std::string>("a"); }),
            1);  // in the active segment: untouched
}

TEST_F(LogCleanerTest, AnIdleActiveSegmentOlderThanSegmentMsIsRolledAndCompacted) {
  auto p = open(compact_config({{"segment.ms", "1000"}, {"segment.bytes", "1048576"}}));
  const auto latest = write_rounds(*p, 3, 4, clock_.now_ms());
  EXPECT_EQ(p->segment_count(), 1u);
  auto c = cleaner();
  auto stats = c.clean(*p);
  ASSERT_TRUE(stats.has_value());
  EXPECT_FALSE(stats->ran);
  clock_.advance(std::chrono::milliseconds(1000));
  stats = c.clean(*p);
  ASSERT_TRUE(stats.has_value()) << stats.error().to_string();
  EXPECT_EQ(p->segment_count(), 2u);
  EXPECT_EQ(stats->segments_rewritten, 1);
  expect_exactly_latest(read_all(*p), latest);
}

TEST_F(LogCleanerTest, RecordsWithoutAKeyAreRefusedOnACompactedTopic) {
  auto p = open(compact_config());
  auto refused = p->append(test::simple_batch("no key"));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidRecord);
  EXPECT_EQ(p->log_end_offset(), Offset(0));
}

TEST_F(LogCleanerTest, CompressedBatchesAreRewrittenWithTheirCodecAndOffsets) {
  auto p = open(compact_config());
  std::map<std::string, Seen> latest;
  for (int r = 0; r < 3; ++r) {
    const Bytes plain = keyed_batch(
        {{"a", "a" + std::to_string(r)}, {"b", "b" + std::to_string(r)}}, clock_.now_ms());
    auto appended = p->append(test::compress_batch(plain, Compression::kGzip));
    ASSERT_TRUE(appended.has_value()) << appended.error().to_string();
    latest["a"] = Seen{"a" + std::to_string(r), appended->base_offset};
    latest["b"] = Seen{"b" + std::to_string(r), appended->base_offset + 1};
  }
  // Supersede a in the newest gzip batch too, so that it is rewritten (b stays in it).
  auto last = p->append(keyed_batch({{"a", "final"}}, clock_.now_ms()));
  ASSERT_TRUE(last.has_value());
  latest["a"] = Seen{"final", last->base_offset};
  ASSERT_TRUE(p->roll().has_value());
  auto c = cleaner();
  auto stats = c.clean(*p);
  ASSERT_TRUE(stats.has_value()) << stats.error().to_string();
  EXPECT_EQ(stats->records_removed, 5);
  expect_exactly_latest(read_all(*p), latest);
  // The rewritten batch with b kept gzip (as Kafka's cleaner keeps a batch's codec); the
  // plain batch stayed plain.
  auto read = p->read(p->log_start_offset(), 1 << 20);
  ASSERT_TRUE(read.has_value());
  std::vector<Compression> codecs;
  for (const auto& h : test::headers_of(read->records)) {
    if (h.record_count > 0) codecs.push_back(h.compression());
  }
  EXPECT_EQ(codecs, (std::vector<Compression>{Compression::kGzip, Compression::kNone}));
}

TEST_F(LogCleanerTest, IdempotentProducerStateSurvivesCompactionAndReopen) {
  auto p = open(compact_config());
  BatchOptions o;
  o.producer_id = ProducerId(7);
  o.producer_epoch = ProducerEpoch(0);
  std::vector<Bytes> sent;
  for (int i = 0; i < 4; ++i) {
    o.base_sequence = i;
    sent.push_back(keyed_batch({{"k", "v" + std::to_string(i)}}, clock_.now_ms(), o));
    Bytes copy = sent.back();
    ASSERT_TRUE(p->append(std::move(copy)).has_value());
  }
  ASSERT_TRUE(p->roll().has_value());
  auto c = cleaner();
  ASSERT_TRUE(c.clean(*p).has_value());
  ASSERT_TRUE(p->close().has_value());
  p.reset();
  p = open(compact_config());
  // The batch headers (producer id, epoch, sequences) are all still there, so a retry of the
  // last batch is still recognised as a duplicate and the next sequence is accepted.
  Bytes retry = sent.back();
  auto dup = p->append(std::move(retry));
  ASSERT_TRUE(dup.has_value()) << dup.error().to_string();
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->base_offset, Offset(3));
  o.base_sequence = 4;
  auto next = p->append(keyed_batch({{"k", "v4"}}, clock_.now_ms(), o));
  ASSERT_TRUE(next.has_value()) << next.error().to_string();
  EXPECT_FALSE(next->duplicate);
}

TEST_F(LogCleanerTest, AKeyMapTooSmallForTheLogCompactsItOverSeveralRuns) {
  auto p = open(compact_config({{"min.cleanable.dirty.ratio", "0"}}));
  const auto latest = write_rounds(*p, 6, 10, clock_.now_ms());
  ASSERT_TRUE(p->roll().has_value());
  // Room for three keys (3 + 64 bytes each): every run maps part of the first segment only.
  LogCleaner c(CleanerOptions{0, 3 * 66}, clock_);
  std::int64_t removed = 0;
  for (int run = 0; run < 100 && removed < 50; ++run) {
    auto stats = c.clean(*p);
    ASSERT_TRUE(stats.has_value()) << stats.error().to_string();
    // Never more than what a later record of the same key supersedes.
    for (const auto& [k, s] : read_all(*p)) ASSERT_LE(s.offset, latest.at(k).offset);
    removed += stats->records_removed;
  }
  EXPECT_EQ(p->cleaner_state().cleaned_to, p->log_end_offset());  // every run moved on
  // A small map removes less than a big one; an unbounded cleaner over the whole log (as after
  // a restart) finishes the job.
  p->set_cleaner_state({});
  auto full = cleaner().clean(*p);
  ASSERT_TRUE(full.has_value());
  expect_exactly_latest(read_all(*p), latest);
  EXPECT_GT(removed, 0);
}

TEST_F(LogCleanerTest, RetentionDoesNotDeleteOnACompactOnlyTopic) {
  auto p = open(compact_config({{"retention.ms", "1"}}));
  write_rounds(*p, 3, 4, clock_.now_ms());
  ASSERT_TRUE(p->roll().has_value());
  clock_.advance(std::chrono::hours(1));
  auto removed = p->enforce_retention();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed, 0);
}

// Every write, sync, directory sync and rename of a compaction run, in turn, fails and the
// machine then loses power: after recovery every latest value is readable at its offset (and
// every record read is either a latest value or an older value of the same key, never garbage).
TEST_F(LogCleanerTest, CrashAtEveryStepOfACompactionLosesNoLatestValue) {
  enum class Step { kWrite, kSync, kSyncDir, kRename };
  for (Step step : {Step::kWrite, Step::kSync, Step::kSyncDir, Step::kRename}) {
    for (std::uint64_t n = 1;; ++n) {
      SCOPED_TRACE(::testing::Message() << "step " << static_cast<int>(step) << " n " << n);
      (void)mem_.remove_all("/data");
      auto p = open(compact_config());
      const auto latest = write_rounds(*p, 8, 6, clock_.now_ms());
      ASSERT_TRUE(p->roll().has_value());
      switch (step) {
        case Step::kWrite:
          fault_.tear_nth_write(n, 7);
          break;
        case Step::kSync:
          fault_.fail_nth_sync(n);
          break;
        case Step::kSyncDir:
          fault_.fail_nth_sync_dir(n);
          break;
        case Step::kRename:
          fault_.fail_nth_rename(n);
          break;
      }
      auto c = cleaner();
      auto stats = c.clean(*p);
      const bool completed = stats.has_value() && !fault_.dead();
      fault_.clear_faults();
      p.reset();
      mem_.crash();
      fault_.revive();
      p = open(compact_config());
      ASSERT_NE(p, nullptr);
      auto seen = read_all(*p);
      std::map<std::string, bool> found;
      for (const auto& [k, s] : seen) {
        ASSERT_TRUE(latest.count(k)) << k;
        if (s.offset == latest.at(k).offset) {
          EXPECT_EQ(s.value, latest.at(k).value);
          found[k] = true;
        } else {
          EXPECT_LT(s.offset, latest.at(k).offset) << k;
        }
      }
      for (const auto& [k, s] : latest) EXPECT_TRUE(found[k]) << k;
      // A later run (after the reopen) finishes the job.
      auto c2 = cleaner();
      ASSERT_TRUE(c2.clean(*p).has_value());
      expect_exactly_latest(read_all(*p), latest);
      p.reset();
      if (completed && stats->segments_rewritten > 0) break;  // the fault never fired
      ASSERT_LT(n, 200u) << "the fault never stopped the run";
    }
  }
}

}  // namespace
}  // namespace wharf::storage
