#include "storage/log_manager.h"

#include <charconv>
#include <condition_variable>
#include <random>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/text.h"
#include "storage/limits.h"

namespace wharf::storage {
namespace {

constexpr std::string_view kTopicMetaFile = "topic.json";
// Positive markers of a create or delete in progress (empty files). Only a topic directory that
// carries one of them, or holds nothing at all, is removed at start without topic.json.
constexpr std::string_view kCreatingMarker = "creating.marker";
constexpr std::string_view kDeletingMarker = "deleting.marker";

TopicId random_topic_id() {
  std::random_device rd;
  TopicId id;
  for (auto& b : id) b = static_cast<std::uint8_t>(rd());
  id[6] = static_cast<std::uint8_t>((id[6] & 0x0F) | 0x40);  // UUID version 4
  id[8] = static_cast<std::uint8_t>((id[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return id;
}

Result<TopicId> parse_topic_id(const std::string& hex) {
  TopicId id{};
  if (hex.size() != 32)
    return fail(ErrorCode::kCorruption, "topic id '{}' is not 32 hex digits", hex);
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    if (std::sscanf(hex.c_str() + 2 * i, "%2x", &v) != 1) {
      return fail(ErrorCode::kCorruption, "topic id '{}' is not hex", hex);
    }
    id[i] = static_cast<std::uint8_t>(v);
  }
  return id;
}

}  // namespace

std::string topic_id_string(const TopicId& id) {
  std::string out;
  for (auto b : id) out += fmt::format("{:02x}", b);
  return out;
}

Status validate_topic_name(std::string_view name) {
  if (name.empty() || name.size() > kTopicNameBytesMax || name == "." || name == "..") {
    return fail(ErrorCode::kInvalidArgument,
                "topic name '{}' must be 1 to {} characters and not '.' or '..'", excerpt(name),
                kTopicNameBytesMax);
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return fail(ErrorCode::kInvalidArgument,
                  "topic name '{}' has '{}'; only letters, digits, '.', '_' and '-' are allowed",
                  excerpt(name), excerpt(std::string_view(&c, 1)));
    }
  }
  return ok();
}

bool PartitionReaper::take(Partition* p) {
  std::lock_guard lock(mu_);
  if (!running_) return false;
  taken_.push_back(p);
  return true;
}

void PartitionReaper::reap() {
  std::vector<Partition*> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(taken_);
  }
  for (Partition* p : taken) delete p;
  std::lock_guard lock(mu_);
  reaped_ += taken.size();
}

void PartitionReaper::start() {
  std::lock_guard lock(mu_);
  running_ = true;
}

void PartitionReaper::stop() {
  {
    std::lock_guard lock(mu_);
    running_ = false;
  }
  reap();
}

std::uint64_t PartitionReaper::reaped() const {
  std::lock_guard lock(mu_);
  return reaped_;
}

std::shared_ptr<Partition> LogManager::adopt(std::unique_ptr<Partition> partition) const {
  return std::shared_ptr<Partition>(partition.release(), [reaper = reaper_](Partition* p) {
    if (!reaper->take(p)) delete p;
  });
}

LogManager::LogManager(io::FileSystem& fs, LogManagerOptions options, const Clock& clock)
    : fs_(fs), options_(std::move(options)), clock_(clock) {}

LogManager::~LogManager() {
  auto status = close();
  if (!status) WHARF_LOG_ERROR("log manager close: {}", status.error().to_string());
}

std::string LogManager::topic_dir(const std::string& name) const {
  return io::join_path(io::join_path(options_.data_dir, "topics"), name);
}

Result<std::unique_ptr<LogManager>> LogManager::open(io::FileSystem& fs, LogManagerOptions options,
                                                     const Clock& clock) {
  std::unique_ptr<LogManager> m(new LogManager(fs, std::move(options), clock));
  WHARF_RETURN_IF_ERROR(m->load());
  m->cleaner_ = std::make_unique<LogCleaner>(
      m->options_.cleaner, clock,
      [stop = m->cleaner_stop_.get_token()] { return stop.stop_requested(); });
  if (m->options_.background) {
    m->reaper_->start();
    m->background_ = std::jthread([p = m.get()](std::stop_token st) { p->background_loop(st); });
    m->cleaner_thread_ = std::jthread(
        [p = m.get()](std::stop_token) { p->cleaner_loop(p->cleaner_stop_.get_token()); });
  }
  return m;
}

Status LogManager::load() {
  const std::string root = io::join_path(options_.data_dir, "topics");
  WHARF_RETURN_IF_ERROR(io::create_dirs_durable(fs_, root));
  WHARF_ASSIGN_OR_RETURN(auto names, fs_.list_dir(root));
  for (const std::string& name : names) {
    const std::string dir = io::join_path(root, name);
    const std::string meta_path = io::join_path(dir, std::string(kTopicMetaFile));
    WHARF_ASSIGN_OR_RETURN(bool has_meta, fs_.exists(meta_path));
    WHARF_ASSIGN_OR_RETURN(bool creating,
                           fs_.exists(io::join_path(dir, std::string(kCreatingMarker))));
    WHARF_ASSIGN_OR_RETURN(bool deleting,
                           fs_.exists(io::join_path(dir, std::string(kDeletingMarker))));
    WHARF_ASSIGN_OR_RETURN(auto entries, fs_.list_dir(dir));
    if (deleting || (!has_meta && (creating || entries.empty()))) {
      // The marker says why: a delete that started, or a create that never reached its commit
      // point (topic.json). An empty directory holds no data either.
      WHARF_LOG_WARN("removing {}: {}", dir,
                     deleting   ? "a topic delete was interrupted; finishing it"
                     : creating ? "a topic create was interrupted before it was committed"
                                : "an empty topic directory");
      WHARF_RETURN_IF_ERROR(remove_topic_dir(dir));
      continue;
    }
    if (!has_meta) WHARF_RETURN_IF_ERROR(rebuild_topic_meta(name, entries));
    if (creating) {
      // Committed (topic.json is there); only the marker's removal was lost.
      WHARF_RETURN_IF_ERROR(fs_.remove(io::join_path(dir, std::string(kCreatingMarker))));
      WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir));
    }
    WHARF_ASSIGN_OR_RETURN(Bytes raw, io::read_file(fs_, meta_path, kMetadataFileBytesMax));
    auto topic = std::make_shared<Topic>();
    try {
      auto j = nlohmann::json::parse(as_chars(raw));
      topic->info.name = j.at("name").get<std::string>();
      WHARF_ASSIGN_OR_RETURN(topic->info.id, parse_topic_id(j.at("id").get<std::string>()));
      topic->info.partitions = j.at("partitions").get<std::int32_t>();
      topic->info.overrides = j.at("configs").get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
      return fail(ErrorCode::kCorruption, "{}: {}", meta_path, e.what());
    }
    if (topic->info.name != name || topic->info.partitions <= 0 ||
        topic->info.partitions > kPartitionsPerTopicMax) {
      return fail(ErrorCode::kCorruption, "{}: name '{}' or partition count {} is wrong", meta_path,
                  topic->info.name, topic->info.partitions);
    }
    WHARF_ASSIGN_OR_RETURN(topic->info.config,
                           TopicConfig::from_map(topic->info.overrides, options_.defaults));
    for (std::int32_t p = 0; p < topic->info.partitions; ++p) {
      WHARF_ASSIGN_OR_RETURN(auto part, Partition::open(fs_, io::join_path(dir, std::to_string(p)),
                                                        topic->info.config, clock_));
      topic->partitions.push_back(adopt(std::move(part)));
    }
    topics_.emplace(name, std::move(topic));
  }
  return ok();
}

