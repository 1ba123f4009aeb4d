// FileSystem and File: every byte the storage engine reads or writes goes through these two
// small interfaces (LevelDB's Env idea), so that tests can swap in an in-memory file system that
// models what survives a crash, and a fault-injecting wrapper that fails or tears writes.
//
// Implementations: PosixFileSystem (the real disk), MemoryFileSystem (crash model: only synced
// bytes and synced directory entries survive `crash()`), FaultFileSystem (wraps another and
// injects failures). A File may be used from several threads at once for positional reads;
// writes to one File are serialised by its owner (the partition). Paths are plain strings,
// '/'-separated.
//
// Durability contract (what callers rely on):
// - File::sync() makes the file's data and size durable (fdatasync), not its directory entry.
// - FileSystem::sync_dir(dir) makes creates, renames and removes inside `dir` durable.
// - A failed sync leaves the durable state unknown; callers never retry it (fsyncgate).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/ids.h"
#include "base/result.h"

namespace wharf::io {

enum class OpenMode {
  kReadOnly,         // must exist
  kReadWrite,        // must exist
  kCreate,           // read-write; created empty if missing, kept if present
  kCreateExclusive,  // read-write; fails with kAlreadyExists if present
  kTruncate,         // read-write; created if missing, emptied if present
};

class File {
 public:
  virtual ~File() = default;

  // Reads up to dst.size() bytes at `position`; returns how many were read (fewer only at end
  // of file).
  [[nodiscard]] virtual Result<std::size_t> read_at(FilePosition position, MutableByteView dst) = 0;
  // Writes all of `src` at `position` (extending the file if needed). A short write is an error.
  [[nodiscard]] virtual Status write_at(FilePosition position, ByteView src) = 0;
  // Appends all of `src` at the current end of the file.
  [[nodiscard]] virtual Status append(ByteView src) = 0;
  [[nodiscard]] virtual Result<std::uint64_t> size() = 0;
  [[nodiscard]] virtual Status truncate(std::uint64_t size) = 0;
  // Makes data and size durable (fdatasync).
  [[nodiscard]] virtual Status sync() = 0;
  virtual const std::string& path() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  [[nodiscard]] virtual Result<std::unique_ptr<File>> open(const std::string& path,
                                                           OpenMode mode) = 0;
  [[nodiscard]] virtual Result<bool> exists(const std::string& path) = 0;
  // Names (not paths) of the entries in `dir`, sorted, without "." and "..".
  [[nodiscard]] virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  // Creates `dir` and any missing parents; succeeds if it exists.
  [[nodiscard]] virtual Status create_dirs(const std::string& dir) = 0;
  // Removes a file or an empty directory.
  [[nodiscard]] virtual Status remove(const std::string& path) = 0;
  // Removes a directory and everything below it.
  [[nodiscard]] virtual Status remove_all(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (both in the same directory for our uses).
  [[nodiscard]] virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Makes the directory's entries durable (fsync on the directory).
  [[nodiscard]] virtual Status sync_dir(const std::string& dir) = 0;
};

// Reads exactly dst.size() bytes at `position`, or fails with kCorruption naming the file.
[[nodiscard]] Status read_exact(File& file, FilePosition position, MutableByteView dst);

// Reads a whole file into memory (small files only: metadata, checkpoints). A file larger than
// `bytes_max` fails with kCorruption before anything is allocated: what a disk holds is not
// trusted to be the size its writer meant.
[[nodiscard]] Result<Bytes> read_file(FileSystem& fs, const std::string& path,
                                      std::size_t bytes_max);

// Writes `contents` to `path` atomically and durably: write `path.tmp`, sync it, rename over
// `path`, sync the directory. After a crash `path` holds either the old or the new contents.
[[nodiscard]] Status write_file_atomic(FileSystem& fs, const std::string& path, ByteView contents);

// Creates `dir` and any missing parents, syncing each new directory's parent so the whole
// path survives a crash.
[[nodiscard]] Status create_dirs_durable(FileSystem& fs, const std::string& dir);

// "a/b" + "c" -> "a/b/c"; parent_dir("a/b/c") -> "a/b".
std::string join_path(std::string_view dir, std::string_view name);
std::string parent_dir(std::string_view path);

}  // namespace wharf::io
