// `wharf consume TOPIC...`: print records, like kcat -C. Without --group it assigns partitions
// directly (no group membership, nothing committed); with --group it subscribes as a member of
// that consumer group and commits the offsets of the records it has printed. Runs on the main
// thread until --count, --exit at the end of every partition, or SIGINT/SIGTERM, then leaves the
// group cleanly (final commit included).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/client_args.h"
#include "cli/commands.h"
#include "cli/kafka_client.h"
#include "cli/record_format.h"

namespace wharf::cli {
namespace {

std::atomic<bool> g_stop{false};

void on_stop_signal(int) { g_stop.store(true); }

struct ConsumeArgs {
  std::vector<std::string> topics;
  bool from_beginning = false;
  std::string offset;
  std::vector<int> partitions;
  std::string group;
  std::int64_t count = -1;
  bool exit_at_end = false;
  std::string format = "%s\\n";
  bool json = false;
  bool quiet = false;
};

using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t,
                                         decltype(&rd_kafka_topic_partition_list_destroy)>;

PartitionListPtr new_list(int size) {
  return PartitionListPtr(rd_kafka_topic_partition_list_new(size),
                          &rd_kafka_topic_partition_list_destroy);
}

std::string as_text(const void* p, std::size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

// One record as a JSON line. Keys and values that are not UTF-8 get U+FFFD replacements.
void render_json(const rd_kafka_message_t* m, std::string& out) {
  nlohmann::ordered_json j;
  j["topic"] = rd_kafka_topic_name(m->rkt);
  j["partition"] = m->partition;
  j["offset"] = m->offset;
  rd_kafka_timestamp_type_t type;
  j["timestamp"] = rd_kafka_message_timestamp(m, &type);
  j["key"] = m->key != nullptr ? nlohmann::ordered_json(as_text(m->key, m->key_len))
                               : nlohmann::ordered_json(nullptr);
  j["value"] = m->payload != nullptr ? nlohmann::ordered_json(as_text(m->payload, m->len))
                                     : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json headers = nlohmann::ordered_json::array();
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      headers.push_back({name, value != nullptr ? nlohmann::ordered_json(as_text(value, size))
                                                : nlohmann::ordered_json(nullptr)});
    }
  }
  j["headers"] = std::move(headers);
  out += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  out += '\n';
}

void render_template(const RecordFormat& format, const rd_kafka_message_t* m, std::string& out) {
  RecordView r;
  r.topic = rd_kafka_topic_name(m->rkt);
  r.partition = m->partition;
  r.offset = m->offset;
  rd_kafka_timestamp_type_t type;
  r.timestamp_ms = rd_kafka_message_timestamp(m, &type);
  if (m->key != nullptr) r.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr)
    r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;
  if (format.uses_headers() && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(name, value != nullptr
                                       ? std::optional<std::string_view>(std::string_view(
                                             static_cast<const char*>(value), size))
                                       : std::nullopt);
    }
  }
  format.render(r, out);
}

void flush(std::string& out) {
  if (!out.empty()) std::fwrite(out.data(), 1, out.size(), stdout);
  out.clear();
  std::fflush(stdout);
}

