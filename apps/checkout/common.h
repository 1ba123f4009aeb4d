// Helpers the checkout commands share: durations on the command line, group latencies, the
// scratch directory rule, and histograms saved to JSON between processes.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <wharf/result.h>
#include <wharf/sql.h>
#include <nlohmann/json.hpp>

#include "histogram.h"
#include "model.h"

namespace wharf::checkout {

// "20ms", "500us", "1s", or a bare number of milliseconds.
Result<std::chrono::microseconds> parse_duration(const std::string& text);
// Applies GROUP=DURATION latencies to `groups`; kInvalidArgument for an unknown group.
Status apply_latencies(const std::vector<std::string>& specs, std::vector<GroupSpec>& groups);
// Raises the soft open-file limit to the hard one (many connections in one process).
void raise_fd_limit();
// A scratch directory of this program's: created when missing, emptied when it carries our
// marker, refused (kAlreadyExists) when it holds anything else.
Status fresh_dir(const std::filesystem::path& dir);
// The non-empty buckets as [[index, count], ...], and back (added to `into`).
nlohmann::json histogram_json(const LatencyHistogram::Snapshot& s);
Status add_histogram_json(const nlohmann::json& j, LatencyHistogram& into);
// The single integer a query like "SELECT count(*) FROM t" returns, in its own transaction.
Result<std::int64_t> query_count(sql::Database& db, std::string_view query);
// Writes `text` to `path` through a temporary file and a rename (readers never see half).
Status write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace wharf::checkout
