// The log manager: every topic and partition under one data directory, topic metadata kept
// durable, and the background work (interval syncs, retention).
//
// Layout: <data_dir>/topics/<name>/topic.json (name, id, partition count, config overrides)
// and <data_dir>/topics/<name>/<partition>/ (the partition's segments); docs/formats/ has it.
//
// Threads: all methods are thread-safe. One background thread (started by open(), stopped by
// close()) syncs partitions whose policy is interval:<ms>, applies retention and destroys the
// partitions their last owner let go (PartitionReaper); a second one
// runs the log cleaner (log_cleaner.h) on compacted topics every `cleaner_backoff`.
// Durability: create, delete, add-partitions and alter-config return only once the change is
// durable (atomic rename of topic.json plus directory syncs); a crash mid-way leaves either the
// old or the new state, and half-created topic directories are removed on open.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "io/file_system.h"
#include "storage/log_cleaner.h"
#include "storage/partition.h"
#include "storage/topic_config.h"

namespace wharf::storage {

using TopicId = std::array<std::uint8_t, 16>;
std::string topic_id_string(const TopicId& id);

struct TopicInfo {
  std::string name;
  TopicId id{};
  std::int32_t partitions = 0;
  std::map<std::string, std::string> overrides;  // what the user set; the rest are defaults
  TopicConfig config;                            // defaults + overrides
};

struct LogManagerOptions {
  std::string data_dir;
  TopicConfig defaults;
  std::chrono::milliseconds retention_check_interval{std::chrono::minutes(5)};
  // Pause between two passes of the log cleaner over the compacted topics (Kafka's
  // log.cleaner.backoff.ms).
  std::chrono::milliseconds cleaner_backoff{std::chrono::seconds(15)};
  CleanerOptions cleaner;
  bool background = true;  // tests drive interval syncs and retention by hand
};

// Where partitions end. LogManager hands out shared_ptrs whose last owner may be any thread,
// a network thread included, and destroying a deleted topic's partition closes its last file
// descriptors, when the kernel drops the files' cached pages (long for big segments). So the
// shared_ptrs' deleter gives the partition to the reaper, and the background thread destroys it
// at its next tick. Before the background thread starts (or without one) and after close(), the
// last owner destroys it itself, as an ordinary shared_ptr would.
class PartitionReaper {
 public:
  // Takes `p` to destroy later; false (and `p` untouched) when not running.
  bool take(Partition* p);
  // Destroys what was taken. Called by the background thread.
  void reap();
  void start();
  // Stops taking and destroys what is left.
  void stop();
  // Partitions destroyed by reap() so far.
  std::uint64_t reaped() const;

 private:
  mutable std::mutex mu_;
  std::vector<Partition*> taken_;
  bool running_ = false;
  std::uint64_t reaped_ = 0;
};

// Kafka's topic-name rule: 1..249 of [a-zA-Z0-9._-], not "." or "..".
[[nodiscard]] Status validate_topic_name(std::string_view name);

class LogManager {
 public:
  [[nodiscard]] static Result<std::unique_ptr<LogManager>> open(io::FileSystem& fs,
                                                                LogManagerOptions options,
                                                                const Clock& clock);
  ~LogManager();

  [[nodiscard]] Result<TopicInfo> create_topic(
      const std::string& name, std::int32_t partitions,
      const std::map<std::string, std::string>& overrides = {});
  [[nodiscard]] Status delete_topic(const std::string& name);
  [[nodiscard]] Status add_partitions(const std::string& name, std::int32_t total);
  [[nodiscard]] Status alter_config(const std::string& name,
                                    const std::map<std::string, std::string>& overrides);

  std::optional<TopicInfo> topic(const std::string& name) const;
  std::vector<TopicInfo> topics() const;
  // kNotFound for an unknown topic or partition.
  [[nodiscard]] Result<std::shared_ptr<Partition>> partition(const std::string& topic,
                                                             PartitionId partition) const;
  // The same without waiting: nullopt if another thread holds the topic map for a change (a
  // topic's creation, deletion, new partitions or configs, close), or if there is no such
  // partition. For a thread that must not block (the network thread).
  std::optional<std::shared_ptr<Partition>> try_partition(const std::string& topic,
                                                          PartitionId partition) const;

  // One pass of the background work (also used by tests with background = false).
  void run_interval_syncs();
  void run_retention();
  // One pass of the log cleaner over every compacted partition; returns segments rewritten.
  int run_cleaner();

  // Clean shutdown of every partition. Idempotent.
  [[nodiscard]] Status close();

  // Partitions the background thread has destroyed for their last owner (PartitionReaper).
  std::uint64_t partitions_reaped() const { return reaper_->reaped(); }

  const LogManagerOptions& options() const { return options_; }

  // topic.json's text for `info`, or kInvalidArgument if it would exceed kMetadataFileBytesMax
  // (create_topic and alter_config refuse such configs; AlterConfigs' validate_only asks here).
  static Result<std::string> topic_meta_text(const TopicInfo& info);

 private:
  struct Topic {
    TopicInfo info;
    std::vector<std::shared_ptr<Partition>> partitions;
  };
  LogManager(io::FileSystem& fs, LogManagerOptions options, const Clock& clock);
  [[nodiscard]] Status load();
  [[nodiscard]] Status write_topic_meta(const TopicInfo& info);
  [[nodiscard]] Status write_topic_meta_text(const std::string& name, const std::string& text);
  // The partition, or kNotFound. REQUIRES: mu_ held (shared).
  Result<std::shared_ptr<Partition>> partition_locked(const std::string& topic,
                                                      PartitionId partition) const;
  // Writes topic.json for a directory that lost it (see load); refuses if it cannot tell the
  // partition count.
  [[nodiscard]] Status rebuild_topic_meta(const std::string& name,
                                          const std::vector<std::string>& entries);
  // Removes a topic directory, its create/delete marker last.
  [[nodiscard]] Status remove_topic_dir(const std::string& dir);
  // Creates an empty marker file in `dir` durably.
  [[nodiscard]] Status write_marker(const std::string& dir, std::string_view marker);
  std::string topic_dir(const std::string& name) const;
  // A newly opened partition as the shared_ptr handed out, with the reaper as its deleter.
  std::shared_ptr<Partition> adopt(std::unique_ptr<Partition> partition) const;
  void background_loop(std::stop_token stop);
  void cleaner_loop(std::stop_token stop);

  io::FileSystem& fs_;
  // Shared with every partition's deleter: a partition may outlive the manager.
  std::shared_ptr<PartitionReaper> reaper_ = std::make_shared<PartitionReaper>();
  LogManagerOptions options_;
  const Clock& clock_;
  mutable std::shared_mutex mu_;
  std::mutex admin_mu_;  // serialises create/delete/alter so each is one durable step
  std::map<std::string, std::shared_ptr<Topic>> topics_;
  std::mutex sync_mu_;  // guards last_sync_
  std::map<const Partition*, std::chrono::steady_clock::time_point> last_sync_;
  std::jthread background_;
  std::jthread cleaner_thread_;
  std::stop_source cleaner_stop_;  // also polled by a throttled cleaner
  std::mutex cleaner_mu_;          // one cleaner pass at a time (the thread or a test)
  std::unique_ptr<LogCleaner> cleaner_;
  bool closed_ = false;
};

}  // namespace wharf::storage
