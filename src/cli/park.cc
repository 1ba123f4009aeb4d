// `wharf park list|show|release`: the keys that wharf::KeyParking parked in a service's SQL
// store (SQLite file or PostgreSQL URL). release also publishes the release marker to the
// key's topic through --bootstrap, so the consumer hands the waiting messages over in order.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/client_args.h"
#include "cli/commands.h"
#include "cli/kafka_client.h"
#include "cli/table.h"
#include "wharf/parking.h"
#include "wharf/sql/open.h"
#include "wharf/transport.h"

namespace wharf::cli {
namespace {

struct Opened {
  std::unique_ptr<sql::Database> db;
  std::unique_ptr<KeyParking> parking;
};

// A SQLite path that does not exist is refused rather than created empty (a mistyped path
// would otherwise list nothing, successfully).
Result<Opened> open_parking(const std::string& url) {
  Opened o;
  WHARF_ASSIGN_OR_RETURN(o.db, sql::open_existing(url));
  WHARF_ASSIGN_OR_RETURN(o.parking, KeyParking::open(*o.db));
  return o;
}

int run_list(const std::string& url, const std::string& group) {
  auto p = open_parking(url);
  if (!p) return report_failure("park list", p.error());
  auto keys = p->parking->list(group);
  if (!keys) return report_failure("park list", keys.error());
  Table table(
      {"GROUP", "TOPIC", "KEY", "STATE", "WAITING", "PARKED AT", "FAILED MESSAGE", "REASON"});
  for (const auto& k : *keys) {
    table.add({cell_text(k.group, 64), cell_text(k.topic, 64), cell_text(k.key, 64), k.state,
               std::to_string(k.messages), utc_time_text(k.parked_at_ms),
               cell_text(k.failed_message_id, 40), cell_text(k.reason, 80)});
  }
  table.print(stdout);
  std::fprintf(stderr, "%zu parked key(s)\n", keys->size());
  return 0;
}

int run_show(const std::string& url, const std::string& group, const std::string& topic,
             const std::string& key) {
  auto p = open_parking(url);
  if (!p) return report_failure("park show", p.error());
  auto messages = p->parking->messages(group, topic, key);
  if (!messages) return report_failure("park show", messages.error());
  Table table({"#", "MESSAGE ID", "FROM", "TYPE", "PAYLOAD"});
  std::size_t i = 0;
  for (const auto& m : *messages) {
    table.add({std::to_string(++i), cell_text(m.id, 40),
               fmt::format("{}/{}/{}", cell_text(m.topic, 64), m.partition, m.offset),
               cell_text(m.type, 64), cell_text(m.payload, 80)});
  }
  table.print(stdout);
  std::fprintf(stderr, "%zu message(s) waiting\n", messages->size());
  return 0;
}

int run_release(const std::string& url, const std::string& group, const std::string& topic,
                const std::string& key) {
  auto p = open_parking(url);
  if (!p) return report_failure("park release", p.error());
  KafkaOptions o;
  o.bootstrap = bootstrap();
  o.client_id = "wharf-park";
  auto bus = Bus::open(o);
  if (!bus) return report_failure("park release", bus.error());
  Status s = p->parking->release(group, topic, key, *bus);
  Status closed = (*bus)->close();
  if (!s) return report_failure("park release", s.error());
  if (!closed) return report_failure("park release", closed.error());
  std::printf("released key %s of %s for group %s: its waiting messages are handed over in order\n",
              cell_text(key, 256).c_str(), topic.c_str(), group.c_str());
  return 0;
}

}  // namespace

void register_park(CLI::App& app, int& exit_code) {
  auto* park = app.add_subcommand(
      "park", "List and release keys parked by wharf::KeyParking in a service's SQL store");
  park->require_subcommand(1);
  park->fallthrough();
  static std::string db, group, topic, key;
  auto add_db = [](CLI::App* c) {
    c->add_option("--db", db, "The service's store: sqlite:PATH or postgresql://...")->required();
  };
  auto* list =
      park->add_subcommand("list", "Parked keys with their state, waiting messages and reason");
  add_db(list);
  list->add_option("-g,--group", group, "Only this consumer group");
  list->callback([&exit_code] { exit_code = run_list(db, group); });

  auto* show = park->add_subcommand("show", "The messages waiting behind one parked key, in order");
  add_db(show);
  show->add_option("-g,--group", group, "Consumer group")->required();
  show->add_option("-t,--topic", topic, "Topic")->required();
  show->add_option("key", key, "The parked key")->required();
  show->callback([&exit_code] { exit_code = run_show(db, group, topic, key); });

  auto* release = park->add_subcommand("release",
                                       "Release a parked key: its consumer hands the waiting "
                                       "messages over in order, then newer ones");
  add_db(release);
  release->add_option("-g,--group", group, "Consumer group")->required();
  release->add_option("-t,--topic", topic, "Topic")->required();
  release->add_option("key", key, "The parked key")->required();
  add_client_options(release);
  release->callback([&exit_code] { exit_code = run_release(db, group, topic, key); });
}

}  // namespace wharf::cli
