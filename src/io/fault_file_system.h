// FaultFileSystem: wraps another FileSystem (usually a MemoryFileSystem) and injects failures on
// a deterministic plan, for tests of every I/O error path. Owned by the test, which also owns the
// inner file system; both must outlive the Files opened through the wrapper. Thread-safe (one
// mutex guards plans, counters and the dead flag; the inner calls run outside it).
//
// A plan is armed at any time and counts calls from the moment it is armed: fail_nth_sync(1)
// fails the next File::sync. Each plan fires once, then disarms. Write plans (fail, short, tear)
// share one slot: arming one replaces the other. Injected failures do nothing to the inner file
// system, except as stated for short and torn writes. Durability is the inner file system's.
//
// A torn write models power loss in the middle of a write: a prefix reaches the disk, then the
// machine is gone. After it the wrapper is dead: every call on it and on every File opened
// through it fails with kIoError until revive(). Files opened before revive() stay dead.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "io/file_system.h"

namespace wharf::io {

class FaultFileSystem final : public FileSystem {
 public:
  explicit FaultFileSystem(FileSystem& inner);
  FaultFileSystem(const FaultFileSystem&) = delete;
  FaultFileSystem& operator=(const FaultFileSystem&) = delete;

  [[nodiscard]] Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  [[nodiscard]] Result<bool> exists(const std::string& path) override;
  [[nodiscard]] Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  [[nodiscard]] Status create_dirs(const std::string& dir) override;
  [[nodiscard]] Status remove(const std::string& path) override;
  [[nodiscard]] Status remove_all(const std::string& path) override;
  [[nodiscard]] Status rename(const std::string& from, const std::string& to) override;
  [[nodiscard]] Status sync_dir(const std::string& dir) override;

  // Plans. REQUIRES: n >= 1 (the n-th call from now, counting write_at and append together).
  // The n-th write fails with `code` and writes nothing.
  void fail_nth_write(std::uint64_t n, ErrorCode code = ErrorCode::kIoError);
  // The n-th write writes its first keep_bytes bytes, then fails with kIoError.
  void short_write_nth(std::uint64_t n, std::size_t keep_bytes);
  // The n-th write writes its first keep_bytes bytes, syncs the inner file (the torn prefix and
  // everything written before it become durable) and kills the wrapper; it returns kIoError.
  void tear_nth_write(std::uint64_t n, std::size_t keep_bytes);
  // The n-th File::sync / sync_dir / rename / open fails with kIoError and does nothing.
  void fail_nth_sync(std::uint64_t n);
  // While held, every File::sync blocks (after being counted) until release_syncs(): a test
  // can see what happens while a sync is in flight. syncs_waiting() counts the blocked ones.
  void hold_syncs();
  void release_syncs();
  std::uint64_t syncs_waiting() const;
  void fail_nth_sync_dir(std::uint64_t n);
  void fail_nth_rename(std::uint64_t n);
  void fail_nth_open(std::uint64_t n);
  void clear_faults();

  bool dead() const;
  // Lets new calls through again; Files opened before stay dead (a restarted process would
  // not have them either).
  void revive();

  // Calls seen while alive, the failed (injected) ones included.
  std::uint64_t writes() const;
  std::uint64_t syncs() const;
  std::uint64_t sync_dirs() const;
  std::uint64_t renames() const;
  std::uint64_t opens() const;

 private:
  class FaultFile;

  enum class WriteFault { kFail, kShort, kTear };
  struct WritePlan {
    WriteFault kind = WriteFault::kFail;
    ErrorCode code = ErrorCode::kIoError;
    std::size_t keep_bytes = 0;
  };
  // Counts calls down to the one that fails; 0 means disarmed.
  struct Countdown {
    std::uint64_t remaining = 0;
    bool tick() { return remaining != 0 && --remaining == 0; }
  };

  // Fails if dead, or if `epoch` (a File's) is from before the last revive().
  Status check_alive(std::optional<std::uint64_t> epoch = std::nullopt) const;
  Status check_alive_locked(std::optional<std::uint64_t> epoch) const;  // REQUIRES: mu_ held
  // check_alive, then counts the call in `counter` and reports whether `countdown` fires now.
  Result<bool> admit(std::uint64_t& counter, Countdown& countdown,
                     std::optional<std::uint64_t> epoch = std::nullopt);
  // Like admit for a write: the plan that fires on this write, if any.
  Result<std::optional<WritePlan>> admit_write(std::uint64_t epoch);
  void die();

  FileSystem& inner_;
  mutable std::mutex mu_;
  bool dead_ = false;
  std::uint64_t epoch_ = 0;  // bumped by revive()

  Countdown write_countdown_;
  WritePlan write_plan_;
  Countdown sync_countdown_;
  Countdown sync_dir_countdown_;
  Countdown rename_countdown_;
  Countdown open_countdown_;

  std::condition_variable sync_released_;
  bool syncs_held_ = false;
  std::uint64_t syncs_waiting_ = 0;
  // Blocks while syncs are held (File::sync, outside any plan).
  void wait_while_held();

  std::uint64_t writes_ = 0;
  std::uint64_t syncs_ = 0;
  std::uint64_t sync_dirs_ = 0;
  std::uint64_t renames_ = 0;
  std::uint64_t opens_ = 0;
};

}  // namespace wharf::io
