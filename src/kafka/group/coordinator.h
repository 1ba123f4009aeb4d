// The classic consumer-group coordinator: the group state machine (Empty, PreparingRebalance,
// CompletingRebalance, Stable, Dead), member-id handshake (KIP-394), static membership
// (KIP-345), protocol choice by vote, session and rebalance timeouts, and the committed-offset
// cache. kafka-protocol.md §3 is the specification it follows.
//
// Threads: not thread-safe; the Kafka server calls it from its single network thread only.
// Time comes from the injected Clock; the server calls tick() periodically, tests call it by
// hand, so every timeout is deterministic under a ManualClock.
// Parked requests: JoinGroup and SyncGroup may not be answered at once; their callbacks are
// kept and called later (from join/sync/leave/tick), exactly once each.
// Durability: the coordinator itself keeps memory only. OffsetCommit is split in two: prepare
// (validate, build the __consumer_offsets records), then the caller makes the records durable,
// then apply(). Group membership is not persisted: after a broker restart members rejoin.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "kafka/group/offsets_codec.h"
#include "kafka/protocol/generated/delete_groups.h"
#include "kafka/protocol/generated/describe_groups.h"
#include "kafka/protocol/generated/heartbeat.h"
#include "kafka/protocol/generated/join_group.h"
#include "kafka/protocol/generated/leave_group.h"
#include "kafka/protocol/generated/list_groups.h"
#include "kafka/protocol/generated/offset_commit.h"
#include "kafka/protocol/generated/offset_delete.h"
#include "kafka/protocol/generated/offset_fetch.h"
#include "kafka/protocol/generated/sync_group.h"

