#include "io/memory_file_system.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace wharf::io {

struct MemoryFileSystem::Node {
  explicit Node(bool dir) : is_dir(dir) {}

  const bool is_dir;
  // Files only.
  Bytes current;
  Bytes durable;
  // Directories only. std::map keeps names sorted for list_dir.
  std::map<std::string, std::shared_ptr<Node>> entries;
  std::map<std::string, std::shared_ptr<Node>> durable_entries;
};

namespace {

Result<std::vector<std::string>> split_path(const std::string& path) {
  if (path.empty()) return fail(ErrorCode::kInvalidArgument, "empty path");
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = std::min(path.find('/', start), path.size());
    std::string_view part(path.data() + start, end - start);
    if (part == "..") return fail(ErrorCode::kInvalidArgument, "{}: '..' is not supported", path);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

// Calls visit(node) once for every node reachable from `root` through current entries; visit
// runs before a directory's entries are followed, so it may replace them. A node reachable by
// two names (possible after a crash restores a half-synced cross-directory rename) is visited
// once, and a cycle of such names cannot loop.
template <typename NodeT, typename Visit>
void for_each_reachable(NodeT& root, Visit&& visit) {
  std::vector<NodeT*> stack{&root};
  std::unordered_set<NodeT*> seen{&root};
  while (!stack.empty()) {
    NodeT* node = stack.back();
    stack.pop_back();
    visit(*node);
    for (auto& entry : node->entries) {
      if (seen.insert(entry.second.get()).second) stack.push_back(entry.second.get());
    }
  }
}

}  // namespace

class MemoryFileSystem::MemoryFile final : public File {
 public:
  MemoryFile(MemoryFileSystem* fs, std::shared_ptr<Node> node, std::string path,
             std::uint64_t generation, bool writable)
      : fs_(fs),
        node_(std::move(node)),
        path_(std::move(path)),
        generation_(generation),
        writable_(writable) {}

  Result<std::size_t> read_at(FilePosition position, MutableByteView dst) override {
    std::lock_guard lock(fs_->mu_);
    WHARF_RETURN_IF_ERROR(check_usable(/*write=*/false));
    const Bytes& data = node_->current;
    if (position.value() >= data.size()) return 0;
    const auto at = static_cast<std::size_t>(position.value());
    const std::size_t n = std::min(dst.size(), data.size() - at);
    std::memcpy(dst.data(), data.data() + at, n);
    return n;
  }

  Status write_at(FilePosition position, ByteView src) override {
    std::lock_guard lock(fs_->mu_);
    return write_locked(position.value(), src);
  }

  Status append(ByteView src) override {
    std::lock_guard lock(fs_->mu_);
    return write_locked(node_->current.size(), src);
  }

  Result<std::uint64_t> size() override {
    std::lock_guard lock(fs_->mu_);
    WHARF_RETURN_IF_ERROR(check_usable(/*write=*/false));
    return node_->current.size();
  }

  Status truncate(std::uint64_t size) override {
    std::lock_guard lock(fs_->mu_);
    WHARF_RETURN_IF_ERROR(check_usable(/*write=*/true));
    return fs_->resize_file(*node_, size, path_);
  }

  Status sync() override {
    std::lock_guard lock(fs_->mu_);
    WHARF_RETURN_IF_ERROR(check_usable(/*write=*/false));
    node_->durable = node_->current;
    ++fs_->sync_count_;
    return ok();
  }

  const std::string& path() const override { return path_; }

 private:
  // REQUIRES: fs_->mu_ held.
  Status check_usable(bool write) const {
    if (generation_ != fs_->generation_) {
      return fail(ErrorCode::kIoError, "{}: file handle invalidated by crash", path_);
    }
    if (write && !writable_) return fail(ErrorCode::kIoError, "{}: opened read-only", path_);
    return ok();
  }

  // REQUIRES: fs_->mu_ held.
  Status write_locked(std::uint64_t position, ByteView src) {
    WHARF_RETURN_IF_ERROR(check_usable(/*write=*/true));
    if (src.empty()) return ok();  // like pwrite: a zero-length write does not extend the file
    if (position > kFileBytesMax || src.size() > kFileBytesMax - position) {
      return fail(ErrorCode::kIoError,
                  "{}: write at {} passes the in-memory file limit of {} bytes", path_, position,
                  kFileBytesMax);
    }
    const std::uint64_t end = position + src.size();
    if (end > node_->current.size()) WHARF_RETURN_IF_ERROR(fs_->resize_file(*node_, end, path_));
    std::memcpy(node_->current.data() + position, src.data(), src.size());
    fs_->bytes_written_ += src.size();
    return ok();
  }

