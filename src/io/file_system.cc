#include "io/file_system.h"

namespace wharf::io {

Status read_exact(File& file, FilePosition position, MutableByteView dst) {
  WHARF_ASSIGN_OR_RETURN(std::size_t n, file.read_at(position, dst));
  if (n != dst.size()) {
    return fail(ErrorCode::kCorruption, "{}: wanted {} bytes at position {}, file ends after {}",
                file.path(), dst.size(), position, n);
  }
  return ok();
}

Result<Bytes> read_file(FileSystem& fs, const std::string& path, std::size_t bytes_max) {
  WHARF_ASSIGN_OR_RETURN(auto file, fs.open(path, OpenMode::kReadOnly));
  WHARF_ASSIGN_OR_RETURN(std::uint64_t size, file->size());
  if (size > bytes_max) {
    return fail(ErrorCode::kCorruption, "{} is {} bytes, more than the {} a file of its kind holds",
                path, size, bytes_max);
  }
  Bytes contents(size);
  WHARF_RETURN_IF_ERROR(read_exact(*file, FilePosition(0), contents));
  return contents;
}

Status write_file_atomic(FileSystem& fs, const std::string& path, ByteView contents) {
  const std::string tmp = path + ".tmp";
  {
    WHARF_ASSIGN_OR_RETURN(auto file, fs.open(tmp, OpenMode::kTruncate));
    WHARF_RETURN_IF_ERROR(file->append(contents));
    WHARF_RETURN_IF_ERROR(file->sync());
  }
  WHARF_RETURN_IF_ERROR(fs.rename(tmp, path));
  return fs.sync_dir(parent_dir(path));
}

Status create_dirs_durable(FileSystem& fs, const std::string& dir) {
  WHARF_ASSIGN_OR_RETURN(bool present, fs.exists(dir));
  if (present) return ok();
  const std::string parent = parent_dir(dir);
  if (parent != dir && parent != "." && parent != "/") {
    WHARF_RETURN_IF_ERROR(create_dirs_durable(fs, parent));
  }
  WHARF_RETURN_IF_ERROR(fs.create_dirs(dir));
  return fs.sync_dir(parent);
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

std::string parent_dir(std::string_view path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace wharf::io
