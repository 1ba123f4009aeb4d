// The operator's side of sagas (include/wharf/saga_ops.h) on SQLite and on a real PostgreSQL
// server: listing with filters, a retry requested by a process that has no definitions (what
// `wharf saga retry` does) and sent by the coordinator's next timer pass, and the admin
// endpoint /v1/sagas. Participants answer over the memory transport; the outbox relay and the
// timers are driven by hand on a manual clock.
#include "wharf/saga_ops.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "base/admin_routes.h"
#include "tests/support/postgres_environment.h"
#include "wharf/outbox.h"
#include "wharf/sql/open.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

auto* const g_postgres = test::register_postgres_environment();

SagaAction action(const std::string& type) {
  return SagaAction{.topic = "commands",
                    .command = [type](const json&) -> Result<Message> {
                      Message m;
                      m.type = type;
                      return m;
                    },
                    .reply_topic = "replies",
                    .success = {type + ".ok"},
                    .failure = {type + ".failed"},
                    .deadline = 30s};
}

// reserve (released) -> charge (refunded) -> ship.
SagaDefinition order_saga(const std::string& name) {
  return SagaDefinition{.name = name,
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

class SagaOpsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto url = test::fresh_database_url(GetParam(), *g_postgres, "saga_ops", &dir_);
    ASSERT_TRUE(url) << url.error().to_string();
    url_ = *url;
    auto db = sql::open(*url);
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = std::move(*db);
    bus_ = *Bus::open(MemoryOptions{.default_partitions = 1});
    auto sagas = SagaCoordinator::open(
        *db_, {.compensation_retry = {.attempts_max = 2, .backoff_initial = 1s, .backoff_max = 1s},
               .clock = &clock_});
    ASSERT_TRUE(sagas) << sagas.error().to_string();
    sagas_ = std::move(*sagas);
    ASSERT_TRUE(sagas_->add(order_saga("order")));
    ASSERT_TRUE(sagas_->add(order_saga("refund")));
    relay_ = std::make_unique<OutboxRelay>(
        *db_, *bus_,
        OutboxRelayOptions{.name = "ops", .clock = &clock_, .owner = "test", .background = false});
    auto commands = (*bus_)->subscribe({.group = "participants", .topics = {"commands"}});
    ASSERT_TRUE(commands) << commands.error().to_string();
    commands_ = std::move(*commands);
    auto replies = (*bus_)->subscribe({.group = "sagas", .topics = {"replies"}});
    ASSERT_TRUE(replies) << replies.error().to_string();
    replies_ = std::move(*replies);
  }
  void TearDown() override {
    commands_.reset();
    replies_.reset();
    relay_.reset();
    sagas_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Relays, lets the participants answer (a type in failing_ fails) and the coordinator apply
  // the replies, until nothing moves.
  void pump() {
    for (int idle = 0, round = 0; idle < 2 && round < 1000; ++round) {
      auto published = relay_->run_once();
      ASSERT_TRUE(published) << published.error().to_string();
      auto commands = commands_->poll(100, 0ms);
      ASSERT_TRUE(commands) << commands.error().to_string();
      for (const auto& c : *commands) {
        sent_[c.correlation_id].push_back(c.type);
        Message reply;
        reply.type = c.type + (failing_.contains(c.type) ? ".failed" : ".ok");
        reply.correlation_id = c.correlation_id;
        reply.causation_id = c.id;
        ASSERT_TRUE(bus_->publish("replies", reply));
      }
      auto replies = replies_->poll(100, 0ms);
      ASSERT_TRUE(replies) << replies.error().to_string();
      for (const auto& r : *replies) ASSERT_TRUE(sagas_->handle(r));
      const bool moved = *published > 0 || !commands->empty() || !replies->empty();
      idle = moved ? 0 : idle + 1;
    }
  }
  std::string start(const std::string& name) {
    auto id = sagas_->start(name, json{{"order_id", "o-1"}});
    EXPECT_TRUE(id) << id.error().to_string();
    clock_.advance(1ms);  // distinct created_at_ms: "oldest first" is observable
    return id.value_or("");
  }
  // Ship fails, the refund keeps failing: parked as needs_attention after two attempts.
  std::string park(const std::string& name) {
    failing_ = {"Ship", "Refund"};
    const std::string id = start(name);
    pump();
    clock_.advance(1s);
    EXPECT_EQ(sagas_->fire_due_timers().value_or(0), 1u);
    pump();
    EXPECT_EQ(sagas_->get(id)->state, SagaState::kNeedsAttention);
    failing_.clear();
    return id;
  }
  std::vector<std::string> ids(const SagaFilter& f) {
    auto list = list_sagas(*sagas_, *db_, f);
    EXPECT_TRUE(list) << list.error().to_string();
    std::vector<std::string> out;
    for (const auto& i : list.value_or(std::vector<SagaInstance>{})) out.push_back(i.id);
    return out;
  }

  ManualClock clock_;
  std::string dir_, url_;
  std::unique_ptr<sql::Database> db_;
  std::optional<Bus> bus_;
  std::unique_ptr<SagaCoordinator> sagas_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<Subscription> commands_, replies_;
  std::set<std::string> failing_;
  std::map<std::string, std::vector<std::string>> sent_;  // command types by instance
};

using Ids = std::vector<std::string>;

TEST_P(SagaOpsTest, ListFiltersByStateAndNameOldestFirstUpToTheLimit) {
  const std::string a = start("order");
  pump();  // completed
  const std::string b = park("order");
  const std::string c = start("refund");
  pump();
  const std::string d = park("refund");
  EXPECT_EQ(ids({}), (Ids{a, b, c, d}));
  EXPECT_EQ(ids({.limit = 2}), (Ids{a, b}));
  EXPECT_EQ(ids({.state = SagaState::kNeedsAttention}), (Ids{b, d}));
  EXPECT_EQ(ids({.name = "refund"}), (Ids{c, d}));
  EXPECT_EQ(ids({.state = SagaState::kCompleted, .name = "refund"}), (Ids{c}));
  EXPECT_EQ(ids({.state = SagaState::kAborted}), Ids{});
  EXPECT_EQ(ids({.name = "nothing"}), Ids{});
  auto list = list_sagas(*sagas_, *db_, {.state = SagaState::kNeedsAttention, .limit = 1});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].step, 1) << "parked on the refund of the charge";
  EXPECT_EQ((*list)[0].attempts, 2);
  EXPECT_NE((*list)[0].last_error.find("Refund.failed"), std::string::npos)
      << (*list)[0].last_error;

  auto counts = count_sagas(*db_);
  ASSERT_TRUE(counts);
  ASSERT_EQ(counts->size(), 4u);
  EXPECT_EQ((*counts)[0].name, "order");
  EXPECT_EQ((*counts)[0].state, "completed");
  EXPECT_EQ((*counts)[0].count, 1);
  EXPECT_EQ((*counts)[3].name, "refund");
  EXPECT_EQ((*counts)[3].state, "needs_attention");
}

