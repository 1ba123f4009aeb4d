#include "io/posix_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <string_view>

namespace wharf::io {
namespace {

constexpr mode_t kFileMode = 0644;
constexpr mode_t kDirMode = 0755;

// Repeats a system call that a signal interrupted before it did anything (-1 with EINTR).
template <typename Call>
auto retry_on_eintr(Call call) {
  for (;;) {
    auto rc = call();
    if (rc != -1 || errno != EINTR) return rc;
  }
}

int open_flags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kReadOnly:
      return O_RDONLY;
    case OpenMode::kReadWrite:
      return O_RDWR;
    case OpenMode::kCreate:
      return O_RDWR | O_CREAT;
    case OpenMode::kCreateExclusive:
      return O_RDWR | O_CREAT | O_EXCL;
    case OpenMode::kTruncate:
      return O_RDWR | O_CREAT | O_TRUNC;
  }
  WHARF_CHECK(false, "unknown OpenMode {}", static_cast<int>(mode));
  return O_RDONLY;
}

// pread/pwrite take an off_t; positions past its range cannot exist on disk.
Status check_range(const std::string& path, std::uint64_t position, std::size_t length) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
  if (position > kMax || length > kMax - position) {
    return fail(ErrorCode::kInvalidArgument, "{}: position {} + {} bytes is out of range", path,
                position, length);
  }
  return ok();
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path, std::uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  // Nothing to learn from close(): durability comes only from sync(), and Linux releases the
  // descriptor even when close reports an error, so it must not be retried.
  ~PosixFile() override { ::close(fd_); }

  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Result<std::size_t> read_at(FilePosition position, MutableByteView dst) override {
    WHARF_RETURN_IF_ERROR(check_range(path_, position.value(), dst.size()));
    std::size_t done = 0;
    while (done < dst.size()) {
      const std::uint64_t at = position.value() + done;
      ssize_t n = retry_on_eintr([&] {
        return ::pread(fd_, dst.data() + done, dst.size() - done, static_cast<off_t>(at));
      });
      if (n < 0) return fail(errno_error(errno, fmt::format("pread {} at {}", path_, at)));
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Status write_at(FilePosition position, ByteView src) override {
    WHARF_RETURN_IF_ERROR(check_range(path_, position.value(), src.size()));
    std::size_t done = 0;
    while (done < src.size()) {
      const std::uint64_t at = position.value() + done;
      ssize_t n = retry_on_eintr([&] {
        return ::pwrite(fd_, src.data() + done, src.size() - done, static_cast<off_t>(at));
      });
      if (n < 0) return fail(errno_error(errno, fmt::format("pwrite {} at {}", path_, at)));
      // pwrite returns 0 only for a zero-length request; anything else would loop forever.
      if (n == 0) return fail(ErrorCode::kIoError, "pwrite {} at {}: wrote nothing", path_, at);
      done += static_cast<std::size_t>(n);
      // Bytes that reached the file count towards its size even if a later chunk fails.
      size_.store(std::max(size_.load(), at + static_cast<std::uint64_t>(n)));
    }
    return ok();
  }

  Status append(ByteView src) override { return write_at(FilePosition(size_.load()), src); }

  Result<std::uint64_t> size() override { return size_.load(); }

  Status truncate(std::uint64_t size) override {
    WHARF_RETURN_IF_ERROR(check_range(path_, size, 0));
    int rc = retry_on_eintr([&] { return ::ftruncate(fd_, static_cast<off_t>(size)); });
    if (rc != 0) return fail(errno_error(errno, fmt::format("ftruncate {} to {}", path_, size)));
    size_.store(size);
    return ok();
  }

  // Not retried on any error, EINTR included: after a failed fdatasync the kernel may already
  // have dropped the dirty pages, so a second call could report success for lost data.
  Status sync() override {
    if (::fdatasync(fd_) != 0) return fail(errno_error(errno, fmt::format("fdatasync {}", path_)));
    return ok();
  }

  const std::string& path() const override { return path_; }

 private:
  const int fd_;
  const std::string path_;
  // Written only by the file's single writer; read by any thread calling size() or append().
  std::atomic<std::uint64_t> size_;
};

}  // namespace

