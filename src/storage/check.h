// Offline verification of a data directory (what `wharf check-data` runs): every batch's CRC
// and offset chain, every index and time-index entry, every producer snapshot, topic metadata
// and clean-shutdown markers. Read-only: it opens files for reading and never repairs, so it
// can run against a copy, a stopped broker's directory or a crashed one. Single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "io/file_system.h"

namespace wharf::storage {

struct Problem {
  std::string file;
  std::uint64_t position = 0;
  std::string what;
};

struct CheckReport {
  std::vector<Problem> problems;
  std::int64_t topics = 0;
  std::int64_t partitions = 0;
  std::int64_t segments = 0;
  std::int64_t batches = 0;
  std::uint64_t log_bytes = 0;
};

// Checks one partition directory; appends what it finds to `report`.
[[nodiscard]] Status check_partition_dir(io::FileSystem& fs, const std::string& dir,
                                         CheckReport& report);
// Checks <data_dir>/topics/*: metadata and every partition. `progress` (may be empty) is called
// with each partition directory before it is checked.
[[nodiscard]] Result<CheckReport> check_data_dir(
    io::FileSystem& fs, const std::string& data_dir,
    const std::function<void(const std::string&)>& progress = {});

}  // namespace wharf::storage
