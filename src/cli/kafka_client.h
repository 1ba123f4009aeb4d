// The CLI side of the Kafka client shared by `wharf topic`, `produce`, `consume` and `group`: the
// per-command client options (--timeout, -X, --verbose), their conversion with the global
// --bootstrap into the plain options of kafka::client::Client (src/kafka/client/client.h, which
// holds the librdkafka handle, the reachability check and the Admin API, metadata and offset
// look-ups), and the one-line failure report every command prints.
//
// Threads: the main thread only; client_options() is a process-wide singleton that CLI11 fills
// while parsing. Nothing here writes locally.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "kafka/client/client.h"

namespace CLI {
class App;
}

namespace wharf::cli {

using kafka::client::BrokerMetadata;
using kafka::client::Client;
using kafka::client::ClientKind;
using kafka::client::ClusterMetadata;
using kafka::client::ConfigEntry;
using kafka::client::GroupInfo;
using kafka::client::GroupMember;
using kafka::client::ItemResult;
using kafka::client::PartitionMetadata;
using kafka::client::TopicMetadata;
using kafka::client::TopicPartition;
using kafka::client::Watermarks;

// Options every client command accepts (added by add_client_options).
struct ClientOptions {
  double timeout_s = 0;                 // --timeout; 0 = not given (then WHARF_TIMEOUT, else 10)
  std::vector<std::string> properties;  // -X key=value, librdkafka properties; they win
  bool verbose = false;                 // print librdkafka's log lines
};
ClientOptions& client_options();

// Adds --timeout, -X/--property and -v/--verbose to `cmd`, and lets options it does not know
// fall through to its parents, so `wharf topic list -b HOST:PORT` works.
void add_client_options(CLI::App* cmd);

// The timeout in seconds: --timeout, else $WHARF_TIMEOUT, else 10. WHARF_TIMEOUT is read here
// rather than through CLI11's envname because CLI11 2.1 applies the environment to the options
// of every subcommand, unused ones included, and all of them share ClientOptions.
[[nodiscard]] Result<double> effective_timeout_s();

// --bootstrap, the effective timeout, the -X properties (each must be key=value) and --verbose
// as the client library's options.
[[nodiscard]] Result<kafka::client::Options> connect_options();

// Client::connect with connect_options().
[[nodiscard]] Result<std::unique_ptr<Client>> connect_client(
    ClientKind kind, const std::vector<std::pair<std::string, std::string>>& config = {},
    const std::function<void(rd_kafka_conf_s*)>& configure = {});

// Prints "wharf <command>: <message>" to stderr and returns 1, the failing exit code.
int report_failure(std::string_view command, const Error& error);

}  // namespace wharf::cli
