#include "kafka/group/coordinator.h"

#include <gtest/gtest.h>

namespace wharf::kafka::group {
namespace {
namespace p = protocol;

constexpr std::int16_t kV = 5;  // JoinGroup v5: member-id handshake and static membership

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest() : coord_(config(), clock_) {}
  static CoordinatorConfig config() {
    CoordinatorConfig c;
    c.initial_rebalance_delay = std::chrono::milliseconds(0);
    return c;
  }

  struct JoinResult {
    bool done = false;
    p::JoinGroupResponse resp;
  };
  std::shared_ptr<JoinResult> join(const std::string& member_id,
                                   std::optional<std::string> instance = std::nullopt,
                                   std::vector<std::string> protocols = {"range"},
                                   std::int16_t v = kV, const std::string& group = "g") {
    p::JoinGroupRequest req;
    req.group_id = group;
    req.session_timeout_ms = 10'000;
    req.rebalance_timeout_ms = 30'000;
    req.member_id = member_id;
    req.group_instance_id = instance;
    req.protocol_type = "consumer";
    for (const auto& name : protocols) req.protocols.push_back({name, to_bytes("meta-" + name)});
    auto out = std::make_shared<JoinResult>();
    coord_.join(req, v, "client", "/127.0.0.1", [out](p::JoinGroupResponse r) {
      EXPECT_FALSE(out->done) << "a join callback ran twice";
      out->done = true;
      out->resp = std::move(r);
    });
    return out;
  }
  // Full handshake for a dynamic member: returns its member id (join is then parked or done).
  std::pair<std::string, std::shared_ptr<JoinResult>> join_new(
      std::vector<std::string> protocols = {"range"}) {
    auto first = join("", std::nullopt, protocols);
    EXPECT_TRUE(first->done);
    EXPECT_EQ(first->resp.error_code, 79);  // MEMBER_ID_REQUIRED
    const std::string id = first->resp.member_id;
    return {id, join(id, std::nullopt, protocols)};
  }
  struct SyncResult {
    bool done = false;
    p::SyncGroupResponse resp;
  };
  std::shared_ptr<SyncResult> sync(
      const std::string& member_id, std::int32_t generation,
      std::vector<std::pair<std::string, std::string>> assignments = {},
      std::optional<std::string> instance = std::nullopt) {
    p::SyncGroupRequest req;
    req.group_id = "g";
    req.generation_id = generation;
    req.member_id = member_id;
    req.group_instance_id = instance;
    for (const auto& [m, a] : assignments) req.assignments.push_back({m, to_bytes(a)});
    auto out = std::make_shared<SyncResult>();
    coord_.sync(req, 3, [out](p::SyncGroupResponse r) {
      EXPECT_FALSE(out->done) << "a sync callback ran twice";
      out->done = true;
      out->resp = std::move(r);
    });
    return out;
  }
  std::int16_t heartbeat(const std::string& member_id, std::int32_t generation,
                         std::optional<std::string> instance = std::nullopt) {
    p::HeartbeatRequest req;
    req.group_id = "g";
    req.member_id = member_id;
    req.generation_id = generation;
    req.group_instance_id = instance;
    return coord_.heartbeat(req).error_code;
  }
  GroupState state(const std::string& group = "g") {
    for (const auto& m : coord_.metrics()) {
      if (m.group_id == group) return m.state;
    }
    return GroupState::kDead;
  }

