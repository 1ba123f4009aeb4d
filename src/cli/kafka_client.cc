#include "cli/kafka_client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "cli/client_args.h"
#include "cli/commands.h"

namespace wharf::cli {

ClientOptions& client_options() {
  static ClientOptions options;
  return options;
}

void add_client_options(CLI::App* cmd) {
  auto& o = client_options();
  cmd->add_option("--timeout", o.timeout_s,
                  "Seconds to wait for the cluster to answer, when connecting and for each request "
                  "(default: $WHARF_TIMEOUT, else 10)")
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("-X,--property", o.properties,
                  "A librdkafka property key=value, repeatable (e.g. -X security.protocol=ssl)");
  cmd->add_flag("-v,--verbose", o.verbose, "Print librdkafka's log lines to stderr");
  cmd->fallthrough();
}

Result<double> effective_timeout_s() {
  constexpr double kDefaultTimeoutS = 10;
  if (client_options().timeout_s > 0) return client_options().timeout_s;
  const char* env = std::getenv("WHARF_TIMEOUT");
  if (env == nullptr || *env == '\0') return kDefaultTimeoutS;
  char* end = nullptr;
  const double t = std::strtod(env, &end);
  if (end == env || *end != '\0' || !(t > 0) || t > 86400) {
    return fail(ErrorCode::kInvalidArgument,
                "WHARF_TIMEOUT: '{}' is not a number of seconds between 0 and 86400", env);
  }
  return t;
}

Result<kafka::client::Options> connect_options() {
  const auto& options = client_options();
  kafka::client::Options out;
  out.bootstrap = bootstrap();
  out.bootstrap_origin = "--bootstrap ";
  WHARF_ASSIGN_OR_RETURN(const double timeout_s, effective_timeout_s());
  out.timeout = std::chrono::milliseconds(std::max(1L, std::lround(timeout_s * 1000)));
  for (const auto& kv : options.properties) {
    WHARF_ASSIGN_OR_RETURN(auto parsed, parse_key_value(kv, "-X"));
    out.properties.push_back({std::move(parsed.first), std::move(parsed.second), "-X "});
  }
  out.verbose = options.verbose;
  return out;
}

Result<std::unique_ptr<Client>> connect_client(
    ClientKind kind, const std::vector<std::pair<std::string, std::string>>& config,
    const std::function<void(rd_kafka_conf_s*)>& configure) {
  WHARF_ASSIGN_OR_RETURN(auto options, connect_options());
  return Client::connect(options, kind, config, configure);
}

int report_failure(std::string_view command, const Error& error) {
  std::string text = error.message();
  if (error.sys()) text += ": " + error.sys().message();
  std::fprintf(stderr, "wharf %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               text.c_str());
  return 1;
}

}  // namespace wharf::cli