Status LogManager::rebuild_topic_meta(const std::string& name,
                                      const std::vector<std::string>& entries) {
  // Without topic.json and without a marker, the directory is a topic whose metadata was lost
  // (deleted by hand, or a disk fault): its data is kept. If its partitions are 0..n-1, a new
  // topic.json is written with n partitions and default configs; otherwise start is refused.
  const std::string dir = topic_dir(name);
  std::int32_t partitions = 0;
  std::vector<bool> seen;
  for (const auto& e : entries) {
    std::int32_t p = 0;
    auto [end, ec] = std::from_chars(e.data(), e.data() + e.size(), p);
    if (ec != std::errc() || end != e.data() + e.size() || p < 0 || p >= kPartitionsPerTopicMax ||
        std::to_string(p) != e) {
      continue;
    }
    if (static_cast<std::size_t>(p) >= seen.size())
      seen.resize(static_cast<std::size_t>(p) + 1, false);
    seen[static_cast<std::size_t>(p)] = true;
    ++partitions;
  }
  if (partitions == 0 || static_cast<std::size_t>(partitions) != seen.size()) {
    return fail(
        ErrorCode::kCorruption,
        "{}: no {} and no marker of an interrupted create or delete, and its partition directories "
        "are not 0..n-1; refusing to start rather than delete data. Restore {} (format: "
        "docs/formats/topic-metadata.md), or move the directory out of {} to drop the topic",
        dir, kTopicMetaFile, kTopicMetaFile, io::parent_dir(dir));
  }
  TopicInfo info;
  info.name = name;
  info.id = random_topic_id();
  info.partitions = partitions;
  WHARF_LOG_WARN(
      "{}: {} is missing; rebuilt it with {} partition(s) found on disk, default configs and a new "
      "topic id (re-apply any config overrides with `wharf topic alter`)",
      dir, kTopicMetaFile, partitions);
  return write_topic_meta(info);
}

