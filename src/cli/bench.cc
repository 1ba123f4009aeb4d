// `wharf bench produce|consume`: a load generator on librdkafka (C API) against any Kafka
// cluster picked by --bootstrap. produce measures throughput and the latency from each record's
// send time to its delivery report; with --rate it runs open loop, so a record's latency counts
// from the time it was *scheduled* to be sent and a slow broker cannot hide behind the client's
// back-off (no coordinated omission). consume measures how fast records arrive.
//
// Threads: the command's own thread produces (or consumes); in produce a second thread owns
// rd_kafka_poll, so delivery reports are timestamped as soon as librdkafka has them, and it
// alone touches the latency histogram and prints the status line. librdkafka runs its own
// threads. Nothing here writes to disk; durability is whatever --acks asks of the broker.
//
// Bounds: the histogram is a fixed array (kBucketCount counters); librdkafka's queue is bounded
// by queue.buffering.max.messages/kbytes (a full queue makes the sender wait, and an open-loop
// sender keeps measuring from the scheduled time); every record is delivered or failed within
// delivery.timeout.ms (30 s here unless -X overrides it), which bounds the final wait.
#include <librdkafka/rdkafka.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"

namespace wharf::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t nanos_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// ---- latency histogram -----------------------------------------------------------------------

// Log-linear buckets in the manner of HdrHistogram: values below 2^kSubBits nanoseconds are
// exact; above, each power of two is split into 2^(kSubBits-1) equal buckets, so a reported
// value is at most 1/128 (0.8%) above the true one. Values are capped at 2^40 ns (18 minutes),
// which bounds the array at 4,352 counters (34 KiB) whatever the run's length.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr std::int64_t kValueMax = std::int64_t{1} << 40;
  static constexpr int kSubCount = 1 << kSubBits;   // 256 exact values at the bottom
  static constexpr int kHalfCount = kSubCount / 2;  // 128 buckets per power of two above
  static constexpr int kBucketCount = kSubCount + (40 - kSubBits) * kHalfCount;

  void record(std::int64_t value_ns) {
    value_ns = std::clamp<std::int64_t>(value_ns, 0, kValueMax - 1);
    counts_[index_of(value_ns)] += 1;
    count_ += 1;
    sum_ns_ += value_ns;
    max_ns_ = std::max(max_ns_, value_ns);
  }

  std::uint64_t count() const { return count_; }
  std::int64_t max_ns() const { return max_ns_; }
  double mean_ns() const { return count_ ? static_cast<double>(sum_ns_) / count_ : 0.0; }

  // The smallest bucket bound at or below which `quantile` of the values lie (the bucket's
  // highest value, as HdrHistogram reports), never above the exact maximum. 0 when empty.
  std::int64_t value_at(double quantile) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::max(1.0, std::ceil(quantile * count_)));
    std::uint64_t seen = 0;
    for (int i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_of(i), max_ns_);
    }
    return max_ns_;
  }

 private:
  static int index_of(std::int64_t v) {
    if (v < kSubCount) return static_cast<int>(v);
    const int msb = 63 - std::countl_zero(static_cast<std::uint64_t>(v));  // >= kSubBits
    const int shift = msb - (kSubBits - 1);                                // >= 1
    const int mantissa = static_cast<int>(v >> shift);                     // [128, 256)
    return kSubCount + (shift - 1) * kHalfCount + (mantissa - kHalfCount);
  }
  static std::int64_t highest_of(int index) {
    if (index < kSubCount) return index;
    const int shift = (index - kSubCount) / kHalfCount + 1;
    const std::int64_t mantissa = (index - kSubCount) % kHalfCount + kHalfCount;
    return ((mantissa + 1) << shift) - 1;
  }

  std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(kBucketCount, 0);
  std::uint64_t count_ = 0;
  std::int64_t sum_ns_ = 0;
  std::int64_t max_ns_ = 0;
};

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

// ---- librdkafka plumbing -----------------------------------------------------------------------

// Ctrl-C stops a run early; the summary still covers what was done.
std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted.store(true); }

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

