// `wharf produce TOPIC`: one record per input line (stdin or --file), like kcat -P. Idempotent
// with acks=all by default, so a retried batch is never written twice. Reads on the main thread,
// which also serves librdkafka's delivery reports; the summary goes to stderr and the exit code
// is 1 if any record was not acknowledged. A record counts as delivered only when the broker
// acknowledged it under --acks (acks=all on wharf means durable under the topic's sync policy).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <CLI/CLI.hpp>

#include "cli/client_args.h"
#include "cli/commands.h"
#include "cli/kafka_client.h"
#include "cli/line_reader.h"

namespace wharf::cli {
namespace {

std::atomic<bool> g_stop{false};

void on_stop_signal(int) { g_stop.store(true); }

// Without SA_RESTART, so a blocking read of stdin returns EINTR and the loop can stop.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct ProduceArgs {
  std::string topic;
  std::string file;
  std::string key_separator;
  std::vector<std::string> headers;
  std::string acks = "all";
  std::string compression = "none";
  int partition = -1;
  bool no_idempotence = false;
};

// Delivery reports, counted on the main thread (rd_kafka_poll runs the callback there).
struct DeliveryStats {
  std::int64_t delivered = 0;
  std::int64_t failed = 0;
  std::map<std::string, std::int64_t> failures;  // reason → count
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* stats = static_cast<DeliveryStats*>(m->_private);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++stats->delivered;
  } else {
    ++stats->failed;
    ++stats->failures[rd_kafka_err2str(m->err)];
  }
}

using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, decltype(&rd_kafka_headers_destroy)>;