Status LogManager::write_marker(const std::string& dir, std::string_view marker) {
  // An empty file: only its existence matters, so there is nothing to tear.
  {
    WHARF_ASSIGN_OR_RETURN(
        auto file, fs_.open(io::join_path(dir, std::string(marker)), io::OpenMode::kTruncate));
    WHARF_RETURN_IF_ERROR(file->sync());
  }
  return fs_.sync_dir(dir);
}

Result<std::string> LogManager::topic_meta_text(const TopicInfo& info) {
  nlohmann::json j = {{"name", info.name},
                      {"id", topic_id_string(info.id)},
                      {"partitions", info.partitions},
                      {"configs", info.overrides}};
  std::string text = j.dump(2) + "\n";
  // Config values have no length limit of their own (a throttled-replicas list, a padded
  // number): a topic.json the next start would refuse to read is never written.
  if (text.size() > kMetadataFileBytesMax) {
    return fail(ErrorCode::kInvalidArgument,
                "the configs of topic '{}' take {} bytes, more than the {} its metadata may hold",
                excerpt(info.name), text.size(), kMetadataFileBytesMax);
  }
  return text;
}

Status LogManager::write_topic_meta(const TopicInfo& info) {
  WHARF_ASSIGN_OR_RETURN(const std::string text, topic_meta_text(info));
  return write_topic_meta_text(info.name, text);
}

Status LogManager::write_topic_meta_text(const std::string& name, const std::string& text) {
  return io::write_file_atomic(fs_, io::join_path(topic_dir(name), std::string(kTopicMetaFile)),
                               as_bytes(text));
}

Result<TopicInfo> LogManager::create_topic(const std::string& name, std::int32_t partitions,
                                           const std::map<std::string, std::string>& overrides) {
  WHARF_RETURN_IF_ERROR(validate_topic_name(name));
  if (partitions <= 0 || partitions > kPartitionsPerTopicMax) {
    return fail(ErrorCode::kInvalidArgument, "partition count {} is outside [1, {}]", partitions,
                kPartitionsPerTopicMax);
  }
  std::lock_guard admin(admin_mu_);
  {
    std::shared_lock lock(mu_);
    if (closed_) return fail(ErrorCode::kShuttingDown, "log manager is closed");
    if (topics_.contains(name))
      return fail(ErrorCode::kAlreadyExists, "topic '{}' already exists", excerpt(name));
  }
  auto topic = std::make_shared<Topic>();
  topic->info.name = name;
  topic->info.id = random_topic_id();
  topic->info.partitions = partitions;
  topic->info.overrides = overrides;
  WHARF_ASSIGN_OR_RETURN(topic->info.config, TopicConfig::from_map(overrides, options_.defaults));
  // Refused before anything is created; written below, as the commit point.
  WHARF_ASSIGN_OR_RETURN(const std::string meta, topic_meta_text(topic->info));
  const std::string dir = topic_dir(name);
  WHARF_RETURN_IF_ERROR(io::create_dirs_durable(fs_, dir));
  WHARF_RETURN_IF_ERROR(write_marker(dir, kCreatingMarker));
  for (std::int32_t p = 0; p < partitions; ++p) {
    WHARF_ASSIGN_OR_RETURN(auto part, Partition::open(fs_, io::join_path(dir, std::to_string(p)),
                                                      topic->info.config, clock_));
    topic->partitions.push_back(adopt(std::move(part)));
  }
  WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir));
  // The commit point: topic.json appears atomically, then the topics directory is synced.
  WHARF_RETURN_IF_ERROR(write_topic_meta_text(name, meta));
  WHARF_RETURN_IF_ERROR(fs_.sync_dir(io::parent_dir(dir)));
  // Committed; a marker left behind by a crash here is removed at the next start.
  // Its removal is synced: a marker that came back after a crash would make a later loss of
  // topic.json look like an interrupted create.
  auto removed = fs_.remove(io::join_path(dir, std::string(kCreatingMarker)));
  if (removed) removed = fs_.sync_dir(dir);
  if (!removed) WHARF_LOG_WARN("{}: {}", dir, removed.error().to_string());
  std::unique_lock lock(mu_);
  topics_.emplace(name, topic);
  return topic->info;
}