  MemoryFileSystem* const fs_;
  const std::shared_ptr<Node> node_;  // keeps a removed file alive while it is open
  const std::string path_;
  const std::uint64_t generation_;
  const bool writable_;
};

MemoryFileSystem::MemoryFileSystem() : root_(std::make_shared<Node>(/*dir=*/true)) {}
MemoryFileSystem::~MemoryFileSystem() = default;

MemoryFileSystem::Node* MemoryFileSystem::lookup(const std::vector<std::string>& parts,
                                                 std::size_t depth, bool durable) const {
  WHARF_CHECK(depth <= parts.size(), "lookup depth {} of {} parts", depth, parts.size());
  Node* node = root_.get();
  for (std::size_t i = 0; i < depth; ++i) {
    if (!node->is_dir) return nullptr;
    const auto& entries = durable ? node->durable_entries : node->entries;
    auto it = entries.find(parts[i]);
    if (it == entries.end()) return nullptr;
    node = it->second.get();
  }
  return node;
}

Result<MemoryFileSystem::Node*> MemoryFileSystem::parent_dir_of(
    const std::vector<std::string>& parts, const std::string& path) {
  if (parts.empty()) return fail(ErrorCode::kInvalidArgument, "{}: names the root directory", path);
  Node* parent = lookup(parts, parts.size() - 1, /*durable=*/false);
  if (parent == nullptr || !parent->is_dir) {
    return fail(ErrorCode::kNotFound, "{}: parent directory does not exist", path);
  }
  return parent;
}

std::uint64_t MemoryFileSystem::used_bytes_locked() const {
  std::uint64_t total = 0;
  for_each_reachable(*static_cast<const Node*>(root_.get()),
                     [&](const Node& node) { total += node.current.size(); });
  return total;
}

Status MemoryFileSystem::resize_file(Node& file, std::uint64_t new_size, const std::string& path) {
  const std::uint64_t old_size = file.current.size();
  if (new_size > kFileBytesMax) {
    return fail(ErrorCode::kIoError, "{}: size {} passes the in-memory file limit of {} bytes",
                path, new_size, kFileBytesMax);
  }
  if (new_size > old_size && capacity_bytes_ != kUnlimited &&
      used_bytes_locked() + (new_size - old_size) > capacity_bytes_) {
    return fail(ErrorCode::kNoSpace, "{}: growing to {} bytes passes the capacity of {} bytes",
                path, new_size, capacity_bytes_);
  }
  file.current.resize(new_size);
  return ok();
}

Result<std::unique_ptr<File>> MemoryFileSystem::open(const std::string& path, OpenMode mode) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(path));
  WHARF_ASSIGN_OR_RETURN(auto parent, parent_dir_of(parts, path));
  auto it = parent->entries.find(parts.back());
  std::shared_ptr<Node> node = it == parent->entries.end() ? nullptr : it->second;
  if (node && node->is_dir)
    return fail(ErrorCode::kInvalidArgument, "open {}: is a directory", path);
  switch (mode) {
    case OpenMode::kReadOnly:
    case OpenMode::kReadWrite:
      if (!node) return fail(ErrorCode::kNotFound, "open {}: no such file", path);
      break;
    case OpenMode::kCreateExclusive:
      if (node) return fail(ErrorCode::kAlreadyExists, "open {}: file exists", path);
      [[fallthrough]];
    case OpenMode::kCreate:
    case OpenMode::kTruncate:
      if (!node) {
        node = std::make_shared<Node>(/*dir=*/false);
        parent->entries[parts.back()] = node;
      }
      break;
  }
  if (mode == OpenMode::kTruncate) node->current.clear();
  return std::make_unique<MemoryFile>(this, std::move(node), path, generation_,
                                      mode != OpenMode::kReadOnly);
}

Result<bool> MemoryFileSystem::exists(const std::string& path) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(path));
  return lookup(parts, parts.size(), /*durable=*/false) != nullptr;
}

Result<std::vector<std::string>> MemoryFileSystem::list_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(dir));
  const Node* node = lookup(parts, parts.size(), /*durable=*/false);
  if (node == nullptr) return fail(ErrorCode::kNotFound, "list_dir {}: no such directory", dir);
  if (!node->is_dir) return fail(ErrorCode::kIoError, "list_dir {}: not a directory", dir);
  std::vector<std::string> names;
  for (const auto& entry : node->entries) names.push_back(entry.first);
  return names;
}

Status MemoryFileSystem::create_dirs(const std::string& dir) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(dir));
  Node* node = root_.get();
  for (const auto& part : parts) {
    auto& child = node->entries[part];
    if (!child) child = std::make_shared<Node>(/*dir=*/true);
    if (!child->is_dir) {
      return fail(ErrorCode::kAlreadyExists, "create_dirs {}: {} is not a directory", dir, part);
    }
    node = child.get();
  }
  return ok();
}