int run_produce(const ProduceArgs& a) {
  const char* cmd = "produce";
  HeadersPtr headers(rd_kafka_headers_new(a.headers.size()), &rd_kafka_headers_destroy);
  for (const auto& h : a.headers) {
    auto kv = parse_key_value(h, "--header");
    if (!kv) return report_failure(cmd, kv.error());
    rd_kafka_header_add(headers.get(), kv->first.data(), static_cast<ssize_t>(kv->first.size()),
                        kv->second.data(), static_cast<ssize_t>(kv->second.size()));
  }
  std::FILE* in = stdin;
  std::unique_ptr<std::FILE, decltype(&std::fclose)> file(nullptr, &std::fclose);
  if (!a.file.empty()) {
    file.reset(std::fopen(a.file.c_str(), "rb"));
    if (!file) return report_failure(cmd, errno_error(errno, fmt::format("--file {}", a.file)));
    in = file.get();
  }

  const bool idempotent = (a.acks == "all" || a.acks == "-1") && !a.no_idempotence;
  std::vector<std::pair<std::string, std::string>> config = {
      {"acks", a.acks},
      {"enable.idempotence", idempotent ? "true" : "false"},
      {"compression.codec", a.compression},
      // Java's partitioner (murmur2 of the key), so keys land where every other Kafka client and
      // `wharf local produce` put them; librdkafka's own default is a CRC32 hash.
      {"partitioner", "murmur2_random"},
      // librdkafka's default (300 s) would leave the command hanging for five minutes when the
      // cluster goes away; one minute still rides out a leader election. -X overrides it.
      {"message.timeout.ms", "60000"},
  };
  auto client = connect_client(ClientKind::kProducer, config, [](rd_kafka_conf_t* conf) {
    rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  });
  if (!client) return report_failure(cmd, client.error());
  rd_kafka_t* rk = (*client)->handle();

  // Fail fast on a topic that is missing and will stay missing, instead of letting every record
  // wait topic.metadata.propagation.max.ms. A producer's metadata request for the one topic asks
  // the broker to auto-create it, as any Kafka producer does.
  auto topic = (*client)->topic(a.topic);
  if (!topic && topic.error().code() == ErrorCode::kNotFound) {
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
        rd_kafka_topic_new(rk, a.topic.c_str(), nullptr), &rd_kafka_topic_destroy);
    const rd_kafka_metadata_t* md = nullptr;
    auto err = rd_kafka_metadata(rk, 0, rkt.get(), &md, (*client)->timeout_ms());
    rd_kafka_resp_err_t topic_err = err;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      topic_err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      rd_kafka_metadata_destroy(md);
    }
    if (topic_err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      return report_failure(
          cmd, make_error(ErrorCode::kNotFound,
                          "topic '{}' does not exist and the cluster did not create it", a.topic));
    }
    if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR &&
        topic_err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
      return report_failure(cmd, make_error(ErrorCode::kInvalidArgument, "topic '{}': {}", a.topic,
                                            rd_kafka_err2str(topic_err)));
    }
    topic = (*client)->topic(a.topic);  // may still be propagating; librdkafka waits for it
  } else if (!topic) {
    return report_failure(cmd, topic.error());
  }
  if (a.partition >= 0 && topic &&
      static_cast<std::size_t>(a.partition) >= topic->partitions.size()) {
    return report_failure(cmd, make_error(ErrorCode::kInvalidArgument,
                                          "topic '{}' has {} partition(s); no partition {}",
                                          a.topic, topic->partitions.size(), a.partition));
  }

  install_stop_handlers();
  DeliveryStats stats;
  std::int64_t sent = 0;
  std::int64_t refused = 0;  // not even queued (e.g. larger than message.max.bytes)
  std::map<std::string, std::int64_t> refusals;
  const auto started = std::chrono::steady_clock::now();
  // At most kInputLineBytesMax per line in memory; a signal stops it even inside a long line.
  LineReader lines(fileno(in), kInputLineBytesMax, &g_stop);
  std::int64_t too_long = 0, first_too_long = 0;
  while (!g_stop.load()) {
    errno = 0;
    const LineReader::Next next = lines.next();
    if (next == LineReader::Next::kEnd) break;
    if (next == LineReader::Next::kError) {
      if (errno != EINTR) {
        std::fprintf(stderr, "wharf produce: reading input: %s\n", std::strerror(errno));
        refused += 1;  // make the exit code say the input was not fully read
      }
      break;
    }
    if (next == LineReader::Next::kTooLong) {
      ++refused;
      if (too_long++ == 0) first_too_long = lines.number();
      continue;
    }
    const char* line = lines.line().data();
    const std::size_t len = lines.line().size();
    const char* key = nullptr;
    std::size_t key_len = 0;
    const char* value = line;
    std::size_t value_len = len;
    if (!a.key_separator.empty()) {
      std::string_view view(line, len);
      if (auto sep = view.find(a.key_separator); sep != std::string_view::npos) {
        key = line;
        key_len = sep;
        value = line + sep + a.key_separator.size();
        value_len = len - sep - a.key_separator.size();
      }
    }
    rd_kafka_headers_t* record_headers =
        a.headers.empty() ? nullptr : rd_kafka_headers_copy(headers.get());
    while (true) {
      auto err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(a.topic.c_str()),
          RD_KAFKA_V_PARTITION(a.partition >= 0 ? a.partition : RD_KAFKA_PARTITION_UA),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
          RD_KAFKA_V_VALUE(const_cast<char*>(value), value_len), RD_KAFKA_V_HEADERS(record_headers),
          RD_KAFKA_V_OPAQUE(&stats), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !g_stop.load()) {
        rd_kafka_poll(
            rk, 100);  // the local queue is bounded (queue.buffering.max.messages): wait for room
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++sent;  // librdkafka now owns record_headers
      } else {
        if (record_headers != nullptr) rd_kafka_headers_destroy(record_headers);
        ++refused;
        ++refusals[rd_kafka_err2str(err)];
      }
      break;
    }
    rd_kafka_poll(rk, 0);
  }
  if (too_long > 0) {
    refusals[fmt::format("line longer than {} bytes, skipped (the first: line {})",
                         kInputLineBytesMax, first_too_long)] = too_long;
  }
  const bool interrupted = g_stop.load();
  // Wait for every queued record's delivery report. A second signal gives up on the rest.
  g_stop.store(false);
  while (rd_kafka_outq_len(rk) > 0 && !g_stop.load()) rd_kafka_poll(rk, 100);
  const std::int64_t undelivered = sent - stats.delivered - stats.failed;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::fprintf(stderr, "wharf produce: %lld record(s) delivered to %s in %.2f s (acks=%s%s%s)%s\n",
               static_cast<long long>(stats.delivered), a.topic.c_str(), secs, a.acks.c_str(),
               idempotent ? ", idempotent" : "",
               a.compression == "none" ? "" : (", " + a.compression).c_str(),
               interrupted ? "; interrupted" : "");
  for (const auto& [reason, count] : refusals) {
    std::fprintf(stderr, "wharf produce: %lld record(s) refused by the client: %s\n",
                 static_cast<long long>(count), reason.c_str());
  }
  for (const auto& [reason, count] : stats.failures) {
    std::fprintf(stderr, "wharf produce: %lld record(s) failed delivery: %s\n",
                 static_cast<long long>(count), reason.c_str());
  }
  if (undelivered > 0) {
    std::fprintf(stderr, "wharf produce: %lld record(s) still unacknowledged at exit\n",
                 static_cast<long long>(undelivered));
  }
  return (stats.failed == 0 && refused == 0 && undelivered == 0) ? 0 : 1;
}

}  // namespace

void register_produce(CLI::App& app, int& exit_code) {
  static ProduceArgs args;
  auto* cmd =
      app.add_subcommand("produce",
                         "Produce one record per line of stdin (or --file) to TOPIC. Idempotent "
                         "with acks=all by default; prints a "
                         "summary to stderr and exits 1 if any record was not acknowledged");
  cmd->add_option("topic", args.topic, "Topic to produce to")->required();
  cmd->add_option("-f,--file", args.file, "Read lines from this file instead of stdin");
  cmd->add_option(
      "-K,--key-separator", args.key_separator,
      "Split each line at the first SEP into key and value (lines without SEP get a null key)");
  cmd->add_option("-H,--header", args.headers,
                  "Header key=value added to every record, repeatable");
  cmd->add_option("--acks", args.acks,
                  "Acknowledgement: all (durable on wharf), 1 (leader) or 0 (none)")
      ->check(CLI::IsMember({"all", "-1", "1", "0"}))
      ->capture_default_str();
  cmd->add_option("-z,--compression", args.compression,
                  "Batch compression: none, gzip, snappy, lz4, zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}))
      ->capture_default_str();
  cmd->add_option("-p,--partition", args.partition,
                  "Send every record to this partition (default: murmur2 of the key, or spread "
                  "when keyless)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-idempotence", args.no_idempotence,
                "Turn the idempotent producer off (it is on with acks=all)");
  add_client_options(cmd);
  cmd->callback([&exit_code] { exit_code = run_produce(args); });
}

}  // namespace wharf::cli