// What `wharf saga retry` does: a process without the definition asks; the running coordinator
// sends the compensation on its next timer pass, and the instance ends compensated.
TEST_P(SagaOpsTest, ARequestedRetryIsSentByTheCoordinatorsNextTimerPass) {
  const std::string id = park("order");
  EXPECT_EQ(sent_[id], (Ids{"Reserve", "Charge", "Ship", "Refund", "Refund"}));

  // The operator's process: a connection pool of its own, no definitions.
  auto op_db = sql::open(url_);
  ASSERT_TRUE(op_db) << op_db.error().to_string();
  sql::Database& db = **op_db;
  EXPECT_EQ(request_saga_retry(db, "no-such-id", &clock_).error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(request_saga_retry(db, id, &clock_));
  EXPECT_EQ(request_saga_retry(db, id, &clock_).error().code(), ErrorCode::kInvalidArgument)
      << "a second request while the first is pending";

  SagaInstance inst = *sagas_->get(id);
  EXPECT_EQ(inst.state, SagaState::kCompensating);
  EXPECT_EQ(inst.attempts, 0);
  ASSERT_TRUE(inst.due_at_ms);
  EXPECT_EQ(*inst.due_at_ms, clock_.now_ms());
  auto history = sagas_->history(id);
  ASSERT_TRUE(history);
  EXPECT_EQ(history->back().event, "retried");
  EXPECT_EQ(history->back().state, "compensating");
  EXPECT_EQ(history->back().seq, static_cast<std::int64_t>(history->size()));

  pump();
  EXPECT_EQ(sent_[id].size(), 5u) << "nothing is sent before the timer pass";
  EXPECT_EQ(sagas_->fire_due_timers().value_or(0), 1u);
  pump();
  EXPECT_EQ(sagas_->get(id)->state, SagaState::kCompensated);
  EXPECT_EQ(sent_[id], (Ids{"Reserve", "Charge", "Ship", "Refund", "Refund", "Refund", "Release"}));
  EXPECT_EQ(request_saga_retry(db, id, &clock_).error().code(), ErrorCode::kInvalidArgument);
}

// A failed retry parks the instance again, with a full attempt budget spent.
TEST_P(SagaOpsTest, ARequestedRetryThatFailsAgainIsParkedAgain) {
  const std::string id = park("order");
  failing_ = {"Refund"};
  ASSERT_TRUE(request_saga_retry(*db_, id, &clock_));
  ASSERT_EQ(sagas_->fire_due_timers().value_or(0), 1u);
  pump();
  clock_.advance(1s);
  ASSERT_EQ(sagas_->fire_due_timers().value_or(0), 1u);
  pump();
  const SagaInstance inst = *sagas_->get(id);
  EXPECT_EQ(inst.state, SagaState::kNeedsAttention);
  EXPECT_EQ(inst.attempts, 2);
  EXPECT_EQ(std::count(sent_[id].begin(), sent_[id].end(), "Refund"), 4);
}

TEST_P(SagaOpsTest, TheAdminEndpointCountsByNameAndStateAndListsWhatNeedsAttention) {
  auto route = admin_routes::find("/v1/sagas");
  ASSERT_TRUE(route) << "an open coordinator registers its admin endpoint";
  auto body = (*route)();
  ASSERT_TRUE(body) << body.error().to_string();
  auto j = json::parse(*body);
  EXPECT_EQ(j["sagas"], json::array());
  EXPECT_EQ(j["needs_attention_total"], 0);

  start("order");
  pump();
  const std::string parked = park("order");
  start("refund");  // running: its first command not relayed yet
  body = (*route)();
  ASSERT_TRUE(body) << body.error().to_string();
  j = json::parse(*body);
  ASSERT_EQ(j["sagas"].size(), 2u) << j.dump();
  EXPECT_EQ(j["sagas"][0]["name"], "order");
  EXPECT_EQ(j["sagas"][0]["states"]["completed"], 1);
  EXPECT_EQ(j["sagas"][0]["states"]["needs_attention"], 1);
  EXPECT_EQ(j["sagas"][0]["total"], 2);
  EXPECT_EQ(j["sagas"][1]["name"], "refund");
  EXPECT_EQ(j["sagas"][1]["states"]["running"], 1);
  EXPECT_EQ(j["needs_attention_total"], 1);
  ASSERT_EQ(j["needs_attention"].size(), 1u);
  EXPECT_EQ(j["needs_attention"][0]["id"], parked);
  EXPECT_EQ(j["needs_attention"][0]["step_name"], "charge");
  EXPECT_EQ(j["needs_attention"][0]["attempts"], 2);

  sagas_.reset();
  EXPECT_FALSE(admin_routes::find("/v1/sagas")) << "a closed coordinator removes its endpoint";
}

INSTANTIATE_TEST_SUITE_P(Stores, SagaOpsTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wharf
