// Crash test: a child process appends to a partition under sync.policy=always from several
// producer threads and reports each acknowledged batch to its parent over a pipe; the parent
// kills it with SIGKILL at seeded random moments, recovers the partition itself and checks that
// every acknowledged batch is there byte for byte, in order per producer, with no gap and no
// garbage. Then the next child continues the same log, so recovery runs on top of recovery.
//
//   wharf_crash_test [--cycles N] [--seed S] [--dir D]      (parent; prints the seed first)
//   wharf_crash_test --child DIR SEED                         (internal)
//
// Each producer thread t is idempotent producer 1000+t; its c-th batch is
// deterministic_batch(seed + t, c) with base sequence = records sent before it, so the parent
// can regenerate every stored batch from its header and compare bytes.
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
#include "storage/partition.h"
#include "tests/support/storage_fixtures.h"

namespace wharf {
namespace {

constexpr int kThreads = 3;
constexpr std::int64_t kProducerBase = 1000;

storage::TopicConfig crash_config() {
  // Small segments so that kills land in rolls and snapshot writes too.
  return *storage::TopicConfig::from_map({{"segment.bytes", "65536"}});
}

struct ProducerProgress {
  std::int64_t batches = 0;   // stored batches of this producer
  std::int32_t next_seq = 0;  // base sequence of its next batch
};

Bytes expected_batch(std::uint64_t seed, int t, std::int64_t c, std::int32_t seq) {
  storage::BatchOptions o{ProducerId(kProducerBase + t), ProducerEpoch(0), seq};
  return test::deterministic_batch(seed + static_cast<std::uint64_t>(t),
                                   static_cast<std::uint64_t>(c), 120, 4, o);
}

// Reads the whole partition, checking every batch against what its producer would have sent.
// Returns per-producer progress, or a description of the first problem.
Result<std::map<int, ProducerProgress>> verify(storage::Partition& p, std::uint64_t seed) {
  std::map<int, ProducerProgress> progress;
  Offset at = p.log_start_offset();
  if (at != Offset(0)) return fail(ErrorCode::kCorruption, "log start moved to {}", at);
  while (at < p.high_watermark()) {
    WHARF_ASSIGN_OR_RETURN(auto r, p.read(at, 1 << 20));
    if (r.records.empty()) return fail(ErrorCode::kCorruption, "empty read at {}", at);
    std::size_t pos = 0;
    while (pos < r.records.size()) {
      WHARF_ASSIGN_OR_RETURN(auto h, storage::parse_header(ByteView(r.records).subspan(pos)));
      if (h.base_offset != at) {
        return fail(ErrorCode::kCorruption, "gap: batch at offset {} where {} was expected",
                    h.base_offset, at);
      }
      const int t = static_cast<int>(h.producer_id.value() - kProducerBase);
      if (t < 0 || t >= kThreads)
        return fail(ErrorCode::kCorruption, "garbage producer id {} at {}", h.producer_id, at);
      ProducerProgress& pp = progress[t];
      Bytes want = expected_batch(seed, t, pp.batches, pp.next_seq);
      storage::patch_base_offset(want, at);
      storage::patch_partition_leader_epoch(want, storage::kStoredLeaderEpoch);  // as Kafka
      ByteView got = ByteView(r.records).subspan(pos, h.total_bytes());
      if (want.size() != got.size() || !std::equal(want.begin(), want.end(), got.begin())) {
        return fail(ErrorCode::kCorruption,
                    "batch at offset {} (producer {}, batch {}) differs from what was sent", at, t,
                    pp.batches);
      }
      pp.batches++;
      pp.next_seq += h.record_count;
      pos += h.total_bytes();
      at = h.next_offset();
    }
  }
  return progress;
}

int run_child(const std::string& dir, std::uint64_t seed) {
  io::PosixFileSystem fs;
  auto p = storage::Partition::open(fs, dir, crash_config(), SystemClock::instance());
  if (!p) {
    std::fprintf(stderr, "child: open failed: %s\n", p.error().to_string().c_str());
    return 2;
  }
  auto progress = verify(**p, seed);
  if (!progress) {
    std::fprintf(stderr, "child: verify failed: %s\n", progress.error().to_string().c_str());
    return 3;
  }
  std::mutex out_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ProducerProgress pp = (*progress)[t];
      for (;;) {  // until killed
        Bytes b = expected_batch(seed, t, pp.batches, pp.next_seq);
        const auto records = storage::parse_header(b)->record_count;
        auto r = (*p)->append(b);
        if (!r) {
          std::fprintf(stderr, "child: append failed: %s\n", r.error().to_string().c_str());
          std::_Exit(4);
        }
        std::lock_guard lock(out_mu);
        std::printf("ack %d %lld\n", t, static_cast<long long>(pp.batches));
        std::fflush(stdout);
        pp.batches++;
        pp.next_seq += records;
      }
    });
  }
  for (auto& th : threads) th.join();
  return 0;
}

