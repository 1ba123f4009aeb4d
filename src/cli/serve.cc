// `wharf serve`: runs the single-node Kafka-protocol broker until SIGTERM or SIGINT, then shuts
// down cleanly (stop accepting, finish in-flight requests, sync, close).
#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "broker/broker.h"
#include "cli/commands.h"
#include "io/posix_file_system.h"

namespace wharf::cli {

void register_serve(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "Run the Kafka-protocol broker on a data directory");
  static std::string data_dir, listen = "127.0.0.1:9092", advertise, admin, sync, config_file;
  static std::vector<std::string> sets;
  static int default_partitions = 0;
  static std::string auto_create;
  cmd->add_option("--data-dir", data_dir, "Data directory (created if missing)");
  cmd->add_option("--listen", listen, "Kafka listener HOST:PORT")->capture_default_str();
  cmd->add_option("--advertise", advertise,
                  "HOST:PORT clients are told to connect to (default: the listener)");
  cmd->add_option(
      "--admin", admin,
      "Admin HTTP listener HOST:PORT: /metrics, /healthz, /readyz, /v1/... (default: off)");
  cmd->add_option("--sync", sync, "Default topic sync policy: always | interval:MS | none");
  cmd->add_option("--config", config_file, "Properties file of key=value settings (flags win)");
  cmd->add_option("--set", sets, "One key=value setting (repeatable), as in the config file");
  cmd->add_option("--default-partitions", default_partitions,
                  "Partitions of auto-created topics (num.partitions)");
  cmd->add_option("--auto-create-topics", auto_create,
                  "true|false: create topics on first Metadata request");
  cmd->callback([&exit_code] {
    broker::BrokerConfig config;
    auto fail_with = [&](const Error& e) {
      std::fprintf(stderr, "wharf serve: %s\n", e.to_string().c_str());
      exit_code = 1;
    };
    if (!config_file.empty()) {
      if (auto s = broker::apply_config_file(config, config_file); !s) return fail_with(s.error());
    }
    std::vector<std::pair<std::string, std::string>> flags;
    if (!data_dir.empty()) flags.emplace_back("data.dir", data_dir);
    if (!listen.empty()) flags.emplace_back("listen", listen);
    if (!advertise.empty()) flags.emplace_back("advertise", advertise);
    if (!sync.empty()) flags.emplace_back("sync.policy", sync);
    if (!admin.empty()) flags.emplace_back("admin", admin);
    if (default_partitions > 0)
      flags.emplace_back("num.partitions", std::to_string(default_partitions));
    if (!auto_create.empty()) flags.emplace_back("auto.create.topics.enable", auto_create);
    for (const auto& kv : sets) {
      auto eq = kv.find('=');
      if (eq == std::string::npos)
        return fail_with(
            make_error(ErrorCode::kInvalidArgument, "--set {}: expected key=value", kv));
      flags.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    for (const auto& [k, v] : flags) {
      if (auto s = broker::apply_setting(config, k, v); !s) return fail_with(s.error());
    }
    // Block the stop signals before any thread starts, so only sigwait below receives them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    io::PosixFileSystem fs;
    auto broker = broker::Broker::start(config, fs, SystemClock::instance());
    if (!broker) return fail_with(broker.error());
    const auto& c = (*broker)->config();
    std::printf("wharf broker %s\n", (*broker)->cluster_id().c_str());
    std::printf(
        "  kafka listener  %s:%u (advertised as %s:%u)\n", c.server.listen_host.c_str(),
        (*broker)->kafka_port(),
        (c.server.advertised_host.empty()
             ? (c.server.listen_host == "0.0.0.0" ? std::string("127.0.0.1") : c.server.listen_host)
             : c.server.advertised_host)
            .c_str(),
        c.server.advertised_port ? c.server.advertised_port : (*broker)->kafka_port());
    if ((*broker)->admin_port() != 0) {
      std::printf("  admin http      http://%s:%u/metrics\n",
                  broker::parse_host_port(c.admin_listen)->first.c_str(), (*broker)->admin_port());
    }
    std::printf("  data directory  %s (%zu topic(s))\n", c.data_dir.c_str(),
                (*broker)->log().topics().size());
    std::printf("  sync policy     %s\n", c.topic_defaults.sync.to_string().c_str());
    std::printf("  auto-create     %s, %d partition(s)\n",
                c.server.auto_create_topics ? "on" : "off", c.server.default_partitions);
    std::printf("ready\n");
    std::fflush(stdout);

    int sig = 0;
    sigwait(&signals, &sig);
    std::printf("received %s: shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    std::fflush(stdout);
    auto status = (*broker)->stop();
    if (!status) return fail_with(status.error());
    std::printf("stopped cleanly\n");
  });
}

}  // namespace wharf::cli
