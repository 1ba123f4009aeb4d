// MemoryFileSystem: an in-memory FileSystem that models what survives a crash, for tests. Owned
// by the test; thread-safe (one mutex guards the whole tree and every File it opened). It must
// outlive the Files it opened.
//
// The crash model, precisely:
// - A file (inode) has `current` bytes, which reads see, and `durable` bytes, which survive a
//   crash. File::sync() copies current to durable (data and size together).
// - A directory has `current` entries (name -> inode), which lookups and list_dir see, and
//   `durable` entries. open-with-create, create_dirs, rename, remove and remove_all change only
//   current entries; sync_dir(dir) copies that one directory's current entries to durable. A
//   directory made by create_dirs is an entry of its parent like any file.
// - crash() throws away everything not durable: every directory's entries become its durable
//   entries and every file's bytes its durable bytes. So a file whose parent was never synced
//   vanishes, an unsynced rename or remove is undone, unsynced appends are lost. Files opened
//   before the crash are dead: every call on them fails with kIoError.
// - The root directory always exists. A removed file stays readable and writable through the
//   handles already open on it, as on POSIX.
// Paths are '/'-separated; a leading '/' is optional ("/a/b" and "a/b" name the same file), "."
// components are ignored and ".." is refused.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/file_system.h"

namespace wharf::io {

class MemoryFileSystem final : public FileSystem {
 public:
  static constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();
  // Keeps a stray huge position from allocating the machine away; no test needs bigger files.
  static constexpr std::uint64_t kFileBytesMax = std::uint64_t{1} << 30;

  MemoryFileSystem();
  ~MemoryFileSystem() override;
  MemoryFileSystem(const MemoryFileSystem&) = delete;
  MemoryFileSystem& operator=(const MemoryFileSystem&) = delete;

  [[nodiscard]] Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  [[nodiscard]] Result<bool> exists(const std::string& path) override;
  [[nodiscard]] Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  [[nodiscard]] Status create_dirs(const std::string& dir) override;
  [[nodiscard]] Status remove(const std::string& path) override;
  // Succeeds if `path` does not exist.
  [[nodiscard]] Status remove_all(const std::string& path) override;
  [[nodiscard]] Status rename(const std::string& from, const std::string& to) override;
  [[nodiscard]] Status sync_dir(const std::string& dir) override;

  // Loses everything not durable (see the model above) and kills every open File.
  void crash();
  // Makes the whole current state durable, as if every file and directory had been synced.
  void sync_everything();

  // What `path` would hold after crash(): followed through durable entries, durable bytes.
  [[nodiscard]] Result<Bytes> durable_contents(const std::string& path);

  // Writes that would take the total size of all files past `capacity_bytes` fail with
  // kNoSpace and write nothing. kUnlimited (the default) turns the limit off.
  void set_capacity_bytes(std::uint64_t capacity_bytes);
  // Total current size of the files reachable from the root.
  std::uint64_t used_bytes() const;

  std::uint64_t sync_count() const;      // successful File::sync calls
  std::uint64_t sync_dir_count() const;  // successful sync_dir calls
  std::uint64_t bytes_written() const;   // bytes accepted by write_at and append

 private:
  struct Node;
  class MemoryFile;

  // Everything below REQUIRES: mu_ held.
  Node* lookup(const std::vector<std::string>& parts, std::size_t depth, bool durable) const;
  Result<Node*> parent_dir_of(const std::vector<std::string>& parts, const std::string& path);
  std::uint64_t used_bytes_locked() const;
  Status resize_file(Node& file, std::uint64_t new_size, const std::string& path);

  mutable std::mutex mu_;
  std::shared_ptr<Node> root_;
  std::uint64_t generation_ = 0;  // bumped by crash(); Files from older generations are dead
  std::uint64_t capacity_bytes_ = kUnlimited;
  std::uint64_t sync_count_ = 0;
  std::uint64_t sync_dir_count_ = 0;
  std::uint64_t bytes_written_ = 0;
};

}  // namespace wharf::io
