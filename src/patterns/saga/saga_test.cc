// Sagas on SQLite and on a real PostgreSQL server (started once for the binary). A 3-step
// saga (reserve -> charge -> ship; release and refund compensate) runs against scripted
// participants over the memory transport, with the outbox relay driven pass by pass and a
// manual clock, so every test is deterministic: completion, compensation of exactly the
// completed steps in reverse order, deadlines (also ones that pass while no coordinator runs),
// redelivered replies, a compensation that keeps failing, version pinning, and the Router. A
// second saga runs charge and a loyalty award in parallel (reserve -> {charge, award} -> ship):
// the stage advances when both succeeded, and a failure or deadline compensates the stage's
// succeeded and timed-out steps after its other steps settled. Last, coordinator processes are
// SIGKILLed at seeded moments over a transport kept in the database.
#include "wharf/saga.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "base/metrics.h"
#include "tests/support/postgres_environment.h"
#include "wharf/outbox.h"
#include "wharf/sql/open.h"

namespace wharf {
namespace {

using namespace std::chrono_literals;

auto* const g_postgres = test::register_postgres_environment();

// Command type -> (success reply, failure reply, reply topic).
struct Reply {
  std::string ok, failed, topic;
};
const std::map<std::string, Reply> kReplies = {
    {"inventory.Reserve", {"inventory.Reserved", "inventory.ReserveFailed", "inventory.replies"}},
    {"inventory.Release", {"inventory.Released", "inventory.ReleaseFailed", "inventory.replies"}},
    {"payments.Charge", {"payments.Charged", "payments.ChargeFailed", "payments.replies"}},
    {"payments.Refund", {"payments.Refunded", "payments.RefundFailed", "payments.replies"}},
    {"shipping.Ship", {"shipping.Shipped", "shipping.ShipFailed", "shipping.replies"}},
    {"loyalty.Award", {"loyalty.Awarded", "loyalty.AwardFailed", "loyalty.replies"}},
    {"loyalty.Revoke", {"loyalty.Revoked", "loyalty.RevokeFailed", "loyalty.replies"}},
};

SagaAction action(const std::string& topic, const std::string& type,
                  std::chrono::milliseconds deadline = 30s) {
  const Reply& r = kReplies.at(type);
  return SagaAction{.topic = topic,
                    .command = [type](const json& data) -> Result<Message> {
                      Message m;
                      m.type = type;
                      m.payload = data.dump();
                      return m;
                    },
                    .reply_topic = r.topic,
                    .success = {r.ok},
                    .failure = {r.failed},
                    .deadline = deadline};
}

// reserve -> charge [-> ship]; release and refund compensate; ship has no compensation.
SagaDefinition order_saga(std::int32_t version = 1, bool with_ship = true) {
  SagaDefinition d{.name = "order", .version = version, .steps = {}};
  d.steps.push_back({.name = "reserve",
                     .action = action("inventory.commands", "inventory.Reserve"),
                     .compensation = action("inventory.commands", "inventory.Release"),
                     .on_success = [](const Message& reply, json& data) -> Status {
                       data["reservation"] = reply.payload;
                       return ok();
                     }});
  d.steps.push_back({.name = "charge",
                     .action = action("payments.commands", "payments.Charge"),
                     .compensation = action("payments.commands", "payments.Refund"),
                     .on_success = {}});
  if (with_ship) {
    d.steps.push_back({.name = "ship",
                       .action = action("shipping.commands", "shipping.Ship"),
                       .compensation = std::nullopt,
                       .on_success = {}});
  }
  return d;
}

// reserve -> {charge, award} -> ship: charge and the loyalty award run in parallel.
SagaDefinition parallel_saga(std::chrono::milliseconds award_deadline = 30s) {
  SagaDefinition d = order_saga();
  d.name = "order-par";
  SagaStep award{.name = "award",
                 .action = action("loyalty.commands", "loyalty.Award", award_deadline),
                 .compensation = action("loyalty.commands", "loyalty.Revoke"),
                 .on_success = [](const Message& reply, json& data) -> Status {
                   data["points"] = reply.payload;
                   return ok();
                 },
                 .parallel_with_previous = true};
  d.steps.insert(d.steps.begin() + 2, std::move(award));
  return d;
}

// The participants see the two commands of the parallel stage in either order (they travel on
// different topics): in declaration order here.
std::vector<std::string> normalized(std::vector<std::string> effects) {
  if (effects.size() >= 3 && effects[1] == "loyalty.Award" && effects[2] == "payments.Charge") {
    std::swap(effects[1], effects[2]);
  }
  return effects;
}

class SagaTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto url = test::fresh_database_url(GetParam(), *g_postgres, "saga", &dir_);
    ASSERT_TRUE(url) << url.error().to_string();
    auto db = sql::open(*url);
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = std::move(*db);
    bus_ = *Bus::open(MemoryOptions{.default_partitions = 1});
    open_coordinator();
    relay_ = std::make_unique<OutboxRelay>(
        *db_, *bus_,
        OutboxRelayOptions{.name = "saga", .clock = &clock_, .owner = "test", .background = false});
    auto commands = (*bus_)->subscribe({.group = "participants",
                                        .topics = {"inventory.commands", "payments.commands",
                                                   "shipping.commands", "loyalty.commands"}});
    ASSERT_TRUE(commands) << commands.error().to_string();
    commands_ = std::move(*commands);
    auto replies = (*bus_)->subscribe({.group = "sagas",
                                       .topics = {"inventory.replies", "payments.replies",
                                                  "shipping.replies", "loyalty.replies"}});
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

  void open_coordinator(std::vector<SagaDefinition> definitions = {order_saga()}) {
    sagas_.reset();
    auto sagas = SagaCoordinator::open(
        *db_, {.compensation_retry = {.attempts_max = 3, .backoff_initial = 1s, .backoff_max = 4s},
               .clock = &clock_});
    ASSERT_TRUE(sagas) << sagas.error().to_string();
    sagas_ = std::move(*sagas);
    for (auto& d : definitions) ASSERT_TRUE(sagas_->add(std::move(d)));
  }

  // The participants: each command is applied once per message id (a redelivered command is
  // not an effect) and answered as `outcome[type]` says: "ok" (default), "fail" or "silent".
  // fail_times[type] > 0 fails that many times, then answers ok.
  void participate(const Message& command) {
    if (!seen_commands_.insert(command.id).second) return;
    effects_[command.correlation_id].push_back(command.type);
    std::string outcome = outcome_.contains(command.type) ? outcome_[command.type] : "ok";
    if (fail_times_[command.type] > 0) {
      --fail_times_[command.type];
      outcome = "fail";
    }
    if (outcome == "silent") {
      silent_commands_.push_back(command);
      return;
    }
    reply_to(command, outcome == "ok");
  }
  void reply_to(const Message& command, bool success) {
    const Reply& r = kReplies.at(command.type);
    Message reply;
    reply.type = success ? r.ok : r.failed;
    reply.correlation_id = command.correlation_id;
    if (reply_causation_) reply.causation_id = command.id;
    reply.payload = "res-" + command.correlation_id;
    ASSERT_TRUE(bus_->publish(r.topic, reply));
  }