Status LogManager::delete_topic(const std::string& name) {
  std::lock_guard admin(admin_mu_);
  std::shared_ptr<Topic> topic;
  {
    std::unique_lock lock(mu_);
    auto it = topics_.find(name);
    if (it == topics_.end())
      return fail(ErrorCode::kNotFound, "topic '{}' does not exist", excerpt(name));
    topic = it->second;
    topics_.erase(it);
  }
  for (auto& p : topic->partitions) {
    p->retire();  // the log cleaner creates no more files in the directories removed below
    std::lock_guard sync_lock(sync_mu_);
    last_sync_.erase(p.get());
  }
  const std::string dir = topic_dir(name);
  // The commit point: the deleting marker; open() finishes a delete that carries it.
  WHARF_RETURN_IF_ERROR(write_marker(dir, kDeletingMarker));
  WHARF_RETURN_IF_ERROR(fs_.remove(io::join_path(dir, std::string(kTopicMetaFile))));
  WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir));
  return remove_topic_dir(dir);
}

Status LogManager::remove_topic_dir(const std::string& dir) {
  // The markers go last, and only once the removal of everything else is durable: a crash in
  // between must leave a directory that still says why it may be removed.
  WHARF_ASSIGN_OR_RETURN(auto entries, fs_.list_dir(dir));
  for (const auto& e : entries) {
    if (e != kCreatingMarker && e != kDeletingMarker)
      WHARF_RETURN_IF_ERROR(fs_.remove_all(io::join_path(dir, e)));
  }
  WHARF_RETURN_IF_ERROR(fs_.sync_dir(dir));
  WHARF_RETURN_IF_ERROR(fs_.remove_all(dir));
  return fs_.sync_dir(io::parent_dir(dir));
}

Status LogManager::add_partitions(const std::string& name, std::int32_t total) {
  std::lock_guard admin(admin_mu_);
  std::shared_ptr<Topic> topic;
  {
    std::shared_lock lock(mu_);
    auto it = topics_.find(name);
    if (it == topics_.end())
      return fail(ErrorCode::kNotFound, "topic '{}' does not exist", excerpt(name));
    topic = it->second;
  }
  const std::int32_t current = topic->info.partitions;
  if (total <= current || total > kPartitionsPerTopicMax) {
    return fail(ErrorCode::kInvalidArgument,
                "topic '{}' has {} partitions; the new count {} must be larger (and at most {})",
                name, current, total, kPartitionsPerTopicMax);
  }
  std::vector<std::shared_ptr<Partition>> added;
  for (std::int32_t p = current; p < total; ++p) {
    WHARF_ASSIGN_OR_RETURN(auto part,
                           Partition::open(fs_, io::join_path(topic_dir(name), std::to_string(p)),
                                           topic->info.config, clock_));
    added.push_back(adopt(std::move(part)));
  }
  WHARF_RETURN_IF_ERROR(fs_.sync_dir(topic_dir(name)));
  TopicInfo info = topic->info;
  info.partitions = total;
  WHARF_RETURN_IF_ERROR(write_topic_meta(info));
  std::unique_lock lock(mu_);
  topic->info = info;
  for (auto& p : added) topic->partitions.push_back(std::move(p));
  return ok();
}

Status LogManager::alter_config(const std::string& name,
                                const std::map<std::string, std::string>& overrides) {
  std::lock_guard admin(admin_mu_);
  std::shared_ptr<Topic> topic;
  {
    std::shared_lock lock(mu_);
    auto it = topics_.find(name);
    if (it == topics_.end())
      return fail(ErrorCode::kNotFound, "topic '{}' does not exist", excerpt(name));
    topic = it->second;
  }
  TopicInfo info = topic->info;
  info.overrides = overrides;
  WHARF_ASSIGN_OR_RETURN(info.config, TopicConfig::from_map(overrides, options_.defaults));
  WHARF_RETURN_IF_ERROR(write_topic_meta(info));
  std::unique_lock lock(mu_);
  topic->info = info;
  for (auto& p : topic->partitions) p->set_config(info.config);
  return ok();
}

std::optional<TopicInfo> LogManager::topic(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return std::nullopt;
  return it->second->info;
}

std::vector<TopicInfo> LogManager::topics() const {
  std::shared_lock lock(mu_);
  std::vector<TopicInfo> out;
  for (const auto& [_, t] : topics_) out.push_back(t->info);
  return out;
}

Result<std::shared_ptr<Partition>> LogManager::partition(const std::string& topic,
                                                         PartitionId partition) const {
  std::shared_lock lock(mu_);
  return partition_locked(topic, partition);
}