namespace wharf::kafka::group {

enum class GroupState { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };
std::string_view state_name(GroupState s);  // Kafka's exact strings ("Stable", ...)

struct CoordinatorConfig {
  std::chrono::milliseconds session_timeout_min{6'000};      // group.min.session.timeout.ms
  std::chrono::milliseconds session_timeout_max{1'800'000};  // group.max.session.timeout.ms
  std::chrono::milliseconds initial_rebalance_delay{3'000};  // group.initial.rebalance.delay.ms
  std::size_t offset_metadata_bytes_max = 4096;              // offset.metadata.max.bytes
  std::size_t groups_max = 100'000;                          // bound on groups held in memory
  std::size_t members_per_group_max = 10'000;                // group.max.size (Kafka: unbounded)
};

// Metrics of one group, for the admin API and `wharf group describe`.
struct GroupMetrics {
  std::string group_id;
  GroupState state = GroupState::kEmpty;
  std::string protocol_type;
  std::string protocol;
  std::int32_t generation_id = 0;
  std::size_t members = 0;
  std::int64_t rebalances = 0;
  std::int64_t last_rebalance_ms = 0;      // duration of the last completed rebalance
  std::int64_t last_rebalance_end_ms = 0;  // wall clock
  struct Member {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string client_id, client_host;
    Bytes assignment;  // ConsumerProtocolAssignment bytes for "consumer" groups
  };
  std::vector<Member> member_list;
  std::map<std::pair<std::string, std::int32_t>, CommittedOffset> offsets;
};

class Coordinator {
 public:
  using JoinCallback = std::function<void(protocol::JoinGroupResponse)>;
  using SyncCallback = std::function<void(protocol::SyncGroupResponse)>;

  Coordinator(CoordinatorConfig config, const Clock& clock);

  // Loads committed offsets read back from __consumer_offsets at start-up (latest wins; a
  // tombstone deletes). Groups with offsets and no members start Empty.
  void load(const OffsetRecord& record);

  void join(const protocol::JoinGroupRequest& req, std::int16_t version,
            const std::string& client_id, const std::string& client_host, JoinCallback done);
  void sync(const protocol::SyncGroupRequest& req, std::int16_t version, SyncCallback done);
  protocol::HeartbeatResponse heartbeat(const protocol::HeartbeatRequest& req);
  protocol::LeaveGroupResponse leave(const protocol::LeaveGroupRequest& req, std::int16_t version);

  // OffsetCommit, step 1: validate and build the records to persist. `response` holds the
  // per-partition errors; partitions without an error are in `records`. A partition for which
  // partition_exists is false gets UNKNOWN_TOPIC_OR_PARTITION and nothing is stored for it, as
  // Kafka checks its metadata before the group (the coordinator knows no topics itself).
  struct CommitPlan {
    protocol::OffsetCommitResponse response;
    std::vector<OffsetRecord> records;
    std::string group_id;
  };
  using PartitionExists = std::function<bool(const std::string& topic, std::int32_t partition)>;
  CommitPlan prepare_commit(const protocol::OffsetCommitRequest& req, std::int16_t version,
                            const PartitionExists& partition_exists);
  // Step 3, after the records are durable: update the cache.
  void apply(const std::vector<OffsetRecord>& records);
  // If persisting failed: every partition of the plan gets `error`.
  static void fail_commit(CommitPlan& plan, std::int16_t error);

  protocol::OffsetFetchResponse fetch_offsets(const protocol::OffsetFetchRequest& req,
                                              std::int16_t version);
  protocol::DescribeGroupsResponse describe(const protocol::DescribeGroupsRequest& req);
  protocol::ListGroupsResponse list(const protocol::ListGroupsRequest& req);

  // DeleteGroups and OffsetDelete: like commits, they produce tombstones to persist first.
  struct DeletePlan {
    std::vector<OffsetRecord> tombstones;
  };
  protocol::DeleteGroupsResponse prepare_delete_groups(const protocol::DeleteGroupsRequest& req,
                                                       DeletePlan& plan);
  protocol::OffsetDeleteResponse prepare_offset_delete(const protocol::OffsetDeleteRequest& req,
                                                       DeletePlan& plan);

  // Expires sessions, pending members and rebalance deadlines. Call every ~100 ms. Heartbeat,
  // DescribeGroups, ListGroups, DeleteGroups and OffsetDelete also expire what is due at the
  // moment they run, so what a client sees never lags a deadline by a tick.
  void tick();
  // Answers every parked JoinGroup and SyncGroup with `error` (broker shutdown).
  void abort_parked(std::int16_t error);

  std::vector<GroupMetrics> metrics() const;

  // Group metadata records to append to __consumer_offsets (GroupMetadataKey v2), one per group
  // whose membership changed since the last call: written when a rebalance completes (Stable,
  // with every member's assignment) and when a group empties; a tombstone when it is deleted.
  // Intermediate states are not written, as in Kafka. The server drains this on its timer.
  std::vector<GroupMetadataRecord> take_group_metadata();

 private:
  struct Member {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string client_id, client_host;
    std::chrono::milliseconds session_timeout{0}, rebalance_timeout{0};
    std::string protocol_type;
    std::vector<std::pair<std::string, Bytes>> protocols;
    Bytes assignment;
    std::chrono::steady_clock::time_point last_heartbeat;
    JoinCallback awaiting_join;
    SyncCallback awaiting_sync;
    bool synced = false;  // sent SyncGroup in the current generation
  };
  struct Group {
    std::string group_id;
    GroupState state = GroupState::kEmpty;
    std::int32_t generation_id = 0;
    std::string protocol_type, protocol;
    std::string leader_id;
    std::map<std::string, Member> members;
    std::map<std::string, std::chrono::steady_clock::time_point> pending;  // KIP-394: id -> expiry
    std::map<std::string, std::string> static_members;  // instance id -> member id
    std::chrono::steady_clock::time_point rebalance_deadline;
    std::chrono::steady_clock::time_point rebalance_started;
    bool initial_delay = false;
    std::int64_t rebalances = 0;
    std::int64_t last_rebalance_ms = 0;
    std::int64_t last_rebalance_end_ms = 0;
    std::map<std::pair<std::string, std::int32_t>, CommittedOffset> offsets;
  };

  Group* find(const std::string& group_id);
  Group& get_or_create(const std::string& group_id);
  std::string new_member_id(const std::string& client_id);
  bool supports_common_protocol(const Group& g, const protocol::JoinGroupRequest& req) const;
  // JoinGroup, step by step: the request's own checks, then one path per kind of member.
  std::int16_t check_join_request(const protocol::JoinGroupRequest& req) const;
  Member make_member(const protocol::JoinGroupRequest& req, std::string member_id,
                     const std::string& client_id, const std::string& client_host) const;
  void join_new_member(Group& g, const protocol::JoinGroupRequest& req, std::int16_t version,
                       const std::string& client_id, const std::string& client_host,
                       JoinCallback done);
  void join_restarted_static_member(Group& g, const std::string& old_id,
                                    const protocol::JoinGroupRequest& req,
                                    const std::string& client_id, const std::string& client_host,
                                    JoinCallback done);
  void join_pending_member(Group& g, const protocol::JoinGroupRequest& req,
                           const std::string& client_id, const std::string& client_host,
                           JoinCallback done);
  void join_known_member(Group& g, Member& m, const protocol::JoinGroupRequest& req,
                         JoinCallback done);
  // The group state machine's invariants (README.md, "Invariants"); aborts if one is broken.
  void check_invariants(const Group& g) const;
  void add_member(Group& g, Member m);
  void remove_member(Group& g, const std::string& member_id, std::int16_t error_for_parked);
  // Answers the member's parked JoinGroup and SyncGroup, if any, with `error`.
  void fail_parked(Member& m, std::int16_t error);
  void prepare_rebalance(Group& g);
  // tick() for one group: removes members whose session or pending deadline is <= now and
  // moves the rebalance on.
  void expire(Group& g, std::chrono::steady_clock::time_point now);
  void maybe_complete_join(Group& g, bool deadline_passed);
  void complete_join(Group& g);
  void respond_join(Group& g, Member& m);
  void reset_sync_state(Group& g, std::int16_t error);
  std::string select_protocol(const Group& g) const;

  CoordinatorConfig config_;
  const Clock& clock_;
  std::map<std::string, Group> groups_;
  // Groups whose metadata may need writing, and what was last handed out per group.
  std::set<std::string> metadata_dirty_;
  std::map<std::string, GroupMetadata> metadata_written_;
  std::uint64_t member_counter_ = 0;
};

}  // namespace wharf::kafka::group
