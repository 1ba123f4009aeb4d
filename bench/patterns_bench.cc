// Publish -> handler throughput and latency of the pattern library on one transport.
//
//   wharf_patterns_bench --transport memory|embedded|kafka [--bootstrap HOST:PORT]
//                        [--data-dir DIR] [--sync always|none|interval:MS]
//                        [--events N] [--size BYTES] [--rate EVENTS_PER_S] [--partitions N]
//                        [--batch N] [--json]
//   wharf_patterns_bench --transport ... --new-topics N
//
// Without --rate: one thread publishes N events in batches of --batch (default 1,000; publish()
// returns once acknowledged) while a Router (one consumer group, concurrency 2) handles them with a
// handler that only records the time; throughput counts from the first publish to the last handled
// event. With --rate: open loop, every millisecond the events due by then are published as
// one batch; latency counts from each event's scheduled time (no coordinated omission). Each
// payload carries its send time, so publish->handler latency is measured per event. A status
// line per second goes to stderr; the summary to stdout (one JSON object with --json).
//
// With --new-topics N: N topics are made first (ensure_topic), then one event is published to
// each in turn and each publish() is timed: the first publish to a topic the producer has not
// used yet, which a librdkafka producer can hold for its once-a-second topic scan
// (kafka/client/client.h, TopicHandles). Prints the median and the largest.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wharf/router.h"
#include "wharf/transport.h"

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Args {
  std::string transport = "memory";
  std::string bootstrap = "127.0.0.1:9092";
  std::string data_dir;
  std::string sync = "always";
  std::int64_t events = 1'000'000;
  std::size_t size = 100;
  double rate = 0;
  int partitions = 12;
  std::int64_t batch = 1000;
  int new_topics = 0;
  bool json = false;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--json") {
      a.json = true;
      continue;
    }
    if (k == "-h" || k == "--help") return false;
    if (!(v = next())) return false;
    if (k == "--transport")
      a.transport = v;
    else if (k == "--bootstrap")
      a.bootstrap = v;
    else if (k == "--data-dir")
      a.data_dir = v;
    else if (k == "--sync")
      a.sync = v;
    else if (k == "--events")
      a.events = std::stoll(v);
    else if (k == "--size")
      a.size = std::stoul(v);
    else if (k == "--rate")
      a.rate = std::stod(v);
    else if (k == "--partitions")
      a.partitions = std::stoi(v);
    else if (k == "--batch")
      a.batch = std::stoll(v);
    else if (k == "--new-topics")
      a.new_topics = std::stoi(v);
    else
      return false;
  }
  return a.events > 0 && a.size >= 16 && a.batch > 0 && a.new_topics >= 0 && a.new_topics <= 1000;
}

