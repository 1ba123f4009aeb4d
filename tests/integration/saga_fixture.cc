// A service running sagas, for saga_cli_test.sh: a SagaCoordinator with the "order" saga
// (reserve -> charge -> ship; release and refund compensate), its outbox relay and scripted
// participants over the memory transport, all in this process, on the store given by URL.
//
//   wharf_saga_fixture seed URL      starts three instances and runs them until "done" is
//                                    completed, "stuck" needs attention (ship fails, every
//                                    refund fails) and "waiting" awaits a charge reply that
//                                    never comes (no deadline)
//   wharf_saga_fixture resume URL ID runs the coordinator's timers, the relay and participants
//                                    that now succeed for instance ID (and answer no other),
//                                    until ID is finished (30 s at most; exit 1 if not)
//
// Prints the final states as "ID STATE" lines. Single-threaded.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "wharf/outbox.h"
#include "wharf/saga.h"
#include "wharf/sql/open.h"
#include "wharf/transport.h"

namespace {

using namespace std::chrono_literals;
using wharf::json;

wharf::SagaAction action(const std::string& type) {
  return wharf::SagaAction{.topic = "commands",
                           .command = [type](const json& data) -> wharf::Result<wharf::Message> {
                             wharf::Message m;
                             m.type = type;
                             m.payload = data.dump();
                             return m;
                           },
                           .reply_topic = "replies",
                           .success = {type + ".ok"},
                           .failure = {type + ".failed"},
                           .deadline = 0ms};
}

wharf::SagaDefinition order_saga() {
  return {.name = "order",
          .version = 1,
          .steps = {{.name = "reserve",
                     .action = action("Reserve"),
                     .compensation = action("Release"),
                     .on_success = {}},
                    {.name = "charge",
                     .action = action("Charge"),
                     .compensation = action("Refund"),
                     .on_success = {}},
                    {.name = "ship",
                     .action = action("Ship"),
                     .compensation = std::nullopt,
                     .on_success = {}}}};
}

int failed(const char* what, const wharf::Error& e) {
  std::fprintf(stderr, "saga_fixture: %s: %s\n", what, e.to_string().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: wharf_saga_fixture seed URL | resume URL ID\n");
    return 2;
  }
  const std::string mode = argv[1];
  const bool seed = mode == "seed";
  if (!seed && (mode != "resume" || argc < 4)) {
    std::fprintf(stderr, "usage: wharf_saga_fixture seed URL | resume URL ID\n");
    return 2;
  }
  auto db = wharf::sql::open(argv[2]);
  if (!db) return failed("open", db.error());
  auto sagas = wharf::SagaCoordinator::open(
      **db, {.compensation_retry = {.attempts_max = 2, .backoff_initial = 1ms, .backoff_max = 1ms},
             .timer_interval = 10ms});
  if (!sagas) return failed("coordinator", sagas.error());
  if (auto s = (*sagas)->add(order_saga()); !s) return failed("add", s.error());
  auto bus = wharf::Bus::open(wharf::MemoryOptions{.default_partitions = 1});
  if (!bus) return failed("bus", bus.error());
  wharf::OutboxRelay relay(**db, *bus,
                           wharf::OutboxRelayOptions{.name = "fixture", .background = false});
  auto commands = (*bus)->subscribe({.group = "participants", .topics = {"commands"}});
  auto replies = (*bus)->subscribe({.group = "sagas", .topics = {"replies"}});
  if (!commands) return failed("subscribe", commands.error());
  if (!replies) return failed("subscribe", replies.error());

  std::vector<std::string> watch;
  if (seed) {
    for (const char* id : {"done", "stuck", "waiting"}) {
      auto started = (*sagas)->start("order", json{{"order_id", id}}, id);
      if (!started) return failed("start", started.error());
    }
    watch = {"done", "stuck", "waiting"};
  } else {
    watch = {argv[3]};
  }
  auto settled = [&]() -> bool {
    for (const auto& id : watch) {
      auto i = (*sagas)->get(id);
      if (!i) return false;
      if (seed && id == "waiting") {
        if (i->step != 1 || i->awaiting_message_id.empty()) return false;
      } else if (!wharf::saga_state_final(i->state) &&
                 !(seed && i->state == wharf::SagaState::kNeedsAttention)) {
        return false;
      }
    }
    return true;
  };
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!settled()) {
    if (std::chrono::steady_clock::now() > until) {
      std::fprintf(stderr, "saga_fixture: not settled after 30 s\n");
      return 1;
    }
    auto fired = (*sagas)->fire_due_timers();
    if (!fired) return failed("timers", fired.error());
    auto published = relay.run_once();
    if (!published) return failed("relay", published.error());
    auto cs = (*commands)->poll(100, 0ms);
    if (!cs) return failed("poll", cs.error());
    for (const auto& c : *cs) {
      const std::string& id = c.correlation_id;
      if (seed && id == "waiting" && c.type == "Charge") continue;  // never answered
      if (!seed && id != watch[0]) continue;  // resume: only the instance named
      const bool fail = seed && id == "stuck" && (c.type == "Ship" || c.type == "Refund");
      wharf::Message reply;
      reply.type = c.type + (fail ? ".failed" : ".ok");
      reply.correlation_id = id;
      reply.causation_id = c.id;
      if (auto s = bus->publish("replies", reply); !s) return failed("publish", s.error());
    }
    auto rs = (*replies)->poll(100, 0ms);
    if (!rs) return failed("poll", rs.error());
    for (const auto& r : *rs) {
      if (auto s = (*sagas)->handle(r); !s) return failed("handle", s.error());
    }
    std::this_thread::sleep_for(2ms);
  }
  for (const auto& id : watch) {
    auto i = (*sagas)->get(id);
    if (!i) return failed("get", i.error());
    std::printf("%s %s\n", id.c_str(), std::string(wharf::saga_state_name(i->state)).c_str());
  }
  return 0;
}
