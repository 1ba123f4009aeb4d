// wharf_storage_bench: throughput of the storage engine on the real disk, one case at a time.
//
// Measures, through PosixFileSystem in --dir (the same file system fio measures in
// bench/run.sh, which turns the figures into ratios against fio):
//   append    one Partition, batches of ~64 KiB or ~1 MiB holding 100 B or 1 KiB records, under
//             sync.policy always, interval:<ms> and none; one appender thread, plus a case with
//             several threads under `always` to show group commit (syncs per append).
//   recovery  --recovery-bytes written into one segment and synced, the Partition dropped
//             without close() (no clean-shutdown marker), then Partition::open timed: bytes
//             scanned per second, page cache warm.
//   read      everything recovery just reopened, read back with Partition::read in 1 MiB
//             chunks, page cache warm.
//
// Output: one JSON object per line on stdout for each repeat of each case; a status line per
// case on stderr. Every case is bounded by --seconds and --case-bytes. Nothing here asserts a
// timing: the numbers are reported, and bench/run.sh compares them with fio (it lists the cases
// with --list and runs each one with --filter right after its fio reference). What it does check
// is that the log holds exactly what was appended and that recovery found it all.
//
// Threads: main drives the cases; append cases start their appender threads and, for
// interval:<ms>, one flusher thread that calls Partition::sync() every interval, as
// LogManager's background loop does. All data lives under <dir>/storage_bench-<pid>, removed at
// the end. Durability is not this program's concern: data is thrown away without being synced
// where the policy does not sync it (unlinking drops the dirty pages, so a case leaves no
// write-back behind to slow the next one).
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/result.h"
#include "io/forwarding_file_system.h"
#include "io/posix_file_system.h"
#include "storage/limits.h"
#include "storage/partition.h"
#include "storage/record_batch.h"
#include "storage/topic_config.h"

namespace wharf::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace bl = storage::batch_layout;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
std::int64_t ns_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// What the engine asked of the file system; shared by every file a CountingFileSystem opens.
struct IoCounters {
  std::atomic<std::uint64_t> writes{0};
  std::atomic<std::uint64_t> write_ns{0};
  std::atomic<std::uint64_t> syncs{0};
  std::atomic<std::uint64_t> sync_ns{0};

  struct Snapshot {
    std::uint64_t writes, write_ns, syncs, sync_ns;
    Snapshot operator-(const Snapshot& o) const {
      return {writes - o.writes, write_ns - o.write_ns, syncs - o.syncs, sync_ns - o.sync_ns};
    }
  };
  Snapshot snapshot() const {
    return {writes.load(), write_ns.load(), syncs.load(), sync_ns.load()};
  }
};

// Passes every call to the wrapped File, counting writes and syncs and the time spent in them.
// Lets the benchmark report syncs per append (group commit) without touching the engine.
class CountingFile final : public io::ForwardingFile {
 public:
  CountingFile(std::unique_ptr<io::File> inner, IoCounters& counters)
      : io::ForwardingFile(std::move(inner)), counters_(counters) {}

  Status write_at(FilePosition position, ByteView src) override {
    const auto start = Clock::now();
    auto status = inner().write_at(position, src);
    counters_.write_ns += static_cast<std::uint64_t>(ns_since(start));
    counters_.writes++;
    return status;
  }
  Status append(ByteView src) override {
    const auto start = Clock::now();
    auto status = inner().append(src);
    counters_.write_ns += static_cast<std::uint64_t>(ns_since(start));
    counters_.writes++;
    return status;
  }
  Status sync() override {
    const auto start = Clock::now();
    auto status = inner().sync();
    counters_.sync_ns += static_cast<std::uint64_t>(ns_since(start));
    counters_.syncs++;
    return status;
  }

 private:
  IoCounters& counters_;
};

