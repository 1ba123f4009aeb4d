// Offline repair of a partition that recovery refused (what `wharf repair` runs): cut the log at
// a named position — the start of the damaged batch that the refusal named — and keep every cut
// byte in a side directory, <data_dir>/repair/<topic>/<partition>/, so nothing is destroyed.
// Later segments of the partition are moved there whole (their offsets would no longer follow
// on). The broker must be stopped. Single-threaded; every step is synced before the next, and
// the side copy is made before anything is cut.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "io/file_system.h"

namespace wharf::storage {

struct RepairPlan {
  std::string partition_dir;
  std::string log_path;                  // the segment cut at `position`
  std::uint64_t position = 0;            // a batch boundary: every batch before it is intact
  std::uint64_t cut_bytes = 0;           // bytes of that segment from `position` on
  std::int64_t batches_kept = 0;         // intact batches before `position` in that segment
  Offset log_end_after;                  // the partition's log end offset after the cut
  std::vector<std::string> later_files;  // whole files of later segments, moved aside
  std::uint64_t later_bytes = 0;
  std::string side_dir;  // where cut bytes and moved files go
};

// Checks that `log_path` is a segment under <data_dir>/topics and that `position` is the end
// of its intact prefix or a batch boundary inside it; describes what a cut there would do.
// Changes nothing.
[[nodiscard]] Result<RepairPlan> plan_repair(io::FileSystem& fs, const std::string& data_dir,
                                             const std::string& log_path, std::uint64_t position);

// Carries out a plan: copies the cut bytes to the side directory, moves later segments there,
// truncates the segment, and drops its indexes and the clean-shutdown marker so that the next
// start rebuilds them with a full recovery.
[[nodiscard]] Status apply_repair(io::FileSystem& fs, const RepairPlan& plan);

}  // namespace wharf::storage
