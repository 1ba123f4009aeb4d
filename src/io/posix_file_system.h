// PosixFileSystem: the FileSystem on the real disk (Linux open/pread/pwrite/fdatasync, fsync on
// directory descriptors). Stateless and safe to share between threads; usually one per process,
// owned by whoever wires the broker together. Its Files own one descriptor each (O_CLOEXEC).
//
// Durability is exactly the kernel's: File::sync() is fdatasync and sync_dir() is fsync on the
// directory. A failed sync is reported once and never retried here (see file_system.h).
//
// A File keeps its size cached (read once at open, then moved by its own writes and truncates)
// so append() writes at the end without a stat per call. That assumes one writer per file: a
// file changed through another handle or process is not seen by the cached size.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/file_system.h"

namespace wharf::io {

class PosixFileSystem final : public FileSystem {
 public:
  [[nodiscard]] Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  [[nodiscard]] Result<bool> exists(const std::string& path) override;
  [[nodiscard]] Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  [[nodiscard]] Status create_dirs(const std::string& dir) override;
  [[nodiscard]] Status remove(const std::string& path) override;
  // Succeeds if `path` does not exist. Does not follow symbolic links.
  [[nodiscard]] Status remove_all(const std::string& path) override;
  [[nodiscard]] Status rename(const std::string& from, const std::string& to) override;
  [[nodiscard]] Status sync_dir(const std::string& dir) override;
};

std::unique_ptr<FileSystem> make_posix_file_system();

}  // namespace wharf::io
