// Entry point of the `wharf` binary: parses the command line with CLI11 and runs one command.
// Exceptions from code we do not own stop here and become a one-line error and exit code 1.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace wharf::cli {
std::string g_bootstrap = "127.0.0.1:9092";  // set by main's option parsing
const std::string& bootstrap() { return g_bootstrap; }
}  // namespace wharf::cli

int main(int argc, char** argv) {
  CLI::App app{"wharf: a single-node, durable, Kafka-compatible event-streaming platform"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "wharf 0.1.0");
  app.add_option("-b,--bootstrap", wharf::cli::g_bootstrap,
                 "Kafka bootstrap servers HOST:PORT[,...] for the client commands")
      ->envname("WHARF_BOOTSTRAP")
      ->capture_default_str();
  int exit_code = 0;
  wharf::cli::register_serve(app, exit_code);
  wharf::cli::register_topic(app, exit_code);
  wharf::cli::register_produce(app, exit_code);
  wharf::cli::register_consume(app, exit_code);
  wharf::cli::register_group(app, exit_code);
  wharf::cli::register_bench(app, exit_code);
  wharf::cli::register_dlq(app, exit_code);
  wharf::cli::register_park(app, exit_code);
  wharf::cli::register_projection(app, exit_code);
  wharf::cli::register_saga(app, exit_code);
  wharf::cli::register_check_data(app, exit_code);
  wharf::cli::register_repair(app, exit_code);
  wharf::cli::register_dump_segment(app, exit_code);
  wharf::cli::register_local(app, exit_code);
  wharf::cli::register_outbox_relay(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wharf: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
