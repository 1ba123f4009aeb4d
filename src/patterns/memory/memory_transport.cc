// The memory transport: topics, partitions and consumer groups in one process's memory, for
// unit tests of handlers and middleware. Same contracts as the others (transport.h), nothing
// durable. Group assignment is range per topic over the members sorted by id; a partition moves
// to its new owner only after the old owner has released it (in its own poll, after its
// revocation callback), so a clean handover delivers nothing twice.
//
// Threads: one mutex guards all state; poll() waits on a condition variable that publish,
// subscribe and close notify. Callbacks run on the polling thread without the lock held.
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "wharf/transport.h"

namespace wharf {
namespace {

class MemoryTransport;

struct Group {
  std::map<TopicPartition, std::int64_t> committed;
  std::vector<class MemorySubscription*> members;
  std::map<TopicPartition, class MemorySubscription*> owner;
  std::uint64_t generation = 0;
};

struct State {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<std::vector<Message>>> topics;
  std::map<std::string, Group> groups;
  std::uint64_t next_member = 1;
  bool closed = false;
};

class MemorySubscription final : public Subscription {
 public:
  MemorySubscription(std::shared_ptr<State> state, SubscribeOptions options, std::string member_id)
      : state_(std::move(state)), options_(std::move(options)), member_id_(std::move(member_id)) {}
  ~MemorySubscription() override { close(); }

  const std::string& member_id() const { return member_id_; }
  const std::vector<std::string>& topics() const { return options_.topics; }
  std::set<TopicPartition> target;  // guarded by State::mu

  Result<std::vector<Message>> poll(std::size_t max_messages,
                                    std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<Message> out;
    while (true) {
      WHARF_RETURN_IF_ERROR(rebalance());
      std::unique_lock lock(state_->mu);
      if (closed_ || state_->closed) return fail(ErrorCode::kShuttingDown, "subscription closed");
      if (target_changed()) continue;
      for (const auto& tp : held_) {
        if (paused_.contains(tp)) continue;
        auto& log = state_->topics[tp.topic][static_cast<std::size_t>(tp.partition)];
        auto& pos = positions_[tp];
        while (pos < static_cast<std::int64_t>(log.size()) && out.size() < max_messages) {
          out.push_back(log[static_cast<std::size_t>(pos)]);
          ++pos;
        }
      }
      if (!out.empty()) return out;
      if (std::chrono::steady_clock::now() >= deadline) return out;
      state_->cv.wait_until(lock, deadline);
    }
  }

  Status commit(const std::map<TopicPartition, std::int64_t>& next_offsets) override {
    std::lock_guard lock(state_->mu);
    Group& g = state_->groups[options_.group];
    for (const auto& [tp, off] : next_offsets) {
      if (!held_.contains(tp)) {
        return fail(ErrorCode::kFenced, "member {} of group {} no longer owns {}/{}", member_id_,
                    options_.group, tp.topic, tp.partition);
      }
      g.committed[tp] = off;
    }
    return ok();
  }

  void pause(const std::vector<TopicPartition>& partitions) override {
    std::lock_guard lock(state_->mu);
    for (const auto& tp : partitions) paused_.insert(tp);
  }
  void resume(const std::vector<TopicPartition>& partitions) override {
    std::lock_guard lock(state_->mu);
    for (const auto& tp : partitions) paused_.erase(tp);
    state_->cv.notify_all();
  }
  std::vector<TopicPartition> assignment() const override {
    std::lock_guard lock(state_->mu);
    return {held_.begin(), held_.end()};
  }
  std::optional<std::int64_t> high_watermark(const TopicPartition& tp) const override {
    std::lock_guard lock(state_->mu);
    auto it = state_->topics.find(tp.topic);
    if (it == state_->topics.end() || tp.partition < 0 ||
        static_cast<std::size_t>(tp.partition) >= it->second.size()) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(it->second[static_cast<std::size_t>(tp.partition)].size());
  }

  void close() override;

 private:
  // REQUIRES: mu held. Whether an assignment change is waiting for rebalance().
  bool target_changed() const {
    for (const auto& tp : held_) {
      if (!target.contains(tp)) return true;
    }
    Group& g = state_->groups[options_.group];
    for (const auto& tp : target) {
      if (!held_.contains(tp) && !g.owner.contains(tp)) return true;
    }
    return false;
  }