std::optional<std::shared_ptr<Partition>> LogManager::try_partition(const std::string& topic,
                                                                    PartitionId partition) const {
  std::shared_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  auto found = partition_locked(topic, partition);
  if (!found) return std::nullopt;
  return std::move(*found);
}

Result<std::shared_ptr<Partition>> LogManager::partition_locked(const std::string& topic,
                                                                PartitionId partition) const {
  auto it = topics_.find(topic);
  // Names are quoted cut short (excerpt): a client can look up a 32 KiB name per partition.
  if (it == topics_.end())
    return fail(ErrorCode::kNotFound, "topic '{}' does not exist", excerpt(topic));
  const auto& parts = it->second->partitions;
  if (partition.value() < 0 || static_cast<std::size_t>(partition.value()) >= parts.size()) {
    return fail(ErrorCode::kNotFound, "topic '{}' has no partition {}", excerpt(topic), partition);
  }
  return parts[static_cast<std::size_t>(partition.value())];
}

void LogManager::run_interval_syncs() {
  std::vector<std::shared_ptr<Partition>> due;
  const auto now = clock_.steady_now();
  {
    std::shared_lock lock(mu_);
    std::lock_guard sync_lock(sync_mu_);
    for (const auto& [_, t] : topics_) {
      if (t->info.config.sync.kind != SyncPolicy::Kind::kInterval) continue;
      for (const auto& p : t->partitions) {
        auto& last = last_sync_[p.get()];
        if (now - last >= t->info.config.sync.interval) {
          last = now;
          due.push_back(p);
        }
      }
    }
  }
  for (auto& p : due) {
    if (p->fenced()) continue;
    auto status = p->sync();
    if (!status) WHARF_LOG_ERROR("interval sync of {}: {}", p->dir(), status.error().to_string());
  }
}

void LogManager::run_retention() {
  std::vector<std::shared_ptr<Partition>> all;
  {
    std::shared_lock lock(mu_);
    for (const auto& [_, t] : topics_)
      all.insert(all.end(), t->partitions.begin(), t->partitions.end());
  }
  for (auto& p : all) {
    auto removed = p->enforce_retention();
    if (!removed)
      WHARF_LOG_ERROR("retention of {}: {}", p->dir(), removed.error().to_string());
    else if (*removed > 0)
      WHARF_LOG_INFO("retention removed {} segment(s) of {}", *removed, p->dir());
  }
}

int LogManager::run_cleaner() {
  std::vector<std::shared_ptr<Partition>> compacted;
  {
    std::shared_lock lock(mu_);
    for (const auto& [_, t] : topics_) {
      if (!t->info.config.cleanup_compact) continue;
      compacted.insert(compacted.end(), t->partitions.begin(), t->partitions.end());
    }
  }
  std::lock_guard lock(cleaner_mu_);
  int rewritten = 0;
  for (auto& p : compacted) {
    if (cleaner_stop_.stop_requested()) break;
    auto stats = cleaner_->clean(*p);
    if (!stats) {
      WHARF_LOG_ERROR("log cleaner on {}: {}", p->dir(), stats.error().to_string());
      continue;
    }
    rewritten += stats->segments_rewritten;
  }
  return rewritten;
}

void LogManager::cleaner_loop(std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    run_cleaner();
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, options_.cleaner_backoff, [] { return false; });
  }
}

void LogManager::background_loop(std::stop_token stop) {
  // The tick bounds how late an interval sync can be; 5 ms is below any useful interval.
  constexpr auto kTick = std::chrono::milliseconds(5);
  std::mutex m;
  std::condition_variable_any cv;
  auto next_retention = clock_.steady_now() + options_.retention_check_interval;
  while (!stop.stop_requested()) {
    reaper_->reap();
    run_interval_syncs();
    if (clock_.steady_now() >= next_retention) {
      run_retention();
      next_retention = clock_.steady_now() + options_.retention_check_interval;
    }
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, kTick, [] { return false; });
  }
}

Status LogManager::close() {
  {
    std::unique_lock lock(mu_);
    if (closed_) return ok();
    closed_ = true;
  }
  cleaner_stop_.request_stop();
  if (cleaner_thread_.joinable()) cleaner_thread_.join();
  if (background_.joinable()) {
    background_.request_stop();
    background_.join();
  }
  reaper_->stop();
  Status first = ok();
  std::shared_lock lock(mu_);
  for (const auto& [_, t] : topics_) {
    for (const auto& p : t->partitions) {
      auto status = p->close();
      if (!status && first) first = fail(status.error());
    }
  }
  return first;
}

}  // namespace wharf::storage