class CountingFileSystem final : public io::ForwardingFileSystem {
 public:
  CountingFileSystem(io::FileSystem& inner, IoCounters& counters)
      : io::ForwardingFileSystem(inner), counters_(counters) {}

  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    WHARF_ASSIGN_OR_RETURN(auto file, inner().open(path, mode));
    return std::unique_ptr<io::File>(std::make_unique<CountingFile>(std::move(file), counters_));
  }

 private:
  IoCounters& counters_;
};

struct Options {
  std::string dir = "build/bench-data";
  double seconds = 3.0;
  std::uint64_t case_bytes = 1ull << 30;
  std::uint64_t recovery_bytes = 512ull << 20;
  std::size_t recovery_batch_bytes = 64 * 1024;
  std::size_t recovery_record_bytes = 1024;
  int interval_ms = 100;
  int group_threads = 4;
  int repeats = 1;
  int first_repeat = 0;              // label of the first repeat (run.sh runs one repeat per round)
  std::vector<std::string> filters;  // run only cases whose name contains one of these
  bool list = false;                 // print the case names and exit
};

// One batch of `record_bytes`-value records, as many as fit in `batch_bytes_max`.
struct BenchBatch {
  Bytes bytes;
  int records = 0;
};

BenchBatch make_batch(std::size_t record_bytes, std::size_t batch_bytes_max, std::uint64_t seed) {
  // Encoded record = value + ~10 bytes (length, attributes, deltas, null key, header count).
  constexpr std::size_t kRecordOverheadGuess = 9;
  std::size_t n = std::max<std::size_t>(
      1, (batch_bytes_max - bl::kHeaderBytes) / (record_bytes + kRecordOverheadGuess));
  // Pseudo-random values (splitmix64): nothing below can profit from repeated bytes.
  std::uint64_t x = seed;
  auto next = [&] {
    x += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const std::int64_t now_ms = SystemClock::instance().now_ms();
  std::vector<storage::Record> records(n);
  for (auto& r : records) {
    Bytes value(record_bytes);
    for (auto& b : value) b = static_cast<std::byte>(next());
    r.value = std::move(value);
    r.timestamp_ms = now_ms;
  }
  for (;;) {
    Bytes built = storage::build_batch(records);
    if (built.size() <= batch_bytes_max || records.size() == 1) {
      return BenchBatch{std::move(built), static_cast<int>(records.size())};
    }
    const std::size_t excess = built.size() - batch_bytes_max;
    const std::size_t drop = std::min(records.size() - 1, excess / (record_bytes + 8) + 1);
    records.resize(records.size() - drop);
  }
}

std::string size_name(std::size_t bytes) {
  if (bytes % (1024 * 1024) == 0) return fmt::format("{}MiB", bytes / (1024 * 1024));
  if (bytes % 1024 == 0) return fmt::format("{}KiB", bytes / 1024);
  return fmt::format("{}B", bytes);
}

double percentile_us(std::vector<std::int64_t>& ns, double p) {
  if (ns.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1));
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
  return static_cast<double>(ns[k]) / 1e3;
}

struct AppendCase {
  std::string policy;  // as sync.policy takes it
  std::size_t record_bytes = 0;
  std::size_t batch_bytes = 0;  // the batch is at most this
  int threads = 1;

  std::string name() const {
    return fmt::format("append/{}/rec={}/batch={}/threads={}", policy, size_name(record_bytes),
                       size_name(batch_bytes), threads);
  }
};

storage::TopicConfig bench_config(const std::string& policy) {
  storage::TopicConfig config;
  auto sync = storage::SyncPolicy::parse(policy);
  WHARF_CHECK(sync.has_value(), "bad policy {}", policy);
  config.sync = *sync;
  // One segment for the whole case: a roll would add a sync (even under `none`) that fio's
  // single-file references do not pay. --case-bytes stays below this.
  config.segment_bytes = storage::kSegmentBytesMax;
  return config;
}