  ManualClock clock_;
  Coordinator coord_;
};

TEST_F(CoordinatorTest, MemberIdHandshakeThenASingleMemberBecomesLeaderAndStable) {
  auto [id, joined] = join_new();
  ASSERT_TRUE(joined->done);
  EXPECT_EQ(joined->resp.error_code, 0);
  EXPECT_EQ(joined->resp.generation_id, 1);
  EXPECT_EQ(joined->resp.leader, id);
  EXPECT_EQ(joined->resp.protocol_name, "range");
  ASSERT_EQ(joined->resp.members.size(), 1u);
  EXPECT_EQ(as_chars(joined->resp.members[0].metadata), "meta-range");
  EXPECT_EQ(state(), GroupState::kCompletingRebalance);
  EXPECT_EQ(heartbeat(id, 1), 0) << "CompletingRebalance answers heartbeats with NONE";
  auto synced = sync(id, 1, {{id, "assignment-A"}});
  ASSERT_TRUE(synced->done);
  EXPECT_EQ(as_chars(synced->resp.assignment), "assignment-A");
  EXPECT_EQ(state(), GroupState::kStable);
}

TEST_F(CoordinatorTest, ASecondMemberTriggersARebalanceAndFollowersWaitForTheLeadersAssignment) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {{a, "all"}})->done);
  auto [b, jb] = join_new();
  EXPECT_FALSE(jb->done) << "B waits until A rejoins";
  EXPECT_EQ(state(), GroupState::kPreparingRebalance);
  EXPECT_EQ(heartbeat(a, 1), 27) << "REBALANCE_IN_PROGRESS tells A to rejoin";
  auto ja2 = join(a);
  ASSERT_TRUE(ja2->done);
  ASSERT_TRUE(jb->done);
  EXPECT_EQ(ja2->resp.generation_id, 2);
  EXPECT_EQ(jb->resp.generation_id, 2);
  EXPECT_EQ(ja2->resp.leader, a) << "the leader stays the leader";
  EXPECT_EQ(ja2->resp.members.size(), 2u);
  EXPECT_TRUE(jb->resp.members.empty()) << "followers get no member list";
  auto sb = sync(b, 2);
  EXPECT_FALSE(sb->done) << "B's sync waits for the leader";
  auto sa = sync(a, 2, {{a, "p0,p1,p2"}, {b, "p3,p4,p5"}});
  ASSERT_TRUE(sa->done && sb->done);
  EXPECT_EQ(as_chars(sa->resp.assignment), "p0,p1,p2");
  EXPECT_EQ(as_chars(sb->resp.assignment), "p3,p4,p5");
  EXPECT_EQ(state(), GroupState::kStable);
}

TEST_F(CoordinatorTest, ProtocolIsChosenByVoteAndMembersWithNoCommonProtocolAreRefused) {
  auto [a, ja] = join_new({"range", "roundrobin"});
  ASSERT_TRUE(sync(a, 1, {})->done);
  auto [b, jb] = join_new({"roundrobin", "range"});
  auto first = join("", std::nullopt, {"cooperative-sticky"});
  ASSERT_TRUE(first->done);
  EXPECT_EQ(first->resp.error_code, 23) << "INCONSISTENT_GROUP_PROTOCOL";
  auto [c, jc] = join_new({"roundrobin"});
  auto ja2 = join(a, std::nullopt, {"range", "roundrobin"});
  ASSERT_TRUE(ja2->done && jb->done && jc->done);
  EXPECT_EQ(ja2->resp.protocol_name, "roundrobin")
      << "two of three prefer roundrobin; range is not common";
}

TEST_F(CoordinatorTest, WrongGenerationUnknownMemberAndUnknownGroupGetKafkasErrors) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {})->done);
  EXPECT_EQ(heartbeat(a, 7), 22) << "ILLEGAL_GENERATION";
  EXPECT_EQ(heartbeat("nobody", 1), 25) << "UNKNOWN_MEMBER_ID";
  EXPECT_EQ(sync(a, 7)->resp.error_code, 22);
  EXPECT_EQ(sync("nobody", 1)->resp.error_code, 25);
  EXPECT_EQ(join("nobody")->resp.error_code, 25);
  p::HeartbeatRequest hb;
  hb.group_id = "no-such-group";
  hb.member_id = a;
  EXPECT_EQ(coord_.heartbeat(hb).error_code, 25);
  p::JoinGroupRequest bad;
  bad.group_id = "g";
  bad.session_timeout_ms = 10;
  bad.protocol_type = "consumer";
  bad.protocols.push_back({"range", {}});
  std::int16_t err = -1;
  coord_.join(bad, kV, "c", "h", [&](p::JoinGroupResponse r) { err = r.error_code; });
  EXPECT_EQ(err, 26) << "INVALID_SESSION_TIMEOUT";
  bad.group_id = "";
  coord_.join(bad, kV, "c", "h", [&](p::JoinGroupResponse r) { err = r.error_code; });
  EXPECT_EQ(err, 24) << "INVALID_GROUP_ID";
}