Status MemoryFileSystem::remove(const std::string& path) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(path));
  WHARF_ASSIGN_OR_RETURN(auto parent, parent_dir_of(parts, path));
  auto it = parent->entries.find(parts.back());
  if (it == parent->entries.end())
    return fail(ErrorCode::kNotFound, "remove {}: no such file", path);
  if (it->second->is_dir && !it->second->entries.empty()) {
    return fail(ErrorCode::kIoError, "remove {}: directory not empty", path);
  }
  parent->entries.erase(it);
  return ok();
}

Status MemoryFileSystem::remove_all(const std::string& path) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(path));
  if (parts.empty())
    return fail(ErrorCode::kInvalidArgument, "remove_all {}: names the root", path);
  // Unlinking the top entry is enough: what lies below is unreachable now, and comes back with
  // it if a crash restores the entry.
  Node* parent = lookup(parts, parts.size() - 1, /*durable=*/false);
  if (parent != nullptr && parent->is_dir) parent->entries.erase(parts.back());
  return ok();
}

Status MemoryFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto from_parts, split_path(from));
  WHARF_ASSIGN_OR_RETURN(auto to_parts, split_path(to));
  WHARF_ASSIGN_OR_RETURN(auto from_parent, parent_dir_of(from_parts, from));
  WHARF_ASSIGN_OR_RETURN(auto to_parent, parent_dir_of(to_parts, to));
  auto it = from_parent->entries.find(from_parts.back());
  if (it == from_parent->entries.end()) {
    return fail(ErrorCode::kNotFound, "rename {} to {}: no such file", from, to);
  }
  std::shared_ptr<Node> node = it->second;
  auto target = to_parent->entries.find(to_parts.back());
  if (target != to_parent->entries.end()) {
    const Node& old = *target->second;
    if (&old == node.get()) return ok();  // POSIX: renaming a file onto itself does nothing
    if (old.is_dir != node->is_dir) {
      return fail(ErrorCode::kIoError, "rename {} to {}: {}", from, to,
                  old.is_dir ? "target is a directory" : "target is not a directory");
    }
    if (old.is_dir && !old.entries.empty()) {
      return fail(ErrorCode::kIoError, "rename {} to {}: target directory not empty", from, to);
    }
  }
  if (node->is_dir && to_parts.size() > from_parts.size() &&
      std::equal(from_parts.begin(), from_parts.end(), to_parts.begin())) {
    return fail(ErrorCode::kInvalidArgument, "rename {} to {}: into itself", from, to);
  }
  from_parent->entries.erase(it);
  to_parent->entries[to_parts.back()] = std::move(node);
  return ok();
}

Status MemoryFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(dir));
  Node* node = lookup(parts, parts.size(), /*durable=*/false);
  if (node == nullptr) return fail(ErrorCode::kNotFound, "sync_dir {}: no such directory", dir);
  if (!node->is_dir) return fail(ErrorCode::kIoError, "sync_dir {}: not a directory", dir);
  node->durable_entries = node->entries;
  ++sync_dir_count_;
  return ok();
}

void MemoryFileSystem::crash() {
  std::lock_guard lock(mu_);
  ++generation_;
  // Entries are reset before they are followed, so the walk goes through durable entries only.
  for_each_reachable(*root_, [](Node& node) {
    if (node.is_dir) {
      node.entries = node.durable_entries;
    } else {
      node.current = node.durable;
    }
  });
}

void MemoryFileSystem::sync_everything() {
  std::lock_guard lock(mu_);
  for_each_reachable(*root_, [](Node& node) {
    if (node.is_dir) {
      node.durable_entries = node.entries;
    } else {
      node.durable = node.current;
    }
  });
}

Result<Bytes> MemoryFileSystem::durable_contents(const std::string& path) {
  std::lock_guard lock(mu_);
  WHARF_ASSIGN_OR_RETURN(auto parts, split_path(path));
  const Node* node = lookup(parts, parts.size(), /*durable=*/true);
  if (node == nullptr) return fail(ErrorCode::kNotFound, "{}: no durable entry", path);
  if (node->is_dir) return fail(ErrorCode::kInvalidArgument, "{}: is a directory", path);
  return node->durable;
}

void MemoryFileSystem::set_capacity_bytes(std::uint64_t capacity_bytes) {
  std::lock_guard lock(mu_);
  capacity_bytes_ = capacity_bytes;
}

std::uint64_t MemoryFileSystem::used_bytes() const {
  std::lock_guard lock(mu_);
  return used_bytes_locked();
}

std::uint64_t MemoryFileSystem::sync_count() const {
  std::lock_guard lock(mu_);
  return sync_count_;
}

std::uint64_t MemoryFileSystem::sync_dir_count() const {
  std::lock_guard lock(mu_);
  return sync_dir_count_;
}

std::uint64_t MemoryFileSystem::bytes_written() const {
  std::lock_guard lock(mu_);
  return bytes_written_;
}

}  // namespace wharf::io
