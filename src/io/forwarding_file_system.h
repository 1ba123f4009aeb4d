// ForwardingFile and ForwardingFileSystem: pass every call to another File / FileSystem, so a
// wrapper that watches or holds some calls (a test's read gate, a benchmark's I/O counters)
// overrides only those. The inner object must outlive the wrapper.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/file_system.h"

namespace wharf::io {

class ForwardingFile : public File {
 public:
  explicit ForwardingFile(std::unique_ptr<File> inner) : inner_(std::move(inner)) {}

  Result<std::size_t> read_at(FilePosition position, MutableByteView dst) override {
    return inner_->read_at(position, dst);
  }
  Status write_at(FilePosition position, ByteView src) override {
    return inner_->write_at(position, src);
  }
  Status append(ByteView src) override { return inner_->append(src); }
  Result<std::uint64_t> size() override { return inner_->size(); }
  Status truncate(std::uint64_t size) override { return inner_->truncate(size); }
  Status sync() override { return inner_->sync(); }
  const std::string& path() const override { return inner_->path(); }

 protected:
  File& inner() { return *inner_; }

 private:
  std::unique_ptr<File> inner_;
};

class ForwardingFileSystem : public FileSystem {
 public:
  explicit ForwardingFileSystem(FileSystem& inner) : inner_(inner) {}

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override {
    return inner_.open(path, mode);
  }
  Result<bool> exists(const std::string& path) override { return inner_.exists(path); }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    return inner_.list_dir(dir);
  }
  Status create_dirs(const std::string& dir) override { return inner_.create_dirs(dir); }
  Status remove(const std::string& path) override { return inner_.remove(path); }
  Status remove_all(const std::string& path) override { return inner_.remove_all(path); }
  Status rename(const std::string& from, const std::string& to) override {
    return inner_.rename(from, to);
  }
  Status sync_dir(const std::string& dir) override { return inner_.sync_dir(dir); }

 protected:
  FileSystem& inner() { return inner_; }

 private:
  FileSystem& inner_;
};

}  // namespace wharf::io
