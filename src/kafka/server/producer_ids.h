// Allocates idempotent-producer ids that are unique across restarts. Ids are handed out from
// blocks; the end of the current block is persisted (atomically, synced) before any id of the
// block is returned, so a crash can skip ids but never reuse one. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "base/ids.h"
#include "base/result.h"
#include "io/file_system.h"

namespace wharf::kafka {

class ProducerIdAllocator {
 public:
  static constexpr std::int64_t kBlockSize = 1000;

  // Reads <data_dir>/producer_ids (absent: start at 0).
  [[nodiscard]] static Result<std::unique_ptr<ProducerIdAllocator>> open(io::FileSystem& fs,
                                                                         std::string data_dir);
  [[nodiscard]] Result<ProducerId> next();

 private:
  ProducerIdAllocator(io::FileSystem& fs, std::string path, std::int64_t start)
      : fs_(fs), path_(std::move(path)), next_(start), block_end_(start) {}

  io::FileSystem& fs_;
  const std::string path_;
  std::mutex mu_;
  std::int64_t next_;
  std::int64_t block_end_;  // persisted: no id at or above it has been handed out
};

}  // namespace wharf::kafka
