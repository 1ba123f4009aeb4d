// The checkout system as separate processes on the Kafka transport (run-processes.sh starts
// them around `wharf serve`): the order service, one process per consumer group, the load
// generator, and the report that merges what each of them saved.
#pragma once

#include <string>
#include <vector>

namespace wharf::checkout {

struct ServiceSettings {
  std::string bootstrap;
  std::string listen = "127.0.0.1:8080";
  std::string data_dir;  // checkout.db
};
// Serves POST /orders and relays the outbox until SIGINT/SIGTERM. Exit code.
int run_service(const ServiceSettings& s);

struct ConsumerSettings {
  std::string bootstrap;
  std::string group;
  std::string data_dir;  // <group>.db and <group>.stats.json
  std::string latency;   // DURATION, empty: the default
  double fail_rate = 0.001;
};
// Runs one consumer group until SIGINT/SIGTERM, saving its counters to <group>.stats.json each
// second and at exit; a restarted process carries on from the saved counters.
int run_consumer(const ConsumerSettings& s);

struct LoadSettings {
  std::string target;
  std::string bootstrap;
  std::vector<std::string> groups;
  double rate = 10'000;
  double duration_s = 60;
  double poison_rate = 0.0001;
  std::size_t connections = 1024;
  double catch_up_s = 120;
  std::string out;  // load.json
};
// Drives the service, prints a status line a second (lag from the groups' committed offsets),
// waits until every accepted order is published and every group has committed it, saves
// load.json. Exit code.
int run_load_process(const LoadSettings& s);

struct ReportSettings {
  std::string load;         // load.json
  std::string data_dir;     // the consumers' <group>.stats.json
  std::string service_dir;  // the service's service.stats.json (what it committed)
  std::string report_dir;
};
// Merges load.json and the groups' stats into the report (text, JSON, HTML); exit 0 only when
// every group caught up with exactly one effect per accepted order less its dead letters.
int run_report(const ReportSettings& s);

}  // namespace wharf::checkout
