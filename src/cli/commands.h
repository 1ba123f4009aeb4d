// The wharf binary's subcommands. Each register_* function adds one command (with its --help)
// to the CLI11 app; the callback runs on the main thread and sets the process exit code.
// Commands print results to stdout and one-line reasons for failure to stderr.
#pragma once

namespace CLI {
class App;
}

#include <string>

namespace wharf::cli {

// The global --bootstrap HOST:PORT[,HOST:PORT...] (or WHARF_BOOTSTRAP; default 127.0.0.1:9092)
// that every Kafka-client command connects to.
const std::string& bootstrap();

// `wharf check-data --data-dir DIR`: offline verification of every file of a data directory.
void register_check_data(CLI::App& app, int& exit_code);
// wharf repair --data-dir D --file F --position N: cut a refused partition, keeping the cut bytes.
void register_repair(CLI::App& app, int& exit_code);
// `wharf dump-segment FILE`: prints a .log, .index, .timeindex or .snapshot file.
void register_dump_segment(CLI::App& app, int& exit_code);
// `wharf serve`: the Kafka-protocol broker.
void register_serve(CLI::App& app, int& exit_code);
// Kafka-client commands (librdkafka; work against any Kafka cluster). --bootstrap or
// WHARF_BOOTSTRAP picks the cluster.
void register_topic(CLI::App& app,
                    int& exit_code);  // topic create|list|describe|delete|alter|add-partitions
void register_produce(CLI::App& app, int& exit_code);  // produce TOPIC
void register_consume(CLI::App& app, int& exit_code);  // consume TOPIC
void register_group(CLI::App& app, int& exit_code);    // group list|describe|reset-offsets|delete
void register_bench(CLI::App& app, int& exit_code);    // bench produce|consume
void register_dlq(CLI::App& app, int& exit_code);      // dlq list|show|replay
void register_park(CLI::App& app, int& exit_code);     // park list|show|release
void register_projection(CLI::App& app, int& exit_code);  // projection list|status|rebuild
void register_saga(CLI::App& app, int& exit_code);        // saga list|show|retry|abort
// `wharf local produce|consume|topics`: the embedded log, without a broker.
void register_local(CLI::App& app, int& exit_code);
// `wharf outbox-relay --sqlite FILE | --postgres URL`: the transactional outbox's relay.
void register_outbox_relay(CLI::App& app, int& exit_code);

}  // namespace wharf::cli
