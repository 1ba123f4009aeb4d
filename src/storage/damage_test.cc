// The storage-damage suite (issue 9; reliability.md): every file of a data directory removed,
// truncated or bit-flipped in turn, then the log manager (what the broker opens at start) is
// opened again. It must either refuse, naming a path in the data directory, or serve only
// acknowledged batches, byte for byte, at their offsets, from the log start on without gaps;
// and damage to anything other than a partition's .log files (indexes, snapshots, markers,
// topic.json) must lose no acknowledged record at all. Deterministic; one small data set.
#include <gtest/gtest.h>

#include <map>

#include "io/memory_file_system.h"
#include "storage/log_manager.h"
#include "tests/support/storage_fixtures.h"

namespace wharf::storage {
namespace {

constexpr char kData[] = "/data";

using Acked = std::map<std::pair<std::string, std::int32_t>, std::map<std::int64_t, Bytes>>;

LogManagerOptions options() {
  LogManagerOptions o;
  o.data_dir = kData;
  o.background = false;
  return o;
}

// Two topics, three partitions, several segments, idempotent batches (producer snapshots), and
// a clean shutdown (markers) or a crash.
Acked build(io::MemoryFileSystem& fs, const ManualClock& clock, bool clean) {
  Acked acked;
  auto m = LogManager::open(fs, options(), clock);
  EXPECT_TRUE(m.has_value());
  EXPECT_TRUE((*m)->create_topic("a", 2, {{"segment.bytes", "4096"}}).has_value());
  EXPECT_TRUE((*m)->create_topic("b", 1).has_value());
  int n = 0;
  for (const auto& [topic, partitions] : {std::pair<std::string, int>{"a", 2}, {"b", 1}}) {
    for (int p = 0; p < partitions; ++p) {
      auto part = (*m)->partition(topic, PartitionId(p));
      std::int32_t sequence = 0;
      for (int i = 0; i < 12; ++i, ++n) {
        BatchOptions bo;
        if (i % 2 == 0) {
          bo.producer_id = ProducerId(1000 + p);
          bo.producer_epoch = ProducerEpoch(0);
          bo.base_sequence = sequence;
        }
        Bytes batch = test::deterministic_batch(7, static_cast<std::uint64_t>(n), 300, 3, bo);
        if (i % 2 == 0) sequence += parse_header(batch)->record_count;
        auto r = (*part)->append(MutableByteView(batch));
        EXPECT_TRUE(r.has_value()) << r.error().to_string();
        if (r) acked[{topic, p}][r->base_offset.value()] = batch;
      }
    }
  }
  if (clean) {
    EXPECT_TRUE((*m)->close().has_value());
    m->reset();
  } else {
    m->reset();
    fs.crash();
  }
  return acked;
}

void list_files(io::MemoryFileSystem& fs, const std::string& dir, std::vector<std::string>& out) {
  auto names = fs.list_dir(dir);
  if (!names) return;
  for (const auto& n : *names) {
    const std::string path = io::join_path(dir, n);
    if (fs.list_dir(path).has_value()) {
      list_files(fs, path, out);
    } else {
      out.push_back(path);
    }
  }
}

enum class Damage { kRemove, kTruncateHalf, kTruncateEmpty, kFlipFirst, kFlipMiddle, kFlipLast };
constexpr Damage kDamages[] = {Damage::kRemove,    Damage::kTruncateHalf, Damage::kTruncateEmpty,
                               Damage::kFlipFirst, Damage::kFlipMiddle,   Damage::kFlipLast};
const char* name(Damage d) {
  switch (d) {
    case Damage::kRemove:
      return "removed";
    case Damage::kTruncateHalf:
      return "truncated to half";
    case Damage::kTruncateEmpty:
      return "truncated to 0";
    case Damage::kFlipFirst:
      return "first byte flipped";
    case Damage::kFlipMiddle:
      return "middle byte flipped";
    case Damage::kFlipLast:
      return "last byte flipped";
  }
  return "?";
}

// False if the damage does not apply (a flip in an empty file).
bool damage(io::MemoryFileSystem& fs, const std::string& path, Damage d) {
  if (d == Damage::kRemove) {
    EXPECT_TRUE(fs.remove(path).has_value());
    EXPECT_TRUE(fs.sync_dir(io::parent_dir(path)).has_value());
    return true;
  }
  auto f = fs.open(path, io::OpenMode::kReadWrite);
  EXPECT_TRUE(f.has_value());
  const std::uint64_t size = *(*f)->size();
  if (d == Damage::kTruncateHalf || d == Damage::kTruncateEmpty) {
    if (size == 0) return false;
    EXPECT_TRUE((*f)->truncate(d == Damage::kTruncateHalf ? size / 2 : 0).has_value());
  } else {
    if (size == 0) return false;
    const std::uint64_t at = d == Damage::kFlipFirst    ? 0
                             : d == Damage::kFlipMiddle ? size / 2
                                                        : size - 1;
    std::array<std::byte, 1> b{};
    EXPECT_TRUE((*f)->read_at(FilePosition(at), b).has_value());
    b[0] ^= std::byte{0x20};
    EXPECT_TRUE((*f)->write_at(FilePosition(at), b).has_value());
  }
  EXPECT_TRUE((*f)->sync().has_value());
  return true;
}

// Checks what an opened log manager serves against what was acknowledged.
void expect_serves_only_acked(LogManager& m, const Acked& acked, bool must_keep_everything,
                              const std::string& what) {
  for (const auto& [key, batches] : acked) {
    SCOPED_TRACE(fmt::format("{}-{} after {}", key.first, key.second, what));
    auto part = m.partition(key.first, PartitionId(key.second));
    if (!part) {
      EXPECT_FALSE(must_keep_everything) << "partition lost";
      continue;
    }
    Offset at = (*part)->log_start_offset();
    std::size_t served = 0;
    for (int guard = 0; guard < 1000 && at < (*part)->high_watermark(); ++guard) {
      auto r = (*part)->read(at, 1 << 20);
      if (!r) {
        // Refusing to serve damaged bytes is allowed (a closed segment is only checked as it
        // is read); the error must say so and where.
        EXPECT_EQ(r.error().code(), ErrorCode::kCorruption) << r.error().to_string();
        EXPECT_NE(r.error().message().find(kData), std::string::npos) << r.error().to_string();
        EXPECT_FALSE(must_keep_everything) << r.error().to_string();
        break;
      }
      if (r->records.empty()) break;
      for (const auto& h : test::headers_of(r->records)) {
        ASSERT_EQ(h.base_offset, at) << "a gap or an overlap in what is served";
        auto it = batches.find(h.base_offset.value());
        ASSERT_NE(it, batches.end())
            << "served a batch that was never acknowledged at " << h.base_offset.value();
        ASSERT_EQ(h.total_bytes(), it->second.size());
        at = h.next_offset();
        ++served;
      }
      const auto served_bytes = ByteView(r->records);
      std::size_t pos = 0;
      while (pos < served_bytes.size()) {
        auto h = parse_header(served_bytes.subspan(pos));
        ASSERT_TRUE(h.has_value());
        const auto& want = batches.at(h->base_offset.value());
        ASSERT_TRUE(std::equal(want.begin(), want.end(),
                               served_bytes.begin() + static_cast<std::ptrdiff_t>(pos)))
            << "served bytes differ from the acknowledged batch at " << h->base_offset.value();
        pos += h->total_bytes();
      }
    }
    if (must_keep_everything) {
      EXPECT_EQ((*part)->log_start_offset(), Offset(0));
      EXPECT_EQ(served, batches.size()) << "acknowledged batches were lost";
    }
  }
}

void run(bool clean) {
  ManualClock clock;
  std::vector<std::string> files;
  {
    io::MemoryFileSystem fs;
    (void)build(fs, clock, clean);
    list_files(fs, kData, files);
  }
  ASSERT_GT(files.size(), 20u);
  int refused = 0, served = 0;
  for (const auto& file : files) {
    for (Damage d : kDamages) {
      const std::string what = fmt::format("{} {}", file, name(d));
      SCOPED_TRACE(what);
      io::MemoryFileSystem fs;
      const Acked acked = build(fs, clock, clean);
      if (!damage(fs, file, d)) continue;
      auto m = LogManager::open(fs, options(), clock);
      if (!m) {
        ++refused;
        EXPECT_NE(m.error().message().find(kData), std::string::npos)
            << "a refusal must name the file: " << m.error().to_string();
        continue;
      }
      ++served;
      const bool log_file = file.ends_with(".log");
      expect_serves_only_acked(**m, acked, !log_file, what);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  std::printf("%s: %zu files, %d refused, %d served\n", clean ? "clean shutdown" : "crash",
              files.size(), refused, served);
}

TEST(StorageDamage, EveryFileDamagedAfterACleanShutdownIsRefusedOrServesOnlyAcknowledgedRecords) {
  run(true);
}

TEST(StorageDamage, EveryFileDamagedAfterACrashIsRefusedOrServesOnlyAcknowledgedRecords) {
  run(false);
}

}  // namespace
}  // namespace wharf::storage