TEST_F(CoordinatorTest, SessionTimeoutRemovesASilentMemberAndTheGroupRebalances) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {})->done);
  auto [b, jb] = join_new();
  auto ja2 = join(a);
  ASSERT_TRUE(jb->done && ja2->done);
  ASSERT_TRUE(sync(b, 2)->done == false);
  ASSERT_TRUE(sync(a, 2, {})->done);
  // B goes silent; A keeps heartbeating.
  for (int i = 0; i < 12; ++i) {
    clock_.advance(std::chrono::seconds(1));
    EXPECT_NE(heartbeat(a, 2), 25);
    coord_.tick();
  }
  EXPECT_EQ(state(), GroupState::kPreparingRebalance);
  EXPECT_EQ(heartbeat(b, 2), 25) << "B was removed";
  auto ja3 = join(a);
  ASSERT_TRUE(ja3->done);
  EXPECT_EQ(ja3->resp.generation_id, 3);
  EXPECT_EQ(ja3->resp.members.size(), 1u);
}

// A client that waits exactly a member's session timeout (10 s here) and then deletes the group
// must not get NON_EMPTY_GROUP because the periodic tick has not run yet.
TEST_F(CoordinatorTest, ASessionEndsAtItsDeadlineToTheMillisecondWithoutATick) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {{a, "x"}})->done);
  clock_.advance(std::chrono::milliseconds(9'999));
  EXPECT_EQ(heartbeat(a, 1), 0) << "1 ms before the deadline the member is alive";
  clock_.advance(std::chrono::milliseconds(9'999));
  p::DescribeGroupsRequest d;
  d.groups = {"g"};
  auto desc = coord_.describe(d);
  ASSERT_EQ(desc.groups.size(), 1u);
  EXPECT_EQ(desc.groups[0].group_state, "Stable");
  EXPECT_EQ(desc.groups[0].members.size(), 1u);
  clock_.advance(std::chrono::milliseconds(1));  // exactly 10 s after the last heartbeat
  desc = coord_.describe(d);
  ASSERT_EQ(desc.groups.size(), 1u);
  EXPECT_EQ(desc.groups[0].group_state, "Empty");
  EXPECT_TRUE(desc.groups[0].members.empty());
  Coordinator::DeletePlan plan;
  p::DeleteGroupsRequest del;
  del.groups_names = {"g"};
  EXPECT_EQ(coord_.prepare_delete_groups(del, plan).results[0].error_code, 0);
}

// Without a describe first: DeleteGroups itself ends the session that is due.
TEST_F(CoordinatorTest, DeleteGroupsSeesASessionThatEndedSinceTheLastTick) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {{a, "x"}})->done);
  clock_.advance(std::chrono::milliseconds(10'000));
  Coordinator::DeletePlan plan;
  p::DeleteGroupsRequest del;
  del.groups_names = {"g"};
  EXPECT_EQ(coord_.prepare_delete_groups(del, plan).results[0].error_code, 0);
}

TEST_F(CoordinatorTest, AHeartbeatAtTheSessionDeadlineIsTooLate) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {{a, "x"}})->done);
  clock_.advance(std::chrono::milliseconds(10'000));
  EXPECT_EQ(heartbeat(a, 1), 25) << "UNKNOWN_MEMBER_ID";
}

TEST_F(CoordinatorTest, APendingMemberThatNeverReturnsHoldsTheRebalanceOnlyUntilItsSessionTimeout) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {})->done);
  auto ghost = join("");  // gets an id, never comes back (librdkafka#5570)
  ASSERT_EQ(ghost->resp.error_code, 79);
  auto [b, jb] = join_new();
  auto ja2 = join(a);
  EXPECT_FALSE(ja2->done) << "the pending member blocks completion";
  clock_.advance(std::chrono::seconds(11));
  coord_.tick();
  ASSERT_TRUE(ja2->done);
  EXPECT_EQ(ja2->resp.members.size(), 2u);
}

TEST_F(CoordinatorTest, AMemberThatNeverSendsSyncGroupIsRemovedAfterTheRebalanceTimeout) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {})->done);
  auto [b, jb] = join_new();
  auto ja2 = join(a);
  ASSERT_TRUE(ja2->done && jb->done);
  auto sa = sync(a, 2, {{a, "x"}, {b, "y"}});
  ASSERT_TRUE(sa->done);  // leader synced -> Stable; B never syncs but is in the group
  // A stuck CompletingRebalance (leader never syncs) is the case the timeout is for:
  auto [c, jc] = join_new();
  auto ja3 = join(a);
  auto jb3 = join(b);
  ASSERT_TRUE(ja3->done && jb3->done && jc->done);
  auto sc = sync(c, 3);
  EXPECT_FALSE(sc->done);
  for (int i = 0; i < 31; ++i) {  // everyone heartbeats; only A and B never sync
    clock_.advance(std::chrono::seconds(1));
    for (const auto& m : {a, b, c}) heartbeat(m, 3);
    coord_.tick();
  }
  EXPECT_TRUE(sc->done) << "the parked sync is answered when the silent members are removed";
  EXPECT_EQ(sc->resp.error_code, 27);
  EXPECT_EQ(state(), GroupState::kPreparingRebalance);
}