// librdkafka's log and error callbacks run on its own threads: the last message is kept for a
// failure's one-line reason instead of being printed in the middle of the status lines.
struct ClientErrors {
  std::mutex mu;
  std::string last;
  void set(std::string text) {
    std::lock_guard lock(mu);
    last = std::move(text);
  }
  std::string get() {
    std::lock_guard lock(mu);
    return last;
  }
};

struct ProduceState;

// The client's opaque: what every callback may need.
struct ClientContext {
  ClientErrors errors;
  ProduceState* produce = nullptr;  // set for a producer
};

void on_client_log(const rd_kafka_t* rk, int, const char*, const char* buf) {
  static_cast<ClientContext*>(rd_kafka_opaque(rk))->errors.set(buf);
}
void on_client_error(rd_kafka_t*, int, const char* reason, void* opaque) {
  static_cast<ClientContext*>(opaque)->errors.set(reason);
}

// Thrown only inside this file and caught in run_command: the one-line reason of a failure.
struct BenchFailure {
  std::string reason;
};

class Config {
 public:
  Config() : conf_(rd_kafka_conf_new()) {}
  ~Config() {
    if (conf_) rd_kafka_conf_destroy(conf_);
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  void set(const std::string& key, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf_, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      throw BenchFailure{key + "=" + value + ": " + err};
    }
  }
  // -X key=value pairs, applied last so they win.
  void set_all(const std::vector<std::string>& properties) {
    for (const auto& kv : properties) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw BenchFailure{"-X " + kv + ": expected key=value"};
      set(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }
  // Hands the configuration to rd_kafka_new, which owns it from then on.
  KafkaHandle create(rd_kafka_type_t type, ClientContext* context) {
    rd_kafka_conf_set_opaque(conf_, context);
    rd_kafka_conf_set_log_cb(conf_, on_client_log);
    rd_kafka_conf_set_error_cb(conf_, on_client_error);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf_, err, sizeof err);
    if (!rk) throw BenchFailure{std::string("creating the client: ") + err};
    conf_ = nullptr;
    return KafkaHandle(rk);
  }
  rd_kafka_conf_t* raw() { return conf_; }

 private:
  rd_kafka_conf_t* conf_;
};

// The partition count of `topic`, or nullopt if the cluster does not have it. Fails with the
// reason when the cluster does not answer within `timeout_ms` (also: the broker is unreachable).
std::optional<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms,
                                   ClientErrors& errors) {
  const rd_kafka_metadata_t* md = nullptr;
  // All topics (not just ours): asking for one topic could auto-create it on the broker.
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::string why = errors.get();
    throw BenchFailure{"no answer from " + bootstrap() + " within " + std::to_string(timeout_ms) +
                       " ms (" + rd_kafka_err2str(err) + (why.empty() ? "" : "; last: " + why) +
                       ")"};
  }
  std::optional<int> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) break;
      const std::string why = rd_kafka_err2str(t.err);
      rd_kafka_metadata_destroy(md);
      throw BenchFailure{"topic " + topic + ": " + why};
    }
    out = t.partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

