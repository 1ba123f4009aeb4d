#include "kafka/group/coordinator.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "base/check.h"
#include "base/log.h"
#include "kafka/protocol/errors.h"
#include "kafka/protocol/generated/consumer_protocol.h"
#include "kafka/protocol/reader.h"

namespace wharf::kafka::group {
namespace p = protocol;
using protocol::code;
using protocol::KafkaError;
using Clock_ = std::chrono::steady_clock;

namespace {

// How much of a client id goes into a member id (see new_member_id).
constexpr std::size_t kMemberIdClientIdBytesMax = 128;
// A group metadata record larger than this is not written to __consumer_offsets: one record must
// fit a batch of the topic (max.message.bytes, 1 MiB) with room for its framing.
constexpr std::size_t kGroupMetadataBytesMax = 900 * 1024;

p::JoinGroupResponse join_error(std::int16_t error, const std::string& member_id = "") {
  p::JoinGroupResponse r;
  r.error_code = error;
  r.generation_id = -1;
  r.member_id = member_id;
  return r;
}

p::SyncGroupResponse sync_error(std::int16_t error) {
  p::SyncGroupResponse r;
  r.error_code = error;
  return r;
}

}  // namespace

void Coordinator::fail_parked(Member& m, std::int16_t error) {
  // Moved-from std::function is unspecified: take it out and clear it before calling.
  if (m.awaiting_join) {
    JoinCallback cb = std::exchange(m.awaiting_join, nullptr);
    cb(join_error(error, m.member_id));
  }
  if (m.awaiting_sync) {
    SyncCallback cb = std::exchange(m.awaiting_sync, nullptr);
    cb(sync_error(error));
  }
}

// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID or NONE for a request naming (member id, instance id).
// A static instance now owned by another member id is fenced, whatever member id was sent.
std::int16_t member_error(const std::map<std::string, std::string>& static_members,
                          bool member_known, const std::string& member_id,
                          const std::optional<std::string>& instance_id) {
  if (instance_id) {
    auto s = static_members.find(*instance_id);
    if (s != static_members.end() && s->second != member_id)
      return code(KafkaError::kFencedInstanceId);
  }
  return member_known ? code(KafkaError::kNone) : code(KafkaError::kUnknownMemberId);
}

std::string_view state_name(GroupState s) {
  switch (s) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Dead";
}

Coordinator::Coordinator(CoordinatorConfig config, const Clock& clock)
    : config_(config), clock_(clock) {}

Coordinator::Group* Coordinator::find(const std::string& group_id) {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : &it->second;
}

Coordinator::Group& Coordinator::get_or_create(const std::string& group_id) {
  auto [it, fresh] = groups_.try_emplace(group_id);
  if (fresh) it->second.group_id = group_id;
  return it->second;
}

std::string Coordinator::new_member_id(const std::string& client_id) {
  // Kafka's shape: <client id>-<unique suffix>. The client id part is cut to
  // kMemberIdClientIdBytesMax so that a member id always fits the int16 strings it is sent in.
  return fmt::format("{}-{:016x}{:08x}",
                     client_id.empty()
                         ? std::string_view("member")
                         : std::string_view(client_id).substr(0, kMemberIdClientIdBytesMax),
                     static_cast<std::uint64_t>(clock_.now_ms()), ++member_counter_);
}

void Coordinator::load(const OffsetRecord& r) {
  Group& g = get_or_create(r.group);
  const auto key = std::make_pair(r.topic, r.partition);
  if (r.value)
    g.offsets[key] = *r.value;
  else
    g.offsets.erase(key);
  if (g.offsets.empty() && g.members.empty()) groups_.erase(r.group);
}

bool Coordinator::supports_common_protocol(const Group& g, const p::JoinGroupRequest& req) const {
  if (g.members.empty()) return true;
  for (const auto& proto : req.protocols) {
    bool all = true;
    for (const auto& [_, m] : g.members) {
      if (m.member_id == req.member_id) continue;
      const bool has = std::any_of(m.protocols.begin(), m.protocols.end(),
                                   [&](const auto& mp) { return mp.first == proto.name; });
      if (!has) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

std::string Coordinator::select_protocol(const Group& g) const {
  // Candidates: protocols every member supports. Each member votes for its most preferred
  // candidate (its own order); the most votes win, ties going to the leader's preference.
  std::vector<std::string> candidates;
  const Member* first = g.members.empty() ? nullptr : &g.members.begin()->second;
  if (!first) return "";
  for (const auto& proto : first->protocols) {
    const std::string& name = proto.first;  // (clang 14 cannot capture structured bindings)
    const bool everyone = std::all_of(g.members.begin(), g.members.end(), [&](const auto& kv) {
      return std::any_of(kv.second.protocols.begin(), kv.second.protocols.end(),
                         [&](const auto& mp) { return mp.first == name; });
    });
    if (everyone) candidates.push_back(name);
  }
  std::map<std::string, int> votes;
  for (const auto& [_, m] : g.members) {
    for (const auto& [name, __] : m.protocols) {
      if (std::find(candidates.begin(), candidates.end(), name) != candidates.end()) {
        votes[name]++;
        break;
      }
    }
  }
  std::string best;
  int best_votes = -1;
  for (const auto& c : candidates) {  // candidates are in the first member's preference order
    if (votes[c] > best_votes) {
      best = c;
      best_votes = votes[c];
    }
  }
  return best;
}

void Coordinator::add_member(Group& g, Member m) {
  m.last_heartbeat = clock_.steady_now();
  if (m.group_instance_id) g.static_members[*m.group_instance_id] = m.member_id;
  if (g.members.empty()) g.protocol_type = m.protocol_type;
  const std::string id = m.member_id;
  g.members[id] = std::move(m);
}

void Coordinator::remove_member(Group& g, const std::string& member_id,
                                std::int16_t error_for_parked) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  Member& m = it->second;
  fail_parked(m, error_for_parked);
  if (m.group_instance_id) {
    auto s = g.static_members.find(*m.group_instance_id);
    if (s != g.static_members.end() && s->second == member_id) g.static_members.erase(s);
  }
  g.members.erase(it);
  if (g.leader_id == member_id) g.leader_id = g.members.empty() ? "" : g.members.begin()->first;
}

void Coordinator::reset_sync_state(Group& g, std::int16_t error) {
  for (auto& [_, m] : g.members) {
    m.synced = false;
    if (m.awaiting_sync) {
      auto cb = std::exchange(m.awaiting_sync, nullptr);
      cb(sync_error(error));
    }
  }
}

void Coordinator::prepare_rebalance(Group& g) {
  if (g.state == GroupState::kPreparingRebalance) {  // already under way: keep its deadline
    maybe_complete_join(g, false);
    return;
  }
  if (g.state == GroupState::kCompletingRebalance)
    reset_sync_state(g, code(KafkaError::kRebalanceInProgress));
  const auto now = clock_.steady_now();
  if (g.state != GroupState::kPreparingRebalance) g.rebalance_started = now;
  std::chrono::milliseconds timeout{0};
  for (const auto& [_, m] : g.members) timeout = std::max(timeout, m.rebalance_timeout);
  g.initial_delay = g.state == GroupState::kEmpty && config_.initial_rebalance_delay.count() > 0;
  // An empty group waits a little for more members (group.initial.rebalance.delay.ms), never
  // longer than the rebalance timeout.
  g.rebalance_deadline =
      now + (g.initial_delay ? std::min(timeout, config_.initial_rebalance_delay) : timeout);
  g.state = GroupState::kPreparingRebalance;
  WHARF_LOG_DEBUG("group {}: preparing rebalance (generation {}, {} members)", g.group_id,
                  g.generation_id, g.members.size());
  maybe_complete_join(g, false);
}

void Coordinator::maybe_complete_join(Group& g, bool deadline_passed) {
  if (g.state != GroupState::kPreparingRebalance) return;
  if (g.initial_delay && !deadline_passed) return;
  const bool all_joined =
      g.pending.empty() && std::all_of(g.members.begin(), g.members.end(), [](const auto& kv) {
        return static_cast<bool>(kv.second.awaiting_join);
      });
  if (!all_joined && !deadline_passed) return;
  if (deadline_passed) {
    // Members that did not rejoin in time leave the group; pending ids are forgotten.
    std::vector<std::string> gone;
    for (const auto& [id, m] : g.members) {
      if (!m.awaiting_join) gone.push_back(id);
    }
    for (const auto& id : gone) remove_member(g, id, code(KafkaError::kUnknownMemberId));
    g.pending.clear();
  }
  complete_join(g);
}

void Coordinator::complete_join(Group& g) {
  g.generation_id++;
  g.rebalances++;
  g.initial_delay = false;
  if (g.members.empty()) {
    g.state = GroupState::kEmpty;
    metadata_dirty_.insert(g.group_id);
    g.protocol.clear();
    g.leader_id.clear();
    g.last_rebalance_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              clock_.steady_now() - g.rebalance_started)
                              .count();
    g.last_rebalance_end_ms = clock_.now_ms();
    return;
  }
  g.protocol = select_protocol(g);
  if (g.leader_id.empty() || !g.members.contains(g.leader_id))
    g.leader_id = g.members.begin()->first;
  g.state = GroupState::kCompletingRebalance;
  // Members get a rebalance timeout to send SyncGroup; the deadline is reused for that.
  std::chrono::milliseconds timeout{0};
  for (const auto& [_, m] : g.members) timeout = std::max(timeout, m.rebalance_timeout);
  g.rebalance_deadline = clock_.steady_now() + timeout;
  for (auto& [_, m] : g.members) {
    m.synced = false;
    m.last_heartbeat = clock_.steady_now();
    respond_join(g, m);
  }
}

void Coordinator::respond_join(Group& g, Member& m) {
  if (!m.awaiting_join) return;
  p::JoinGroupResponse r;
  r.error_code = code(KafkaError::kNone);
  r.generation_id = g.generation_id;
  r.protocol_name = g.protocol;
  r.leader = g.leader_id;
  r.member_id = m.member_id;
  if (m.member_id == g.leader_id) {
    for (const auto& [id, other] : g.members) {
      p::JoinGroupResponse::JoinGroupResponseMember jm;
      jm.member_id = id;
      jm.group_instance_id = other.group_instance_id;
      for (const auto& [name, meta] : other.protocols) {
        if (name == g.protocol) jm.metadata = meta;
      }
      r.members.push_back(std::move(jm));
    }
  }
  auto cb = std::exchange(m.awaiting_join, nullptr);
  cb(std::move(r));
}

std::int16_t Coordinator::check_join_request(const p::JoinGroupRequest& req) const {
  const auto session = std::chrono::milliseconds(req.session_timeout_ms);
  if (req.group_id.empty()) return code(KafkaError::kInvalidGroupId);
  if (session < config_.session_timeout_min || session > config_.session_timeout_max)
    return code(KafkaError::kInvalidSessionTimeout);
  if (req.protocol_type.empty() || req.protocols.empty())
    return code(KafkaError::kInconsistentGroupProtocol);
  return code(KafkaError::kNone);
}

Coordinator::Member Coordinator::make_member(const p::JoinGroupRequest& req, std::string member_id,
                                             const std::string& client_id,
                                             const std::string& client_host) const {
  const auto session = std::chrono::milliseconds(req.session_timeout_ms);
  Member m;
  m.member_id = std::move(member_id);
  m.group_instance_id = req.group_instance_id;
  m.client_id = client_id;
  m.client_host = client_host;
  m.session_timeout = session;
  // v0 has no rebalance timeout: Kafka uses the session timeout.
  m.rebalance_timeout =
      req.rebalance_timeout_ms > 0 ? std::chrono::milliseconds(req.rebalance_timeout_ms) : session;
  m.protocol_type = req.protocol_type;
  for (const auto& proto : req.protocols) m.protocols.emplace_back(proto.name, proto.metadata);
  return m;
}

void Coordinator::join(const p::JoinGroupRequest& req, std::int16_t version,
                       const std::string& client_id, const std::string& client_host,
                       JoinCallback done) {
  if (auto e = check_join_request(req)) return done(join_error(e, req.member_id));
  Group* existing = find(req.group_id);
  if (!existing && groups_.size() >= config_.groups_max) {
    return done(join_error(code(KafkaError::kCoordinatorNotAvailable), req.member_id));
  }
  Group& g = get_or_create(req.group_id);
  if (g.state == GroupState::kDead)
    return done(join_error(code(KafkaError::kCoordinatorNotAvailable), req.member_id));
  if (!g.members.empty() &&
      (req.protocol_type != g.protocol_type || !supports_common_protocol(g, req))) {
    return done(join_error(code(KafkaError::kInconsistentGroupProtocol), req.member_id));
  }
  if (req.member_id.empty()) {
    join_new_member(g, req, version, client_id, client_host, std::move(done));
  } else if (g.pending.contains(req.member_id)) {
    join_pending_member(g, req, client_id, client_host, std::move(done));
  } else {
    auto it = g.members.find(req.member_id);
    if (auto e = member_error(g.static_members, it != g.members.end(), req.member_id,
                              req.group_instance_id)) {
      return done(join_error(e, req.member_id));
    }
    join_known_member(g, it->second, req, std::move(done));
  }
  check_invariants(g);
}

void Coordinator::join_new_member(Group& g, const p::JoinGroupRequest& req, std::int16_t version,
                                  const std::string& client_id, const std::string& client_host,
                                  JoinCallback done) {
  if (g.members.size() + g.pending.size() >= config_.members_per_group_max) {
    return done(join_error(code(KafkaError::kGroupMaxSizeReached)));
  }
  if (req.group_instance_id) {
    auto s = g.static_members.find(*req.group_instance_id);
    if (s != g.static_members.end() && g.members.contains(s->second)) {
      const std::string old_id = s->second;
      return join_restarted_static_member(g, old_id, req, client_id, client_host, std::move(done));
    }
    Member m = make_member(req, new_member_id(client_id), client_id, client_host);
    m.awaiting_join = std::move(done);
    add_member(g, std::move(m));
    prepare_rebalance(g);
    return;
  }
  const std::string id = new_member_id(client_id);
  if (version >= 4) {
    // KIP-394: the member must come back with this id; until then it is pending and holds
    // up the rebalance, for at most its session timeout.
    g.pending[id] = clock_.steady_now() + std::chrono::milliseconds(req.session_timeout_ms);
    return done(join_error(code(KafkaError::kMemberIdRequired), id));
  }
  Member m = make_member(req, id, client_id, client_host);
  m.awaiting_join = std::move(done);
  add_member(g, std::move(m));
  prepare_rebalance(g);
}

void Coordinator::join_restarted_static_member(Group& g, const std::string& old_id,
                                               const p::JoinGroupRequest& req,
                                               const std::string& client_id,
                                               const std::string& client_host, JoinCallback done) {
  // A known static member restarted: it takes over its old identity under a new member id;
  // the old id is fenced. No rebalance if the group is Stable and keeps its protocol.
  Member old = std::move(g.members.at(old_id));
  fail_parked(old, code(KafkaError::kFencedInstanceId));
  g.members.erase(old_id);
  Member m = make_member(req, new_member_id(client_id), client_id, client_host);
  m.assignment = std::move(old.assignment);
  m.synced = old.synced;
  const std::string leader_before = g.leader_id;
  if (g.leader_id == old_id) g.leader_id = m.member_id;
  const std::string id = m.member_id;
  add_member(g, std::move(m));
  Member& nm = g.members.at(id);
  // As Kafka (updateStaticMemberAndRebalance): a Stable group rebalances only if the protocol
  // it would choose changes, not whenever the metadata bytes do. A restarted cooperative-sticky
  // consumer owns no partitions yet, so its subscription always differs.
  if (g.state == GroupState::kStable && select_protocol(g) == g.protocol) {
    p::JoinGroupResponse r;
    r.generation_id = g.generation_id;
    r.protocol_name = g.protocol;
    // The leader as it was before the replacement: a replaced static leader sees another id,
    // so it acts as a follower and does not compute an assignment from the empty member list
    // (which a Stable group would ignore anyway). It keeps its assignment.
    r.leader = leader_before;
    r.member_id = id;
    return done(std::move(r));
  }
  nm.awaiting_join = std::move(done);
  prepare_rebalance(g);  // joins the rebalance under way, if there is one
}

void Coordinator::join_pending_member(Group& g, const p::JoinGroupRequest& req,
                                      const std::string& client_id, const std::string& client_host,
                                      JoinCallback done) {
  g.pending.erase(req.member_id);
  Member m = make_member(req, req.member_id, client_id, client_host);
  m.awaiting_join = std::move(done);
  add_member(g, std::move(m));
  prepare_rebalance(g);  // joins the rebalance under way, if there is one
}

void Coordinator::join_known_member(Group& g, Member& m, const p::JoinGroupRequest& req,
                                    JoinCallback done) {
  const bool changed = [&] {
    if (m.protocols.size() != req.protocols.size()) return true;
    for (std::size_t i = 0; i < req.protocols.size(); ++i) {
      if (m.protocols[i].first != req.protocols[i].name ||
          m.protocols[i].second != req.protocols[i].metadata)
        return true;
    }
    return false;
  }();
  if (changed) {
    m.protocols.clear();
    for (const auto& proto : req.protocols) m.protocols.emplace_back(proto.name, proto.metadata);
  }
  m.session_timeout = std::chrono::milliseconds(req.session_timeout_ms);
  m.last_heartbeat = clock_.steady_now();
  if (m.awaiting_join) {  // a duplicate join while parked: the old request gets an error
    auto cb = std::exchange(m.awaiting_join, nullptr);
    cb(join_error(code(KafkaError::kRebalanceInProgress), m.member_id));
  }
  switch (g.state) {
    case GroupState::kPreparingRebalance:
      m.awaiting_join = std::move(done);
      maybe_complete_join(g, false);
      return;
    case GroupState::kCompletingRebalance:
    case GroupState::kStable:
      // Nothing new from a follower: it gets the current generation again. The leader's
      // rejoin in a Stable group, and any changed subscription, start a rebalance.
      m.awaiting_join = std::move(done);
      if (!changed && (g.state == GroupState::kCompletingRebalance || m.member_id != g.leader_id)) {
        respond_join(g, m);
        return;
      }
      prepare_rebalance(g);
      return;
    case GroupState::kEmpty:
    case GroupState::kDead:
      return done(join_error(code(KafkaError::kUnknownMemberId), req.member_id));
  }
}

void Coordinator::check_invariants(const Group& g) const {
  // Every member id is one of: a member, a pending id (KIP-394), never both.
  for (const auto& [id, _] : g.pending) {
    WHARF_CHECK(!g.members.contains(id), "group {}: {} is both pending and a member", g.group_id,
                id);
  }
  switch (g.state) {
    case GroupState::kEmpty:
      WHARF_CHECK(g.members.empty(), "group {}: Empty with {} members", g.group_id,
                  g.members.size());
      break;
    case GroupState::kPreparingRebalance:
      break;
    case GroupState::kCompletingRebalance:
    case GroupState::kStable:
      // A generation has been handed out: it has members, a leader among them and a protocol.
      WHARF_CHECK(!g.members.empty(), "group {}: {} without members", g.group_id,
                  state_name(g.state));
      WHARF_CHECK(g.members.contains(g.leader_id), "group {}: leader {} is not a member",
                  g.group_id, g.leader_id);
      WHARF_CHECK(!g.protocol.empty() && g.generation_id > 0,
                  "group {}: {} without protocol or generation", g.group_id, state_name(g.state));
      break;
    case GroupState::kDead:
      break;
  }
  // Only a group preparing a rebalance has members parked in JoinGroup (a completed join
  // answers them all at once), and only a group completing one has members parked in SyncGroup.
  for (const auto& [id, m] : g.members) {
    WHARF_CHECK(!m.awaiting_join || g.state == GroupState::kPreparingRebalance,
                "group {}: member {} parked in JoinGroup while {}", g.group_id, id,
                state_name(g.state));
    WHARF_CHECK(!m.awaiting_sync || g.state == GroupState::kCompletingRebalance,
                "group {}: member {} parked in SyncGroup while {}", g.group_id, id,
                state_name(g.state));
  }
  // Static members map to live members that carry that instance id.
  for (const auto& [instance, mid] : g.static_members) {
    auto it = g.members.find(mid);
    WHARF_CHECK(it != g.members.end() && it->second.group_instance_id == instance,
                "group {}: static member {} -> {} is not a member with that instance id",
                g.group_id, instance, mid);
  }
}

void Coordinator::sync(const p::SyncGroupRequest& req, std::int16_t /*version*/,
                       SyncCallback done) {
  Group* g = find(req.group_id);
  if (!g) return done(sync_error(code(KafkaError::kUnknownMemberId)));
  auto it = g->members.find(req.member_id);
  if (auto e = member_error(g->static_members, it != g->members.end(), req.member_id,
                            req.group_instance_id)) {
    return done(sync_error(e));
  }
  Member& m = it->second;
  if (req.generation_id != g->generation_id)
    return done(sync_error(code(KafkaError::kIllegalGeneration)));
  m.last_heartbeat = clock_.steady_now();
  switch (g->state) {
    case GroupState::kEmpty:
    case GroupState::kDead:
      return done(sync_error(code(KafkaError::kUnknownMemberId)));
    case GroupState::kPreparingRebalance:
      return done(sync_error(code(KafkaError::kRebalanceInProgress)));
    case GroupState::kStable: {
      p::SyncGroupResponse r;
      r.assignment = m.assignment;
      m.synced = true;
      return done(std::move(r));
    }
    case GroupState::kCompletingRebalance:
      break;
  }
  if (m.awaiting_sync) {
    auto cb = std::exchange(m.awaiting_sync, nullptr);
    cb(sync_error(code(KafkaError::kRebalanceInProgress)));
  }
  m.synced = true;
  m.awaiting_sync = std::move(done);
  if (m.member_id != g->leader_id) return;
  // The leader's assignments complete the rebalance; members it left out get nothing.
  for (auto& [id, member] : g->members) member.assignment.clear();
  for (const auto& a : req.assignments) {
    if (auto mi = g->members.find(a.member_id); mi != g->members.end())
      mi->second.assignment = a.assignment;
  }
  g->state = GroupState::kStable;
  metadata_dirty_.insert(g->group_id);
  g->last_rebalance_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() -
                                                                               g->rebalance_started)
                             .count();
  g->last_rebalance_end_ms = clock_.now_ms();
  WHARF_LOG_INFO("group {}: stable at generation {} with {} member(s), protocol {}", g->group_id,
                 g->generation_id, g->members.size(), g->protocol);
  for (auto& [id, member] : g->members) {
    if (member.awaiting_sync) {
      p::SyncGroupResponse r;
      r.assignment = member.assignment;
      auto cb = std::exchange(member.awaiting_sync, nullptr);
      cb(std::move(r));
    }
  }
}

p::HeartbeatResponse Coordinator::heartbeat(const p::HeartbeatRequest& req) {
  p::HeartbeatResponse r;
  Group* g = find(req.group_id);
  if (!g) {
    r.error_code = code(KafkaError::kUnknownMemberId);
    return r;
  }
  expire(*g, clock_.steady_now());  // a heartbeat after the session's deadline is too late
  auto it = g->members.find(req.member_id);
  if (auto e = member_error(g->static_members, it != g->members.end(), req.member_id,
                            req.group_instance_id)) {
    r.error_code = e;
    return r;
  }
  if (g->state == GroupState::kEmpty || g->state == GroupState::kDead) {
    r.error_code = code(KafkaError::kUnknownMemberId);
    return r;
  }
  if (req.generation_id != g->generation_id) {
    r.error_code = code(KafkaError::kIllegalGeneration);
    return r;
  }
  it->second.last_heartbeat = clock_.steady_now();
  // CompletingRebalance and Stable answer NONE; only PreparingRebalance asks for a rejoin.
  r.error_code = g->state == GroupState::kPreparingRebalance
                     ? code(KafkaError::kRebalanceInProgress)
                     : code(KafkaError::kNone);
  return r;
}

p::LeaveGroupResponse Coordinator::leave(const p::LeaveGroupRequest& req, std::int16_t version) {
  p::LeaveGroupResponse r;
  std::vector<p::LeaveGroupRequest::MemberIdentity> who = req.members;
  if (version < 3) who = {{req.member_id, std::nullopt}};
  Group* g = find(req.group_id);
  if (!g) {
    // As Kafka: v3+ answers NONE with UNKNOWN_MEMBER_ID for each member (an admin removing
    // members gets per-member results); v0-2 carry that error at the top.
    if (version < 3) {
      r.error_code = code(KafkaError::kUnknownMemberId);
      return r;
    }
    for (const auto& id : who)
      r.members.push_back({id.member_id, id.group_instance_id, code(KafkaError::kUnknownMemberId)});
    return r;
  }
  bool removed_any = false;
  for (const auto& id : who) {
    p::LeaveGroupResponse::MemberResponse mr;
    mr.member_id = id.member_id;
    mr.group_instance_id = id.group_instance_id;
    std::string member_id = id.member_id;
    if (member_id.empty() && id.group_instance_id) {
      auto s = g->static_members.find(*id.group_instance_id);
      if (s != g->static_members.end()) member_id = s->second;
    }
    auto it = g->members.find(member_id);
    if (it == g->members.end()) {
      mr.error_code = code(KafkaError::kUnknownMemberId);
    } else if (id.group_instance_id && it->second.group_instance_id != id.group_instance_id) {
      mr.error_code = code(KafkaError::kFencedInstanceId);
    } else {
      remove_member(*g, member_id, code(KafkaError::kUnknownMemberId));
      removed_any = true;
    }
    r.members.push_back(std::move(mr));
  }
  if (version < 3) {
    r.error_code = r.members.empty() ? code(KafkaError::kNone) : r.members[0].error_code;
    r.members.clear();
  }
  if (removed_any) {
    if (g->members.empty() && g->pending.empty()) {
      if (g->state != GroupState::kEmpty) {
        g->state = GroupState::kPreparingRebalance;
        complete_join(*g);  // -> Empty, generation + 1
      }
    } else if (g->state == GroupState::kPreparingRebalance) {
      maybe_complete_join(*g, false);
    } else {
      prepare_rebalance(*g);
    }
  }
  return r;
}

Coordinator::CommitPlan Coordinator::prepare_commit(const p::OffsetCommitRequest& req,
                                                    std::int16_t version,
                                                    const PartitionExists& partition_exists) {
  CommitPlan plan;
  plan.group_id = req.group_id;
  std::int16_t group_error = code(KafkaError::kNone);
  Group* g = find(req.group_id);
  const std::int32_t generation = req.generation_id_or_member_epoch;
  if (req.group_id.empty()) {
    group_error = code(KafkaError::kInvalidGroupId);
  } else if (!g) {
    // Commits outside a group (assign() consumers, admin tools) carry generation -1.
    if (generation >= 0) group_error = code(KafkaError::kIllegalGeneration);
  } else if (generation < 0) {
    if (g->state != GroupState::kEmpty) group_error = code(KafkaError::kIllegalGeneration);
  } else {
    auto it = g->members.find(req.member_id);
    if (auto e = member_error(g->static_members, it != g->members.end(), req.member_id,
                              req.group_instance_id))
      group_error = e;
    else if (generation != g->generation_id)
      group_error = code(KafkaError::kIllegalGeneration);
    else if (g->state == GroupState::kCompletingRebalance)
      group_error = code(KafkaError::kRebalanceInProgress);
    else
      it->second.last_heartbeat = clock_.steady_now();  // a commit is a sign of life
  }
  (void)version;
  const std::int64_t now = clock_.now_ms();
  // One record per partition: a partition named again in the request replaces its earlier
  // entry (the last one wins, as it would in order). Each record carries the group id, so
  // without this one small request naming a partition a million times could cost gigabytes.
  std::map<std::pair<std::string_view, std::int32_t>, std::size_t> record_of;
  for (const auto& t : req.topics) {
    p::OffsetCommitResponse::OffsetCommitResponseTopic rt;
    rt.name = t.name;
    for (const auto& part : t.partitions) {
      p::OffsetCommitResponse::OffsetCommitResponsePartition rp;
      rp.partition_index = part.partition_index;
      const std::string metadata = part.committed_metadata.value_or("");
      if (!partition_exists(t.name, part.partition_index)) {
        rp.error_code = code(KafkaError::kUnknownTopicOrPartition);
      } else if (group_error != code(KafkaError::kNone)) {
        rp.error_code = group_error;
      } else if (metadata.size() > config_.offset_metadata_bytes_max) {
        rp.error_code = code(KafkaError::kOffsetMetadataTooLarge);
      } else {
        CommittedOffset c{part.committed_offset, part.committed_leader_epoch, metadata,
                          part.commit_timestamp >= 0 ? part.commit_timestamp : now};
        auto [it, added] =
            record_of.try_emplace({t.name, part.partition_index}, plan.records.size());
        if (added)
          plan.records.push_back({req.group_id, t.name, part.partition_index, std::move(c)});
        else
          plan.records[it->second].value = std::move(c);
      }
      rt.partitions.push_back(rp);
    }
    plan.response.topics.push_back(std::move(rt));
  }
  return plan;
}

void Coordinator::fail_commit(CommitPlan& plan, std::int16_t error) {
  for (auto& t : plan.response.topics) {
    for (auto& part : t.partitions) {
      if (part.error_code == code(KafkaError::kNone)) part.error_code = error;
    }
  }
  plan.records.clear();
}

void Coordinator::apply(const std::vector<OffsetRecord>& records) {
  for (const auto& r : records) {
    Group& g = get_or_create(r.group);
    const auto key = std::make_pair(r.topic, r.partition);
    if (r.value)
      g.offsets[key] = *r.value;
    else
      g.offsets.erase(key);
  }
  // Empty groups with no offsets left are gone (DeleteGroups, OffsetDelete of everything).
  for (auto it = groups_.begin(); it != groups_.end();) {
    const Group& g = it->second;
    if (g.members.empty() && g.pending.empty() && g.offsets.empty() &&
        g.state == GroupState::kEmpty && g.generation_id == 0) {
      it = groups_.erase(it);
    } else {
      ++it;
    }
  }
}

p::OffsetFetchResponse Coordinator::fetch_offsets(const p::OffsetFetchRequest& req,
                                                  std::int16_t version) {
  p::OffsetFetchResponse r;
  Group* g = find(req.group_id);
  auto lookup = [&](const std::string& topic, std::int32_t partition) {
    p::OffsetFetchResponse::OffsetFetchResponsePartition rp;
    rp.partition_index = partition;
    rp.committed_offset = -1;
    rp.committed_leader_epoch = -1;
    rp.metadata = "";
    if (g) {
      if (auto it = g->offsets.find({topic, partition}); it != g->offsets.end()) {
        rp.committed_offset = it->second.offset;
        rp.committed_leader_epoch = it->second.leader_epoch;
        rp.metadata = it->second.metadata;
      }
    }
    return rp;
  };
  if (!req.topics.has_value() && version >= 2) {  // all of the group's committed offsets
    if (g) {
      for (const auto& [key, c] : g->offsets) {
        if (r.topics.empty() || r.topics.back().name != key.first)
          r.topics.push_back({key.first, {}});
        r.topics.back().partitions.push_back(lookup(key.first, key.second));
      }
    }
    return r;
  }
  if (req.topics) {
    for (const auto& t : *req.topics) {
      p::OffsetFetchResponse::OffsetFetchResponseTopic rt;
      rt.name = t.name;
      for (auto partition : t.partition_indexes) rt.partitions.push_back(lookup(t.name, partition));
      r.topics.push_back(std::move(rt));
    }
  }
  return r;
}

p::DescribeGroupsResponse Coordinator::describe(const p::DescribeGroupsRequest& req) {
  p::DescribeGroupsResponse r;
  for (const auto& id : req.groups) {
    p::DescribeGroupsResponse::DescribedGroup dg;
    dg.group_id = id;
    Group* g = find(id);
    if (g) expire(*g, clock_.steady_now());
    if (!g) {
      dg.group_state = "Dead";  // Kafka answers an unknown group as Dead with no error
      r.groups.push_back(std::move(dg));
      continue;
    }
    dg.group_state = std::string(state_name(g->state));
    dg.protocol_type = g->protocol_type;
    const bool settled =
        g->state == GroupState::kStable || g->state == GroupState::kCompletingRebalance;
    dg.protocol_data = settled ? g->protocol : "";
    for (const auto& [mid, m] : g->members) {
      p::DescribeGroupsResponse::DescribedGroupMember dm;
      dm.member_id = mid;
      dm.group_instance_id = m.group_instance_id;
      dm.client_id = m.client_id;
      dm.client_host = m.client_host;
      if (settled) {
        for (const auto& [name, meta] : m.protocols) {
          if (name == g->protocol) dm.member_metadata = meta;
        }
        if (g->state == GroupState::kStable) dm.member_assignment = m.assignment;
      }
      dg.members.push_back(std::move(dm));
    }
    r.groups.push_back(std::move(dg));
  }
  return r;
}

p::ListGroupsResponse Coordinator::list(const p::ListGroupsRequest& req) {
  tick();  // states as of now, not as of the last tick
  p::ListGroupsResponse r;
  for (const auto& [id, g] : groups_) {
    const std::string state(state_name(g.state));
    if (!req.states_filter.empty() && std::find(req.states_filter.begin(), req.states_filter.end(),
                                                state) == req.states_filter.end()) {
      continue;
    }
    r.groups.push_back({id, g.protocol_type, state});
  }
  return r;
}

p::DeleteGroupsResponse Coordinator::prepare_delete_groups(const p::DeleteGroupsRequest& req,
                                                           DeletePlan& plan) {
  p::DeleteGroupsResponse r;
  for (const auto& id : req.groups_names) {
    p::DeleteGroupsResponse::DeletableGroupResult res;
    res.group_id = id;
    Group* g = find(id);
    // Sessions that ended since the last tick end now: a client that waited exactly the
    // session timeout finds the group empty.
    if (g) expire(*g, clock_.steady_now());
    if (!g) {
      res.error_code = code(KafkaError::kGroupIdNotFound);
    } else if (!g->members.empty() || !g->pending.empty()) {
      res.error_code = code(KafkaError::kNonEmptyGroup);
    } else {
      for (const auto& [key, _] : g->offsets)
        plan.tombstones.push_back({id, key.first, key.second, std::nullopt});
      g->generation_id = 0;        // lets apply() drop the group once its offsets are gone
      metadata_dirty_.insert(id);  // its metadata gets a tombstone
    }
    r.results.push_back(std::move(res));
  }
  return r;
}

p::OffsetDeleteResponse Coordinator::prepare_offset_delete(const p::OffsetDeleteRequest& req,
                                                           DeletePlan& plan) {
  p::OffsetDeleteResponse r;
  Group* g = find(req.group_id);
  if (g) expire(*g, clock_.steady_now());
  if (!g) {
    r.error_code = code(KafkaError::kGroupIdNotFound);
    return r;
  }
  // A topic that a live member subscribes to cannot lose its offsets (GROUP_SUBSCRIBED_TO_TOPIC).
  std::set<std::string> subscribed;
  if (g->protocol_type == "consumer") {
    for (const auto& [_, m] : g->members) {
      for (const auto& [name, meta] : m.protocols) {
        if (meta.size() < 2) continue;
        protocol::Reader reader(ByteView(meta).subspan(2));
        p::ConsumerProtocolSubscription sub;
        const auto v = std::min<std::int16_t>(load_be<std::int16_t>(meta, 0),
                                              p::ConsumerProtocolSubscription::kMaxVersion);
        if (sub.decode(reader, v)) subscribed.insert(sub.topics.begin(), sub.topics.end());
      }
    }
  }
  for (const auto& t : req.topics) {
    p::OffsetDeleteResponse::OffsetDeleteResponseTopic rt;
    rt.name = t.name;
    for (const auto& part : t.partitions) {
      p::OffsetDeleteResponse::OffsetDeleteResponsePartition rp;
      rp.partition_index = part.partition_index;
      if (subscribed.contains(t.name)) {
        rp.error_code = code(KafkaError::kGroupSubscribedToTopic);
      } else if (g->offsets.contains({t.name, part.partition_index})) {
        plan.tombstones.push_back({req.group_id, t.name, part.partition_index, std::nullopt});
      }
      rt.partitions.push_back(rp);
    }
    r.topics.push_back(std::move(rt));
  }
  return r;
}

void Coordinator::tick() {
  const auto now = clock_.steady_now();
  for (auto& [id, g] : groups_) expire(g, now);
}

void Coordinator::expire(Group& g, std::chrono::steady_clock::time_point now) {
  // KIP-394 pending members that never came back.
  for (auto it = g.pending.begin(); it != g.pending.end();) {
    if (now >= it->second)
      it = g.pending.erase(it);
    else
      ++it;
  }
  // Expired sessions: a session ends at last heartbeat + session timeout, to the
  // millisecond. Members parked in a join are waiting on us, not silent.
  std::vector<std::string> expired;
  for (const auto& [mid, m] : g.members) {
    if (!m.awaiting_join && now - m.last_heartbeat >= m.session_timeout) expired.push_back(mid);
  }
  for (const auto& mid : expired) {
    WHARF_LOG_INFO("group {}: member {} missed its session timeout", g.group_id, mid);
    remove_member(g, mid, code(KafkaError::kUnknownMemberId));
  }
  if (!expired.empty()) {
    if (g.state == GroupState::kStable || g.state == GroupState::kCompletingRebalance) {
      prepare_rebalance(g);
    } else if (g.state == GroupState::kPreparingRebalance) {
      maybe_complete_join(g, false);
    }
    if (g.members.empty() && g.state != GroupState::kEmpty &&
        g.state != GroupState::kPreparingRebalance) {
      g.state = GroupState::kEmpty;
      metadata_dirty_.insert(g.group_id);
    }
  }
  if (g.state == GroupState::kPreparingRebalance) {
    maybe_complete_join(g, now >= g.rebalance_deadline);
  } else if (g.state == GroupState::kCompletingRebalance && now >= g.rebalance_deadline) {
    // Members that received their join response but never sent SyncGroup are removed.
    std::vector<std::string> silent;
    for (const auto& [mid, m] : g.members) {
      if (!m.synced) silent.push_back(mid);
    }
    for (const auto& mid : silent) remove_member(g, mid, code(KafkaError::kRebalanceInProgress));
    prepare_rebalance(g);
  }
}

void Coordinator::abort_parked(std::int16_t error) {
  for (auto& [_, g] : groups_) {
    for (auto& [id, m] : g.members) fail_parked(m, error);
  }
}

std::vector<GroupMetrics> Coordinator::metrics() const {
  std::vector<GroupMetrics> out;
  for (const auto& [id, g] : groups_) {
    GroupMetrics m;
    m.group_id = id;
    m.state = g.state;
    m.protocol_type = g.protocol_type;
    m.protocol = g.protocol;
    m.generation_id = g.generation_id;
    m.members = g.members.size();
    m.rebalances = g.rebalances;
    m.last_rebalance_ms = g.last_rebalance_ms;
    m.last_rebalance_end_ms = g.last_rebalance_end_ms;
    for (const auto& [mid, mem] : g.members) {
      m.member_list.push_back(
          {mid, mem.group_instance_id, mem.client_id, mem.client_host, mem.assignment});
    }
    m.offsets = g.offsets;
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<GroupMetadataRecord> Coordinator::take_group_metadata() {
  std::vector<GroupMetadataRecord> out;
  for (const auto& id : metadata_dirty_) {
    Group* g = find(id);
    if (!g || (g->generation_id == 0 && g->members.empty())) {
      // Deleted: a tombstone, if anything was ever written for it.
      if (metadata_written_.erase(id) > 0) out.push_back({id, std::nullopt});
      continue;
    }
    if (g->state != GroupState::kStable && g->state != GroupState::kEmpty) continue;
    GroupMetadata md;
    md.protocol_type = g->protocol_type;
    md.generation = g->generation_id;
    if (g->state == GroupState::kStable) {
      md.protocol = g->protocol;
      md.leader = g->leader_id;
    }
    md.current_state_timestamp_ms = clock_.now_ms();
    for (const auto& [mid, m] : g->members) {
      GroupMember gm;
      gm.member_id = mid;
      gm.group_instance_id = m.group_instance_id;
      gm.client_id = m.client_id;
      gm.client_host = m.client_host;
      gm.rebalance_timeout_ms = static_cast<std::int32_t>(m.rebalance_timeout.count());
      gm.session_timeout_ms = static_cast<std::int32_t>(m.session_timeout.count());
      for (const auto& [name, metadata] : m.protocols) {
        if (name == g->protocol) gm.subscription = metadata;
      }
      gm.assignment = m.assignment;
      md.members.push_back(std::move(gm));
    }
    auto it = metadata_written_.find(id);
    if (it != metadata_written_.end()) {
      GroupMetadata previous = it->second;
      previous.current_state_timestamp_ms = md.current_state_timestamp_ms;
      if (previous == md) continue;  // nothing changed but the time
    }
    // A record the topic could not take (thousands of members with big subscriptions) is not
    // written at all rather than fail every append after it; the group itself works on.
    GroupMetadataRecord record{id, std::move(md)};
    if (const std::size_t bytes = encode_group_metadata_value(record)->size();
        bytes > kGroupMetadataBytesMax) {
      WHARF_LOG_WARN(
          "group {}: its metadata ({} bytes, {} members) is over {} bytes and is not "
          "written to {}",
          id, bytes, record.value->members.size(), kGroupMetadataBytesMax, kOffsetsTopic);
      continue;
    }
    metadata_written_[id] = *record.value;
    out.push_back(std::move(record));
  }
  metadata_dirty_.clear();
  return out;
}

}  // namespace wharf::kafka::group