TEST_F(CoordinatorTest, StaticMemberRestartingWithinItsSessionCausesNoRebalance) {
  auto ja = join("", std::string("instance-1"));
  ASSERT_TRUE(ja->done);
  ASSERT_EQ(ja->resp.error_code, 0) << "static members skip the member-id handshake";
  const std::string old_id = ja->resp.member_id;
  ASSERT_TRUE(sync(old_id, 1, {{old_id, "p0"}}, std::string("instance-1"))->done);
  // The process restarts: it joins again with no member id and the same instance id.
  auto again = join("", std::string("instance-1"));
  ASSERT_TRUE(again->done);
  EXPECT_EQ(again->resp.error_code, 0);
  EXPECT_EQ(again->resp.generation_id, 1) << "no new generation: no rebalance";
  EXPECT_NE(again->resp.member_id, old_id);
  EXPECT_EQ(state(), GroupState::kStable);
  auto s = sync(again->resp.member_id, 1, {}, std::string("instance-1"));
  ASSERT_TRUE(s->done);
  EXPECT_EQ(as_chars(s->resp.assignment), "p0") << "the restarted member keeps its assignment";
  EXPECT_EQ(heartbeat(old_id, 1, std::string("instance-1")), 82) << "the old incarnation is fenced";
  const auto metrics = coord_.metrics();
  EXPECT_EQ(metrics[0].rebalances, 1);
}

TEST_F(CoordinatorTest,
       StaticLeaderRestartingWithNewMetadataKeepsItsAssignmentWithoutLeadingOrARebalance) {
  // A static leader and a dynamic follower, Stable at generation 2.
  auto ja = join("", std::string("instance-1"));
  ASSERT_TRUE(ja->done);
  const std::string old_id = ja->resp.member_id;
  ASSERT_TRUE(sync(old_id, 1, {{old_id, "all"}}, std::string("instance-1"))->done);
  auto [b, jb] = join_new();
  auto ja2 = join(old_id, std::string("instance-1"));
  ASSERT_TRUE(ja2->done && jb->done);
  ASSERT_EQ(ja2->resp.leader, old_id);
  ASSERT_EQ(ja2->resp.generation_id, 2);
  auto sb = sync(b, 2);
  ASSERT_TRUE(sync(old_id, 2, {{old_id, "pa"}, {b, "pb"}}, std::string("instance-1"))->done);
  ASSERT_TRUE(sb->done);
  ASSERT_EQ(state(), GroupState::kStable);

  // The leader restarts. Its subscription bytes differ (a cooperative-sticky consumer owns no
  // partitions yet after a restart) but the group's protocol stays "range": no rebalance.
  p::JoinGroupRequest req;
  req.group_id = "g";
  req.session_timeout_ms = 10'000;
  req.rebalance_timeout_ms = 30'000;
  req.group_instance_id = "instance-1";
  req.protocol_type = "consumer";
  req.protocols.push_back({"range", to_bytes("meta-range-after-restart")});
  std::optional<p::JoinGroupResponse> again;
  coord_.join(req, kV, "client", "/127.0.0.1",
              [&](p::JoinGroupResponse r) { again = std::move(r); });
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->error_code, 0);
  EXPECT_EQ(again->generation_id, 2) << "no rebalance";
  EXPECT_NE(again->member_id, old_id);
  EXPECT_EQ(again->leader, old_id)
      << "as Kafka: the leader id from before the replacement, so the new "
         "incarnation does not lead with an empty member list";
  EXPECT_TRUE(again->members.empty());
  EXPECT_EQ(state(), GroupState::kStable);
  EXPECT_EQ(heartbeat(b, 2), 0) << "the follower sees no rebalance";
  auto s = sync(again->member_id, 2, {}, std::string("instance-1"));
  ASSERT_TRUE(s->done);
  EXPECT_EQ(s->resp.error_code, 0);
  EXPECT_EQ(as_chars(s->resp.assignment), "pa") << "the restarted leader keeps its partitions";
  // The group still works: the next rebalance is led by the new incarnation.
  auto [c, jc] = join_new();
  auto jb2 = join(b);
  auto ja3 = join(again->member_id, std::string("instance-1"), {"range"});
  ASSERT_TRUE(jc->done && jb2->done && ja3->done);
  EXPECT_EQ(ja3->resp.generation_id, 3);
  EXPECT_EQ(ja3->resp.leader, again->member_id);
  EXPECT_EQ(ja3->resp.members.size(), 3u);
}