int run_consume(const ConsumeArgs& a) {
  const char* cmd = "consume";
  const bool grouped = !a.group.empty();
  std::optional<RecordFormat> format;
  if (a.json) {
    if (a.format != "%s\\n")
      return report_failure(
          cmd, make_error(ErrorCode::kInvalidArgument, "--json and --format exclude each other"));
  } else {
    auto compiled = RecordFormat::compile(a.format);
    if (!compiled) return report_failure(cmd, compiled.error());
    format = std::move(*compiled);
  }
  std::optional<OffsetSpec> spec;
  if (!a.offset.empty()) {
    auto parsed = parse_offset_spec(a.offset);
    if (!parsed) return report_failure(cmd, parsed.error());
    spec = *parsed;
    if (a.from_beginning && spec->kind != OffsetSpec::Kind::kBeginning) {
      return report_failure(cmd, make_error(ErrorCode::kInvalidArgument,
                                            "--from-beginning and --offset {} disagree", a.offset));
    }
  } else if (a.from_beginning) {
    spec = OffsetSpec{OffsetSpec::Kind::kBeginning, 0};
  }
  if (grouped && !a.partitions.empty()) {
    return report_failure(
        cmd, make_error(ErrorCode::kInvalidArgument,
                        "--partition and --group exclude each other: a group member consumes the "
                        "partitions the group assigns it"));
  }
  if (grouped && spec &&
      (spec->kind == OffsetSpec::Kind::kAbsolute || spec->kind == OffsetSpec::Kind::kFromEnd)) {
    return report_failure(
        cmd, make_error(ErrorCode::kInvalidArgument,
                        "with --group, --offset can only be beginning or end (where to start when "
                        "the group has no committed offset); move committed offsets with "
                        "'wharf group reset-offsets'"));
  }

  std::vector<std::pair<std::string, std::string>> config = {
      {"enable.partition.eof", a.exit_at_end ? "true" : "false"},
      // Offsets are stored only after a record is printed, so a commit never covers a record
      // that was not written out.
      {"enable.auto.offset.store", "false"},
  };
  if (grouped) {
    config.emplace_back("group.id", a.group);
    config.emplace_back("enable.auto.commit", "true");
    config.emplace_back("auto.offset.reset",
                        spec && spec->kind == OffsetSpec::Kind::kBeginning ? "earliest" : "latest");
  } else {
    config.emplace_back("auto.offset.reset",
                        "earliest");  // a log truncated under us: resume at its start
  }
  auto client = connect_client(ClientKind::kConsumer, config);
  if (!client) return report_failure(cmd, client.error());
  rd_kafka_t* rk = (*client)->handle();
  auto md = (*client)->metadata();
  if (!md) return report_failure(cmd, md.error());

  // Without a group the partitions are read with librdkafka's simple consumer, fed into one
  // queue: no group.id at all, so no coordinator lookup, and no group ACL needed (as kcat -C).
  // The high-level consumer (rd_kafka_consumer_poll) refuses to run without a group.id.
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(
      grouped ? nullptr : rd_kafka_queue_new(rk), &rd_kafka_queue_destroy);
  std::vector<std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)>> handles;
  std::vector<std::pair<rd_kafka_topic_t*, std::int32_t>> started;
  auto stop_started = [&] {
    for (const auto& [rkt, p] : started) rd_kafka_consume_stop(rkt, p);
    started.clear();
  };
  auto list = new_list(8);
  std::set<std::string> seen_topics;
  for (const auto& topic : a.topics) {
    if (!seen_topics.insert(topic).second) continue;
    const auto* t = md->find(topic);
    if (t == nullptr)
      return report_failure(cmd,
                            make_error(ErrorCode::kNotFound, "topic '{}' does not exist", topic));
    if (grouped) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
      continue;
    }
    std::set<PartitionId> partitions;
    if (a.partitions.empty()) {
      for (const auto& p : t->partitions) partitions.insert(p.id);
    } else {
      for (int p : a.partitions) {
        if (p < 0 || static_cast<std::size_t>(p) >= t->partitions.size()) {
          return report_failure(cmd, make_error(ErrorCode::kInvalidArgument,
                                                "topic '{}' has {} partition(s); no partition {}",
                                                topic, t->partitions.size(), p));
        }
        partitions.insert(PartitionId(p));
      }
    }
    for (auto p : partitions) {
      std::int64_t start = RD_KAFKA_OFFSET_END;  // as kafka-console-consumer: new records only
      if (spec && spec->kind == OffsetSpec::Kind::kBeginning) start = RD_KAFKA_OFFSET_BEGINNING;
      if (spec &&
          (spec->kind == OffsetSpec::Kind::kAbsolute || spec->kind == OffsetSpec::Kind::kFromEnd)) {
        auto w = (*client)->watermarks(topic, p);
        if (!w) return report_failure(cmd, w.error());
        start =
            spec->kind == OffsetSpec::Kind::kAbsolute ? spec->value : w->high.value() - spec->value;
        start = std::clamp(start, w->low.value(), w->high.value());
      }
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p.value())->offset = start;
    }
  }

  if (grouped) {
    if (auto err = rd_kafka_subscribe(rk, list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return report_failure(
          cmd, make_error(ErrorCode::kInvalidArgument, "subscribe: {}", rd_kafka_err2str(err)));
    }
  } else {
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      if (handles.empty() ||
          std::string_view(rd_kafka_topic_name(handles.back().get())) != e.topic) {
        handles.emplace_back(rd_kafka_topic_new(rk, e.topic, nullptr), &rd_kafka_topic_destroy);
      }
      if (rd_kafka_consume_start_queue(handles.back().get(), e.partition, e.offset, queue.get()) !=
          0) {
        stop_started();
        return report_failure(
            cmd, make_error(ErrorCode::kInvalidArgument, "{}[{}]: {}", e.topic, e.partition,
                            rd_kafka_err2str(rd_kafka_last_error())));
      }
      started.emplace_back(handles.back().get(), e.partition);
    }
  }

  struct sigaction sa {};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::int64_t consumed = 0;
  int exit_code = 0;
  std::set<std::pair<std::string, std::int32_t>> at_end;  // partitions whose end we reached
  std::string out;
  auto all_at_end = [&]() {
    if (!grouped) return at_end.size() == started.size();
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    if (rd_kafka_assignment(rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR || assigned == nullptr)
      return false;
    PartitionListPtr owned(assigned, &rd_kafka_topic_partition_list_destroy);
    if (assigned->cnt == 0) return false;  // a group member before its first assignment
    for (int i = 0; i < assigned->cnt; ++i) {
      if (!at_end.contains({assigned->elems[i].topic, assigned->elems[i].partition})) return false;
    }
    return true;
  };
  if (!grouped && a.exit_at_end && list->cnt == 0) g_stop.store(true);

  while (!g_stop.load() && (a.count < 0 || consumed < a.count)) {
    rd_kafka_message_t* m =
        grouped ? rd_kafka_consumer_poll(rk, 100) : rd_kafka_consume_queue(queue.get(), 100);
    if (m == nullptr) {
      flush(out);
      continue;
    }
    std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> owned(
        m, &rd_kafka_message_destroy);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert({rd_kafka_topic_name(m->rkt), m->partition});
      if (a.exit_at_end && all_at_end()) break;
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      flush(out);
      std::fprintf(stderr, "wharf consume: %s%s%s\n",
                   m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "",
                   m->rkt != nullptr ? ": " : "", rd_kafka_message_errstr(m));
      if (m->err == RD_KAFKA_RESP_ERR__FATAL || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
          m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
          m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
          m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
        exit_code = 1;
        break;
      }
      continue;
    }
    at_end.erase({rd_kafka_topic_name(m->rkt), m->partition});
    if (a.json) {
      render_json(m, out);
    } else {
      render_template(*format, m, out);
    }
    ++consumed;
    if (out.size() >= 64 * 1024) flush(out);  // keep memory bounded under a fast stream
    if (grouped) {
      flush(out);  // store (and so commit) only what has reached stdout
      auto stored = new_list(1);
      rd_kafka_topic_partition_list_add(stored.get(), rd_kafka_topic_name(m->rkt), m->partition)
          ->offset = m->offset + 1;
      rd_kafka_offsets_store(rk, stored.get());
    }
  }
  flush(out);
  if (grouped) {
    // Commits the stored offsets and leaves the group, so the others rebalance at once.
    if (auto close_err = rd_kafka_consumer_close(rk); close_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "wharf consume: leaving group '%s': %s\n", a.group.c_str(),
                   rd_kafka_err2str(close_err));
      exit_code = 1;
    }
  } else {
    stop_started();
  }
  if (!a.quiet) {
    std::fprintf(stderr, "wharf consume: %lld record(s)%s%s\n", static_cast<long long>(consumed),
                 grouped ? ", offsets committed for group " : "", grouped ? a.group.c_str() : "");
  }
  return exit_code;
}

}  // namespace