// Creates `topic` with `partitions` partitions (replication factor 1) through the admin API.
// A topic that already exists is not an error: someone else created it first.
void create_topic(rd_kafka_t* rk, const std::string& topic, int partitions, int timeout_ms) {
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  if (!nt) throw BenchFailure{"topic " + topic + ": " + err};
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, err, sizeof err);
  rd_kafka_CreateTopics(rk, &nt, 1, options, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, timeout_ms + 1000);
  std::string failure;
  if (!ev) {
    failure = "no CreateTopics answer within " + std::to_string(timeout_ms) + " ms";
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    std::size_t n = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (std::size_t i = 0; i < n; ++i) {
      const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* s = rd_kafka_topic_result_error_string(results[i]);
        failure = s ? s : rd_kafka_err2str(e);
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(nt);
  if (!failure.empty()) throw BenchFailure{"creating topic " + topic + ": " + failure};
}

// ---- common options and reporting ------------------------------------------------------------

struct CommonOptions {
  std::string topic;
  std::int64_t records = 0;  // 0: not the bound
  double seconds = 0;        // 0: not the bound
  int timeout_ms = 10'000;
  bool json = false;
  bool quiet = false;
  std::vector<std::string> properties;
};

void add_common(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--topic", o.topic, "Topic to use")->required();
  cmd->add_option("--records", o.records, "Stop after this many records")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seconds", o.seconds, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout-ms", o.timeout_ms,
                  "How long to wait for the cluster's first answer before giving up")
      ->check(CLI::Range(100, 600'000))
      ->capture_default_str();
  cmd->add_option("-X,--property", o.properties,
                  "A librdkafka property key=value (repeatable; applied last, so it wins)");
  cmd->add_flag("--json", o.json, "Print the summary as one JSON object on stdout");
  cmd->add_flag("-q,--quiet", o.quiet, "No status line every second on stderr");
}

double mb(std::uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }
double per_second(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0.0; }

// ---- produce ------------------------------------------------------------------------------------

struct ProduceOptions {
  CommonOptions common;
  int record_bytes = 100;
  double rate = 0;  // records per second; 0: as fast as possible (closed loop)
  std::string acks = "all";
  bool idempotent = false;
  std::string compression = "none";
  int linger_ms = -1;    // -1: librdkafka's default
  int batch_bytes = -1;  // -1: librdkafka's default
  int partitions = 0;    // 0: the topic must exist
};

// State shared by the sender, the poll thread and the delivery-report callback. The histogram
// and `first_error` are touched only on the poll thread (the only caller of rd_kafka_poll).
struct ProduceState {
  Clock::time_point start;
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> delivered_bytes{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::int64_t> last_delivery_ns{0};
  std::atomic<std::uint64_t> queue_full_waits{0};
  LatencyHistogram latency;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  ProduceState* st = static_cast<ClientContext*>(opaque)->produce;
  const std::int64_t now = nanos_since(st->start);
  const auto scheduled_ns = reinterpret_cast<std::intptr_t>(m->_private);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (st->first_error.empty()) st->first_error = rd_kafka_err2str(m->err);
    st->failed.fetch_add(1, std::memory_order_relaxed);
  } else {
    st->latency.record(now - scheduled_ns);
    st->delivered_bytes.fetch_add(m->len, std::memory_order_relaxed);
    st->delivered.fetch_add(1, std::memory_order_relaxed);
  }
  st->last_delivery_ns.store(now, std::memory_order_relaxed);
}

// The payload every record carries: random capital letters from a fixed seed, as Kafka's own
// producer-perf-test makes them (so --compression has something, but not much, to gain).
std::vector<char> make_payload(int bytes) {
  std::mt19937_64 rng(42);
  std::vector<char> out(static_cast<std::size_t>(bytes));
  for (auto& c : out) c = static_cast<char>('A' + rng() % 26);
  return out;
}

int run_produce(const ProduceOptions& o) {
  const CommonOptions& c = o.common;
  if (o.idempotent && o.acks != "all") throw BenchFailure{"--idempotent needs --acks all"};
  ClientContext context;
  auto state = std::make_unique<ProduceState>();
  context.produce = state.get();
  Config conf;
  conf.set("bootstrap.servers", bootstrap());
  conf.set("client.id", "wharf-bench-produce");
  conf.set("acks", o.acks == "all" ? "-1" : o.acks);
  conf.set("compression.codec", o.compression);
  conf.set("enable.idempotence", o.idempotent ? "true" : "false");
  if (o.linger_ms >= 0) conf.set("linger.ms", std::to_string(o.linger_ms));
  if (o.batch_bytes > 0) conf.set("batch.size", std::to_string(o.batch_bytes));
  // Every record is delivered or failed within this bound, which bounds the final wait.
  conf.set("delivery.timeout.ms", "30000");
  conf.set_all(c.properties);
  rd_kafka_conf_set_dr_msg_cb(conf.raw(), on_delivery);
  KafkaHandle rk = conf.create(RD_KAFKA_PRODUCER, &context);
  auto partitions = partition_count(rk.get(), c.topic, c.timeout_ms, context.errors);
  if (!partitions) {
    if (o.partitions <= 0) {
      throw BenchFailure{"topic " + c.topic + " does not exist (pass --partitions P to create it)"};
    }
    create_topic(rk.get(), c.topic, o.partitions, c.timeout_ms);
    partitions = o.partitions;
  } else if (o.partitions > 0 && *partitions != o.partitions) {
    std::fprintf(stderr, "wharf bench produce: topic %s exists with %d partition(s); using them\n",
                 c.topic.c_str(), *partitions);
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), c.topic.c_str(), nullptr);
  if (!rkt)
    throw BenchFailure{"topic handle: " + std::string(rd_kafka_err2str(rd_kafka_last_error()))};

  const std::vector<char> payload = make_payload(o.record_bytes);
  const bool unbounded = c.records == 0 && c.seconds == 0;
  const std::int64_t seconds_ns = static_cast<std::int64_t>(c.seconds * 1e9);
  const std::int64_t records_max =
      c.records > 0 ? c.records
                    : (unbounded ? 1'000'000 : std::numeric_limits<std::int64_t>::max());

  // The poll thread: serves delivery reports (timestamping them at once) and prints a status
  // line per second from the histogram it alone owns.
  std::atomic<bool> stop_polling{false};
  std::thread poller([&] {
    std::int64_t next_status_ns = 1'000'000'000;
    std::uint64_t last_delivered = 0, last_bytes = 0;
    while (!stop_polling.load()) {
      rd_kafka_poll(rk.get(), 50);
      const std::int64_t now = nanos_since(state->start);
      if (now < next_status_ns) continue;
      const std::uint64_t d = state->delivered.load(), b = state->delivered_bytes.load();
      if (!c.quiet) {
        std::fprintf(stderr,
                     "[produce %5.1fs] %9.0f records/s %8.1f MB/s  errors %llu  in flight %d  "
                     "p50 %.2f ms  p99 %.2f ms\n",
                     now / 1e9, static_cast<double>(d - last_delivered), mb(b - last_bytes),
                     static_cast<unsigned long long>(state->failed.load()),
                     rd_kafka_outq_len(rk.get()), ms(state->latency.value_at(0.5)),
                     ms(state->latency.value_at(0.99)));
      }
      last_delivered = d;
      last_bytes = b;
      next_status_ns += 1'000'000'000;
    }
  });

  // The sender. Open loop (--rate): record i is due at start + i/rate and its latency counts
  // from then, however late it actually leaves. Closed loop: it counts from the produce call.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // sleep_until wakes ~50 us late otherwise
  state->start = Clock::now();
  std::int64_t i = 0;
  for (; i < records_max && !g_interrupted.load(); ++i) {
    std::int64_t due_ns;
    if (o.rate > 0) {
      due_ns = static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o.rate);
      if (seconds_ns > 0 && due_ns >= seconds_ns) break;
      if (nanos_since(state->start) < due_ns) {
        std::this_thread::sleep_until(state->start + std::chrono::nanoseconds(due_ns));
      }
    } else {
      due_ns = nanos_since(state->start);
      if (seconds_ns > 0 && due_ns >= seconds_ns) break;
    }
    bool queued = false;
    while (!queued) {
      // Not copied: the payload outlives the producer, and librdkafka frees nothing it was not
      // given with RD_KAFKA_MSG_F_FREE.
      const int rc = rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0,
                                      const_cast<char*>(payload.data()), payload.size(), nullptr, 0,
                                      reinterpret_cast<void*>(static_cast<std::intptr_t>(due_ns)));
      queued = rc == 0;
      if (queued) break;
      const rd_kafka_resp_err_t err = rd_kafka_last_error();
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        stop_polling.store(true);
        poller.join();
        rd_kafka_topic_destroy(rkt);
        throw BenchFailure{std::string("produce: ") + rd_kafka_err2str(err)};
      }
      if (g_interrupted.load()) break;  // this record is not sent
      state->queue_full_waits.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // the poll thread drains it
    }
    if (!queued) break;
    state->sent.fetch_add(1, std::memory_order_relaxed);
  }
  const double send_seconds = nanos_since(state->start) / 1e9;
  // Every record ends in a delivery report within delivery.timeout.ms, so this wait is bounded.
  // After Ctrl-C it is cut to kInterruptedWait: what is still queued or in flight is purged and
  // counted as failed.
  constexpr auto kInterruptedWait = std::chrono::seconds(2);
  std::optional<Clock::time_point> interrupted_at;
  bool purged = false;
  while (state->delivered.load() + state->failed.load() < state->sent.load()) {
    if (g_interrupted.load() && !interrupted_at) interrupted_at = Clock::now();
    if (interrupted_at && !purged && Clock::now() - *interrupted_at > kInterruptedWait) {
      rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      purged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop_polling.store(true);
  poller.join();
  rd_kafka_topic_destroy(rkt);

  const ProduceState& st = *state;
  const double seconds = st.last_delivery_ns.load() / 1e9;
  const std::uint64_t records = st.delivered.load(), bytes = st.delivered_bytes.load();
  const std::uint64_t failed = st.failed.load();
  nlohmann::json out = {
      {"bench", "produce"},
      {"topic", c.topic},
      {"partitions", *partitions},
      {"record_bytes", o.record_bytes},
      {"acks", o.acks},
      {"idempotent", o.idempotent},
      {"compression", o.compression},
      {"rate_offered", o.rate},
      {"rate_sent", per_second(static_cast<double>(st.sent.load()), send_seconds)},
      {"records", records},
      {"bytes", bytes},
      {"errors", failed},
      {"seconds", seconds},
      {"records_per_s", per_second(static_cast<double>(records), seconds)},
      {"mb_per_s", per_second(mb(bytes), seconds)},
      {"queue_full_waits", st.queue_full_waits.load()},
      {"latency_ms_mean", st.latency.mean_ns() / 1e6},
      {"latency_ms_p50", ms(st.latency.value_at(0.50))},
      {"latency_ms_p90", ms(st.latency.value_at(0.90))},
      {"latency_ms_p99", ms(st.latency.value_at(0.99))},
      {"latency_ms_p999", ms(st.latency.value_at(0.999))},
      {"latency_ms_max", ms(st.latency.max_ns())},
      {"interrupted", g_interrupted.load()},
  };
  if (c.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf(
        "produced %llu records (%llu bytes of values, %d B each) to %s in %.2f s: %.0f "
        "records/s, %.2f MB/s, %llu errors\n",
        static_cast<unsigned long long>(records), static_cast<unsigned long long>(bytes),
        o.record_bytes, c.topic.c_str(), seconds, out["records_per_s"].get<double>(),
        out["mb_per_s"].get<double>(), static_cast<unsigned long long>(failed));
    if (o.rate > 0) {
      std::printf("offered %.0f records/s (open loop), sent %.0f records/s\n", o.rate,
                  out["rate_sent"].get<double>());
    }
    std::printf(
        "latency (%s to delivery report) ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
        "max %.3f  mean %.3f\n",
        o.rate > 0 ? "scheduled send" : "produce call", out["latency_ms_p50"].get<double>(),
        out["latency_ms_p90"].get<double>(), out["latency_ms_p99"].get<double>(),
        out["latency_ms_p999"].get<double>(), out["latency_ms_max"].get<double>(),
        out["latency_ms_mean"].get<double>());
  }
  std::fflush(stdout);
  if (failed > 0) {
    throw BenchFailure{std::to_string(failed) + " record(s) failed (first: " + st.first_error +
                       ")"};
  }
  if (records == 0) throw BenchFailure{"no record was delivered"};
  return 0;
}

// ---- consume ------------------------------------------------------------------------------------

struct ConsumeOptions {
  CommonOptions common;
  std::string group;  // empty: assign every partition from the beginning, no group
};

int run_consume(const ConsumeOptions& o) {
  const CommonOptions& c = o.common;
  ClientContext context;
  Config conf;
  conf.set("bootstrap.servers", bootstrap());
  conf.set("client.id", "wharf-bench-consume");
  conf.set("enable.partition.eof", "true");
  if (!o.group.empty()) {
    conf.set("group.id", o.group);
    conf.set("auto.offset.reset", "earliest");
  } else {
    // librdkafka's assign() needs a group id too, though nothing joins or commits under it.
    conf.set("group.id", "wharf-bench-" + std::to_string(::getpid()));
    conf.set("enable.auto.commit", "false");
    conf.set("enable.auto.offset.store", "false");
  }
  conf.set_all(c.properties);
  KafkaHandle rk = conf.create(RD_KAFKA_CONSUMER, &context);
  rd_kafka_poll_set_consumer(rk.get());
  const auto partitions = partition_count(rk.get(), c.topic, c.timeout_ms, context.errors);
  if (!partitions) throw BenchFailure{"topic " + c.topic + " does not exist"};

  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(*partitions);
  if (o.group.empty()) {
    for (int p = 0; p < *partitions; ++p) {
      rd_kafka_topic_partition_list_add(list, c.topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
  } else {
    rd_kafka_topic_partition_list_add(list, c.topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t err =
      o.group.empty() ? rd_kafka_assign(rk.get(), list) : rd_kafka_subscribe(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchFailure{std::string(o.group.empty() ? "assign: " : "subscribe: ") +
                       rd_kafka_err2str(err)};
  }

  // Stop at --records, at --seconds (counted from the first record), or, with neither, once
  // every partition has reached its end. Idle for --timeout-ms without a record also stops it.
  const bool until_end = c.records == 0 && c.seconds == 0;
  const std::int64_t seconds_ns = static_cast<std::int64_t>(c.seconds * 1e9);
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk.get());
  constexpr std::size_t kBatchMax = 1024;  // messages taken from librdkafka's queue per call
  std::vector<rd_kafka_message_t*> batch(kBatchMax);
  std::uint64_t records = 0, bytes = 0, failed = 0;
  std::string first_error, stopped_by;
  std::set<int> at_end;
  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> first_record;
  Clock::time_point last_record = start, last_activity = start;
  std::int64_t next_status_ns = 1'000'000'000;
  std::uint64_t last_records = 0, last_bytes = 0;
  while (stopped_by.empty()) {
    if (g_interrupted.load()) {
      stopped_by = "signal";
      break;
    }
    const ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch.data(), kBatchMax);
    const Clock::time_point now = Clock::now();
    for (ssize_t k = 0; k < n; ++k) {
      rd_kafka_message_t* m = batch[k];
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        at_end.insert(m->partition);
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failed += 1;
        if (first_error.empty()) first_error = rd_kafka_message_errstr(m);
      } else if (stopped_by.empty()) {
        if (!first_record) first_record = now;
        at_end.erase(m->partition);
        records += 1;
        bytes += m->len + m->key_len;
        last_record = now;
        if (c.records > 0 && static_cast<std::int64_t>(records) >= c.records)
          stopped_by = "records";
      }
      rd_kafka_message_destroy(m);
    }
    if (n > 0) last_activity = now;
    if (!stopped_by.empty()) break;
    if (first_record && seconds_ns > 0 &&
        (now - *first_record) >= std::chrono::nanoseconds(seconds_ns)) {
      stopped_by = "seconds";
    } else if (until_end && static_cast<int>(at_end.size()) == *partitions) {
      stopped_by = "end";
    } else if (now - last_activity > std::chrono::milliseconds(c.timeout_ms)) {
      stopped_by = "idle";
    }
    const std::int64_t elapsed = nanos_since(start);
    if (elapsed >= next_status_ns) {
      if (!c.quiet) {
        std::fprintf(stderr, "[consume %5.1fs] %9.0f records/s %8.1f MB/s  errors %llu\n",
                     elapsed / 1e9, static_cast<double>(records - last_records),
                     mb(bytes - last_bytes), static_cast<unsigned long long>(failed));
      }
      last_records = records;
      last_bytes = bytes;
      next_status_ns += 1'000'000'000;
    }
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk.get());

  const double seconds =
      first_record ? std::chrono::duration<double>(last_record - *first_record).count() : 0.0;
  nlohmann::json out = {
      {"bench", "consume"},
      {"topic", c.topic},
      {"partitions", *partitions},
      {"group", o.group},
      {"records", records},
      {"bytes", bytes},
      {"errors", failed},
      {"seconds", seconds},
      {"records_per_s", per_second(static_cast<double>(records), seconds)},
      {"mb_per_s", per_second(mb(bytes), seconds)},
      {"stopped_by", stopped_by},
  };
  if (c.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf(
        "consumed %llu records (%llu bytes of keys and values) from %s in %.2f s: %.0f "
        "records/s, %.2f MB/s, %llu errors; stopped by %s\n",
        static_cast<unsigned long long>(records), static_cast<unsigned long long>(bytes),
        c.topic.c_str(), seconds, out["records_per_s"].get<double>(), out["mb_per_s"].get<double>(),
        static_cast<unsigned long long>(failed), stopped_by.c_str());
  }
  std::fflush(stdout);
  if (failed > 0)
    throw BenchFailure{std::to_string(failed) + " consume error(s) (first: " + first_error + ")"};
  if (records == 0) {
    throw BenchFailure{
        "no record arrived within " + std::to_string(c.timeout_ms) + " ms" +
        (context.errors.get().empty() ? "" : " (last: " + context.errors.get() + ")")};
  }
  return 0;
}

// Runs one command: failures become one line on stderr and exit code 1.
template <typename F>
void run_command(const char* name, int& exit_code, F&& body) {
  g_interrupted.store(false);
  auto previous = std::signal(SIGINT, on_sigint);
  try {
    exit_code = body();
  } catch (const BenchFailure& f) {
    std::fprintf(stderr, "wharf bench %s: %s\n", name, f.reason.c_str());
    exit_code = 1;
  }
  std::signal(SIGINT, previous);
}

}  // namespace

void register_bench(CLI::App& app, int& exit_code) {
  auto* bench = app.add_subcommand(
      "bench", "Load generator (librdkafka): produce or consume throughput and latency");
  bench->require_subcommand(1);
  bench->footer(
      "Rates count record values (plus keys, on consume) in 10^6 bytes per second. A status "
      "line per second goes to stderr, the summary to stdout. Exit status 1 with a one-line "
      "reason when the cluster does not answer, a record fails, or nothing was moved.");

  static ProduceOptions po;
  auto* produce = bench->add_subcommand(
      "produce",
      "Produce records as fast as possible or at a fixed offered rate; report throughput and "
      "latency percentiles (send to delivery report)");
  add_common(produce, po.common);
  produce->add_option("--record-size", po.record_bytes, "Bytes per record value (no key)")
      ->check(CLI::Range(0, 64 * 1024 * 1024))
      ->capture_default_str();
  produce
      ->add_option("--rate", po.rate,
                   "Offered records/s, open loop: records leave at scheduled times and "
                   "latency counts from the scheduled time. 0: as fast as possible, latency "
                   "from the produce call")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  produce->add_option("--acks", po.acks, "all | 1 | 0")
      ->check(CLI::IsMember({"all", "1", "0"}))
      ->capture_default_str();
  produce->add_flag("--idempotent", po.idempotent, "Idempotent producer (needs --acks all)");
  produce->add_option("--compression", po.compression, "none | gzip | snappy | lz4 | zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}))
      ->capture_default_str();
  produce
      ->add_option("--linger-ms", po.linger_ms, "librdkafka linger.ms (default: librdkafka's, 5)")
      ->check(CLI::Range(0, 900'000));
  produce
      ->add_option("--batch-size", po.batch_bytes,
                   "librdkafka batch.size in bytes (default: librdkafka's, 1000000)")
      ->check(CLI::Range(1, 2'147'483'647));
  produce
      ->add_option("--partitions", po.partitions,
                   "Create the topic with this many partitions if it does not exist")
      ->check(CLI::Range(1, 10'000));
  produce->footer(
      "Without --records or --seconds it sends 1,000,000 records. Values are random capital "
      "letters (as Kafka's producer-perf-test makes them), keys are null, so librdkafka's "
      "partitioner spreads records over the partitions.");
  produce->callback(
      [&exit_code] { run_command("produce", exit_code, [] { return run_produce(po); }); });

  static ConsumeOptions co;
  auto* consume = bench->add_subcommand(
      "consume", "Consume records and report throughput (timed from the first record to the last)");
  add_common(consume, co.common);
  consume->add_option("--group", co.group,
                      "Consumer group to join (offsets reset to earliest). Default: no group, "
                      "every partition assigned from its beginning");
  consume->footer(
      "Without --records or --seconds it stops once every partition reaches its end. It also "
      "stops after --timeout-ms with no record.");
  consume->callback(
      [&exit_code] { run_command("consume", exit_code, [] { return run_consume(co); }); });
}

}  // namespace wharf::cli