// --new-topics: the time of each first publish to a topic made just before.
bool first_publishes(wharf::Bus& bus, const Args& a) {
  const std::string prefix = "bench-new-" + std::to_string(now_ns()) + "-";
  for (int i = 0; i < a.new_topics; ++i) {
    if (auto s = bus->ensure_topic(prefix + std::to_string(i), a.partitions); !s) {
      std::fprintf(stderr, "ensure_topic: %s\n", s.error().to_string().c_str());
      return false;
    }
  }
  std::vector<double> ms;
  for (int i = 0; i < a.new_topics; ++i) {
    wharf::Message m;
    m.type = "bench.Event";
    m.payload.assign(a.size, 'x');
    const auto t0 = Clock::now();
    if (auto s = bus.publish(prefix + std::to_string(i), std::move(m)); !s) {
      std::fprintf(stderr, "publish: %s\n", s.error().to_string().c_str());
      return false;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("first publish to each of %d new topics (%s): median %.1f ms, largest %.1f ms\n",
              a.new_topics, a.transport.c_str(), ms[ms.size() / 2], ms.back());
  (void)bus->close();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(
        stderr,
        "usage: %s --transport memory|embedded|kafka [--bootstrap HOST:PORT] [--data-dir DIR]\n"
        "          [--sync always|none|interval:MS] [--events N] [--size BYTES>=16] [--rate N/s]\n"
        "          [--partitions N] [--batch N] [--json]\n"
        "       %s --transport ... --new-topics N (1..1000)\n",
        argv[0], argv[0]);
    return 2;
  }
  wharf::Result<wharf::Bus> bus =
      wharf::fail(wharf::ErrorCode::kInvalidArgument, "unknown transport {}", a.transport);
  std::string temp_dir;
  if (a.transport == "memory") {
    bus = wharf::Bus::open(wharf::MemoryOptions{.default_partitions = a.partitions});
  } else if (a.transport == "kafka") {
    wharf::KafkaOptions o;
    o.bootstrap = a.bootstrap;
    bus = wharf::Bus::open(o);
  } else if (a.transport == "embedded") {
    wharf::EmbeddedOptions o;
    if (a.data_dir.empty()) {
      char tmpl[] = "/tmp/wharf-bench-XXXXXX";
      if (!::mkdtemp(tmpl)) return 1;
      temp_dir = a.data_dir = tmpl;
    }
    o.data_dir = a.data_dir;
    o.sync_policy = a.sync;
    o.broker_settings = {{"group.initial.rebalance.delay.ms", "0"}};
    bus = wharf::Bus::open(o);
  }
  if (!bus) {
    std::fprintf(stderr, "open: %s\n", bus.error().to_string().c_str());
    return 1;
  }
  if (a.new_topics > 0) return first_publishes(*bus, a) ? 0 : 1;
  const std::string topic = "bench-" + std::to_string(now_ns());
  if (auto s = (*bus)->ensure_topic(topic, a.partitions); !s) {
    std::fprintf(stderr, "ensure_topic: %s\n", s.error().to_string().c_str());
    return 1;
  }

  // Latencies in microseconds, one slot per event (index from the payload).
  std::vector<std::uint32_t> latency_us(static_cast<std::size_t>(a.events), 0);
  std::atomic<std::int64_t> handled{0};
  std::atomic<std::int64_t> last_handled_ns{0};
  wharf::Router router(*bus, {.group = "bench",
                              .concurrency = 2,
                              .poll_batch_max = 5000,
                              .in_flight_max = 100'000,
                              .partition_in_flight_max = 50'000});
  router.on_message(topic, "*", [&](const wharf::Message& m, wharf::Context&) -> wharf::Status {
    std::int64_t sent = 0, index = 0;
    std::memcpy(&sent, m.payload.data(), 8);
    std::memcpy(&index, m.payload.data() + 8, 8);
    const std::int64_t t = now_ns();
    if (index >= 0 && index < static_cast<std::int64_t>(latency_us.size())) {
      latency_us[static_cast<std::size_t>(index)] =
          static_cast<std::uint32_t>(std::min<std::int64_t>((t - sent) / 1000, UINT32_MAX));
    }
    last_handled_ns.store(t, std::memory_order_relaxed);
    handled.fetch_add(1, std::memory_order_relaxed);
    return wharf::ok();
  });
  std::stop_source stop;
  wharf::Status run_status = wharf::ok();
  std::thread consumer([&] { run_status = router.run(stop.get_token()); });
  // Wait for the group to form before timing: a warm-up event must come through.
  {
    wharf::Message warm;
    warm.payload.assign(a.size, 'w');
    const std::int64_t minus_one = -1;
    std::memcpy(warm.payload.data() + 8, &minus_one, 8);
    if (auto s = bus->publish(topic, warm); !s) {
      std::fprintf(stderr, "publish: %s\n", s.error().to_string().c_str());
      return 1;
    }
    while (handled.load() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    handled.store(0);
  }

  const std::int64_t start = now_ns();
  std::atomic<bool> done{false};
  std::thread status([&] {
    std::int64_t prev = 0;
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const std::int64_t h = handled.load();
      std::fprintf(stderr, "  %s: %lld handled (%lld/s)\n", a.transport.c_str(),
                   static_cast<long long>(h), static_cast<long long>(h - prev));
      prev = h;
    }
  });
  std::string payload(a.size, 'x');
  std::int64_t sent = 0;
  std::int64_t publish_errors = 0;
  while (sent < a.events) {
    std::int64_t due = std::min<std::int64_t>(a.events, sent + a.batch);
    if (a.rate > 0) {
      const std::int64_t by_now =
          static_cast<std::int64_t>(static_cast<double>(now_ns() - start) * a.rate / 1e9) + 1;
      due = std::min<std::int64_t>(a.events, by_now);
      if (due <= sent) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
    }
    std::vector<wharf::Message> batch;
    batch.reserve(static_cast<std::size_t>(due - sent));
    for (std::int64_t i = sent; i < due; ++i) {
      wharf::Message m;
      m.type = "bench.Event";
      // Latency from the scheduled time in open-loop mode, from now otherwise.
      const std::int64_t t =
          a.rate > 0 ? start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / a.rate)
                     : now_ns();
      std::memcpy(payload.data(), &t, 8);
      std::memcpy(payload.data() + 8, &i, 8);
      m.payload = payload;
      batch.push_back(std::move(m));
    }
    if (auto s = (*bus)->publish(topic, std::move(batch)); !s) {
      ++publish_errors;
      std::fprintf(stderr, "publish: %s\n", s.error().to_string().c_str());
      if (publish_errors > 10) break;
      continue;
    }
    sent = due;
  }
  const std::int64_t published_ns = now_ns();
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (handled.load() < sent && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  done = true;
  status.join();
  stop.request_stop();
  consumer.join();
  (void)(*bus)->close();
  if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);

  const std::int64_t n = handled.load();
  if (n < sent) {
    std::fprintf(stderr, "only %lld of %lld events handled within 120 s\n",
                 static_cast<long long>(n), static_cast<long long>(sent));
    return 1;
  }
  const double seconds = static_cast<double>(last_handled_ns.load() - start) / 1e9;
  const double publish_seconds = static_cast<double>(published_ns - start) / 1e9;
  std::vector<std::uint32_t> sorted(latency_us.begin(), latency_us.begin() + sent);
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    return sorted.empty()
               ? 0.0
               : sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(
                                                        p * static_cast<double>(sorted.size())))] /
                     1000.0;
  };
  const double rate = static_cast<double>(n) / seconds;
  if (a.json) {
    std::printf(
        "{\"transport\":\"%s\",\"sync\":\"%s\",\"events\":%lld,\"size\":%zu,\"offered_rate\":%.0f,"
        "\"events_per_s\":%.0f,\"publish_events_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"p999_ms\":%.3f,"
        "\"max_ms\":%.3f}\n",
        a.transport.c_str(), a.transport == "embedded" ? a.sync.c_str() : "",
        static_cast<long long>(n), a.size, a.rate, rate,
        static_cast<double>(sent) / publish_seconds, pct(0.5), pct(0.99), pct(0.999), pct(1.0));
  } else {
    std::printf(
        "%s%s: %lld events of %zu B, %.0f events/s publish->handler (publish alone %.0f/s); "
        "latency p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
        a.transport.c_str(), a.transport == "embedded" ? (" (sync " + a.sync + ")").c_str() : "",
        static_cast<long long>(n), a.size, rate, static_cast<double>(sent) / publish_seconds,
        pct(0.5), pct(0.99), pct(0.999), pct(1.0));
  }
  return run_status ? 0 : 1;
}