int run_parent(int cycles, std::uint64_t seed, const std::string& dir, const char* self) {
  std::printf("crash test: seed %llu (rerun with --seed %llu), %d cycles, dir %s\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), cycles,
              dir.c_str());
  std::fflush(stdout);
  std::filesystem::remove_all(dir);
  std::mt19937_64 rng(seed);
  std::map<int, std::int64_t> acked;  // highest acknowledged batch index per producer
  std::int64_t total_acks = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    int fds[2];
    if (pipe(fds) != 0) return 10;
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      const std::string seed_text = std::to_string(seed);
      execl(self, self, "--child", dir.c_str(), seed_text.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    close(fds[1]);
    const auto run_for = std::chrono::milliseconds(20 + rng() % 280);
    const auto deadline = std::chrono::steady_clock::now() + run_for;
    FILE* in = fdopen(fds[0], "r");
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    std::string line;
    char buf[4096];
    auto drain = [&] {
      while (fgets(buf, sizeof buf, in) != nullptr) {
        int t = 0;
        long long c = 0;
        if (std::sscanf(buf, "ack %d %lld", &t, &c) == 2) {
          acked[t] = std::max<std::int64_t>(acked.count(t) ? acked[t] : -1, c);
          total_acks++;
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
    auto progress = verify(**p, seed);
    if (!progress) {
      std::printf("FAIL: cycle %d (seed %llu): %s\n", cycle, static_cast<unsigned long long>(seed),
                  progress.error().to_string().c_str());
      return 1;
    }
    for (const auto& [t, c] : acked) {
      if ((*progress)[t].batches <= c) {
        std::printf(
            "FAIL: cycle %d (seed %llu): producer %d had batch %lld acknowledged but only %lld are "
            "stored\n",
            cycle, static_cast<unsigned long long>(seed), t, static_cast<long long>(c),
            static_cast<long long>((*progress)[t].batches));
        return 1;
      }
    }
    if (cycle % 5 == 4) {  // now and then the next start takes the clean-shutdown path
      if (auto s = (*p)->close(); !s) {
        std::printf("FAIL: clean close: %s\n", s.error().to_string().c_str());
        return 1;
      }
    }
    if ((cycle + 1) % 10 == 0 || cycle + 1 == cycles) {
      std::printf("cycle %d/%d: %lld acks so far, log end %lld, recovery %s, torn bytes cut %llu\n",
                  cycle + 1, cycles, static_cast<long long>(total_acks),
                  static_cast<long long>((*p)->log_end_offset().value()),
                  (*p)->recovery_report().clean_shutdown ? "clean" : "scan",
                  static_cast<unsigned long long>((*p)->recovery_report().torn_bytes_truncated));
      std::fflush(stdout);
    }
  }
  if (total_acks == 0) {
    std::printf("FAIL: no append was acknowledged in %d cycles; the test checked nothing\n",
                cycles);
    return 1;
  }
  std::filesystem::remove_all(dir);
  std::printf("PASS: %d kill -9 cycles, %lld acknowledged batches all recovered (seed %llu)\n",
              cycles, static_cast<long long>(total_acks), static_cast<unsigned long long>(seed));
  return 0;
}

}  // namespace
}  // namespace wharf

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "--child") {
    return wharf::run_child(args[1], std::stoull(args[2]));
  }
  int cycles = 50;
  std::uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("WHARF_TEST_SEED")) seed = std::stoull(env);
  std::string dir =
      (std::filesystem::temp_directory_path() / ("wharf-crash-" + std::to_string(getpid())))
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