  // Relays the outbox, lets the participants answer and the coordinator apply the replies,
  // until nothing moves. Every reply is applied `deliveries` times (redelivery).
  void pump(int deliveries = 1) {
    for (int idle = 0, round = 0; idle < 2 && round < 1000; ++round) {
      bool moved = false;
      auto published = relay_->run_once();
      ASSERT_TRUE(published) << published.error().to_string();
      moved |= *published > 0;
      auto commands = commands_->poll(100, 0ms);
      ASSERT_TRUE(commands) << commands.error().to_string();
      for (const auto& c : *commands) participate(c);
      moved |= !commands->empty();
      auto replies = replies_->poll(100, 0ms);
      ASSERT_TRUE(replies) << replies.error().to_string();
      for (const auto& r : *replies) {
        all_replies_.push_back(r);
        for (int i = 0; i < deliveries; ++i) {
          Status s = sagas_->handle(r);
          ASSERT_TRUE(s) << s.error().to_string();
        }
      }
      moved |= !replies->empty();
      idle = moved ? 0 : idle + 1;
    }
  }

  std::string start(std::string id = {}, const std::string& name = "order") {
    auto started = sagas_->start(name, json{{"order_id", "o-1"}}, std::move(id));
    EXPECT_TRUE(started) << started.error().to_string();
    return started.value_or("");
  }
  SagaInstance get(const std::string& id) {
    auto inst = sagas_->get(id);
    EXPECT_TRUE(inst) << inst.error().to_string();
    return inst.value_or(SagaInstance{});
  }
  std::size_t fire() {
    auto fired = sagas_->fire_due_timers();
    EXPECT_TRUE(fired) << fired.error().to_string();
    return fired.value_or(0);
  }
  // The command of `type` a silent participant kept (the last one).
  Message silent(const std::string& type) {
    for (auto it = silent_commands_.rbegin(); it != silent_commands_.rend(); ++it) {
      if (it->type == type) return *it;
    }
    ADD_FAILURE() << "no silent " << type;
    return Message{};
  }
  // Where the steps of the parallel stage are: step name -> status.
  std::map<std::string, std::string> stage(const std::string& id) {
    std::map<std::string, std::string> out;
    for (const auto& e : get(id).stage) out[e.step_name] = e.status;
    return out;
  }
  std::int64_t relay() {
    auto published = relay_->run_once();
    EXPECT_TRUE(published) << published.error().to_string();
    return static_cast<std::int64_t>(published.value_or(0));
  }
  std::vector<std::string> events(const std::string& id) {
    auto h = sagas_->history(id);
    EXPECT_TRUE(h) << h.error().to_string();
    std::vector<std::string> out;
    for (const auto& e : h.value_or(std::vector<SagaHistoryEntry>{})) out.push_back(e.event);
    return out;
  }

