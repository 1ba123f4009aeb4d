#include "io/fault_file_system.h"

#include <algorithm>
#include <utility>

namespace wharf::io {

class FaultFileSystem::FaultFile final : public File {
 public:
  FaultFile(FaultFileSystem* fs, std::unique_ptr<File> inner, std::uint64_t epoch)
      : fs_(fs), inner_(std::move(inner)), epoch_(epoch) {}

  Result<std::size_t> read_at(FilePosition position, MutableByteView dst) override {
    WHARF_RETURN_IF_ERROR(fs_->check_alive(epoch_));
    return inner_->read_at(position, dst);
  }

  Status write_at(FilePosition position, ByteView src) override {
    return write(src, [&](ByteView bytes) { return inner_->write_at(position, bytes); });
  }

  Status append(ByteView src) override {
    return write(src, [&](ByteView bytes) { return inner_->append(bytes); });
  }

  Result<std::uint64_t> size() override {
    WHARF_RETURN_IF_ERROR(fs_->check_alive(epoch_));
    return inner_->size();
  }

  Status truncate(std::uint64_t size) override {
    WHARF_RETURN_IF_ERROR(fs_->check_alive(epoch_));
    return inner_->truncate(size);
  }

  Status sync() override {
    WHARF_ASSIGN_OR_RETURN(bool inject, fs_->admit(fs_->syncs_, fs_->sync_countdown_, epoch_));
    if (inject) return fail(ErrorCode::kIoError, "{}: injected fsync failure", path());
    fs_->wait_while_held();
    return inner_->sync();
  }

  const std::string& path() const override { return inner_->path(); }

 private:
  template <typename WriteInner>
  Status write(ByteView src, WriteInner write_inner) {
    WHARF_ASSIGN_OR_RETURN(auto plan, fs_->admit_write(epoch_));
    if (!plan) return write_inner(src);
    const ByteView prefix = src.first(std::min(plan->keep_bytes, src.size()));
    switch (plan->kind) {
      case WriteFault::kFail:
        return fail(plan->code, "{}: injected write failure", path());
      case WriteFault::kShort:
        WHARF_RETURN_IF_ERROR(write_inner(prefix));
        return fail(ErrorCode::kIoError, "{}: injected short write of {} of {} bytes", path(),
                    prefix.size(), src.size());
      case WriteFault::kTear: {
        Status status = write_inner(prefix);
        if (status) status = inner_->sync();
        fs_->die();
        if (!status) return fail(std::move(status).error().with_context("injected torn write"));
        return fail(ErrorCode::kIoError,
                    "{}: injected torn write kept {} of {} bytes; file system is dead after "
                    "injected crash",
                    path(), prefix.size(), src.size());
      }
    }
    WHARF_CHECK(false, "unknown write fault {}", static_cast<int>(plan->kind));
    return ok();
  }

