// Choreographed sagas on SQLite and on a real PostgreSQL server: events from several topics
// correlated to one instance by a payload field or the correlation id, state and status kept
// with the event history, a failure reaction that publishes through the outbox exactly once
// (redelivery is absorbed by the inbox), late events recorded but not applied, stuck instances,
// bad correlation ids refused, and the whole thing under a Router with the inbox.
#include "wharf/choreography.h"

#include <filesystem>
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

Message event(const std::string& topic, const std::string& type, const std::string& order_id,
              const std::string& id = {}) {
  Message m;
  m.id = id.empty() ? new_message_id() : id;
  m.topic = topic;
  m.type = type;
  m.payload = json{{"order_id", order_id}}.dump();
  return m;
}

class ChoreographyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto url = test::fresh_database_url(GetParam(), *g_postgres, "choreography", &dir_);
    ASSERT_TRUE(url) << url.error().to_string();
    auto db = sql::open(*url);
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = std::move(*db);
    ASSERT_TRUE(migrate_outbox(*db_));
    auto c = Choreography::open(*db_, "order-process", {.stuck_after = 60s, .clock = &clock_});
    ASSERT_TRUE(c) << c.error().to_string();
    process_ = std::move(*c);
    // The order process: it completes once the stock is reserved and the payment charged, in
    // either order; a declined payment fails it and asks for the stock back (through the outbox).
    const auto by_order = correlate_by_field("order_id");
    process_->on("orders", "OrderPlaced", by_order,
                 [](json& state, const Message&, sql::Transaction&) -> Result<ChoreographyStatus> {
                   state["placed"] = true;
                   return ChoreographyStatus::kOpen;
                 });
    auto done_when_both = [](json& state) {
      return state.value("reserved", false) && state.value("paid", false)
                 ? ChoreographyStatus::kCompleted
                 : ChoreographyStatus::kOpen;
    };
    process_->on("inventory", "StockReserved", by_order,
                 [=](json& state, const Message&, sql::Transaction&) -> Result<ChoreographyStatus> {
                   state["reserved"] = true;
                   return done_when_both(state);
                 });
    process_->on("payments", "PaymentCharged", by_order,
                 [=](json& state, const Message&, sql::Transaction&) -> Result<ChoreographyStatus> {
                   state["paid"] = true;
                   return done_when_both(state);
                 });
    process_->on(
        "payments", "PaymentDeclined", by_order,
        [this](json& state, const Message& m, sql::Transaction& tx) -> Result<ChoreographyStatus> {
          ++declined_reactions_;
          Message release;
          release.type = "ReleaseStock";
          release.payload = m.payload;
          release.correlation_id = m.correlation_id;
          release.causation_id = m.id;
          WHARF_RETURN_IF_ERROR(outbox(tx).publish_message("inventory.commands", release));
          state["declined"] = true;
          return ChoreographyStatus::kFailed;
        });
  }
  void TearDown() override {
    process_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Applies `m` in a transaction of its own, as the inbox would.
  Result<bool> apply(const Message& m) {
    bool applied = false;
    WHARF_RETURN_IF_ERROR(db_->transaction([&](sql::Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(applied, process_->apply(tx, m));
      return ok();
    }));
    return applied;
  }
  std::int64_t outbox_rows() {
    std::int64_t n = -1;
    EXPECT_TRUE(db_->transaction([&](sql::Transaction& tx) -> Status {
      WHARF_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT COUNT(*) FROM wharf_outbox"));
      WHARF_ASSIGN_OR_RETURN(n, rows.scalar<std::int64_t>());
      return ok();
    }));
    return n;
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<Choreography> process_;
  int declined_reactions_ = 0;
};

TEST_P(ChoreographyTest, CorrelatesEventsFromSeveralTopicsAndCompletesInEitherOrder) {
  ASSERT_TRUE(*apply(event("orders", "OrderPlaced", "A")));
  ASSERT_TRUE(*apply(event("orders", "OrderPlaced", "B")));
  ASSERT_TRUE(*apply(event("inventory", "StockReserved", "A")));
  ASSERT_TRUE(*apply(event("payments", "PaymentCharged", "B")));
  auto a = process_->get("A");
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->status, ChoreographyStatus::kOpen);
  ASSERT_TRUE(*apply(event("payments", "PaymentCharged", "A")));
  ASSERT_TRUE(*apply(event("inventory", "StockReserved", "B")));
  for (const char* id : {"A", "B"}) {
    auto i = process_->get(id);
    ASSERT_TRUE(i) << i.error().to_string();
    EXPECT_EQ(i->status, ChoreographyStatus::kCompleted) << id;
    EXPECT_EQ(i->state, (json{{"placed", true}, {"reserved", true}, {"paid", true}})) << id;
    EXPECT_EQ(i->events, 3);
    auto h = process_->history(id);
    ASSERT_TRUE(h);
    ASSERT_EQ(h->size(), 3u);
    EXPECT_EQ((*h)[0].type, "OrderPlaced");
    for (const auto& e : *h) EXPECT_TRUE(e.applied);
  }
  EXPECT_EQ(a->last_event_type, "StockReserved");
  auto done = process_->list(ChoreographyStatus::kCompleted);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->size(), 2u);
  // A type or topic nobody registered is not the choreography's business: nothing is written.
  EXPECT_FALSE(*apply(event("orders", "OrderShipped", "A")));
  EXPECT_FALSE(*apply(event("elsewhere", "StockReserved", "A")));
  EXPECT_EQ(process_->get("A")->events, 3);
}

