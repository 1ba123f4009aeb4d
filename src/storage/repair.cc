#include "storage/repair.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "storage/limits.h"
#include "storage/record_batch.h"
#include "storage/segment.h"

namespace wharf::storage {
namespace bl = batch_layout;

namespace {

// "00000000000000000042.log" -> 42; nullopt for other names.
std::optional<Offset> segment_base(const std::string& name) {
  if (name.size() < 21 || name[20] != '.') return std::nullopt;
  std::int64_t base = 0;
  auto [ptr, ec] = std::from_chars(name.data(), name.data() + 20, base);
  if (ec != std::errc() || ptr != name.data() + 20 || base < 0) return std::nullopt;
  return Offset(base);
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<RepairPlan> plan_repair(io::FileSystem& fs, const std::string& data_dir,
                               const std::string& log_path, std::uint64_t position) {
  RepairPlan plan;
  plan.log_path = log_path;
  plan.position = position;
  plan.partition_dir = io::parent_dir(log_path);
  const std::string topic_dir = io::parent_dir(plan.partition_dir);
  const std::string topics_dir = io::parent_dir(topic_dir);
  if (topics_dir != io::join_path(data_dir, "topics")) {
    return fail(ErrorCode::kInvalidArgument, "{} is not a segment of a partition under {}/topics",
                log_path, data_dir);
  }
  const std::string name = base_name(log_path);
  const auto base = segment_base(name);
  if (!base || !name.ends_with(".log")) {
    return fail(ErrorCode::kInvalidArgument, "{} is not a segment log file (<20-digit offset>.log)",
                log_path);
  }
  plan.side_dir =
      io::join_path(io::join_path(io::join_path(data_dir, "repair"), base_name(topic_dir)),
                    base_name(plan.partition_dir));

  // Every batch before the cut must be intact, and the cut must fall on a batch boundary.
  WHARF_ASSIGN_OR_RETURN(auto file, fs.open(log_path, io::OpenMode::kReadOnly));
  WHARF_ASSIGN_OR_RETURN(std::uint64_t size, file->size());
  if (position > size)
    return fail(ErrorCode::kInvalidArgument, "position {} is past the end of {} ({} bytes)",
                position, log_path, size);
  std::uint64_t at = 0;
  Offset next = *base;
  std::array<std::byte, bl::kHeaderBytes> head{};
  while (at < position) {
    if (position - at < bl::kHeaderBytes) {
      return fail(ErrorCode::kInvalidArgument,
                  "position {} is inside the batch at {}: not a batch boundary", position, at);
    }
    WHARF_RETURN_IF_ERROR(io::read_exact(*file, FilePosition(at), head));
    auto h = parse_header(head);
    if (!h || h->total_bytes() > kBatchBytesHardMax || at + h->total_bytes() > position) {
      return fail(ErrorCode::kInvalidArgument,
                  "position {} is not a batch boundary of the intact part of {}: the batch at {} "
                  "{}; cut at {} instead",
                  position, log_path, at, h ? "ends past it" : "is unreadable", at);
    }
    Bytes raw(h->total_bytes());
    WHARF_RETURN_IF_ERROR(io::read_exact(*file, FilePosition(at), raw));
    auto checked = check_batch_crc(raw);
    if (!checked) {
      return fail(ErrorCode::kInvalidArgument,
                  "the batch at {} of {} is damaged too ({}); cut at {} instead", at, log_path,
                  checked.error().message(), at);
    }
    at += h->total_bytes();
    next = h->next_offset();
    ++plan.batches_kept;
  }
  plan.cut_bytes = size - position;
  plan.log_end_after = next;

  WHARF_ASSIGN_OR_RETURN(auto names, fs.list_dir(plan.partition_dir));
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    const auto b = segment_base(n);
    if (!b || *b <= *base || n.ends_with(".snapshot")) continue;
    const std::string path = io::join_path(plan.partition_dir, n);
    plan.later_files.push_back(path);
    WHARF_ASSIGN_OR_RETURN(auto f, fs.open(path, io::OpenMode::kReadOnly));
    WHARF_ASSIGN_OR_RETURN(std::uint64_t bytes, f->size());
    plan.later_bytes += bytes;
  }
  return plan;
}

Status apply_repair(io::FileSystem& fs, const RepairPlan& plan) {
  WHARF_RETURN_IF_ERROR(io::create_dirs_durable(fs, plan.side_dir));
  // 1. The cut bytes, copied and synced before anything is changed.
  const std::string side = io::join_path(
      plan.side_dir, fmt::format("{}.cut-at-{}", base_name(plan.log_path), plan.position));
  {
    WHARF_ASSIGN_OR_RETURN(auto in, fs.open(plan.log_path, io::OpenMode::kReadOnly));
    WHARF_ASSIGN_OR_RETURN(auto out, fs.open(side, io::OpenMode::kTruncate));
    Bytes chunk;
    for (std::uint64_t at = plan.position; at < plan.position + plan.cut_bytes;) {
      chunk.resize(std::min<std::uint64_t>(kScanChunkBytes, plan.position + plan.cut_bytes - at));
      WHARF_RETURN_IF_ERROR(io::read_exact(*in, FilePosition(at), chunk));
      WHARF_RETURN_IF_ERROR(out->append(chunk));
      at += chunk.size();
    }
    WHARF_RETURN_IF_ERROR(out->sync());
  }
  // 2. Later segments, whole.
  for (const auto& path : plan.later_files) {
    WHARF_RETURN_IF_ERROR(fs.rename(path, io::join_path(plan.side_dir, base_name(path))));
  }
  WHARF_RETURN_IF_ERROR(fs.sync_dir(plan.side_dir));
  // 3. The cut, then what recovery rebuilds: indexes of the cut segment, and a full scan.
  {
    WHARF_ASSIGN_OR_RETURN(auto log, fs.open(plan.log_path, io::OpenMode::kReadWrite));
    WHARF_RETURN_IF_ERROR(log->truncate(plan.position));
    WHARF_RETURN_IF_ERROR(log->sync());
  }
  const std::string stem = plan.log_path.substr(0, plan.log_path.size() - 4);
  for (const std::string& path : {stem + ".index", stem + ".timeindex",
                                  io::join_path(plan.partition_dir, "clean_shutdown")}) {
    WHARF_ASSIGN_OR_RETURN(bool present, fs.exists(path));
    if (present) WHARF_RETURN_IF_ERROR(fs.remove(path));
  }
  return fs.sync_dir(plan.partition_dir);
}

}  // namespace wharf::storage