  FaultFileSystem* const fs_;
  const std::unique_ptr<File> inner_;
  const std::uint64_t epoch_;
};

FaultFileSystem::FaultFileSystem(FileSystem& inner) : inner_(inner) {}

Status FaultFileSystem::check_alive_locked(std::optional<std::uint64_t> epoch) const {
  if (dead_) return fail(ErrorCode::kIoError, "file system is dead after injected crash");
  if (epoch && *epoch != epoch_) {
    return fail(ErrorCode::kIoError, "file handle invalidated by injected crash");
  }
  return ok();
}

Status FaultFileSystem::check_alive(std::optional<std::uint64_t> epoch) const {
  std::lock_guard lock(mu_);
  return check_alive_locked(epoch);
}

Result<bool> FaultFileSystem::admit(std::uint64_t& counter, Countdown& countdown,
                                    std::optional<std::uint64_t> epoch) {
  std::lock_guard lock(mu_);
  WHARF_RETURN_IF_ERROR(check_alive_locked(epoch));
  ++counter;
  return countdown.tick();
}

Result<std::optional<FaultFileSystem::WritePlan>> FaultFileSystem::admit_write(
    std::uint64_t epoch) {
  std::lock_guard lock(mu_);
  WHARF_RETURN_IF_ERROR(check_alive_locked(epoch));
  ++writes_;
  if (!write_countdown_.tick()) return std::optional<WritePlan>();
  return std::optional<WritePlan>(write_plan_);
}

void FaultFileSystem::die() {
  std::lock_guard lock(mu_);
  dead_ = true;
}

Result<std::unique_ptr<File>> FaultFileSystem::open(const std::string& path, OpenMode mode) {
  WHARF_ASSIGN_OR_RETURN(bool inject, admit(opens_, open_countdown_));
  if (inject) return fail(ErrorCode::kIoError, "open {}: injected open failure", path);
  WHARF_ASSIGN_OR_RETURN(auto inner, inner_.open(path, mode));
  std::lock_guard lock(mu_);
  return std::make_unique<FaultFile>(this, std::move(inner), epoch_);
}

Result<bool> FaultFileSystem::exists(const std::string& path) {
  WHARF_RETURN_IF_ERROR(check_alive());
  return inner_.exists(path);
}

Result<std::vector<std::string>> FaultFileSystem::list_dir(const std::string& dir) {
  WHARF_RETURN_IF_ERROR(check_alive());
  return inner_.list_dir(dir);
}

Status FaultFileSystem::create_dirs(const std::string& dir) {
  WHARF_RETURN_IF_ERROR(check_alive());
  return inner_.create_dirs(dir);
}

Status FaultFileSystem::remove(const std::string& path) {
  WHARF_RETURN_IF_ERROR(check_alive());
  return inner_.remove(path);
}

Status FaultFileSystem::remove_all(const std::string& path) {
  WHARF_RETURN_IF_ERROR(check_alive());
  return inner_.remove_all(path);
}

Status FaultFileSystem::rename(const std::string& from, const std::string& to) {
  WHARF_ASSIGN_OR_RETURN(bool inject, admit(renames_, rename_countdown_));
  if (inject)
    return fail(ErrorCode::kIoError, "rename {} to {}: injected rename failure", from, to);
  return inner_.rename(from, to);
}

Status FaultFileSystem::sync_dir(const std::string& dir) {
  WHARF_ASSIGN_OR_RETURN(bool inject, admit(sync_dirs_, sync_dir_countdown_));
  if (inject) return fail(ErrorCode::kIoError, "sync_dir {}: injected directory sync failure", dir);
  return inner_.sync_dir(dir);
}

void FaultFileSystem::fail_nth_write(std::uint64_t n, ErrorCode code) {
  WHARF_CHECK(n >= 1, "fail_nth_write counts from 1");
  std::lock_guard lock(mu_);
  write_countdown_.remaining = n;
  write_plan_ = {.kind = WriteFault::kFail, .code = code, .keep_bytes = 0};
}

void FaultFileSystem::short_write_nth(std::uint64_t n, std::size_t keep_bytes) {
  WHARF_CHECK(n >= 1, "short_write_nth counts from 1");
  std::lock_guard lock(mu_);
  write_countdown_.remaining = n;
  write_plan_ = {.kind = WriteFault::kShort, .code = ErrorCode::kIoError, .keep_bytes = keep_bytes};
}

void FaultFileSystem::tear_nth_write(std::uint64_t n, std::size_t keep_bytes) {
  WHARF_CHECK(n >= 1, "tear_nth_write counts from 1");
  std::lock_guard lock(mu_);
  write_countdown_.remaining = n;
  write_plan_ = {.kind = WriteFault::kTear, .code = ErrorCode::kIoError, .keep_bytes = keep_bytes};
}

void FaultFileSystem::hold_syncs() {
  std::lock_guard lock(mu_);
  syncs_held_ = true;
}

void FaultFileSystem::release_syncs() {
  {
    std::lock_guard lock(mu_);
    syncs_held_ = false;
  }
  sync_released_.notify_all();
}

std::uint64_t FaultFileSystem::syncs_waiting() const {
  std::lock_guard lock(mu_);
  return syncs_waiting_;
}

void FaultFileSystem::wait_while_held() {
  std::unique_lock lock(mu_);
  if (!syncs_held_) return;
  ++syncs_waiting_;
  sync_released_.wait(lock, [this] { return !syncs_held_; });
  --syncs_waiting_;
}

void FaultFileSystem::fail_nth_sync(std::uint64_t n) {
  WHARF_CHECK(n >= 1, "fail_nth_sync counts from 1");
  std::lock_guard lock(mu_);
  sync_countdown_.remaining = n;
}

void FaultFileSystem::fail_nth_sync_dir(std::uint64_t n) {
  WHARF_CHECK(n >= 1, "fail_nth_sync_dir counts from 1");
  std::lock_guard lock(mu_);
  sync_dir_countdown_.remaining = n;
}

void FaultFileSystem::fail_nth_rename(std::uint64_t n) {
  WHARF_CHECK(n >= 1, "fail_nth_rename counts from 1");
  std::lock_guard lock(mu_);
  rename_countdown_.remaining = n;
}

void FaultFileSystem::fail_nth_open(std::uint64_t n) {
  WHARF_CHECK(n >= 1, "fail_nth_open counts from 1");
  std::lock_guard lock(mu_);
  open_countdown_.remaining = n;
}

void FaultFileSystem::clear_faults() {
  std::lock_guard lock(mu_);
  write_countdown_ = {};
  sync_countdown_ = {};
  sync_dir_countdown_ = {};
  rename_countdown_ = {};
  open_countdown_ = {};
}

bool FaultFileSystem::dead() const {
  std::lock_guard lock(mu_);
  return dead_;
}

void FaultFileSystem::revive() {
  std::lock_guard lock(mu_);
  dead_ = false;
  ++epoch_;
}

std::uint64_t FaultFileSystem::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

std::uint64_t FaultFileSystem::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}

std::uint64_t FaultFileSystem::sync_dirs() const {
  std::lock_guard lock(mu_);
  return sync_dirs_;
}

std::uint64_t FaultFileSystem::renames() const {
  std::lock_guard lock(mu_);
  return renames_;
}

std::uint64_t FaultFileSystem::opens() const {
  std::lock_guard lock(mu_);
  return opens_;
}

}  // namespace wharf::io