Result<std::unique_ptr<File>> PosixFileSystem::open(const std::string& path, OpenMode mode) {
  int fd =
      retry_on_eintr([&] { return ::open(path.c_str(), open_flags(mode) | O_CLOEXEC, kFileMode); });
  if (fd < 0) return fail(errno_error(errno, fmt::format("open {}", path)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(errno_error(err, fmt::format("fstat {}", path)));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail(ErrorCode::kInvalidArgument, "open {}: is a directory", path);
  }
  return std::make_unique<PosixFile>(fd, path, static_cast<std::uint64_t>(st.st_size));
}

Result<bool> PosixFileSystem::exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return fail(errno_error(errno, fmt::format("stat {}", path)));
}

Result<std::vector<std::string>> PosixFileSystem::list_dir(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
  if (!d) return fail(errno_error(errno, fmt::format("opendir {}", dir)));
  std::vector<std::string> names;
  for (;;) {
    errno = 0;  // readdir returns null both at the end and on error; only errno tells them apart
    const dirent* entry = ::readdir(d.get());
    if (entry == nullptr) break;
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  if (errno != 0) return fail(errno_error(errno, fmt::format("readdir {}", dir)));
  std::sort(names.begin(), names.end());
  return names;
}

Status PosixFileSystem::create_dirs(const std::string& dir) {
  if (dir.empty()) return fail(ErrorCode::kInvalidArgument, "create_dirs: empty path");
  // mkdir each prefix ending before a '/', then the whole path: "a/b/c" -> "a", "a/b", "a/b/c".
  std::size_t end = 0;
  do {
    end = dir.find('/', end + 1);
    const std::string prefix = dir.substr(0, end);
    if (::mkdir(prefix.c_str(), kDirMode) == 0) continue;
    if (errno != EEXIST) return fail(errno_error(errno, fmt::format("mkdir {}", prefix)));
    struct stat st {};
    if (::stat(prefix.c_str(), &st) != 0) {
      return fail(errno_error(errno, fmt::format("stat {}", prefix)));
    }
    if (!S_ISDIR(st.st_mode)) {
      return fail(ErrorCode::kAlreadyExists, "create_dirs {}: {} is not a directory", dir, prefix);
    }
  } while (end != std::string::npos);
  return ok();
}

Status PosixFileSystem::remove(const std::string& path) {
  // std::remove is unlink, or rmdir when the path is a directory.
  if (std::remove(path.c_str()) != 0)
    return fail(errno_error(errno, fmt::format("remove {}", path)));
  return ok();
}

Status PosixFileSystem::remove_all(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ok();
    return fail(errno_error(errno, fmt::format("lstat {}", path)));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0)
      return fail(errno_error(errno, fmt::format("unlink {}", path)));
    return ok();
  }
  // Recursion depth is the depth of the tree, which the path length limit bounds.
  WHARF_ASSIGN_OR_RETURN(auto names, list_dir(path));
  for (const auto& name : names) WHARF_RETURN_IF_ERROR(remove_all(join_path(path, name)));
  if (::rmdir(path.c_str()) != 0) return fail(errno_error(errno, fmt::format("rmdir {}", path)));
  return ok();
}

Status PosixFileSystem::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail(errno_error(errno, fmt::format("rename {} to {}", from, to)));
  }
  return ok();
}

Status PosixFileSystem::sync_dir(const std::string& dir) {
  int fd = retry_on_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) return fail(errno_error(errno, fmt::format("open directory {}", dir)));
  // Like File::sync, never retried (see there).
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail(errno_error(err, fmt::format("fsync directory {}", dir)));
  return ok();
}

std::unique_ptr<FileSystem> make_posix_file_system() { return std::make_unique<PosixFileSystem>(); }

}  // namespace wharf::io