// Runs one append case in a fresh partition under `dir`, then drops the partition unsynced.
Result<nlohmann::ordered_json> run_append(const Options& opt, const AppendCase& c,
                                          const std::string& dir, int repeat) {
  IoCounters counters;
  auto posix = io::make_posix_file_system();
  CountingFileSystem fs(*posix, counters);
  const storage::TopicConfig config = bench_config(c.policy);
  WHARF_ASSIGN_OR_RETURN(auto partition,
                         storage::Partition::open(fs, dir, config, SystemClock::instance()));

  const BenchBatch batch = make_batch(c.record_bytes, c.batch_bytes, 42 + repeat);
  // Each appender patches its own copy in place (base offset); the CRC stays valid because it
  // does not cover the base offset, so one copy serves every append.
  std::vector<Bytes> copies(static_cast<std::size_t>(c.threads), batch.bytes);
  const std::uint64_t appends_max = opt.case_bytes / batch.bytes.size() + 1;
  std::vector<std::vector<std::int64_t>> latencies(static_cast<std::size_t>(c.threads));
  for (auto& l : latencies) l.reserve(appends_max);

  std::atomic<std::uint64_t> appends{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::optional<Error> first_error;
  const auto deadline = Clock::now() + std::chrono::duration<double>(opt.seconds);

  // interval:<ms>: what LogManager's background loop does for the partition.
  std::jthread flusher;
  if (config.sync.kind == storage::SyncPolicy::Kind::kInterval) {
    flusher = std::jthread([&, interval = config.sync.interval](std::stop_token stop) {
      std::mutex m;
      std::condition_variable_any cv;
      auto next = Clock::now() + interval;
      while (!stop.stop_requested()) {
        std::unique_lock lock(m);
        if (cv.wait_until(lock, stop, next, [] { return false; })) break;
        if (stop.stop_requested()) break;
        if (auto s = partition->sync(); !s) {
          std::lock_guard g(error_mu);
          if (!first_error) first_error = s.error();
          failed = true;
        }
        next += interval;
      }
    });
  }

  const auto io_before = counters.snapshot();
  const auto start = Clock::now();
  auto appender = [&](int t) {
    Bytes& mine = copies[static_cast<std::size_t>(t)];
    auto& lat = latencies[static_cast<std::size_t>(t)];
    while (!failed.load(std::memory_order_relaxed)) {
      // Claim an append before doing it so that the byte bound holds across threads.
      if (appends.fetch_add(1) >= appends_max || Clock::now() >= deadline) {
        appends.fetch_sub(1);
        break;
      }
      const auto t0 = Clock::now();
      auto r = partition->append(MutableByteView(mine));
      lat.push_back(ns_since(t0));
      if (!r) {
        std::lock_guard g(error_mu);
        if (!first_error) first_error = r.error();
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < c.threads; ++t) threads.emplace_back(appender, t);
  }
  const double seconds = seconds_since(start);
  const auto io = counters.snapshot() - io_before;
  flusher = {};  // stops and joins the flusher
  if (first_error) return fail(*first_error);

  const std::uint64_t n = appends.load();
  const std::uint64_t bytes = n * batch.bytes.size();
  const std::uint64_t records = n * static_cast<std::uint64_t>(batch.records);
  // The log must hold exactly what was appended.
  WHARF_CHECK(partition->log_end_offset() == Offset(static_cast<std::int64_t>(records)),
              "log end {} after {} records", partition->log_end_offset(), records);
  WHARF_CHECK(partition->size_bytes() == bytes, "{} bytes stored, {} appended",
              partition->size_bytes(), bytes);
  partition.reset();  // no close(): nothing left to sync, nothing to write back
  WHARF_RETURN_IF_ERROR(posix->remove_all(dir));

  std::vector<std::int64_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  nlohmann::ordered_json j;
  j["bench"] = "append";
  j["case"] = c.name();
  j["repeat"] = repeat;
  j["policy"] = c.policy;
  j["record_bytes"] = c.record_bytes;
  j["batch_bytes"] = batch.bytes.size();
  j["records_per_batch"] = batch.records;
  j["threads"] = c.threads;
  j["seconds"] = seconds;
  j["appends"] = n;
  j["bytes"] = bytes;
  j["records"] = records;
  j["mb_per_s"] = static_cast<double>(bytes) / seconds / 1e6;
  j["records_per_s"] = static_cast<double>(records) / seconds;
  j["syncs"] = io.syncs;
  j["syncs_per_append"] = n ? static_cast<double>(io.syncs) / static_cast<double>(n) : 0.0;
  j["sync_ms_mean"] =
      io.syncs ? static_cast<double>(io.sync_ns) / static_cast<double>(io.syncs) / 1e6 : 0.0;
  // Summed over threads: with one appender these are shares of `seconds`.
  j["write_seconds"] = static_cast<double>(io.write_ns) / 1e9;
  j["sync_seconds"] = static_cast<double>(io.sync_ns) / 1e9;
  j["append_us_p50"] = percentile_us(all, 0.50);
  j["append_us_p99"] = percentile_us(all, 0.99);
  j["append_us_max"] = percentile_us(all, 1.0);
  return j;
}

std::string recovery_case_name(const Options& opt) {
  return fmt::format("recovery/rec={}/batch={}", size_name(opt.recovery_record_bytes),
                     size_name(opt.recovery_batch_bytes));
}
std::string read_case_name(const Options& opt) {
  return fmt::format("read/chunk=1MiB/batch={}", size_name(opt.recovery_batch_bytes));
}

// Writes opt.recovery_bytes, syncs them, drops the partition without close() (an unclean
// shutdown with nothing torn), times the reopen, then reads everything back.
Result<std::vector<nlohmann::ordered_json>> run_recovery_and_read(const Options& opt,
                                                                  const std::string& dir,
                                                                  int repeat, bool want_read) {
  IoCounters counters;
  auto posix = io::make_posix_file_system();
  CountingFileSystem fs(*posix, counters);
  const storage::TopicConfig config = bench_config("none");
  WHARF_CHECK(opt.recovery_bytes < config.segment_bytes, "--recovery-bytes must fit one segment");
  const BenchBatch batch =
      make_batch(opt.recovery_record_bytes, opt.recovery_batch_bytes, 7 + repeat);
  Bytes mine = batch.bytes;
  std::uint64_t written = 0;
  std::int64_t records = 0;
  const auto write_start = Clock::now();
  {
    WHARF_ASSIGN_OR_RETURN(auto p,
                           storage::Partition::open(fs, dir, config, SystemClock::instance()));
    while (written + mine.size() <= opt.recovery_bytes) {
      WHARF_ASSIGN_OR_RETURN(auto r, p->append(MutableByteView(mine)));
      (void)r;
      written += mine.size();
      records += batch.records;
    }
    // Durable first, so that the timed open measures the scan, not the write-back of 512 MiB.
    WHARF_RETURN_IF_ERROR(p->sync());
    // Destroyed here without close(): no clean-shutdown marker, so open() must scan.
  }
  const double write_seconds = seconds_since(write_start);

  const auto open_start = Clock::now();
  WHARF_ASSIGN_OR_RETURN(auto p,
                         storage::Partition::open(fs, dir, config, SystemClock::instance()));
  const double open_seconds = seconds_since(open_start);
  const storage::RecoveryReport& report = p->recovery_report();
  WHARF_CHECK(!report.clean_shutdown, "recovery found a clean-shutdown marker");
  WHARF_CHECK(report.bytes_scanned == written, "scanned {} of {} bytes", report.bytes_scanned,
              written);
  WHARF_CHECK(report.torn_bytes_truncated == 0);
  WHARF_CHECK(p->log_end_offset() == Offset(records));

  std::vector<nlohmann::ordered_json> out;
  nlohmann::ordered_json r;
  r["bench"] = "recovery";
  r["case"] = recovery_case_name(opt);
  r["repeat"] = repeat;
  r["page_cache"] = "warm";
  r["clean_shutdown"] = report.clean_shutdown;
  r["segments"] = report.segments;
  r["bytes_scanned"] = report.bytes_scanned;
  r["batch_bytes"] = batch.bytes.size();
  r["records"] = records;
  r["seconds"] = open_seconds;
  r["gb_per_s"] = static_cast<double>(report.bytes_scanned) / open_seconds / 1e9;
  r["mb_per_s"] = static_cast<double>(report.bytes_scanned) / open_seconds / 1e6;
  r["records_per_s"] = static_cast<double>(records) / open_seconds;
  r["setup_write_seconds"] = write_seconds;
  out.push_back(std::move(r));

  if (want_read) {
    constexpr std::size_t kReadBytes = 1024 * 1024;
    std::uint64_t bytes = 0;
    std::int64_t reads = 0;
    Offset from = p->log_start_offset();
    const Offset end = p->high_watermark();
    const auto read_start = Clock::now();
    while (from < end) {
      WHARF_ASSIGN_OR_RETURN(storage::ReadResult rr, p->read(from, kReadBytes));
      WHARF_CHECK(!rr.records.empty(), "empty read at offset {}", from);
      // Walk the batch lengths to the last batch; the next read starts after it.
      ByteView last;
      WHARF_ASSIGN_OR_RETURN(
          std::size_t walked,
          storage::for_each_batch(rr.records, [&last](ByteView b) { last = b; }));
      WHARF_CHECK(walked == rr.records.size(), "a partial batch at offset {}", from);
      WHARF_ASSIGN_OR_RETURN(storage::BatchHeader h, storage::parse_header(last));
      from = h.next_offset();
      bytes += rr.records.size();
      reads++;
    }
    const double read_seconds = seconds_since(read_start);
    WHARF_CHECK(bytes == written, "read {} of {} bytes", bytes, written);
    nlohmann::ordered_json rd;
    rd["bench"] = "read";
    rd["case"] = read_case_name(opt);
    rd["repeat"] = repeat;
    rd["page_cache"] = "warm";
    rd["bytes"] = bytes;
    rd["reads"] = reads;
    rd["records"] = records;
    rd["seconds"] = read_seconds;
    rd["mb_per_s"] = static_cast<double>(bytes) / read_seconds / 1e6;
    rd["records_per_s"] = static_cast<double>(records) / read_seconds;
    out.push_back(std::move(rd));
  }
  p.reset();
  WHARF_RETURN_IF_ERROR(posix->remove_all(dir));
  return out;
}

void status_line(const nlohmann::ordered_json& j) {
  const std::string name = j["case"].get<std::string>();
  std::string line = fmt::format("[bench] {} #{}: {:.1f} MB/s", name, j["repeat"].get<int>(),
                                 j["mb_per_s"].get<double>());
  if (j.contains("records_per_s"))
    line += fmt::format(", {:.0f} records/s", j["records_per_s"].get<double>());
  if (j.contains("syncs_per_append")) {
    line += fmt::format(", {:.3f} syncs/append, p99 {:.0f} us", j["syncs_per_append"].get<double>(),
                        j["append_us_p99"].get<double>());
  }
  line += fmt::format(" ({:.2f} s)", j["seconds"].get<double>());
  std::fprintf(stderr, "%s\n", line.c_str());
}

void emit(const nlohmann::ordered_json& j) {
  std::fprintf(stdout, "%s\n", j.dump().c_str());
  std::fflush(stdout);
  status_line(j);
}

int run(const Options& opt) {
  std::vector<AppendCase> cases;
  const std::string interval = fmt::format("interval:{}", opt.interval_ms);
  for (std::size_t record : {std::size_t{100}, std::size_t{1024}}) {
    for (std::size_t batch : {std::size_t{64 * 1024}, std::size_t{1024 * 1024}}) {
      for (const std::string& policy : {std::string("always"), interval, std::string("none")}) {
        cases.push_back({policy, record, batch, 1});
      }
    }
  }
  cases.push_back({"always", 1024, 64 * 1024, opt.group_threads});
  if (opt.list) {
    for (const AppendCase& c : cases) std::printf("%s\n", c.name().c_str());
    std::printf("%s\n%s\n", recovery_case_name(opt).c_str(), read_case_name(opt).c_str());
    return 0;
  }

  auto wanted = [&](const std::string& name) {
    if (opt.filters.empty()) return true;
    return std::any_of(opt.filters.begin(), opt.filters.end(),
                       [&](const std::string& f) { return name.find(f) != std::string::npos; });
  };
  auto posix = io::make_posix_file_system();
  const std::string root = io::join_path(opt.dir, fmt::format("storage_bench-{}", ::getpid()));
  if (auto s = posix->create_dirs(root); !s) {
    std::fprintf(stderr, "cannot create %s: %s\n", root.c_str(), s.error().to_string().c_str());
    return 1;
  }

  int status = 0;
  int n = 0;
  for (int repeat = opt.first_repeat; repeat < opt.first_repeat + opt.repeats && status == 0;
       ++repeat) {
    for (const AppendCase& c : cases) {
      if (!wanted(c.name())) continue;
      auto r = run_append(opt, c, io::join_path(root, fmt::format("case-{}", n++)), repeat);
      if (!r) {
        std::fprintf(stderr, "%s failed: %s\n", c.name().c_str(), r.error().to_string().c_str());
        status = 1;
        break;
      }
      emit(*r);
    }
    if (status != 0) break;
    const bool want_recovery = wanted(recovery_case_name(opt));
    const bool want_read = wanted(read_case_name(opt));
    if (want_recovery || want_read) {
      auto r = run_recovery_and_read(opt, io::join_path(root, fmt::format("case-{}", n++)), repeat,
                                     want_read);
      if (!r) {
        std::fprintf(stderr, "recovery/read failed: %s\n", r.error().to_string().c_str());
        status = 1;
        break;
      }
      for (const auto& j : *r) {
        if (wanted(j["case"].get<std::string>())) emit(j);
      }
    }
  }
  if (auto s = posix->remove_all(root); !s) {
    std::fprintf(stderr, "cleanup of %s: %s\n", root.c_str(), s.error().to_string().c_str());
  }
  return status;
}

}  // namespace
}  // namespace wharf::bench