  ManualClock clock_;
  std::string dir_;
  std::unique_ptr<sql::Database> db_;
  std::optional<Bus> bus_;
  std::unique_ptr<SagaCoordinator> sagas_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<Subscription> commands_, replies_;
  std::set<std::string> seen_commands_;
  std::map<std::string, std::vector<std::string>> effects_;  // by instance id
  std::map<std::string, std::string> outcome_;
  std::map<std::string, int> fail_times_;
  std::vector<Message> silent_commands_;
  std::vector<Message> all_replies_;
  bool reply_causation_ = true;  // false: participants that do not set the causation id
};

using Effects = std::vector<std::string>;

TEST_P(SagaTest, ThreeStepsComplete) {
  const std::string id = start();
  EXPECT_EQ(get(id).state, SagaState::kRunning);
  pump();
  const SagaInstance inst = get(id);
  EXPECT_EQ(inst.state, SagaState::kCompleted);
  EXPECT_EQ(inst.version, 1);
  EXPECT_EQ(inst.data.value("reservation", ""), "res-" + id) << "on_success kept the reply";
  EXPECT_EQ(inst.data.value("order_id", ""), "o-1");
  EXPECT_FALSE(inst.due_at_ms) << "a finished instance keeps a timer";
  EXPECT_EQ(effects_[id], (Effects{"inventory.Reserve", "payments.Charge", "shipping.Ship"}));
  EXPECT_EQ(events(id), (std::vector<std::string>{"started", "command_sent", "step_completed",
                                                  "command_sent", "step_completed", "command_sent",
                                                  "step_completed", "completed"}));
  const std::string text = metrics::registry().render_prometheus();
  EXPECT_NE(text.find("wharf_saga_instances{saga=\"order\",state=\"completed\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("wharf_saga_step_latency_seconds"), std::string::npos);
  EXPECT_NE(text.find("wharf_saga_transitions_total{saga=\"order\",event=\"completed\"}"),
            std::string::npos);
}

TEST_P(SagaTest, EachFailingStepCompensatesExactlyTheCompletedStepsInReverse) {
  const std::vector<std::pair<std::string, Effects>> cases = {
      {"inventory.Reserve", {"inventory.Reserve"}},
      {"payments.Charge", {"inventory.Reserve", "payments.Charge", "inventory.Release"}},
      {"shipping.Ship",
       {"inventory.Reserve", "payments.Charge", "shipping.Ship", "payments.Refund",
        "inventory.Release"}},
  };
  for (const auto& [failing, expected] : cases) {
    outcome_.clear();
    outcome_[failing] = "fail";
    const std::string id = start();
    pump();
    const SagaInstance inst = get(id);
    EXPECT_EQ(inst.state, SagaState::kCompensated) << failing;
    EXPECT_EQ(effects_[id], expected) << failing;
    EXPECT_NE(inst.last_error.find("Failed"), std::string::npos) << inst.last_error;
    auto ev = events(id);
    EXPECT_EQ(std::count(ev.begin(), ev.end(), "step_failed"), 1) << failing;
    EXPECT_EQ(ev.back(), "compensated");
  }
}

TEST_P(SagaTest, AStepDeadlineFiresAndCompensatesTheTimedOutStepToo) {
  outcome_["payments.Charge"] = "silent";
  const std::string id = start();
  pump();
  ASSERT_EQ(get(id).state, SagaState::kRunning);
  ASSERT_EQ(get(id).step_name, "charge");
  ASSERT_TRUE(get(id).due_at_ms);
  EXPECT_EQ(*get(id).due_at_ms, clock_.now_ms() + 30'000);
  EXPECT_EQ(fire(), 0u) << "not due yet";
  clock_.advance(29s);
  EXPECT_EQ(fire(), 0u) << "not due yet";
  clock_.advance(2s);
  EXPECT_EQ(fire(), 1u);
  EXPECT_EQ(fire(), 0u) << "a timer fires once";
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  // The charge may have happened after all: it is refunded, then the reservation released.
  EXPECT_EQ(effects_[id], (Effects{"inventory.Reserve", "payments.Charge", "payments.Refund",
                                   "inventory.Release"}));
  // The late reply to the timed-out charge changes nothing.
  const auto history_before = events(id);
  ASSERT_EQ(silent_commands_.size(), 1u);
  reply_to(silent_commands_[0], true);
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(events(id), history_before);
}

TEST_P(SagaTest, ADeadlineThatPassedWhileDownFiresOnceAfterRestart) {
  outcome_["payments.Charge"] = "silent";
  const std::string id = start();
  pump();
  ASSERT_EQ(get(id).step_name, "charge");
  sagas_.reset();  // the process is down
  clock_.advance(10min);
  open_coordinator();  // restarted
  EXPECT_EQ(fire(), 1u);
  open_coordinator();  // and again: nothing left to fire
  EXPECT_EQ(fire(), 0u);
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(effects_[id], (Effects{"inventory.Reserve", "payments.Charge", "payments.Refund",
                                   "inventory.Release"}));
  auto ev = events(id);
  EXPECT_EQ(std::count(ev.begin(), ev.end(), "step_timed_out"), 1);
}

TEST_P(SagaTest, RedeliveredRepliesChangeNothing) {
  outcome_["shipping.Ship"] = "fail";
  const std::string id = start();
  pump(/*deliveries=*/3);  // every reply applied three times as it arrives
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(effects_[id], (Effects{"inventory.Reserve", "payments.Charge", "shipping.Ship",
                                   "payments.Refund", "inventory.Release"}));
  const auto history = events(id);
  // And all of them once more, later, in order and reversed.
  for (const auto& r : all_replies_) ASSERT_TRUE(sagas_->handle(r));
  for (auto it = all_replies_.rbegin(); it != all_replies_.rend(); ++it) {
    ASSERT_TRUE(sagas_->handle(*it));
  }
  auto published = relay_->run_once();
  ASSERT_TRUE(published);
  EXPECT_EQ(*published, 0u) << "a redelivered reply sent a command";
  EXPECT_EQ(events(id), history);
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
}

// Without a causation id a reply is matched by instance and type alone; a redelivered failure
// reply must not count against the compensation sent again after it.
TEST_P(SagaTest, AReplyWithoutCausationIsAppliedOnceWhenItsTypeIsAwaitedAgain) {
  reply_causation_ = false;
  outcome_["shipping.Ship"] = "fail";
  fail_times_["payments.Refund"] = 1;
  const std::string id = start();
  pump();
  ASSERT_EQ(get(id).state, SagaState::kCompensating);
  ASSERT_EQ(get(id).attempts, 1);
  ASSERT_FALSE(all_replies_.empty());
  const Message refund_failed = all_replies_.back();
  ASSERT_EQ(refund_failed.type, "payments.RefundFailed");
  clock_.advance(1s);
  ASSERT_EQ(fire(), 1u);  // the refund is sent again and awaited
  ASSERT_FALSE(get(id).awaiting_message_id.empty());
  ASSERT_TRUE(sagas_->handle(refund_failed));  // the old failure, redelivered
  EXPECT_EQ(get(id).attempts, 1) << "a redelivered reply counted as a new failure";
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(effects_[id], (Effects{"inventory.Reserve", "payments.Charge", "shipping.Ship",
                                   "payments.Refund", "payments.Refund", "inventory.Release"}));
}

TEST_P(SagaTest, AFailingCompensationIsRetriedThenNeedsAttentionAndRetryResumesIt) {
  outcome_["shipping.Ship"] = "fail";
  fail_times_["payments.Refund"] = 100;
  const std::string id = start();
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensating);
  EXPECT_EQ(get(id).attempts, 1);
  clock_.advance(1s);  // backoff 1 s
  EXPECT_EQ(fire(), 1u);
  pump();
  EXPECT_EQ(get(id).attempts, 2);
  clock_.advance(1s);
  EXPECT_EQ(fire(), 0u) << "the second backoff is 2 s";
  clock_.advance(1s);
  EXPECT_EQ(fire(), 1u);
  pump();
  SagaInstance inst = get(id);
  EXPECT_EQ(inst.state, SagaState::kNeedsAttention);
  EXPECT_EQ(inst.step_name, "charge");
  EXPECT_FALSE(inst.due_at_ms);
  clock_.advance(1h);
  EXPECT_EQ(fire(), 0u) << "a parked instance waits for an operator";
  auto parked = sagas_->list(SagaState::kNeedsAttention);
  ASSERT_TRUE(parked);
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].id, id);
  EXPECT_EQ(effects_[id], (Effects{"inventory.Reserve", "payments.Charge", "shipping.Ship",
                                   "payments.Refund", "payments.Refund", "payments.Refund"}));

  fail_times_["payments.Refund"] = 0;  // the payment service is fixed
  ASSERT_TRUE(sagas_->retry(id));
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(effects_[id].back(), "inventory.Release");
  EXPECT_EQ(std::count(effects_[id].begin(), effects_[id].end(), "payments.Refund"), 4);
  EXPECT_EQ(sagas_->retry(id).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(sagas_->abort(id, "x").error().code(), ErrorCode::kInvalidArgument);

  // Another one is parked and then aborted by an operator: nothing more is sent.
  fail_times_["payments.Refund"] = 100;
  const std::string other = start();
  pump();
  for (int i = 0; i < 2; ++i) {
    clock_.advance(10s);
    EXPECT_EQ(fire(), 1u);
    pump();
  }
  ASSERT_EQ(get(other).state, SagaState::kNeedsAttention);
  ASSERT_TRUE(sagas_->abort(other, "refunded by hand"));
  EXPECT_EQ(get(other).state, SagaState::kAborted);
  EXPECT_EQ(get(other).last_error, "refunded by hand");
  EXPECT_EQ(events(other).back(), "aborted");
  auto published = relay_->run_once();
  ASSERT_TRUE(published);
  EXPECT_EQ(*published, 0u);
}

TEST_P(SagaTest, AnInstanceFinishesOnTheVersionItStartedWith) {
  open_coordinator({order_saga(1, /*with_ship=*/false)});
  const std::string v1 = start();  // reserve -> charge
  // v2 adds shipping while v1 is in flight (its first command not even relayed yet).
  open_coordinator({order_saga(1, false), order_saga(2, true)});
  const std::string v2 = start();
  pump();
  EXPECT_EQ(get(v1).version, 1);
  EXPECT_EQ(get(v1).state, SagaState::kCompleted);
  EXPECT_EQ(effects_[v1], (Effects{"inventory.Reserve", "payments.Charge"}));
  EXPECT_EQ(get(v2).version, 2);
  EXPECT_EQ(get(v2).state, SagaState::kCompleted);
  EXPECT_EQ(effects_[v2], (Effects{"inventory.Reserve", "payments.Charge", "shipping.Ship"}));

  // A coordinator that lacks v1 does not guess: the reply is an error (handed again).
  outcome_["payments.Charge"] = "silent";
  open_coordinator({order_saga(1, false)});
  const std::string v1b = start();
  pump();
  open_coordinator({order_saga(2, true)});
  ASSERT_EQ(silent_commands_.size(), 1u);
  reply_to(silent_commands_[0], true);
  auto replies = replies_->poll(10, 0ms);
  ASSERT_TRUE(replies);
  ASSERT_EQ(replies->size(), 1u);
  Status s = sagas_->handle((*replies)[0]);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(get(v1b).state, SagaState::kRunning);
  EXPECT_EQ(sagas_->add(order_saga(2, true)).error().code(), ErrorCode::kAlreadyExists);
  clock_.advance(31s);  // nor does its deadline fire without v1: it stays due
  auto fired = sagas_->fire_due_timers();
  ASSERT_FALSE(fired);
  EXPECT_EQ(fired.error().code(), ErrorCode::kNotFound);
  open_coordinator({order_saga(1, false), order_saga(2, true)});
  EXPECT_EQ(fire(), 1u);
  pump();
  EXPECT_EQ(get(v1b).state, SagaState::kCompensated);
  EXPECT_EQ(effects_[v1b], (Effects{"inventory.Reserve", "payments.Charge", "payments.Refund",
                                    "inventory.Release"}));
}

TEST_P(SagaTest, PurgeDeletesOnlyOldFinishedInstancesAndLateRepliesStayHarmless) {
  const std::string done = start();
  pump();
  ASSERT_EQ(get(done).state, SagaState::kCompleted);
  outcome_["payments.Charge"] = "silent";
  const std::string waiting = start();
  pump();
  ASSERT_EQ(get(waiting).state, SagaState::kRunning);
  EXPECT_EQ(sagas_->purge_finished(1h).value_or(-1), 0) << "nothing is old yet";
  clock_.advance(2h);
  EXPECT_EQ(sagas_->purge_finished(1h).value_or(-1), 1);
  EXPECT_EQ(sagas_->get(done).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(get(waiting).state, SagaState::kRunning) << "an unfinished instance was purged";
  auto h = sagas_->history(done);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->empty());
  for (const auto& r : all_replies_) ASSERT_TRUE(sagas_->handle(r));  // late duplicates
  auto published = relay_->run_once();
  ASSERT_TRUE(published);
  EXPECT_EQ(*published, 0u);
  EXPECT_EQ(sagas_->purge_finished(1h).value_or(-1), 0);
}

TEST_P(SagaTest, DefinitionsAreValidated) {
  EXPECT_EQ(sagas_->add(SagaDefinition{.name = "x", .version = 1, .steps = {}}).error().code(),
            ErrorCode::kInvalidArgument);
  SagaDefinition d = order_saga(3);
  d.steps[1].action.success.clear();
  EXPECT_EQ(sagas_->add(d).error().code(), ErrorCode::kInvalidArgument);
  d = order_saga(3);
  d.steps[1].name = "reserve";
  EXPECT_EQ(sagas_->add(d).error().code(), ErrorCode::kInvalidArgument);
  d = order_saga(3);
  d.steps[0].parallel_with_previous = true;
  EXPECT_EQ(sagas_->add(d).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(sagas_->start("nope", json::object()).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(sagas_->get("nope").error().code(), ErrorCode::kNotFound);
}

TEST_P(SagaTest, StartsInTheCallersTransactionOrNotAtAll) {
  std::string id;
  Status s = db_->transaction(
      [&](sql::Transaction& tx) -> Status {
        WHARF_ASSIGN_OR_RETURN(id, sagas_->start(tx, "order", json::object()));
        return fail(ErrorCode::kConflict, "the order could not be written");
      },
      {.attempts_max = 1});
  ASSERT_FALSE(s);
  EXPECT_EQ(sagas_->get(id).error().code(), ErrorCode::kNotFound);
  auto published = relay_->run_once();
  ASSERT_TRUE(published);
  EXPECT_EQ(*published, 0u) << "a rolled-back start sent its command";
}

// The coordinator as a Router handler, with a background relay and participants that reply
// through Context::publish (which carries correlation and causation ids over).
TEST_P(SagaTest, RunsUnderTheRouter) {
  relay_.reset();
  OutboxRelay relay(*db_, *bus_, {.name = "saga-bg"});
  Router participants(*bus_, {.group = "participants-router"});
  for (const std::string topic : {"inventory.commands", "payments.commands", "shipping.commands"}) {
    participants.on_message(topic, "*", [](const Message& m, Context& ctx) -> Status {
      const Reply& r = kReplies.at(m.type);
      Message reply;
      reply.type = r.ok;
      return ctx.publish(r.topic, std::move(reply));
    });
  }
  Router router(*bus_, {.group = "sagas-router"});
  sagas_->attach(router);
  std::stop_source stop;
  std::jthread a([&] { EXPECT_TRUE(participants.run(stop.get_token())); });
  std::jthread b([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  const std::string id = start();
  for (int i = 0; i < 4000 && get(id).state != SagaState::kCompleted; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  stop.request_stop();
  a.join();
  b.join();
  EXPECT_EQ(get(id).state, SagaState::kCompleted);
}

// --- Parallel stages --------------------------------------------------------------------------

TEST_P(SagaTest, AParallelStageSendsItsCommandsInOneTransitionAndAdvancesWhenAllSucceeded) {
  open_coordinator({order_saga(), parallel_saga()});
  for (const bool charge_first : {true, false}) {
    outcome_["payments.Charge"] = "silent";
    outcome_["loyalty.Award"] = "silent";
    const std::string id = start({}, "order-par");
    pump();
    SagaInstance inst = get(id);
    EXPECT_EQ(inst.state, SagaState::kRunning);
    EXPECT_EQ(inst.step_name, "charge");
    EXPECT_TRUE(inst.awaiting_message_id.empty());
    EXPECT_EQ(stage(id),
              (std::map<std::string, std::string>{{"award", "awaiting"}, {"charge", "awaiting"}}));
    // Both commands left in the transition that applied reserve's reply.
    EXPECT_EQ(events(id), (std::vector<std::string>{"started", "command_sent", "step_completed",
                                                    "command_sent", "command_sent"}));
    EXPECT_EQ(normalized(effects_[id]),
              (Effects{"inventory.Reserve", "payments.Charge", "loyalty.Award"}));
    outcome_.clear();
    reply_to(silent(charge_first ? "payments.Charge" : "loyalty.Award"), true);
    pump();
    EXPECT_EQ(get(id).state, SagaState::kRunning);
    EXPECT_EQ(effects_[id].size(), 3u) << "ship was sent before the whole stage succeeded";
    EXPECT_EQ(stage(id)[charge_first ? "charge" : "award"], "succeeded");
    EXPECT_EQ(stage(id)[charge_first ? "award" : "charge"], "awaiting");
    reply_to(silent(charge_first ? "loyalty.Award" : "payments.Charge"), true);
    pump();
    inst = get(id);
    EXPECT_EQ(inst.state, SagaState::kCompleted) << charge_first;
    EXPECT_TRUE(inst.stage.empty());
    EXPECT_FALSE(inst.due_at_ms);
    EXPECT_EQ(inst.data.value("points", ""), "res-" + id) << "award's on_success ran";
    EXPECT_EQ(normalized(effects_[id]),
              (Effects{"inventory.Reserve", "payments.Charge", "loyalty.Award", "shipping.Ship"}));
  }
}

// The failing step's sibling settles first or last, with success or failure: the stage's
// compensation starts once both settled, and covers exactly the steps that took effect.
TEST_P(SagaTest, AFailedStepOfAStageCompensatesItsSucceededSiblingAndTheEarlierStepsOnce) {
  open_coordinator({order_saga(), parallel_saga()});
  struct Case {
    std::string failing, other;
    bool other_succeeds, failure_first;
    Effects compensations;
  };
  const std::vector<Case> cases = {
      {"loyalty.Award", "payments.Charge", true, true, {"payments.Refund", "inventory.Release"}},
      {"loyalty.Award", "payments.Charge", true, false, {"payments.Refund", "inventory.Release"}},
      {"payments.Charge", "loyalty.Award", true, true, {"loyalty.Revoke", "inventory.Release"}},
      {"payments.Charge", "loyalty.Award", true, false, {"loyalty.Revoke", "inventory.Release"}},
      {"payments.Charge", "loyalty.Award", false, true, {"inventory.Release"}},
  };
  for (const auto& c : cases) {
    const std::string what = c.failing + (c.failure_first ? " fails first, " : " fails last, ") +
                             c.other + (c.other_succeeds ? " succeeds" : " fails");
    outcome_["payments.Charge"] = "silent";
    outcome_["loyalty.Award"] = "silent";
    const std::string id = start({}, "order-par");
    pump();
    outcome_.clear();
    if (c.failure_first) {
      reply_to(silent(c.failing), false);
      pump();
      EXPECT_EQ(get(id).state, SagaState::kCompensating) << what;
      EXPECT_EQ(effects_[id].size(), 3u) << what << ": compensated before the stage settled";
      EXPECT_EQ(stage(id)[c.other == "loyalty.Award" ? "award" : "charge"], "awaiting") << what;
      reply_to(silent(c.other), c.other_succeeds);  // late: compensation has started
    } else {
      reply_to(silent(c.other), c.other_succeeds);
      pump();
      EXPECT_EQ(get(id).state, SagaState::kRunning) << what;
      reply_to(silent(c.failing), false);
    }
    pump();
    const SagaInstance inst = get(id);
    EXPECT_EQ(inst.state, SagaState::kCompensated) << what;
    Effects expected = {"inventory.Reserve", "payments.Charge", "loyalty.Award"};
    expected.insert(expected.end(), c.compensations.begin(), c.compensations.end());
    EXPECT_EQ(normalized(effects_[id]), expected) << what;
    if (c.other == "loyalty.Award" && c.other_succeeds) {
      EXPECT_EQ(inst.data.value("points", ""), "res-" + id) << what << ": late reply lost";
    }
    auto ev = events(id);
    EXPECT_EQ(std::count(ev.begin(), ev.end(), "step_failed"), c.other_succeeds ? 1 : 2) << what;
    EXPECT_EQ(ev.back(), "compensated") << what;
    EXPECT_FALSE(inst.due_at_ms) << what;
  }
}

TEST_P(SagaTest, ATimedOutStepOfAStageWaitsForItsSiblingAndCompensatesBoth) {
  open_coordinator({order_saga(), parallel_saga(/*award_deadline=*/60s)});
  outcome_["payments.Charge"] = "silent";
  outcome_["loyalty.Award"] = "silent";
  const std::string id = start({}, "order-par");
  pump();
  const std::int64_t sent_ms = clock_.now_ms();
  EXPECT_EQ(get(id).due_at_ms.value_or(0), sent_ms + 30'000);
  clock_.advance(31s);
  EXPECT_EQ(fire(), 1u);
  EXPECT_EQ(fire(), 0u) << "a timer fires once";
  EXPECT_EQ(get(id).state, SagaState::kCompensating);
  EXPECT_EQ(stage(id),
            (std::map<std::string, std::string>{{"award", "awaiting"}, {"charge", "timed_out"}}));
  EXPECT_EQ(get(id).due_at_ms.value_or(0), sent_ms + 60'000) << "the award's deadline counts";
  EXPECT_EQ(relay(), 0) << "compensated before the award settled";
  outcome_.clear();
  reply_to(silent("loyalty.Award"), true);  // after the charge's deadline
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_FALSE(get(id).due_at_ms);
  // The award is revoked (its reply applied first), the charge refunded (it may have happened).
  EXPECT_EQ(normalized(effects_[id]),
            (Effects{"inventory.Reserve", "payments.Charge", "loyalty.Award", "loyalty.Revoke",
                     "payments.Refund", "inventory.Release"}));
  EXPECT_EQ(get(id).data.value("points", ""), "res-" + id);
  // The charge's late reply changes nothing, nor does the time of the award's old deadline.
  const auto history = events(id);
  reply_to(silent("payments.Charge"), true);
  pump();
  clock_.advance(1min);
  EXPECT_EQ(fire(), 0u);
  EXPECT_EQ(events(id), history);
  EXPECT_EQ(relay(), 0);

  // Both time out: both are compensated.
  outcome_["payments.Charge"] = "silent";
  outcome_["loyalty.Award"] = "silent";
  const std::string other = start({}, "order-par");
  pump();
  outcome_.clear();
  clock_.advance(31s);
  EXPECT_EQ(fire(), 1u);
  EXPECT_EQ(relay(), 0);
  clock_.advance(30s);
  EXPECT_EQ(fire(), 1u);
  pump();
  EXPECT_EQ(get(other).state, SagaState::kCompensated);
  EXPECT_EQ(normalized(effects_[other]),
            (Effects{"inventory.Reserve", "payments.Charge", "loyalty.Award", "loyalty.Revoke",
                     "payments.Refund", "inventory.Release"}));
  auto ev = events(other);
  EXPECT_EQ(std::count(ev.begin(), ev.end(), "step_timed_out"), 2);
}

TEST_P(SagaTest, RedeliveredRepliesOfAParallelStageChangeNothing) {
  open_coordinator({order_saga(), parallel_saga()});
  outcome_["loyalty.Award"] = "fail";
  const std::string failed = start({}, "order-par");
  pump(/*deliveries=*/3);
  outcome_.clear();
  const std::string done = start({}, "order-par");
  pump(/*deliveries=*/3);
  EXPECT_EQ(get(failed).state, SagaState::kCompensated);
  EXPECT_EQ(normalized(effects_[failed]),
            (Effects{"inventory.Reserve", "payments.Charge", "loyalty.Award", "payments.Refund",
                     "inventory.Release"}));
  EXPECT_EQ(get(done).state, SagaState::kCompleted);
  EXPECT_EQ(normalized(effects_[done]),
            (Effects{"inventory.Reserve", "payments.Charge", "loyalty.Award", "shipping.Ship"}));
  const auto history_failed = events(failed);
  const auto history_done = events(done);
  for (const auto& r : all_replies_) ASSERT_TRUE(sagas_->handle(r));
  for (auto it = all_replies_.rbegin(); it != all_replies_.rend(); ++it) {
    ASSERT_TRUE(sagas_->handle(*it));
  }
  EXPECT_EQ(relay(), 0) << "a redelivered reply sent a command";
  EXPECT_EQ(events(failed), history_failed);
  EXPECT_EQ(events(done), history_done);
}

TEST_P(SagaTest, AStageWhoseCommandCannotBeBuiltSendsNoneOfItsCommands) {
  SagaDefinition d = parallel_saga();
  d.steps[2].action.command = [](const json&) -> Result<Message> {
    return fail(ErrorCode::kInvalidArgument, "no loyalty account");
  };
  open_coordinator({std::move(d)});
  const std::string id = start({}, "order-par");
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(effects_[id], (Effects{"inventory.Reserve", "inventory.Release"}))
      << "the charge left although its stage could not start";
  EXPECT_NE(get(id).last_error.find("no loyalty account"), std::string::npos);
}

// A compensation in a stage that keeps failing parks the instance like any other; retry()
// resumes it where it was and the rest of the stage and the earlier steps follow.
TEST_P(SagaTest, AFailingCompensationInAStageIsParkedAndResumed) {
  open_coordinator({order_saga(), parallel_saga()});
  outcome_["shipping.Ship"] = "fail";
  fail_times_["loyalty.Revoke"] = 100;
  const std::string id = start({}, "order-par");
  pump();
  for (int i = 0; i < 2; ++i) {
    clock_.advance(10s);
    EXPECT_EQ(fire(), 1u);
    pump();
  }
  ASSERT_EQ(get(id).state, SagaState::kNeedsAttention);
  EXPECT_EQ(get(id).step_name, "award");
  fail_times_["loyalty.Revoke"] = 0;
  ASSERT_TRUE(sagas_->retry(id));
  pump();
  EXPECT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(normalized(effects_[id]),
            (Effects{"inventory.Reserve", "payments.Charge", "loyalty.Award", "shipping.Ship",
                     "loyalty.Revoke", "loyalty.Revoke", "loyalty.Revoke", "loyalty.Revoke",
                     "payments.Refund", "inventory.Release"}));
}

// A database written by the first version of the tables (one timer per instance, no stage
// column): opening a coordinator upgrades it, and the instances it holds carry on.
TEST_P(SagaTest, TablesOfTheFirstVersionAreUpgradedAndTheirInstancesCarryOn) {
  std::string dir;
  auto url = test::fresh_database_url(GetParam(), *g_postgres, "saga-v1", &dir);
  ASSERT_TRUE(url) << url.error().to_string();
  {
    auto db = sql::open(*url);
    ASSERT_TRUE(db) << db.error().to_string();
    // Version 1 as docs/formats/saga.md described it.
    const std::array<sql::Migration, 1> v1 = {{
        {1,
         "CREATE TABLE wharf_saga_instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, version "
         "BIGINT NOT NULL, state TEXT NOT NULL, step BIGINT NOT NULL, data TEXT NOT NULL, "
         "awaiting_message_id TEXT NOT NULL, attempts BIGINT NOT NULL, last_error TEXT NOT "
         "NULL, step_started_at_ms BIGINT NOT NULL, created_at_ms BIGINT NOT NULL, "
         "updated_at_ms BIGINT NOT NULL, history_seq BIGINT NOT NULL);"
         "CREATE INDEX wharf_saga_instances_state ON wharf_saga_instances (state, "
         "created_at_ms);"
         "CREATE TABLE wharf_saga_history (instance_id TEXT NOT NULL, seq BIGINT NOT NULL, "
         "at_ms BIGINT NOT NULL, event TEXT NOT NULL, step BIGINT NOT NULL, state TEXT NOT "
         "NULL, message_id TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (instance_id, "
         "seq));"
         "CREATE TABLE wharf_saga_timers (instance_id TEXT PRIMARY KEY, due_at_ms BIGINT NOT "
         "NULL, kind TEXT NOT NULL, token TEXT NOT NULL);"
         "CREATE INDEX wharf_saga_timers_due ON wharf_saga_timers (due_at_ms);"
         "CREATE TABLE wharf_saga_processed (message_id TEXT PRIMARY KEY, instance_id TEXT NOT "
         "NULL, processed_at_ms BIGINT NOT NULL);"},
    }};
    ASSERT_TRUE((*db)->migrate("wharf_saga", v1));
    const std::int64_t now = clock_.now_ms();
    ASSERT_TRUE((*db)->transaction([&](sql::Transaction& tx) -> Status {
      for (const auto& [id, due] : {std::pair<std::string, std::int64_t>{"up", now + 30'000},
                                    std::pair<std::string, std::int64_t>{"late", now - 1}}) {
        WHARF_RETURN_IF_ERROR(tx.exec(
            "INSERT INTO wharf_saga_instances VALUES (?, 'order', 1, 'running', 1, '{}', ?, 0, "
            "'', ?, ?, ?, 0)",
            id, "cmd-" + id, now, now, now));
        WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO wharf_saga_timers VALUES (?, ?, 'deadline', ?)",
                                      id, due, "cmd-" + id));
      }
      return ok();
    }));
    auto sagas = SagaCoordinator::open(**db, {.clock = &clock_});
    ASSERT_TRUE(sagas) << sagas.error().to_string();
    ASSERT_TRUE((*sagas)->add(order_saga()));
    EXPECT_EQ((*db)->schema_version("wharf_saga").value_or(0), 2);
    EXPECT_EQ((*sagas)->get("up").value_or(SagaInstance{}).due_at_ms.value_or(0), now + 30'000);
    Message charged;
    charged.id = new_message_id();
    charged.type = "payments.Charged";
    charged.correlation_id = "up";
    charged.causation_id = "cmd-up";
    ASSERT_TRUE((*sagas)->handle(charged));
    auto up = (*sagas)->get("up");
    ASSERT_TRUE(up) << up.error().to_string();
    EXPECT_EQ(up->state, SagaState::kRunning);
    EXPECT_EQ(up->step_name, "ship");
    EXPECT_TRUE(up->stage.empty());
    auto fired = (*sagas)->fire_due_timers();
    ASSERT_TRUE(fired) << fired.error().to_string();
    EXPECT_EQ(*fired, 1u);
    auto late = (*sagas)->get("late");
    ASSERT_TRUE(late) << late.error().to_string();
    EXPECT_EQ(late->state, SagaState::kCompensating) << "the old deadline did not fire";
    EXPECT_EQ(late->step_name, "charge");
    EXPECT_FALSE(late->awaiting_message_id.empty()) << "the refund was not sent";
  }
  if (!dir.empty()) std::filesystem::remove_all(dir);
}

// Time in state and stuck instances: the age of the least recently changed running instance,
// and instances whose timer is more than overdue_after (60 s) past due.
TEST_P(SagaTest, OldestAndOverdueGaugesShowStuckInstances) {
  outcome_["payments.Charge"] = "silent";
  const std::string id = start();
  pump();
  auto value = [](const std::string& series) {
    const std::string text = metrics::registry().render_prometheus();
    const auto at = text.find(series + " ");
    if (at == std::string::npos) return -1.0;
    return std::strtod(text.c_str() + at + series.size() + 1, nullptr);
  };
  const std::string overdue = "wharf_saga_overdue{saga=\"order\"}";
  const std::string oldest = "wharf_saga_oldest_seconds{saga=\"order\",state=\"running\"}";
  EXPECT_EQ(value(overdue), 0.0);
  EXPECT_EQ(value(oldest), 0.0);
  clock_.advance(91s);  // the charge's deadline (30 s) passed 61 s ago and no timer fired
  EXPECT_EQ(value(overdue), 1.0);
  EXPECT_EQ(value(oldest), 91.0);
  EXPECT_EQ(fire(), 1u);
  pump();
  ASSERT_EQ(get(id).state, SagaState::kCompensated);
  EXPECT_EQ(value(overdue), 0.0);
  EXPECT_EQ(value(oldest), -1.0) << "no running instance is left";
}

INSTANTIATE_TEST_SUITE_P(Stores, SagaTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// --- SIGKILL ---------------------------------------------------------------------------------

// A transport whose topics are rows of a table in the test's database, so that what publish()
// returned for survives a SIGKILL of the process (the memory transport would not). Only
// publish() is used: the relay publishes into it, and the crash test's loop reads the table.
class TableTransport final : public Transport {
 public:
  explicit TableTransport(sql::Database& db) : db_(db) {}
  Status publish(const std::string& topic, std::vector<Message> messages) override {
    return db_.transaction([&](sql::Transaction& tx) -> Status {
      for (auto& m : messages) {
        if (m.id.empty()) m.id = new_message_id();
        WHARF_RETURN_IF_ERROR(
            tx.exec("INSERT INTO test_log (topic, id, type, correlation_id, causation_id, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    topic, m.id, m.type, m.correlation_id, m.causation_id, m.payload));
      }
      return ok();
    });
  }
  Result<std::unique_ptr<Subscription>> subscribe(SubscribeOptions) override {
    return fail(ErrorCode::kUnsupported, "table transport: read test_log");
  }
  Status ensure_topic(const std::string&, std::int32_t) override { return ok(); }
  Result<std::int32_t> partition_count(const std::string&) override { return 1; }
  Result<std::map<TopicPartition, std::int64_t>> end_offsets(const std::string&) override {
    return fail(ErrorCode::kUnsupported, "table transport");
  }
  Status close() override { return ok(); }
  std::string_view name() const override { return "table"; }
  std::string kafka_address() const override { return ""; }

 private:
  sql::Database& db_;
};

Status create_crash_tables(sql::Database& db) {
  const bool pg = db.dialect() == sql::Dialect::kPostgres;
  return db.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_RETURN_IF_ERROR(tx.exec_script(
        std::string("CREATE TABLE test_log (seq ") +
        (pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT") +
        ", topic TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, correlation_id TEXT NOT "
        "NULL, causation_id TEXT NOT NULL, payload TEXT NOT NULL);"
        "CREATE TABLE test_offsets (reader TEXT PRIMARY KEY, seq BIGINT NOT NULL);"
        "INSERT INTO test_offsets VALUES ('participants', 0);"
        "INSERT INTO test_offsets VALUES ('sagas', 0);"
        "CREATE TABLE test_participant_inbox (message_id TEXT PRIMARY KEY);"
        "CREATE TABLE test_effects (seq " +
        (pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT") +
        ", instance_id TEXT NOT NULL, type TEXT NOT NULL);"));
    return ok();
  });
}

// Reads the messages after `reader`'s offset whose topic ends with `suffix`.
Result<std::vector<std::pair<std::int64_t, Message>>> read_log(sql::Database& db,
                                                               const std::string& reader,
                                                               const std::string& suffix) {
  std::vector<std::pair<std::int64_t, Message>> out;
  WHARF_RETURN_IF_ERROR(db.transaction([&](sql::Transaction& tx) -> Status {
    out.clear();
    WHARF_ASSIGN_OR_RETURN(
        auto rows, tx.query("SELECT l.seq, l.id, l.type, l.correlation_id, l.causation_id, "
                            "l.payload FROM test_log l, test_offsets o WHERE o.reader = ? AND "
                            "l.seq > o.seq AND l.topic LIKE ? ORDER BY l.seq LIMIT 20",
                            reader, "%" + suffix));
    for (const auto& row : rows) {
      Message m;
      WHARF_ASSIGN_OR_RETURN(std::int64_t seq, row.get<std::int64_t>(0));
      WHARF_ASSIGN_OR_RETURN(m.id, row.get<std::string>(1));
      WHARF_ASSIGN_OR_RETURN(m.type, row.get<std::string>(2));
      WHARF_ASSIGN_OR_RETURN(m.correlation_id, row.get<std::string>(3));
      WHARF_ASSIGN_OR_RETURN(m.causation_id, row.get<std::string>(4));
      WHARF_ASSIGN_OR_RETURN(m.payload, row.get<std::string>(5));
      out.emplace_back(seq, std::move(m));
    }
    return ok();
  }));
  return out;
}

Status commit_offset(sql::Database& db, const std::string& reader, std::int64_t seq) {
  return db.transaction([&](sql::Transaction& tx) -> Status {
    return tx.exec("UPDATE test_offsets SET seq = ? WHERE reader = ?", seq, reader).map([](auto) {
    });
  });
}

// One participant message: applied once (its own inbox in the same transaction), answered
// through the outbox. The command's data says which step fails.
Status participate_durably(sql::Database& db, const Message& command) {
  return db.transaction([&](sql::Transaction& tx) -> Status {
    WHARF_ASSIGN_OR_RETURN(std::int64_t fresh,
                           tx.exec("INSERT INTO test_participant_inbox (message_id) VALUES (?) "
                                   "ON CONFLICT DO NOTHING",
                                   command.id));
    if (fresh == 0) return ok();
    WHARF_RETURN_IF_ERROR(tx.exec("INSERT INTO test_effects (instance_id, type) VALUES (?, ?)",
                                  command.correlation_id, command.type));
    const json data = json::parse(command.payload, nullptr, false);
    const bool failed = data.is_object() && data.value("fail", "") == command.type;
    const Reply& r = kReplies.at(command.type);
    Message reply;
    reply.type = failed ? r.failed : r.ok;
    reply.correlation_id = command.correlation_id;
    reply.causation_id = command.id;
    return outbox(tx).publish_message(r.topic, std::move(reply)).map([](auto) {});
  });
}

// The crash test's process: relay, participants and coordinator in one loop, slowed down so
// that kills land mid-work. Returns when every instance is finished (or fails).
Status run_crash_loop(sql::Database& db, SagaCoordinator& sagas, OutboxRelay& relay,
                      std::int64_t instances, int rounds_max) {
  for (int round = 0; round < rounds_max; ++round) {
    WHARF_RETURN_IF_ERROR(relay.run_once());
    WHARF_ASSIGN_OR_RETURN(auto commands, read_log(db, "participants", ".commands"));
    for (const auto& [seq, m] : commands) {
      WHARF_RETURN_IF_ERROR(participate_durably(db, m));
      std::this_thread::sleep_for(300us);
      WHARF_RETURN_IF_ERROR(commit_offset(db, "participants", seq));
    }
    WHARF_ASSIGN_OR_RETURN(auto replies, read_log(db, "sagas", ".replies"));
    for (const auto& [seq, m] : replies) {
      WHARF_RETURN_IF_ERROR(sagas.handle(m));
      std::this_thread::sleep_for(300us);
      WHARF_RETURN_IF_ERROR(commit_offset(db, "sagas", seq));
    }
    if (commands.empty() && replies.empty()) {
      WHARF_ASSIGN_OR_RETURN(auto running, sagas.list(SagaState::kRunning));
      WHARF_ASSIGN_OR_RETURN(auto compensating, sagas.list(SagaState::kCompensating));
      WHARF_ASSIGN_OR_RETURN(auto all, sagas.list());
      if (running.empty() && compensating.empty() &&
          static_cast<std::int64_t>(all.size()) == instances) {
        return ok();
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  return fail(ErrorCode::kTimeout, "instances still unfinished");
}

class SagaCrashTest : public ::testing::TestWithParam<std::string> {
 protected:
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

// SIGKILL of the process running relay, participants and coordinator, at seeded moments, again
// and again; then one last process finishes. Half the instances run the saga with a parallel
// stage. Every instance ends completed or compensated, each command was sent once (one id per
// step and phase; a relay crash may publish an id again) and applied once, in the expected order.
TEST_P(SagaCrashTest, SigkillAtAnyMomentResumesWithoutLosingOrRepeatingCommands) {
  auto url = test::fresh_database_url(GetParam(), *g_postgres, "saga-crash", &dir_);
  ASSERT_TRUE(url) << url.error().to_string();
  constexpr int kInstances = 60;
  const SagaOptions options{.compensation_retry = {}, .clock = nullptr};
  const OutboxRelayOptions relay_options{
      .name = "crash", .batch_max = 50, .owner = "crash-test", .background = false};
  {
    auto db = sql::open(*url);
    ASSERT_TRUE(db) << db.error().to_string();
    ASSERT_TRUE(create_crash_tables(**db));
    auto sagas = SagaCoordinator::open(**db, options);
    ASSERT_TRUE(sagas) << sagas.error().to_string();
    ASSERT_TRUE((*sagas)->add(order_saga()));
    ASSERT_TRUE((*sagas)->add(parallel_saga()));
    for (int i = 0; i < kInstances; ++i) {
      json data{{"n", i}};
      if (i % 6 == 0) data["fail"] = "payments.Charge";
      if (i % 6 == 1) data["fail"] = "shipping.Ship";
      if (i % 6 == 3) data["fail"] = "loyalty.Award";
      if (i % 6 == 4) data["fail"] = "shipping.Ship";
      char id[16];
      std::snprintf(id, sizeof id, "i-%03d", i);
      ASSERT_TRUE((*sagas)->start(i % 6 < 3 ? "order" : "order-par", data, id));
    }
  }
  const char* seed_env = std::getenv("WHARF_TEST_SEED");
  const unsigned seed = seed_env ? static_cast<unsigned>(std::strtoul(seed_env, nullptr, 10))
                                 : std::random_device{}();
  std::printf("WHARF_TEST_SEED=%u\n", seed);
  std::mt19937 rng(seed);
  int kills = 0;
  for (int round = 0; round < 40; ++round) {
    // No thread of this test runs here, so the child may use the SQL clients after fork().
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto db = sql::open(*url);
      if (!db) ::_exit(3);
      auto sagas = SagaCoordinator::open(**db, options);
      if (!sagas || !(*sagas)->add(order_saga()) || !(*sagas)->add(parallel_saga())) ::_exit(4);
      OutboxRelay relay(**db, Bus(std::make_shared<TableTransport>(**db)), relay_options);
      Status s = run_crash_loop(**db, **sagas, relay, kInstances, 1'000'000);
      if (!s) std::fprintf(stderr, "child: %s\n", s.error().to_string().c_str());
      ::_exit(s ? 0 : 5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 200));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      std::printf("round %d: the child finished every instance before its kill\n", round);
      break;
    }
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child failed: " << status;
    ++kills;
  }
  std::printf("processes killed: %d\n", kills);
  auto db = sql::open(*url);
  ASSERT_TRUE(db) << db.error().to_string();
  auto sagas = SagaCoordinator::open(**db, options);
  ASSERT_TRUE(sagas) << sagas.error().to_string();
  ASSERT_TRUE((*sagas)->add(order_saga()));
  ASSERT_TRUE((*sagas)->add(parallel_saga()));
  {
    auto all = (*sagas)->list();
    ASSERT_TRUE(all);
    int finished = 0;
    for (const auto& inst : *all) finished += saga_state_final(inst.state) ? 1 : 0;
    std::printf("finished before the last run: %d of %d\n", finished, kInstances);
  }
  OutboxRelay relay(**db, Bus(std::make_shared<TableTransport>(**db)), relay_options);
  Status done = run_crash_loop(**db, **sagas, relay, kInstances, 100'000);
  ASSERT_TRUE(done) << done.error().to_string();

  auto effects = [&](const std::string& id) {
    Effects out;
    EXPECT_TRUE((*db)->transaction([&](sql::Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(
          auto rows,
          tx.query("SELECT type FROM test_effects WHERE instance_id = ? ORDER BY seq", id));
      for (const auto& row : rows) {
        WHARF_ASSIGN_OR_RETURN(std::string t, row.get<std::string>(0));
        out.push_back(std::move(t));
      }
      return ok();
    }));
    return out;
  };
  auto distinct_commands = [&](const std::string& id) {
    std::int64_t n = -1;
    EXPECT_TRUE((*db)->transaction([&](sql::Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT COUNT(DISTINCT id) FROM test_log WHERE "
                                                 "correlation_id = ? AND topic LIKE '%.commands'",
                                                 id));
      WHARF_ASSIGN_OR_RETURN(n, rows.scalar<std::int64_t>());
      return ok();
    }));
    return n;
  };
  for (int i = 0; i < kInstances; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "i-%03d", i);
    auto inst = (*sagas)->get(id);
    ASSERT_TRUE(inst) << inst.error().to_string();
    Effects expected;
    switch (i % 6) {
      case 0:
        expected = {"inventory.Reserve", "payments.Charge", "inventory.Release"};
        break;
      case 1:
        expected = {"inventory.Reserve", "payments.Charge", "shipping.Ship", "payments.Refund",
                    "inventory.Release"};
        break;
      case 2:
        expected = {"inventory.Reserve", "payments.Charge", "shipping.Ship"};
        break;
      case 3:  // the award fails, the charge beside it succeeded
        expected = {"inventory.Reserve", "payments.Charge", "loyalty.Award", "payments.Refund",
                    "inventory.Release"};
        break;
      case 4:
        expected = {"inventory.Reserve", "payments.Charge", "loyalty.Award",    "shipping.Ship",
                    "loyalty.Revoke",    "payments.Refund", "inventory.Release"};
        break;
      default:
        expected = {"inventory.Reserve", "payments.Charge", "loyalty.Award", "shipping.Ship"};
        break;
    }
    EXPECT_EQ(inst->state,
              i % 6 == 2 || i % 6 == 5 ? SagaState::kCompleted : SagaState::kCompensated)
        << id;
    EXPECT_EQ(normalized(effects(id)), expected) << id;
    EXPECT_EQ(distinct_commands(id), static_cast<std::int64_t>(expected.size()))
        << id << ": a transition sent a command twice";
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, SagaCrashTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wharf