TEST_F(CoordinatorTest, LeaveGroupBatchRemovesMembersWithPerMemberErrors) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {})->done);
  p::LeaveGroupRequest req;
  req.group_id = "g";
  req.members = {{a, std::nullopt}, {"nobody", std::nullopt}};
  auto r = coord_.leave(req, 3);
  ASSERT_EQ(r.members.size(), 2u);
  EXPECT_EQ(r.members[0].error_code, 0);
  EXPECT_EQ(r.members[1].error_code, 25);
  EXPECT_EQ(state(), GroupState::kEmpty);
}

TEST_F(CoordinatorTest, LeaveGroupOfAnUnknownGroupAnswersPerMemberFromV3AndAtTheTopBefore) {
  p::LeaveGroupRequest req;
  req.group_id = "no-such-group";
  req.members = {{"m1", std::nullopt}, {"", std::string("instance-1")}};
  auto v3 = coord_.leave(req, 3);
  EXPECT_EQ(v3.error_code, 0) << "Kafka: NONE at the top, the error per member";
  ASSERT_EQ(v3.members.size(), 2u);
  EXPECT_EQ(v3.members[0].member_id, "m1");
  EXPECT_EQ(v3.members[0].error_code, 25);
  EXPECT_EQ(v3.members[1].group_instance_id, std::optional<std::string>("instance-1"));
  EXPECT_EQ(v3.members[1].error_code, 25);
  req.member_id = "m1";
  auto v1 = coord_.leave(req, 1);
  EXPECT_EQ(v1.error_code, 25);
  EXPECT_TRUE(v1.members.empty());
}

TEST_F(CoordinatorTest, InitialRebalanceDelayCollectsMembersOfANewGroup) {
  CoordinatorConfig c;
  c.initial_rebalance_delay = std::chrono::milliseconds(3000);
  Coordinator coord(c, clock_);
  auto join_one = [&](const std::string& id, std::shared_ptr<JoinResult> out) {
    p::JoinGroupRequest req;
    req.group_id = "g";
    req.session_timeout_ms = 10'000;
    req.rebalance_timeout_ms = 30'000;
    req.member_id = id;
    req.protocol_type = "consumer";
    req.protocols.push_back({"range", {}});
    coord.join(req, 3, "c", "h", [out](p::JoinGroupResponse r) {
      out->done = true;
      out->resp = std::move(r);
    });
  };
  auto a = std::make_shared<JoinResult>(), b = std::make_shared<JoinResult>();
  join_one("", a);  // v3: no handshake
  clock_.advance(std::chrono::milliseconds(1000));
  coord.tick();
  join_one("", b);
  EXPECT_FALSE(a->done);
  clock_.advance(std::chrono::milliseconds(2100));
  coord.tick();
  ASSERT_TRUE(a->done && b->done);
  EXPECT_EQ(a->resp.generation_id, 1);
  EXPECT_EQ(std::max(a->resp.members.size(), b->resp.members.size()), 2u);
}

// The broker's topic table as prepare_commit sees it: every partition exists.
const Coordinator::PartitionExists kAllExist = [](const std::string&, std::int32_t) {
  return true;
};

