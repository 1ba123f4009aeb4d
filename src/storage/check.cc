#include "storage/check.h"

#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "storage/index.h"
#include "storage/limits.h"
#include "storage/producer_state.h"
#include "storage/record_batch.h"
#include "storage/segment.h"

namespace wharf::storage {
namespace {

struct BatchAt {
  Offset base_offset;
  std::int64_t max_timestamp_so_far;
};

struct SegmentScan {
  Offset base;
  Offset next;
  std::map<std::uint64_t, BatchAt> batches;  // position -> batch
};

// Reads a .log file in chunks and checks each batch; records problems, never stops early
// except where the chain cannot be followed any further.
Result<SegmentScan> scan_log(io::FileSystem& fs, const std::string& path, Offset base,
                             CheckReport& report) {
  SegmentScan scan{base, base, {}};
  WHARF_ASSIGN_OR_RETURN(auto file, fs.open(path, io::OpenMode::kReadOnly));
  WHARF_ASSIGN_OR_RETURN(std::uint64_t size, file->size());
  report.log_bytes += size;
  std::uint64_t pos = 0;
  std::int64_t max_ts = -1;
  std::array<std::byte, batch_layout::kHeaderBytes> raw;
  Bytes batch;
  while (pos < size) {
    if (size - pos < batch_layout::kHeaderBytes) {
      report.problems.push_back(
          {path, pos,
           fmt::format(
               "{} trailing bytes, too few for a batch header (a torn tail recovery would cut)",
               size - pos)});
      break;
    }
    WHARF_RETURN_IF_ERROR(io::read_exact(*file, FilePosition(pos), raw));
    auto h = parse_header(raw);
    if (!h) {
      report.problems.push_back({path, pos, "bad batch header: " + h.error().message()});
      break;
    }
    if (h->total_bytes() > kBatchBytesHardMax || pos + h->total_bytes() > size) {
      report.problems.push_back(
          {path, pos,
           fmt::format("batch of {} bytes runs past the end of the file ({} bytes)",
                       h->total_bytes(), size)});
      break;
    }
    batch.resize(h->total_bytes());
    WHARF_RETURN_IF_ERROR(io::read_exact(*file, FilePosition(pos), batch));
    if (auto c = check_batch_crc(batch); !c) {
      report.problems.push_back({path, pos, c.error().message()});
    }
    if (h->base_offset != scan.next) {
      report.problems.push_back(
          {path, pos,
           fmt::format("batch has base offset {}, expected {}", h->base_offset, scan.next)});
    }
    max_ts = std::max(max_ts, h->max_timestamp);
    scan.batches.emplace(pos, BatchAt{h->base_offset, max_ts});
    report.batches++;
    scan.next = h->next_offset();
    pos += h->total_bytes();
  }
  return scan;
}

void check_offset_index(io::FileSystem& fs, const std::string& path, const SegmentScan& scan,
                        CheckReport& report) {
  auto file = fs.open(path, io::OpenMode::kReadOnly);
  if (!file) {
    report.problems.push_back(
        {path, 0, "missing (recovery rebuilds it): " + file.error().message()});
    return;
  }
  OffsetIndex index;
  if (auto s = index.load(**file, index_entries_max()); !s) {
    report.problems.push_back({path, 0, s.error().message()});
    return;
  }
  for (std::size_t i = 0; i < index.entries().size(); ++i) {
    const auto& e = index.entries()[i];
    auto it = scan.batches.find(e.position);
    if (it == scan.batches.end() || it->second.base_offset != scan.base + e.relative_offset) {
      report.problems.push_back(
          {path, i * kOffsetIndexEntryBytes,
           fmt::format("entry {} (offset {}, position {}) does not point at that batch", i,
                       scan.base + e.relative_offset, e.position)});
    }
  }
}

void check_time_index(io::FileSystem& fs, const std::string& path, const SegmentScan& scan,
                      CheckReport& report) {
  auto file = fs.open(path, io::OpenMode::kReadOnly);
  if (!file) {
    report.problems.push_back(
        {path, 0, "missing (recovery rebuilds it): " + file.error().message()});
    return;
  }
  TimeIndex index;
  if (auto s = index.load(**file, index_entries_max()); !s) {
    report.problems.push_back({path, 0, s.error().message()});
    return;
  }
  std::map<Offset, std::int64_t> max_at;
  for (const auto& [_, b] : scan.batches) max_at[b.base_offset] = b.max_timestamp_so_far;
  for (std::size_t i = 0; i < index.entries().size(); ++i) {
    const auto& e = index.entries()[i];
    auto it = max_at.find(scan.base + e.relative_offset);
    if (it == max_at.end() || it->second != e.timestamp_ms) {
      report.problems.push_back(
          {path, i * kTimeIndexEntryBytes,
           fmt::format("entry {} (timestamp {}, offset {}) does not match the log", i,
                       e.timestamp_ms, scan.base + e.relative_offset)});
    }
  }
}

std::optional<Offset> parse_base(const std::string& name) {
  std::int64_t v = 0;
  if (name.size() < 21 || name[20] != '.') return std::nullopt;
  auto [p, ec] = std::from_chars(name.data(), name.data() + 20, v);
  if (ec != std::errc() || p != name.data() + 20) return std::nullopt;
  return Offset(v);
}

}  // namespace

Status check_partition_dir(io::FileSystem& fs, const std::string& dir, CheckReport& report) {
  report.partitions++;
  WHARF_ASSIGN_OR_RETURN(auto names, fs.list_dir(dir));
  std::vector<Offset> logs;
  for (const auto& n : names) {
    auto base = parse_base(n);
    if (base && n.ends_with(".log")) logs.push_back(*base);
  }
  std::sort(logs.begin(), logs.end());
  std::optional<Offset> expected;
  Offset log_end(0);
  for (Offset base : logs) {
    report.segments++;
    const std::string log_path = io::join_path(dir, segment_file_name(base, ".log"));
    if (expected && *expected != base) {
      report.problems.push_back(
          {log_path, 0,
           fmt::format("segment starts at offset {} but the previous one ends at {}", base,
                       *expected)});
    }
    WHARF_ASSIGN_OR_RETURN(SegmentScan scan, scan_log(fs, log_path, base, report));
    check_offset_index(fs, io::join_path(dir, segment_file_name(base, ".index")), scan, report);
    check_time_index(fs, io::join_path(dir, segment_file_name(base, ".timeindex")), scan, report);
    expected = scan.next;
    log_end = scan.next;
  }
  for (const auto& n : names) {
    const std::string path = io::join_path(dir, n);
    auto base = parse_base(n);
    if (base && n.ends_with(".snapshot")) {
      auto bytes = io::read_file(fs, path, ProducerStateTable::kSnapshotBytesMax);
      if (!bytes) {
        report.problems.push_back({path, 0, bytes.error().message()});
        continue;
      }
      auto snap = ProducerStateTable::decode_snapshot(*bytes);
      if (!snap)
        report.problems.push_back({path, 0, snap.error().message()});
      else if (snap->first != *base)
        report.problems.push_back(
            {path, 8, fmt::format("holds offset {}, its name says {}", snap->first, *base)});
      else if (*base > log_end)
        report.problems.push_back(
            {path, 0,
             fmt::format("snapshot at offset {} is beyond the log end {}", *base, log_end)});
    } else if (base && (n.ends_with(".index") || n.ends_with(".timeindex"))) {
      if (!std::binary_search(logs.begin(), logs.end(), *base)) {
        report.problems.push_back({path, 0, "index without its .log (an orphan recovery deletes)"});
      }
    }
  }
  return ok();
}

Result<CheckReport> check_data_dir(io::FileSystem& fs, const std::string& data_dir,
                                   const std::function<void(const std::string&)>& progress) {
  CheckReport report;
  const std::string root = io::join_path(data_dir, "topics");
  WHARF_ASSIGN_OR_RETURN(bool present, fs.exists(root));
  if (!present)
    return fail(ErrorCode::kNotFound, "{} is not a wharf data directory (no topics/ folder)",
                data_dir);
  WHARF_ASSIGN_OR_RETURN(auto topics, fs.list_dir(root));
  for (const auto& name : topics) {
    report.topics++;
    const std::string dir = io::join_path(root, name);
    const std::string meta = io::join_path(dir, "topic.json");
    std::int32_t partitions = 0;
    auto raw = io::read_file(fs, meta, kMetadataFileBytesMax);
    if (!raw) {
      report.problems.push_back({meta, 0, raw.error().message()});
      continue;
    }
    try {
      auto j = nlohmann::json::parse(as_chars(*raw));
      partitions = j.at("partitions").get<std::int32_t>();
      if (j.at("name").get<std::string>() != name)
        report.problems.push_back({meta, 0, "topic name does not match its directory"});
    } catch (const nlohmann::json::exception& e) {
      report.problems.push_back({meta, 0, e.what()});
      continue;
    }
    for (std::int32_t p = 0; p < partitions; ++p) {
      const std::string pdir = io::join_path(dir, std::to_string(p));
      if (progress) progress(pdir);
      WHARF_ASSIGN_OR_RETURN(bool exists, fs.exists(pdir));
      if (!exists) {
        report.problems.push_back({pdir, 0, "partition directory is missing"});
        continue;
      }
      WHARF_RETURN_IF_ERROR(check_partition_dir(fs, pdir, report));
    }
  }
  return report;
}

}  // namespace wharf::storage
