#include "common.h"

#include <sys/resource.h>

#include <fstream>

namespace wharf::checkout {

namespace fs = std::filesystem;

Result<std::chrono::microseconds> parse_duration(const std::string& text) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    const std::string unit = text.substr(used);
    double us = 0;
    if (unit.empty() || unit == "ms") {
      us = v * 1000;
    } else if (unit == "us") {
      us = v;
    } else if (unit == "s") {
      us = v * 1e6;
    } else {
      return fail(ErrorCode::kInvalidArgument, "unknown unit in '{}' (us, ms, s)", text);
    }
    if (!(us >= 0) || us > 3.6e9)
      return fail(ErrorCode::kInvalidArgument, "duration '{}' is out of range", text);
    return std::chrono::microseconds(static_cast<std::int64_t>(us));
  } catch (const std::exception&) {
    return fail(ErrorCode::kInvalidArgument, "'{}' is not a duration", text);
  }
}

Status apply_latencies(const std::vector<std::string>& specs, std::vector<GroupSpec>& groups) {
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "'{}' is not GROUP=DURATION", spec);
    const std::string name = spec.substr(0, eq);
    WHARF_ASSIGN_OR_RETURN(auto d, parse_duration(spec.substr(eq + 1)));
    bool found = false;
    for (auto& g : groups) {
      if (g.name == name) {
        g.work.latency = d;
        found = true;
      }
    }
    if (!found) return fail(ErrorCode::kInvalidArgument, "no consumer group '{}'", name);
  }
  return ok();
}

void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

Status fresh_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    if (!fs::exists(dir / ".wharf-checkout", ec))
      return fail(ErrorCode::kAlreadyExists,
                  "{} exists and was not made by wharf-checkout: choose another --data-dir",
                  dir.string());
    fs::remove_all(dir, ec);
    if (ec) return fail(ErrorCode::kIoError, "cannot empty {}: {}", dir.string(), ec.message());
  }
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot create {}: {}", dir.string(), ec.message());
  std::ofstream(dir / ".wharf-checkout") << "scratch directory of wharf-checkout\n";
  return ok();
}

nlohmann::json histogram_json(const LatencyHistogram::Snapshot& s) {
  nlohmann::json out = nlohmann::json::array();
  if (s.count() == 0) return out;
  for (std::size_t i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    if (const auto n = s.bucket_count(i); n > 0) out.push_back({i, n});
  }
  return out;
}

Status add_histogram_json(const nlohmann::json& j, LatencyHistogram& into) {
  if (!j.is_array()) return fail(ErrorCode::kInvalidArgument, "a histogram is an array");
  for (const auto& entry : j) {
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_number_unsigned() ||
        !entry[1].is_number_unsigned())
      return fail(ErrorCode::kInvalidArgument, "a histogram entry is [index, count]");
    const auto index = entry[0].get<std::size_t>();
    if (index >= LatencyHistogram::kBucketCount)
      return fail(ErrorCode::kInvalidArgument, "histogram bucket {} out of range", index);
    const std::int64_t mid =
        LatencyHistogram::bucket_lower(index) +
        (LatencyHistogram::bucket_upper(index) - LatencyHistogram::bucket_lower(index)) / 2;
    into.record(mid, entry[1].get<std::uint64_t>());
  }
  return ok();
}

Result<std::int64_t> query_count(sql::Database& db, std::string_view query) {
  std::int64_t n = 0;
  WHARF_RETURN_IF_ERROR(db.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(auto rows, tx.query(query));
    WHARF_ASSIGN_OR_RETURN(n, rows.scalar<std::int64_t>());
    return ok();
  }));
  return n;
}

Status write_file_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return fail(ErrorCode::kIoError, "cannot write {}", tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot rename {}: {}", tmp.string(), ec.message());
  return ok();
}

}  // namespace wharf::checkout