int main(int argc, char** argv) {
  wharf::bench::Options opt;
  CLI::App app{"Wharf storage benchmarks: append, read and recovery throughput on the real disk"};
  app.add_option("--dir", opt.dir, "directory for the data (same file system as fio's file)");
  app.add_option("--seconds", opt.seconds, "time bound per append case")
      ->check(CLI::PositiveNumber);
  app.add_option("--case-bytes", opt.case_bytes, "byte bound per append case")
      ->check(CLI::Range(std::uint64_t{1} << 20, std::uint64_t{1} << 30));
  app.add_option("--recovery-bytes", opt.recovery_bytes, "bytes written before the recovery scan")
      ->check(CLI::Range(std::uint64_t{1} << 20, std::uint64_t{2000} << 20));
  app.add_option("--recovery-batch-bytes", opt.recovery_batch_bytes,
                 "batch size of the recovery data")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 20));
  app.add_option("--recovery-record-bytes", opt.recovery_record_bytes,
                 "record size of the recovery data")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 19));
  app.add_option("--interval-ms", opt.interval_ms, "the interval:<ms> policy's interval")
      ->check(CLI::Range(1, 3600000));
  app.add_option("--group-threads", opt.group_threads, "appender threads in the group-commit case")
      ->check(CLI::Range(1, 64));
  app.add_option("--repeats", opt.repeats, "times to run every case")->check(CLI::Range(1, 20));
  app.add_option("--first-repeat", opt.first_repeat,
                 "number of the first repeat, for labels and seeds")
      ->check(CLI::Range(0, 1000));
  app.add_option("--filter", opt.filters,
                 "run only cases whose name contains this, e.g. append/none (repeatable)");
  app.add_flag("--list", opt.list, "print the case names and exit");
  CLI11_PARSE(app, argc, argv);
  try {
    return wharf::bench::run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wharf_storage_bench: %s\n", e.what());
    return 1;
  }
}