TEST_P(ChoreographyTest, FailureReactsOnceAndLaterEventsAreRecordedButNotApplied) {
  ASSERT_TRUE(*apply(event("orders", "OrderPlaced", "C")));
  ASSERT_TRUE(*apply(event("payments", "PaymentDeclined", "C")));
  EXPECT_EQ(declined_reactions_, 1);
  EXPECT_EQ(outbox_rows(), 1);
  auto c = process_->get("C");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, ChoreographyStatus::kFailed);
  // The stock reservation arrives late: recorded, not applied; the state stays as it was.
  ASSERT_TRUE(*apply(event("inventory", "StockReserved", "C")));
  c = process_->get("C");
  EXPECT_EQ(c->status, ChoreographyStatus::kFailed);
  EXPECT_FALSE(c->state.contains("reserved"));
  auto h = process_->history("C");
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), 3u);
  EXPECT_TRUE((*h)[1].applied);
  EXPECT_FALSE((*h)[2].applied);
  EXPECT_EQ(outbox_rows(), 1);
}

TEST_P(ChoreographyTest, AReactionErrorLeavesNothingBehind) {
  process_->on("orders", "Broken", correlate_by_field("order_id"),
               [](json& state, const Message&, sql::Transaction&) -> Result<ChoreographyStatus> {
                 state["half"] = true;
                 return fail(ErrorCode::kUnavailable, "dependency down");
               });
  auto r = apply(event("orders", "Broken", "D"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(process_->get("D").error().code(), ErrorCode::kNotFound);
}

TEST_P(ChoreographyTest, MessagesWithoutAUsableIdAreRefused) {
  Message no_field = event("orders", "OrderPlaced", "E");
  no_field.payload = R"({"customer":"x"})";
  auto r = apply(no_field);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  Message not_json = no_field;
  not_json.payload = "not json";
  EXPECT_EQ(apply(not_json).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(apply(event("orders", "OrderPlaced", std::string(kMessageIdBytesMax + 1, 'x')))
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(apply(event("orders", "OrderPlaced", "")).error().code(), ErrorCode::kInvalidArgument);
  // By correlation id: missing, or not UTF-8 (it would be stored as text), is refused too.
  process_->on("orders", "Tagged", correlate_by_correlation_id(),
               [](json&, const Message&, sql::Transaction&) -> Result<ChoreographyStatus> {
                 return ChoreographyStatus::kOpen;
               });
  Message tagged = event("orders", "Tagged", "x");
  tagged.correlation_id.clear();
  EXPECT_EQ(apply(tagged).error().code(), ErrorCode::kInvalidArgument);
  tagged.correlation_id = "\xff\xfe";
  EXPECT_EQ(apply(tagged).error().code(), ErrorCode::kInvalidArgument);
  // Integer ids are taken as their decimal text.
  Message numeric = event("orders", "OrderPlaced", "");
  numeric.payload = R"({"order_id": 42})";
  ASSERT_TRUE(*apply(numeric));
  EXPECT_TRUE(process_->get("42"));
  auto all = process_->list();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 1u);
}

TEST_P(ChoreographyTest, OpenInstancesWithoutEventsShowAsStuck) {
  ASSERT_TRUE(*apply(event("orders", "OrderPlaced", "F")));
  ASSERT_TRUE(*apply(event("orders", "OrderPlaced", "G")));
  clock_.advance(30s);
  ASSERT_TRUE(*apply(event("inventory", "StockReserved", "G")));
  clock_.advance(31s);  // F: 61 s without an event; G: 31 s
  auto stuck = process_->list(std::nullopt, 100, /*stuck_only=*/true);
  ASSERT_TRUE(stuck);
  ASSERT_EQ(stuck->size(), 1u);
  EXPECT_EQ((*stuck)[0].id, "F");
  const std::string text = metrics::registry().render_prometheus();
  EXPECT_NE(text.find("wharf_choreography_stuck{choreography=\"order-process\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("wharf_choreography_instances{choreography=\"order-process\",status=\"open\"} 2"),
      std::string::npos);
}

// Under a Router with the inbox: a redelivered event (same id) changes nothing, and a declined
// payment's outbox message is written once.
TEST_P(ChoreographyTest, RunsUnderTheRouterWithTheInbox) {
  auto bus = Bus::open(MemoryOptions{.default_partitions = 2});
  ASSERT_TRUE(bus);
  auto inbox = Inbox::open(*db_);
  ASSERT_TRUE(inbox);
  Router router(*bus, {.group = "order-process"});
  process_->attach(router, **inbox);
  const Message declined = event("payments", "PaymentDeclined", "H");
  for (const auto& m : {event("orders", "OrderPlaced", "I"), event("orders", "OrderPlaced", "H"),
                        event("payments", "PaymentCharged", "I"), declined, declined,
                        event("inventory", "StockReserved", "I")}) {
    Message copy = m;
    copy.key = json::parse(m.payload)["order_id"];
    ASSERT_TRUE((*bus)->publish(m.topic, {copy}));
  }
  std::stop_source stop;
  std::jthread run([&] { EXPECT_TRUE(router.run(stop.get_token())); });
  for (int i = 0; i < 2000; ++i) {
    auto h = process_->get("H");
    auto done = process_->get("I");
    if (h && done && h->status == ChoreographyStatus::kFailed &&
        done->status == ChoreographyStatus::kCompleted)
      break;
    std::this_thread::sleep_for(5ms);
  }
  stop.request_stop();
  run.join();
  EXPECT_EQ(process_->get("I")->status, ChoreographyStatus::kCompleted);
  auto h = process_->get("H");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, ChoreographyStatus::kFailed);
  EXPECT_EQ(h->events, 2) << "the redelivered PaymentDeclined was applied again";
  EXPECT_EQ(declined_reactions_, 1);
  EXPECT_EQ(outbox_rows(), 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, ChoreographyTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wharf
