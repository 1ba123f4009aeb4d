// Crash test for log compaction: a child process appends keyed records to a compacted
// partition (sync.policy=always, 4 KiB segments) from one thread while another runs the log
// cleaner in a loop, and reports each acknowledged record to its parent over a pipe. The parent
// kills it with SIGKILL at seeded random moments (so kills land in the middle of cleaned-segment
// writes, syncs and swaps), recovers the partition itself and checks that for every key the
// latest acknowledged value is still readable at its offset, or superseded by a later value of
// the same key, and that nothing readable is garbage. The next child continues the same log.
//
//   wharf_compaction_crash_test [--cycles N] [--seed S] [--dir D]   (parent; prints the seed)
//   wharf_compaction_crash_test --child DIR SEED                     (internal)
//
// Key i's n-th value is "k<i>=<n>" padded to 100 bytes, so a value names its key and sequence.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/posix_file_system.h"
#include "storage/log_cleaner.h"
#include "storage/partition.h"

namespace wharf {
namespace {

constexpr int kKeys = 40;

storage::TopicConfig crash_config() {
  return *storage::TopicConfig::from_map({{"cleanup.policy", "compact"},
                                          {"segment.bytes", "4096"},
                                          {"min.cleanable.dirty.ratio", "0.01"},
                                          {"delete.retention.ms", "0"}});
}

std::string value_of(int key, std::int64_t seq) {
  std::string v = "k" + std::to_string(key) + "=" + std::to_string(seq);
  v.resize(100, '.');
  return v;
}

struct Latest {
  std::int64_t seq = -1;
  Offset offset;
};

// Every record readable from the log start; per key the highest (seq, offset) found. Fails on
// a record that is not what some key's producer wrote, or on a key's sequence going backwards.
Result<std::map<int, Latest>> read_back(storage::Partition& p) {
  std::map<int, Latest> latest;
  Offset at = p.log_start_offset();
  while (at < p.high_watermark()) {
    WHARF_ASSIGN_OR_RETURN(auto r, p.read(at, 1 << 20));
    if (r.records.empty()) return fail(ErrorCode::kCorruption, "empty read at {}", at);
    std::size_t pos = 0;
    while (pos < r.records.size()) {
      WHARF_ASSIGN_OR_RETURN(auto h, storage::parse_header(ByteView(r.records).subspan(pos)));
      if (h.base_offset != at) {
        return fail(ErrorCode::kCorruption, "batch at offset {} where {} was expected",
                    h.base_offset, at);
      }
      WHARF_ASSIGN_OR_RETURN(
          auto records, storage::read_records(ByteView(r.records).subspan(pos, h.total_bytes())));
      for (const auto& rec : records) {
        if (!rec.key || !rec.value) return fail(ErrorCode::kCorruption, "null at {}", rec.offset);
        const std::string key(as_chars(*rec.key));
        const std::string value(as_chars(*rec.value));
        int k = -1;
        long long seq = -1;
        if (std::sscanf(value.c_str(), "k%d=%lld", &k, &seq) != 2 ||
            key != "k" + std::to_string(k) || value != value_of(k, seq)) {
          return fail(ErrorCode::kCorruption, "garbage record at offset {}", rec.offset);
        }
        Latest& l = latest[k];
        if (seq <= l.seq) {
          return fail(ErrorCode::kCorruption, "key {}: value {} at offset {} after value {}", k,
                      seq, rec.offset, l.seq);
        }
        l = Latest{seq, rec.offset};
      }
      pos += h.total_bytes();
      at = h.next_offset();
    }
  }
  return latest;
}

int run_child(const std::string& dir, std::uint64_t seed) {
  io::PosixFileSystem fs;
  auto p = storage::Partition::open(fs, dir, crash_config(), SystemClock::instance());
  if (!p) {
    std::fprintf(stderr, "child: open failed: %s\n", p.error().to_string().c_str());
    return 2;
  }
  auto latest = read_back(**p);
  if (!latest) {
    std::fprintf(stderr, "child: read failed: %s\n", latest.error().to_string().c_str());
    return 3;
  }
  std::mutex out_mu;
  std::thread cleaner([&] {
    storage::LogCleaner c(storage::CleanerOptions{0, 1 << 20}, SystemClock::instance());
    for (;;) {  // until killed
      auto stats = c.clean(**p);
      if (!stats) {
        std::fprintf(stderr, "child: clean failed: %s\n", stats.error().to_string().c_str());
        std::_Exit(5);
      }
      if (stats->segments_rewritten > 0) {
        std::lock_guard lock(out_mu);
        std::printf("cleaned %d\n", stats->segments_rewritten);
        std::fflush(stdout);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // nothing dirty enough yet
      }
    }
  });
  std::mt19937_64 rng(seed ^ static_cast<std::uint64_t>(getpid()));
  for (;;) {  // until killed
    const int k = static_cast<int>(rng() % kKeys);
    const std::int64_t seq = (*latest)[k].seq + 1;
    storage::Record rec;
    rec.key = to_bytes("k" + std::to_string(k));
    rec.value = to_bytes(value_of(k, seq));
    rec.timestamp_ms = SystemClock::instance().now_ms();
    auto r = (*p)->append(storage::build_batch({rec}));
    if (!r) {
      std::fprintf(stderr, "child: append failed: %s\n", r.error().to_string().c_str());
      std::_Exit(4);
    }
    (*latest)[k] = Latest{seq, r->base_offset};
    std::lock_guard lock(out_mu);
    std::printf("ack %d %lld %lld\n", k, static_cast<long long>(seq),
                static_cast<long long>(r->base_offset.value()));
    std::fflush(stdout);
  }
}

int run_parent(int cycles, std::uint64_t seed, const std::string& dir, const char* self) {
  std::printf("compaction crash test: seed %llu (rerun with --seed %llu), %d cycles, dir %s\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), cycles,
              dir.c_str());
  std::fflush(stdout);
  std::filesystem::remove_all(dir);
  std::mt19937_64 rng(seed);
  std::map<int, Latest> acked;  // latest acknowledged value per key
  std::int64_t total_acks = 0, total_cleaned = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    int fds[2];
    if (pipe(fds) != 0) return 10;
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      const std::string seed_text = std::to_string(seed + static_cast<std::uint64_t>(cycle));
      execl(self, self, "--child", dir.c_str(), seed_text.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    close(fds[1]);
    const auto run_for = std::chrono::milliseconds(50 + rng() % 450);
    const auto deadline = std::chrono::steady_clock::now() + run_for;
    FILE* in = fdopen(fds[0], "r");
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    char buf[4096];
    auto drain = [&] {
      while (fgets(buf, sizeof buf, in) != nullptr) {
        int k = 0, n = 0;
        long long seq = 0, offset = 0;
        if (std::sscanf(buf, "ack %d %lld %lld", &k, &seq, &offset) == 3) {
          if (seq > acked[k].seq) acked[k] = Latest{seq, Offset(offset)};
          total_acks++;
        } else if (std::sscanf(buf, "cleaned %d", &n) == 1) {
          total_cleaned += n;
        }
      }
      clearerr(in);
    };
    while (std::chrono::steady_clock::now() < deadline) {
      drain();
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        std::printf("FAIL: child exited early with status %d in cycle %d (seed %llu)\n", status,
                    cycle, static_cast<unsigned long long>(seed));
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    drain();  // acks written before the kill are still in the pipe
    fclose(in);

    io::PosixFileSystem fs;
    auto p = storage::Partition::open(fs, dir, crash_config(), SystemClock::instance());
    if (!p) {
      std::printf("FAIL: recovery failed in cycle %d (seed %llu): %s\n", cycle,
                  static_cast<unsigned long long>(seed), p.error().to_string().c_str());
      return 1;
    }
    auto found = read_back(**p);
    if (!found) {
      std::printf("FAIL: cycle %d (seed %llu): %s\n", cycle, static_cast<unsigned long long>(seed),
                  found.error().to_string().c_str());
      return 1;
    }
    for (const auto& [k, a] : acked) {
      const Latest& f = (*found)[k];
      // The acknowledged latest value, or a later one (written but not yet acknowledged).
      const bool ok = f.seq > a.seq || (f.seq == a.seq && f.offset == a.offset);
      if (!ok) {
        std::printf(
            "FAIL: cycle %d (seed %llu): key k%d: value %lld at offset %lld was "
            "acknowledged, but the newest readable is %lld at offset %lld\n",
            cycle, static_cast<unsigned long long>(seed), k, static_cast<long long>(a.seq),
            static_cast<long long>(a.offset.value()), static_cast<long long>(f.seq),
            static_cast<long long>(f.offset.value()));
        return 1;
      }
    }
    // What recovery kept (including values written but unacknowledged) is what the next child
    // continues from.
    for (const auto& [k, f] : *found) {
      if (f.seq > acked[k].seq) acked[k] = f;
    }
    if ((cycle + 1) % 10 == 0 || cycle + 1 == cycles) {
      std::printf(
          "cycle %d/%d: %lld acks, %lld segments compacted so far, log end %lld, %zu "
          "segments\n",
          cycle + 1, cycles, static_cast<long long>(total_acks),
          static_cast<long long>(total_cleaned),
          static_cast<long long>((*p)->log_end_offset().value()), (*p)->segment_count());
      std::fflush(stdout);
    }
  }
  if (total_acks == 0 || total_cleaned == 0) {
    std::printf(
        "FAIL: %lld appends acknowledged and %lld segments compacted in %d cycles; the "
        "test checked nothing\n",
        static_cast<long long>(total_acks), static_cast<long long>(total_cleaned), cycles);
    return 1;
  }
  std::filesystem::remove_all(dir);
  std::printf(
      "PASS: %d kill -9 cycles, %lld acknowledged values, %lld segments compacted, every "
      "latest value recovered (seed %llu)\n",
      cycles, static_cast<long long>(total_acks), static_cast<long long>(total_cleaned),
      static_cast<unsigned long long>(seed));
  return 0;
}

}  // namespace
}  // namespace wharf

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "--child") {
    return wharf::run_child(args[1], std::stoull(args[2]));
  }
  int cycles = 30;
  std::uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("WHARF_TEST_SEED")) seed = std::stoull(env);
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("wharf-compaction-crash-" + std::to_string(getpid())))
                        .string();
  for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--cycles")
      cycles = std::stoi(args[i + 1]);
    else if (args[i] == "--seed")
      seed = std::stoull(args[i + 1]);
    else if (args[i] == "--dir")
      dir = args[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--cycles N] [--seed S] [--dir D]\n", argv[0]);
      return 2;
    }
  }
  return wharf::run_parent(cycles, seed, dir, "/proc/self/exe");
}
