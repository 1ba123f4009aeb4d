// `wharf outbox-relay`: the transactional outbox's relay as its own process, beside a service
// that enqueues with wharf::outbox(tx). Publishes through the kafka transport (the idempotent
// producer, acks=all) to --bootstrap. Several may run on one store: one is leader (lease), the
// others wait and take over within the lease duration. SIGTERM/SIGINT stop it cleanly (the
// lease is released, so a standby takes over at once); SIGKILL loses nothing (rows published but
// not yet deleted are published again, with the same ids).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "admin/http_server.h"
#include "base/metrics.h"
#include "broker/broker.h"
#include "cli/commands.h"
#include "wharf/outbox.h"
#include "wharf/sql/postgres.h"
#include "wharf/sql/sqlite.h"

namespace wharf::cli {
namespace {

int fail_with(const Error& e) {
  std::fprintf(stderr, "wharf outbox-relay: %s\n", e.to_string().c_str());
  return 1;
}

}  // namespace

void register_outbox_relay(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "outbox-relay", "Publish a transactional outbox's pending events (SQLite or PostgreSQL)");
  static std::string sqlite_path, postgres_url, bootstrap_flag, name = "default", admin;
  static int batch = 1000, poll_ms = 200, lease_ms = 5000;
  static std::string status_mode = "auto";
  auto* store = cmd->add_option_group("store", "The database holding the outbox");
  store->add_option("--sqlite", sqlite_path, "SQLite database FILE");
  store->add_option("--postgres", postgres_url, "PostgreSQL URL (libpq conninfo)");
  store->require_option(1);
  cmd->add_option(
      "--bootstrap", bootstrap_flag,
      "Kafka bootstrap HOST:PORT[,...] to publish to (default: the global --bootstrap)");
  cmd->add_option("--name", name, "Relay name: relays of one store with one name elect one leader")
      ->capture_default_str();
  cmd->add_option("--batch", batch, "Events per pass")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--poll-ms", poll_ms, "Polling fallback when no wake-up arrives")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  cmd->add_option("--lease-ms", lease_ms, "A silent leader is replaced after this long")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  cmd->add_option("--admin", admin,
                  "Admin HTTP listener HOST:PORT serving /metrics and /healthz (default: off)");
  cmd->add_option("--status", status_mode,
                  "Status line on stdout: auto (when a terminal) | on | off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->callback([&exit_code] {
    // Block the stop signals before any thread starts, so only sigtimedwait below takes them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    // The outbox lives in the application's database: a missing file is a wrong path, not a
    // new store (a relay on a fresh empty file would wait for ever for events no one writes).
    sql::SqliteOptions sqlite_options;
    sqlite_options.create_if_missing = false;
    Result<std::unique_ptr<sql::Database>> db = sqlite_path.empty()
                                                    ? sql::open_postgres(postgres_url)
                                                    : sql::open_sqlite(sqlite_path, sqlite_options);
    if (!db) return void(exit_code = fail_with(db.error()));
    KafkaOptions ko;
    ko.bootstrap = bootstrap_flag.empty() ? bootstrap() : bootstrap_flag;
    ko.client_id = "wharf-outbox-relay";
    auto bus = Bus::open(ko);
    if (!bus) return void(exit_code = fail_with(bus.error()));

    std::unique_ptr<admin::HttpServer> http;
    if (!admin.empty()) {
      auto hp = broker::parse_host_port(admin);
      if (!hp) return void(exit_code = fail_with(hp.error()));
      http = std::make_unique<admin::HttpServer>(
          hp->first, hp->second, [](const admin::HttpRequest& r) {
            admin::HttpResponse out;
            if (r.path == "/metrics") {
              out.content_type = "text/plain; version=0.0.4; charset=utf-8";
              out.body = metrics::registry().render_prometheus();
            } else if (r.path == "/healthz") {
              out.body = "ok\n";
            } else {
              out.status = 404;
              out.body = "not found\n";
            }
            return out;
          });
      if (auto s = http->start(); !s) return void(exit_code = fail_with(s.error()));
    }

    OutboxRelayOptions o;
    o.name = name;
    o.batch_max = static_cast<std::size_t>(batch);
    o.poll_interval = std::chrono::milliseconds(poll_ms);
    o.lease_duration = std::chrono::milliseconds(lease_ms);
    if (!postgres_url.empty()) o.wakeup = postgres_outbox_listener(postgres_url);
    OutboxRelay relay(**db, *bus, o);

    std::printf("wharf outbox-relay '%s' on %s, publishing to %s\n", name.c_str(),
                sqlite_path.empty() ? "postgresql" : ("sqlite:" + sqlite_path).c_str(),
                ko.bootstrap.c_str());
    if (http)
      std::printf("  admin http      http://%s/metrics (port %u)\n", admin.c_str(),
                  http->bound_port());
    std::printf("ready\n");
    std::fflush(stdout);

    const bool status_line =
        status_mode == "on" || (status_mode == "auto" && ::isatty(STDOUT_FILENO));
    std::uint64_t last_published = 0;
    auto last_at = std::chrono::steady_clock::now();
    const timespec tick{1, 0};
    int sig = -1;
    while ((sig = sigtimedwait(&signals, nullptr, &tick)) < 0) {
      if (!status_line) continue;
      const OutboxRelayStatus st = relay.status();
      const auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - last_at).count();
      const double rate = secs > 0 ? static_cast<double>(st.published - last_published) / secs : 0;
      last_published = st.published;
      last_at = now;
      std::printf(
          "\r%-7s published %llu (%.0f/s)  pending %lld  oldest %.1fs  failures %llu%s%s\033[K",
          st.leader ? "leader" : "standby", static_cast<unsigned long long>(st.published), rate,
          static_cast<long long>(st.pending_rows),
          static_cast<double>(st.oldest_pending_age_ms) / 1000.0,
          static_cast<unsigned long long>(st.failures),
          st.last_error.empty() ? "" : "  last error: ", st.last_error.c_str());
      std::fflush(stdout);
    }
    if (status_line) std::printf("\n");
    std::printf("received %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    std::fflush(stdout);
    relay.stop();
    if (http) http->stop();
    std::printf("stopped cleanly (%llu event(s) published)\n",
                static_cast<unsigned long long>(relay.status().published));
  });
}

}  // namespace wharf::cli