  // Applies the group's latest assignment: releases what moved away (after on_revoked), takes
  // what is free (then on_assigned). Callbacks run without the lock.
  Status rebalance() {
    std::vector<TopicPartition> revoked;
    {
      std::lock_guard lock(state_->mu);
      for (const auto& tp : held_) {
        if (!target.contains(tp)) revoked.push_back(tp);
      }
    }
    if (!revoked.empty()) {
      if (options_.listener.on_revoked) options_.listener.on_revoked(revoked);
      std::lock_guard lock(state_->mu);
      Group& g = state_->groups[options_.group];
      for (const auto& tp : revoked) {
        held_.erase(tp);
        positions_.erase(tp);
        paused_.erase(tp);
        if (auto it = g.owner.find(tp); it != g.owner.end() && it->second == this)
          g.owner.erase(it);
      }
      state_->cv.notify_all();
    }
    std::vector<TopicPartition> assigned;
    {
      std::lock_guard lock(state_->mu);
      Group& g = state_->groups[options_.group];
      for (const auto& tp : target) {
        if (held_.contains(tp) || g.owner.contains(tp)) continue;
        g.owner[tp] = this;
        held_.insert(tp);
        auto c = g.committed.find(tp);
        const auto size = static_cast<std::int64_t>(
            state_->topics[tp.topic][static_cast<std::size_t>(tp.partition)].size());
        positions_[tp] = c != g.committed.end() ? c->second : (options_.from_beginning ? 0 : size);
        assigned.push_back(tp);
      }
    }
    if (!assigned.empty() && options_.listener.on_assigned) options_.listener.on_assigned(assigned);
    return ok();
  }

  std::shared_ptr<State> state_;
  SubscribeOptions options_;
  std::string member_id_;
  std::set<TopicPartition> held_;
  std::set<TopicPartition> paused_;
  std::map<TopicPartition, std::int64_t> positions_;
  bool closed_ = false;
};

// REQUIRES: mu held. Range assignment per topic over the members sorted by id.
void assign(State& state, Group& group) {
  ++group.generation;
  std::vector<MemorySubscription*> members = group.members;
  std::sort(members.begin(), members.end(),
            [](auto* a, auto* b) { return a->member_id() < b->member_id(); });
  for (auto* m : members) m->target.clear();
  std::set<std::string> topics;
  for (auto* m : members) topics.insert(m->topics().begin(), m->topics().end());
  for (const auto& topic : topics) {
    std::vector<MemorySubscription*> subscribed;
    for (auto* m : members) {
      if (std::find(m->topics().begin(), m->topics().end(), topic) != m->topics().end())
        subscribed.push_back(m);
    }
    const auto partitions = static_cast<std::int32_t>(state.topics[topic].size());
    const auto n = static_cast<std::int32_t>(subscribed.size());
    for (std::int32_t p = 0; p < partitions; ++p) {
      subscribed[static_cast<std::size_t>(p * n / partitions)]->target.insert({topic, p});
    }
  }
  state.cv.notify_all();
}

void MemorySubscription::close() {
  std::vector<TopicPartition> held;
  {
    std::lock_guard lock(state_->mu);
    if (closed_) return;
    closed_ = true;
    Group& g = state_->groups[options_.group];
    std::erase(g.members, this);
    for (auto it = g.owner.begin(); it != g.owner.end();) {
      it = it->second == this ? g.owner.erase(it) : std::next(it);
    }
    target.clear();
    assign(*state_, g);
  }
}

class MemoryTransport final : public Transport {
 public:
  explicit MemoryTransport(const MemoryOptions& options)
      : options_(options), clock_(options.clock ? *options.clock : SystemClock::instance()) {}

  Status publish(const std::string& topic, std::vector<Message> messages) override {
    std::lock_guard lock(state_->mu);
    if (state_->closed) return fail(ErrorCode::kShuttingDown, "memory transport closed");
    auto& parts = topic_locked(topic, options_.default_partitions);
    for (auto& m : messages) {
      if (m.id.empty()) m.id = new_message_id();
      if (m.timestamp_ms == 0) m.timestamp_ms = clock_.now_ms();
      if (m.correlation_id.empty()) m.correlation_id = m.id;
      const auto n = static_cast<std::int32_t>(parts.size());
      const std::int32_t p =
          partition_of_key(m.key, n).value_or(static_cast<std::int32_t>(round_robin_++ % n));
      auto& log = parts[static_cast<std::size_t>(p)];
      m.topic = topic;
      m.partition = p;
      m.offset = static_cast<std::int64_t>(log.size());
      log.push_back(std::move(m));
    }
    state_->cv.notify_all();
    return ok();
  }

