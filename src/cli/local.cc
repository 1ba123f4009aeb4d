// `wharf local ...`: the embedded log engine driven from the shell, without a broker: create
// and list topics, produce lines from stdin, consume records. Useful for the demo, for
// inspecting a data directory and for scripting; the broker commands speak Kafka instead.
// Appends return only once durable under the topic's sync policy, like an acks=all produce.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "base/murmur2.h"
#include "cli/commands.h"
#include "cli/line_reader.h"
#include "io/posix_file_system.h"
#include "storage/log_manager.h"

namespace wharf::cli {
namespace {

// A batch stays below this so it fits the default max.message.bytes (1048588) with room for
// record framing; a line longer than the topic's limit is refused by the log with its reason.
constexpr std::size_t kBatchBytesTarget = 256 * 1024;
constexpr std::size_t kBatchRecordsMax = 10'000;

Result<std::unique_ptr<storage::LogManager>> open_log(const std::string& data_dir) {
  static io::PosixFileSystem fs;
  storage::LogManagerOptions o;
  o.data_dir = data_dir;
  return storage::LogManager::open(fs, o, SystemClock::instance());
}

int fail_with(const Error& e) {
  std::fprintf(stderr, "wharf local: %s\n", e.to_string().c_str());
  return 1;
}

std::map<std::string, std::string> parse_configs(const std::vector<std::string>& kvs) {
  std::map<std::string, std::string> out;
  for (const auto& kv : kvs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos)
      throw CLI::ValidationError("--config", "expected key=value, got '" + kv + "'");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

}  // namespace

void register_local(CLI::App& app, int& exit_code) {
  auto* local =
      app.add_subcommand("local", "Use a data directory's log directly, without a broker");
  local->require_subcommand(1);
  static std::string data_dir;
  local->add_option("--data-dir", data_dir, "The data directory")->required();

  static std::string topic;
  static int partitions = 1;
  static std::vector<std::string> configs;
  auto* create = local->add_subcommand("create-topic", "Create a topic");
  create->add_option("topic", topic, "Topic name")->required();
  create->add_option("-p,--partitions", partitions, "Number of partitions")
      ->check(CLI::Range(1, 10000));
  create->add_option("-c,--config", configs, "Topic config key=value (repeatable)");
  create->callback([&exit_code] {
    auto log = open_log(data_dir);
    if (!log) return void(exit_code = fail_with(log.error()));
    auto info = (*log)->create_topic(topic, partitions, parse_configs(configs));
    if (!info) return void(exit_code = fail_with(info.error()));
    std::printf("created topic %s with %d partition(s), id %s\n", topic.c_str(), info->partitions,
                storage::topic_id_string(info->id).c_str());
    if (auto s = (*log)->close(); !s) exit_code = fail_with(s.error());
  });

  auto* list =
      local->add_subcommand("topics", "List topics with each partition's offsets and size");
  list->callback([&exit_code] {
    auto log = open_log(data_dir);
    if (!log) return void(exit_code = fail_with(log.error()));
    for (const auto& t : (*log)->topics()) {
      std::printf("%s: %d partition(s), sync.policy=%s\n", t.name.c_str(), t.partitions,
                  t.config.sync.to_string().c_str());
      for (int p = 0; p < t.partitions; ++p) {
        auto part = (*log)->partition(t.name, PartitionId(p));
        if (!part) continue;
        std::printf(
            "  partition %d: log start %lld, high watermark %lld, %llu bytes in %zu segment(s)\n",
            p, static_cast<long long>((*part)->log_start_offset().value()),
            static_cast<long long>((*part)->high_watermark().value()),
            static_cast<unsigned long long>((*part)->size_bytes()), (*part)->segment_count());
      }
    }
    if (auto s = (*log)->close(); !s) exit_code = fail_with(s.error());
  });

  static std::string key_separator;
  auto* produce = local->add_subcommand(
      "produce",
      "Append lines from stdin as records (key<sep>value with --key-separator; keyed "
      "records go to murmur2(key) % partitions like Kafka's clients, others round-robin)");
  produce->add_option("topic", topic, "Topic name (must exist)")->required();
  produce->add_option("-K,--key-separator", key_separator,
                      "Split each line into key and value at this string");
  produce->callback([&exit_code] {
    auto log = open_log(data_dir);
    if (!log) return void(exit_code = fail_with(log.error()));
    auto info = (*log)->topic(topic);
    if (!info)
      return void(exit_code = fail_with(
                      make_error(ErrorCode::kNotFound, "topic '{}' does not exist", topic)));
    std::vector<std::vector<storage::Record>> pending(static_cast<std::size_t>(info->partitions));
    std::vector<std::size_t> pending_bytes(pending.size(), 0);
    std::int64_t acked = 0, round_robin = 0;
    auto started = std::chrono::steady_clock::now();
    auto last_status = started;
    auto flush = [&](std::size_t p) -> Status {
      if (pending[p].empty()) return ok();
      WHARF_ASSIGN_OR_RETURN(auto part,
                             (*log)->partition(topic, PartitionId(static_cast<std::int32_t>(p))));
      WHARF_RETURN_IF_ERROR(part->append(storage::build_batch(pending[p])));
      acked += static_cast<std::int64_t>(pending[p].size());
      pending[p].clear();
      pending_bytes[p] = 0;
      return ok();
    };
    LineReader lines(STDIN_FILENO);  // at most kInputLineBytesMax per line in memory
    std::optional<Error> input;      // why reading stopped early
    while (true) {
      errno = 0;
      const LineReader::Next next = lines.next();
      if (next == LineReader::Next::kEnd) break;
      if (next == LineReader::Next::kError) {
        input = make_error(ErrorCode::kIoError, "reading stdin: {}", std::strerror(errno));
        break;  // what was read is still appended below
      }
      if (next == LineReader::Next::kTooLong) {
        input = make_error(ErrorCode::kMessageTooLarge,
                           "line {} is longer than {} bytes; the lines before it were appended",
                           lines.number(), kInputLineBytesMax);
        break;
      }
      const std::string_view line = lines.line();
      storage::Record rec;
      rec.timestamp_ms = SystemClock::instance().now_ms();
      std::size_t p;
      auto sep = key_separator.empty() ? std::string::npos : line.find(key_separator);
      if (sep != std::string::npos) {
        rec.key = to_bytes(std::string_view(line).substr(0, sep));
        rec.value = to_bytes(std::string_view(line).substr(sep + key_separator.size()));
        p = static_cast<std::size_t>(partition_for_key(*rec.key, info->partitions));
      } else {
        rec.value = to_bytes(line);
        p = static_cast<std::size_t>(round_robin++ % info->partitions);
      }
      pending_bytes[p] += line.size() + 32;
      pending[p].push_back(std::move(rec));
      if (pending_bytes[p] >= kBatchBytesTarget || pending[p].size() >= kBatchRecordsMax) {
        if (auto s = flush(p); !s) return void(exit_code = fail_with(s.error()));
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_status >= std::chrono::seconds(1)) {
        std::fprintf(stderr, "produced %lld records (durable)\n", static_cast<long long>(acked));
        last_status = now;
      }
    }
    for (std::size_t p = 0; p < pending.size(); ++p) {
      if (auto s = flush(p); !s) return void(exit_code = fail_with(s.error()));
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("produced %lld records to %s in %.2f s\n", static_cast<long long>(acked),
                topic.c_str(), secs);
    if (auto s = (*log)->close(); !s) exit_code = fail_with(s.error());
    if (input) exit_code = fail_with(*input);
  });

  static int partition = 0;
  static std::int64_t from = 0;
  static std::int64_t count = -1;
  auto* consume = local->add_subcommand(
      "consume", "Print the records of one partition as: offset<TAB>key<TAB>value");
  consume->add_option("topic", topic, "Topic name")->required();
  consume->add_option("-p,--partition", partition, "Partition");
  consume->add_option("-o,--offset", from, "First offset (default: the log start)");
  consume->add_option("-n,--count", count, "Stop after this many records");
  consume->callback([&exit_code] {
    auto log = open_log(data_dir);
    if (!log) return void(exit_code = fail_with(log.error()));
    auto part = (*log)->partition(topic, PartitionId(partition));
    if (!part) return void(exit_code = fail_with(part.error()));
    Offset at = std::max(Offset(from), (*part)->log_start_offset());
    std::int64_t printed = 0;
    while (at < (*part)->high_watermark() && (count < 0 || printed < count)) {
      auto r = (*part)->read(at, 1 << 20);
      if (!r) return void(exit_code = fail_with(r.error()));
      auto walked = storage::for_each_batch(r->records, [&](ByteView batch) -> Status {
        WHARF_ASSIGN_OR_RETURN(auto h, storage::parse_header(batch));
        WHARF_ASSIGN_OR_RETURN(auto records, storage::read_records(batch));
        for (const auto& rec : records) {
          if (rec.offset < at || (count >= 0 && printed >= count)) continue;
          std::printf("%lld\t%s\t%s\n", static_cast<long long>(rec.offset.value()),
                      rec.key ? std::string(as_chars(*rec.key)).c_str() : "",
                      rec.value ? std::string(as_chars(*rec.value)).c_str() : "");
          ++printed;
        }
        at = h.next_offset();
        return ok();
      });
      if (!walked) return void(exit_code = fail_with(walked.error()));
      if (*walked != r->records.size()) {  // Partition::read serves whole batches only
        return void(exit_code = fail_with(
                        make_error(ErrorCode::kCorruption, "a partial batch at offset {}", at)));
      }
    }
    if (auto s = (*log)->close(); !s) exit_code = fail_with(s.error());
  });
}

}  // namespace wharf::cli