TEST_F(CoordinatorTest, OffsetCommitForAnUnknownTopicOrPartitionGetsError3AndStoresNothing) {
  // "orders" has 2 partitions; "nosuch" does not exist.
  auto exists = [](const std::string& topic, std::int32_t partition) {
    return topic == "orders" && partition >= 0 && partition < 2;
  };
  p::OffsetCommitRequest req;
  req.group_id = "g";
  req.generation_id_or_member_epoch = -1;
  req.topics.push_back(
      {"orders", {{0, 42, -1, -1, std::string("m")}, {2, 7, -1, -1, std::nullopt}}});
  req.topics.push_back({"nosuch", {{0, 5, -1, -1, std::nullopt}}});
  auto plan = coord_.prepare_commit(req, 7, exists);
  ASSERT_EQ(plan.records.size(), 1u) << "only orders/0 is stored";
  EXPECT_EQ(plan.records[0].topic, "orders");
  EXPECT_EQ(plan.records[0].partition, 0);
  ASSERT_EQ(plan.response.topics.size(), 2u);
  ASSERT_EQ(plan.response.topics[0].partitions.size(), 2u);
  EXPECT_EQ(plan.response.topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(plan.response.topics[0].partitions[1].error_code, 3) << "UNKNOWN_TOPIC_OR_PARTITION";
  EXPECT_EQ(plan.response.topics[1].name, "nosuch");
  ASSERT_EQ(plan.response.topics[1].partitions.size(), 1u);
  EXPECT_EQ(plan.response.topics[1].partitions[0].error_code, 3);
  coord_.apply(plan.records);

  p::OffsetFetchRequest fetch;
  fetch.group_id = "g";
  fetch.topics.reset();  // every committed offset of the group
  auto got = coord_.fetch_offsets(fetch, 7);
  ASSERT_EQ(got.topics.size(), 1u);
  EXPECT_EQ(got.topics[0].name, "orders");
  ASSERT_EQ(got.topics[0].partitions.size(), 1u);
  EXPECT_EQ(got.topics[0].partitions[0].partition_index, 0);

  // Kafka checks the topic before the group: a bad generation does not hide error 3.
  req.group_id = "other";
  req.generation_id_or_member_epoch = 5;
  plan = coord_.prepare_commit(req, 7, exists);
  EXPECT_TRUE(plan.records.empty());
  EXPECT_EQ(plan.response.topics[0].partitions[0].error_code, 22);
  EXPECT_EQ(plan.response.topics[1].partitions[0].error_code, 3);
}

TEST_F(CoordinatorTest, OffsetCommitsAreValidatedAndFetchedBack) {
  // Outside any group (assign() consumers, admin tools): generation -1.
  p::OffsetCommitRequest req;
  req.group_id = "g";
  req.generation_id_or_member_epoch = -1;
  req.topics.push_back(
      {"orders", {{0, 42, -1, -1, std::string("m")}, {1, 7, -1, -1, std::string(5000, 'x')}}});
  auto plan = coord_.prepare_commit(req, 7, kAllExist);
  ASSERT_EQ(plan.records.size(), 1u);
  EXPECT_EQ(plan.response.topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(plan.response.topics[0].partitions[1].error_code, 12) << "OFFSET_METADATA_TOO_LARGE";
  coord_.apply(plan.records);
  p::OffsetFetchRequest fetch;
  fetch.group_id = "g";
  fetch.topics = std::vector<p::OffsetFetchRequest::OffsetFetchRequestTopic>{{"orders", {0, 1}}};
  auto got = coord_.fetch_offsets(fetch, 7);
  ASSERT_EQ(got.topics[0].partitions.size(), 2u);
  EXPECT_EQ(got.topics[0].partitions[0].committed_offset, 42);
  EXPECT_EQ(got.topics[0].partitions[0].metadata, "m");
  EXPECT_EQ(got.topics[0].partitions[1].committed_offset, -1)
      << "uncommitted partitions are listed with -1";
  fetch.topics.reset();  // v2+: null = every committed offset of the group
  EXPECT_EQ(coord_.fetch_offsets(fetch, 7).topics.size(), 1u);

  // Inside a group: member and generation must match.
  auto [a, ja] = join_new();
  req.topics[0].partitions.resize(1);
  auto first_error = [&] {
    return coord_.prepare_commit(req, 7, kAllExist).response.topics[0].partitions[0].error_code;
  };
  req.generation_id_or_member_epoch = -1;
  EXPECT_EQ(first_error(), 22) << "generation -1 is only for Empty groups";
  req.member_id = a;
  req.generation_id_or_member_epoch = 1;
  EXPECT_EQ(first_error(), 27) << "REBALANCE_IN_PROGRESS while CompletingRebalance";
  ASSERT_TRUE(sync(a, 1, {})->done);
  EXPECT_EQ(first_error(), 0);
  req.generation_id_or_member_epoch = 0;
  EXPECT_EQ(first_error(), 22);
}

TEST_F(CoordinatorTest, DescribeListAndDeleteGroups) {
  auto [a, ja] = join_new();
  ASSERT_TRUE(sync(a, 1, {{a, "x"}})->done);
  p::DescribeGroupsRequest d;
  d.groups = {"g", "unknown"};
  auto desc = coord_.describe(d);
  ASSERT_EQ(desc.groups.size(), 2u);
  EXPECT_EQ(desc.groups[0].group_state, "Stable");
  EXPECT_EQ(desc.groups[0].protocol_data, "range");
  ASSERT_EQ(desc.groups[0].members.size(), 1u);
  EXPECT_EQ(as_chars(desc.groups[0].members[0].member_assignment), "x");
  EXPECT_EQ(desc.groups[1].group_state, "Dead");
  p::ListGroupsRequest l;
  EXPECT_EQ(coord_.list(l).groups.size(), 1u);
  l.states_filter = {"Empty"};
  EXPECT_EQ(coord_.list(l).groups.size(), 0u);
  Coordinator::DeletePlan plan;
  p::DeleteGroupsRequest del;
  del.groups_names = {"g", "nope"};
  auto r = coord_.prepare_delete_groups(del, plan);
  EXPECT_EQ(r.results[0].error_code, 68) << "NON_EMPTY_GROUP";
  EXPECT_EQ(r.results[1].error_code, 69) << "GROUP_ID_NOT_FOUND";
}

// Group metadata for __consumer_offsets: one record per completed rebalance (members, their
// subscription for the chosen protocol and assignments), one when the group empties, and a
// tombstone when it is deleted; nothing for intermediate states or unchanged groups.
TEST_F(CoordinatorTest, GroupMetadataIsHandedOutOnRebalanceEmptyAndDelete) {
  EXPECT_TRUE(coord_.take_group_metadata().empty());
  auto [a, ja] = join_new();
  EXPECT_TRUE(coord_.take_group_metadata().empty()) << "CompletingRebalance is not written";
  ASSERT_TRUE(sync(a, 1, {{a, "p0-p5"}})->done);
  auto [b, jb] = join_new();
  ASSERT_TRUE(join(a)->done);
  auto sb = sync(b, 2);
  ASSERT_TRUE(sync(a, 2, {{a, "p0-p2"}, {b, "p3-p5"}})->done);
  auto records = coord_.take_group_metadata();
  ASSERT_EQ(records.size(), 1u) << "generations 1 and 2 both completed; the latest is handed out";
  ASSERT_TRUE(records[0].value);
  const GroupMetadata& md = *records[0].value;
  EXPECT_EQ(records[0].group, "g");
  EXPECT_EQ(md.protocol_type, "consumer");
  EXPECT_EQ(md.generation, 2);
  EXPECT_EQ(md.protocol, "range");
  EXPECT_EQ(md.leader, a);
  ASSERT_EQ(md.members.size(), 2u);
  for (const auto& m : md.members) {
    EXPECT_EQ(m.client_id, "client");
    EXPECT_EQ(m.client_host, "/127.0.0.1");
    EXPECT_EQ(m.session_timeout_ms, 10'000);
    EXPECT_EQ(m.rebalance_timeout_ms, 30'000);
    EXPECT_EQ(as_chars(m.subscription), "meta-range");
    EXPECT_EQ(as_chars(m.assignment), m.member_id == a ? "p0-p2" : "p3-p5");
  }
  EXPECT_TRUE(coord_.take_group_metadata().empty()) << "nothing changed";

  p::LeaveGroupRequest leave;
  leave.group_id = "g";
  leave.members.push_back({a, std::nullopt});
  leave.members.push_back({b, std::nullopt});
  coord_.leave(leave, 3);
  records = coord_.take_group_metadata();
  ASSERT_EQ(records.size(), 1u);
  ASSERT_TRUE(records[0].value);
  EXPECT_TRUE(records[0].value->members.empty()) << "an Empty group is written without members";
  EXPECT_FALSE(records[0].value->protocol.has_value());

  Coordinator::DeletePlan plan;
  p::DeleteGroupsRequest del;
  del.groups_names = {"g"};
  ASSERT_EQ(coord_.prepare_delete_groups(del, plan).results[0].error_code, 0);
  coord_.apply(plan.tombstones);
  records = coord_.take_group_metadata();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].group, "g");
  EXPECT_FALSE(records[0].value.has_value()) << "a deleted group's metadata is a tombstone";
}

// A third member joining while the group completes a cooperative second rebalance (generation
// 3, after the first member revoked partitions and rejoined with a changed subscription) starts
// another rebalance at once: the parked syncs are told to rejoin, heartbeats say so, and the
// next generation has all three members.
TEST_F(CoordinatorTest, AThirdMemberJoiningDuringACooperativeSecondRebalanceTriggersAnother) {
  auto [a, ja] = join_new({"cooperative-sticky"});
  ASSERT_TRUE(sync(a, 1, {{a, "all"}})->done);
  auto [b, jb] = join_new({"cooperative-sticky"});
  ASSERT_TRUE(join(a, std::nullopt, {"cooperative-sticky"})->done);
  ASSERT_TRUE(jb->done);
  ASSERT_EQ(jb->resp.generation_id, 2);
  auto sb = sync(b, 2);
  ASSERT_TRUE(sync(a, 2, {{a, "half"}, {b, ""}})->done);
  ASSERT_TRUE(sb->done);
  ASSERT_EQ(state(), GroupState::kStable);

  // The cooperative second round: A rejoins with what it still owns (changed metadata).
  auto ja3 = join(a, std::nullopt, {"cooperative-sticky", "range"});
  EXPECT_FALSE(ja3->done);
  EXPECT_EQ(heartbeat(b, 2), 27);
  auto jb3 = join(b, std::nullopt, {"cooperative-sticky"});
  ASSERT_TRUE(ja3->done);
  ASSERT_TRUE(jb3->done);
  ASSERT_EQ(ja3->resp.generation_id, 3);
  ASSERT_EQ(state(), GroupState::kCompletingRebalance);
  auto sb3 = sync(b, 3);  // parked until the leader's assignment
  EXPECT_FALSE(sb3->done);

  // C's handshake lands now.
  auto [c, jc] = join_new({"cooperative-sticky"});
  EXPECT_FALSE(jc->done);
  EXPECT_EQ(state(), GroupState::kPreparingRebalance);
  ASSERT_TRUE(sb3->done);
  EXPECT_EQ(sb3->resp.error_code, 27) << "B's parked sync is told to rejoin";
  auto sa3 = sync(a, 3, {{a, "half"}, {b, "half"}});
  ASSERT_TRUE(sa3->done);
  EXPECT_EQ(sa3->resp.error_code, 27) << "the leader's late assignment is refused";
  EXPECT_EQ(heartbeat(a, 3), 27);
  auto ja4 = join(a, std::nullopt, {"cooperative-sticky", "range"});
  EXPECT_FALSE(jc->done);
  auto jb4 = join(b, std::nullopt, {"cooperative-sticky"});
  ASSERT_TRUE(ja4->done);
  ASSERT_TRUE(jb4->done);
  ASSERT_TRUE(jc->done);
  EXPECT_EQ(jc->resp.error_code, 0);
  EXPECT_EQ(jc->resp.generation_id, 4);
  EXPECT_EQ(ja4->resp.members.size() + jb4->resp.members.size() + jc->resp.members.size(), 3u)
      << "the leader sees all three members";
}

// The same third member, its handshake landing while the second round is still being prepared:
// its pending id holds the round up, and its second join completes it with all three.
TEST_F(CoordinatorTest, APendingThirdMemberIsPartOfTheCooperativeSecondRebalance) {
  auto [a, ja] = join_new({"cooperative-sticky"});
  ASSERT_TRUE(sync(a, 1, {{a, "all"}})->done);
  auto [b, jb] = join_new({"cooperative-sticky"});
  ASSERT_TRUE(join(a, std::nullopt, {"cooperative-sticky"})->done);
  ASSERT_TRUE(jb->done);
  auto sb = sync(b, 2);
  ASSERT_TRUE(sync(a, 2, {{a, "half"}, {b, ""}})->done);
  ASSERT_EQ(state(), GroupState::kStable);
  auto ja3 = join(a, std::nullopt, {"cooperative-sticky", "range"});
  auto first = join("", std::nullopt, {"cooperative-sticky"});
  ASSERT_TRUE(first->done);
  ASSERT_EQ(first->resp.error_code, 79);
  auto jb3 = join(b, std::nullopt, {"cooperative-sticky"});
  EXPECT_FALSE(ja3->done) << "the pending member holds the round up";
  EXPECT_FALSE(jb3->done);
  auto jc = join(first->resp.member_id, std::nullopt, {"cooperative-sticky"});
  ASSERT_TRUE(ja3->done);
  ASSERT_TRUE(jb3->done);
  ASSERT_TRUE(jc->done);
  EXPECT_EQ(jc->resp.generation_id, 3);
  EXPECT_EQ(ja3->resp.members.size() + jb3->resp.members.size() + jc->resp.members.size(), 3u);
}

}  // namespace
}  // namespace wharf::kafka::group