  Result<std::unique_ptr<Subscription>> subscribe(SubscribeOptions options) override {
    if (options.group.empty() || options.topics.empty()) {
      return fail(ErrorCode::kInvalidArgument, "subscribe needs a group and at least one topic");
    }
    std::lock_guard lock(state_->mu);
    if (state_->closed) return fail(ErrorCode::kShuttingDown, "memory transport closed");
    for (const auto& t : options.topics) topic_locked(t, options_.default_partitions);
    auto member = std::to_string(state_->next_member++);
    member.insert(0, 8 - std::min<std::size_t>(member.size(), 8), '0');
    const std::string group = options.group;
    auto sub = std::make_unique<MemorySubscription>(state_, std::move(options), "member-" + member);
    Group& g = state_->groups[group];
    g.members.push_back(sub.get());
    assign(*state_, g);
    return std::unique_ptr<Subscription>(std::move(sub));
  }

  Status ensure_topic(const std::string& topic, std::int32_t partitions) override {
    if (partitions < 1)
      return fail(ErrorCode::kInvalidArgument, "a topic needs at least one partition");
    std::lock_guard lock(state_->mu);
    topic_locked(topic, partitions);
    return ok();
  }

  Result<std::int32_t> partition_count(const std::string& topic) override {
    std::lock_guard lock(state_->mu);
    auto it = state_->topics.find(topic);
    if (it == state_->topics.end())
      return fail(ErrorCode::kNotFound, "topic '{}' does not exist", topic);
    return static_cast<std::int32_t>(it->second.size());
  }

  Result<std::map<TopicPartition, std::int64_t>> end_offsets(const std::string& topic) override {
    std::lock_guard lock(state_->mu);
    auto it = state_->topics.find(topic);
    if (it == state_->topics.end())
      return fail(ErrorCode::kNotFound, "topic '{}' does not exist", topic);
    std::map<TopicPartition, std::int64_t> out;
    for (std::size_t p = 0; p < it->second.size(); ++p) {
      out[{topic, static_cast<std::int32_t>(p)}] = static_cast<std::int64_t>(it->second[p].size());
    }
    return out;
  }

  Result<std::map<TopicPartition, std::int64_t>> committed_offsets(
      const std::string& group, const std::string& topic) override {
    std::lock_guard lock(state_->mu);
    std::map<TopicPartition, std::int64_t> out;
    auto g = state_->groups.find(group);
    if (g == state_->groups.end()) return out;
    for (const auto& [tp, off] : g->second.committed) {
      if (tp.topic == topic) out[tp] = off;
    }
    return out;
  }

  Status commit_offsets(const std::string& group,
                        const std::map<TopicPartition, std::int64_t>& offsets) override {
    std::lock_guard lock(state_->mu);
    Group& g = state_->groups[group];
    if (!g.members.empty()) return fail(ErrorCode::kConflict, "group {} has active members", group);
    for (const auto& [tp, off] : offsets) g.committed[tp] = off;
    return ok();
  }

  Status close() override {
    std::lock_guard lock(state_->mu);
    state_->closed = true;
    state_->cv.notify_all();
    return ok();
  }
  std::string_view name() const override { return "memory"; }
  std::string kafka_address() const override { return ""; }

 private:
  // REQUIRES: mu held.
  std::vector<std::vector<Message>>& topic_locked(const std::string& topic,
                                                  std::int32_t partitions) {
    auto [it, inserted] = state_->topics.try_emplace(topic);
    if (inserted) it->second.resize(static_cast<std::size_t>(std::max(partitions, 1)));
    return it->second;
  }

  MemoryOptions options_;
  const Clock& clock_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::uint64_t round_robin_ = 0;
};

}  // namespace

Result<Bus> Bus::open(const MemoryOptions& options) {
  return Bus(std::make_shared<MemoryTransport>(options));
}

}  // namespace wharf