void register_consume(CLI::App& app, int& exit_code) {
  static ConsumeArgs args;
  auto* cmd = app.add_subcommand(
      "consume",
      "Print records of TOPIC(s) to stdout, one per --format template (default: the value and a "
      "newline). Without "
      "--group: every partition (or --partition), new records only unless --from-beginning or "
      "--offset; nothing is "
      "committed. With --group: join that consumer group and commit what was printed");
  cmd->add_option("topics", args.topics, "Topic(s) to consume")->required();
  cmd->add_flag("--from-beginning", args.from_beginning,
                "Start at the log start offset (same as -o beginning)");
  cmd->add_option(
      "-o,--offset", args.offset,
      "Where to start: beginning | end | N (absolute offset) | -N (N records before the end)");
  cmd->add_option("-p,--partition", args.partitions,
                  "Only this partition, repeatable (not with --group)");
  cmd->add_option("-g,--group", args.group,
                  "Consume as a member of this consumer group and commit offsets");
  cmd->add_option("-c,--count", args.count, "Exit after this many records")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("-e,--exit", args.exit_at_end,
                "Exit once the end of every (assigned) partition is reached");
  cmd->add_option(
         "-f,--format", args.format,
         "Output template: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp (ms), "
         "%h headers (k=v,...), %S value size, %K key size, %% percent; escapes \\n \\t \\r \\\\")
      ->capture_default_str();
  cmd->add_flag("-J,--json", args.json, "Print each record as a JSON object on its own line");
  cmd->add_flag("-q,--quiet", args.quiet, "No summary on stderr at exit");
  add_client_options(cmd);
  cmd->callback([&exit_code] { exit_code = run_consume(args); });
}

}  // namespace wharf::cli
