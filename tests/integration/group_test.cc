// Consumer groups against the real broker with real clients (kafka-protocol.md §3): librdkafka
// high-level consumers run as separate processes (group_consumer.cc) so that members can join,
// leave (SIGTERM: LeaveGroup) and die (SIGKILL: session timeout) independently; a
// python3-confluent-kafka consumer (group_consumer.py) in the same group; kcat -G; committed
// offsets across a clean broker restart and a SIGKILL; static membership (KIP-345) without a
// rebalance; cooperative-sticky; the initial rebalance delay; and the coordinator's error codes
// on raw requests built with the generated codec.
//
// What "nothing lost, duplicates only after the last commit" means here: every produced key is
// consumed at least once, each consumed record is the one produced at that (partition, offset),
// and when a record is consumed more than once, at most one of those consumptions was followed
// by a commit past it from the same member before that member lost the partition: the others
// were after their member's last commit, which is exactly what a new owner re-reads. The
// membership test is exact about it: it freezes the member it is about to kill, reads its
// committed offsets, and then expects precisely the records that member consumed past them to
// be consumed twice, and no others.
//
// Each test starts its own broker on a free loopback port (BrokerProcess) and every wait is
// bounded. Test thread only; child processes die with the test (PR_SET_PDEATHSIG).
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "kafka/protocol/generated/delete_groups.h"
#include "kafka/protocol/generated/describe_groups.h"
#include "kafka/protocol/generated/heartbeat.h"
#include "kafka/protocol/generated/join_group.h"
#include "kafka/protocol/generated/leave_group.h"
#include "kafka/protocol/generated/offset_commit.h"
#include "kafka/protocol/generated/offset_fetch.h"
#include "kafka/protocol/generated/sync_group.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"
#include "tests/integration/broker_process.h"

namespace wharf::test {
namespace {

namespace p = kafka::protocol;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Kafka error codes (Errors.java) the tests expect.
constexpr std::int16_t kUnknownTopicOrPartition = 3;
constexpr std::int16_t kIllegalGeneration = 22;
constexpr std::int16_t kInconsistentGroupProtocol = 23;
constexpr std::int16_t kUnknownMemberId = 25;
constexpr std::int16_t kNonEmptyGroup = 68;
constexpr std::int16_t kMemberIdRequired = 79;

// group.min.session.timeout.ms: the shortest session a member may ask for.
constexpr int kSessionTimeoutMs = 6000;
// Long enough for a rebalance on a loaded 2-core machine, short enough to fail fast.
constexpr auto kSettleTimeout = 30s;

const std::vector<std::string> kNoInitialDelay = {"--set", "group.initial.rebalance.delay.ms=0"};

// ---- child processes ------------------------------------------------------------------------

// A child process whose stdout is read line by line and whose stderr is kept for diagnostics.
class Child {
 public:
  Child(std::string name, std::vector<std::string> argv)
      : name_(std::move(name)), argv_(std::move(argv)) {}
  ~Child() {
    kill9();
    close_fds();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool start() {
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::close(err[0]);
      ::close(err[1]);
      std::vector<char*> args;
      for (auto& a : argv_) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
    // Room for a burst of output while the test is busy elsewhere (a full pipe would stall the
    // child, librdkafka's threads included).
    ::fcntl(out_fd_, F_SETPIPE_SZ, 1 << 20);
    ::fcntl(err_fd_, F_SETPIPE_SZ, 1 << 20);
    started_ = Clock::now();
    return pid_ > 0;
  }

  // Reads whatever output is ready and hands each complete stdout line to on_line().
  void pump() {
    char buf[65536];
    for (;;) {
      const ssize_t n = out_fd_ >= 0 ? ::read(out_fd_, buf, sizeof buf) : -1;
      if (n <= 0) break;
      partial_.append(buf, static_cast<std::size_t>(n));
    }
    for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      std::string line = partial_.substr(0, nl);
      partial_.erase(0, nl + 1);
      lines_.push_back(line);
      on_line(line);
    }
    for (;;) {
      const ssize_t n = err_fd_ >= 0 ? ::read(err_fd_, buf, sizeof buf) : -1;
      if (n <= 0) break;
      stderr_.append(buf, static_cast<std::size_t>(n));
      if (stderr_.size() > (1u << 20))
        stderr_.erase(0, stderr_.size() - (1u << 19));  // keep the tail
    }
  }

  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      pump();
      return false;
    }
    return true;
  }

  // Waits for the process to end on its own; its exit status, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (running()) {
      if (Clock::now() >= deadline) return std::nullopt;
      pump();
      std::this_thread::sleep_for(10ms);
    }
    return exit_status_;
  }

  // SIGTERM, then the exit status (or nullopt if it did not exit within `timeout`).
  std::optional<int> terminate(std::chrono::milliseconds timeout = 15s) {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    return wait_exit(timeout);
  }

  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_status_ = 128 + SIGKILL;
    pid_ = -1;
    pump();
  }

  const std::string& name() const { return name_; }
  const std::vector<std::string>& lines() const { return lines_; }
  Clock::time_point started() const { return started_; }

  // For failure messages: every stdout line that is not a record or a commit (the assignment
  // history), the last `n` lines, and the tail of stderr.
  std::string tail(std::size_t n = 10) const {
    std::string out =
        fmt::format("--- {} stdout: {} lines; assignment history:\n", name_, lines_.size());
    for (const auto& line : lines_) {
      if (line.rfind("rec ", 0) != 0 && line.rfind("commit ", 0) != 0) out += "  " + line + "\n";
    }
    out += fmt::format("--- {} last {} lines:\n", name_, std::min(n, lines_.size()));
    for (std::size_t i = lines_.size() > n ? lines_.size() - n : 0; i < lines_.size(); ++i)
      out += lines_[i] + "\n";
    const std::size_t keep = std::getenv("WHARF_GROUP_CONSUMER_DEBUG") ? 200'000 : 3000;
    out += fmt::format("--- {} stderr (tail):\n{}\n", name_,
                       stderr_.size() > keep ? stderr_.substr(stderr_.size() - keep) : stderr_);
    return out;
  }

 protected:
  virtual void on_line(const std::string&) {}

 private:
  void close_fds() {
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
    out_fd_ = err_fd_ = -1;
  }

  std::string name_;
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  int exit_status_ = -1;
  std::string partial_, stderr_;
  std::vector<std::string> lines_;
  Clock::time_point started_;
};

// One line of group_consumer's output, parsed.
struct Event {
  enum Kind { kRec, kAssigned, kRevoked, kCommit, kCommitFailed, kClosed, kOther };
  Kind kind = kOther;
  // assigned/revoked: (partition, 0); commit: (partition, offset).
  std::vector<std::pair<std::int32_t, std::int64_t>> parts;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key, value;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

// A group member process (group_consumer or group_consumer.py): its events and what follows
// from them (current assignment, consumed keys, last commits).
class Member : public Child {
 public:
  using Child::Child;

  std::set<std::int32_t> owned() const { return owned_; }
  const std::vector<Event>& events() const { return events_; }
  int assignment_changes() const { return assignment_changes_; }
  const std::set<std::string>& keys() const { return keys_; }
  bool closed() const { return closed_; }
  // Last committed offset per partition (the next offset to read).
  std::map<std::int32_t, std::int64_t> last_commits() const { return last_commits_; }
  // When the last commit line was read, and how many records were printed after it.
  Clock::time_point last_commit_seen() const { return last_commit_seen_; }
  int records_since_commit() const { return records_since_commit_; }
  // The highest offset this member consumed on `partition` (-1 if none).
  std::int64_t max_offset(std::int32_t partition) const {
    std::int64_t out = -1;
    for (const auto& e : events_) {
      if (e.kind == Event::kRec && e.partition == partition) out = std::max(out, e.offset);
    }
    return out;
  }
  // Every set of partitions revoked from this member, in order.
  std::vector<std::set<std::int32_t>> revocations() const {
    std::vector<std::set<std::int32_t>> out;
    for (const auto& e : events_) {
      if (e.kind != Event::kRevoked) continue;
      std::set<std::int32_t> s;
      for (auto [part, _] : e.parts) s.insert(part);
      out.push_back(std::move(s));
    }
    return out;
  }

 protected:
  void on_line(const std::string& line) override {
    Event e;
    const auto space = line.find(' ');
    const std::string word = line.substr(0, space);
    const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    auto parse_parts = [&](bool with_offsets) {
      if (rest == "-") return;
      for (const auto& item : split(rest, ',')) {
        const auto colon = item.find(':');
        const std::int32_t part = std::stoi(item.substr(0, colon));
        const std::int64_t off =
            with_offsets && colon != std::string::npos ? std::stoll(item.substr(colon + 1)) : 0;
        e.parts.emplace_back(part, off);
      }
    };
    if (word == "rec") {
      const auto f = split(rest, ' ');
      if (f.size() != 4) return;
      e.kind = Event::kRec;
      e.partition = std::stoi(f[0]);
      e.offset = std::stoll(f[1]);
      e.key = f[2];
      e.value = f[3];
      keys_.insert(e.key);
      ++records_since_commit_;
    } else if (word == "assigned" || word == "revoked") {
      e.kind = word == "assigned" ? Event::kAssigned : Event::kRevoked;
      parse_parts(false);
      for (auto [part, _] : e.parts) {
        if (e.kind == Event::kAssigned)
          owned_.insert(part);
        else
          owned_.erase(part);
      }
      ++assignment_changes_;
    } else if (word == "commit") {
      e.kind = Event::kCommit;
      parse_parts(true);
      for (auto [part, off] : e.parts) last_commits_[part] = off;
      last_commit_seen_ = Clock::now();
      records_since_commit_ = 0;
    } else if (word == "commit-failed") {
      e.kind = Event::kCommitFailed;
    } else if (word == "closed") {
      e.kind = Event::kClosed;
      closed_ = true;
    } else {
      return;  // member/error lines are kept in lines() only
    }
    events_.push_back(std::move(e));
  }

 private:
  std::vector<Event> events_;
  std::set<std::int32_t> owned_;
  std::set<std::string> keys_;
  std::map<std::int32_t, std::int64_t> last_commits_;
  int assignment_changes_ = 0;
  bool closed_ = false;
  Clock::time_point last_commit_seen_;
  int records_since_commit_ = 0;
};

std::string dump(const std::vector<Member*>& members) {
  std::string out;
  for (const Member* m : members) out += m->tail();
  return out;
}

// Pumps every member's output until pred() holds or the timeout passes.
bool wait_for(const std::vector<Member*>& members, const std::function<bool()>& pred,
              std::chrono::milliseconds timeout = kSettleTimeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (Member* m : members) m->pump();
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// Pumps every member's output for `duration`, whatever happens.
void watch(const std::vector<Member*>& members, std::chrono::milliseconds duration) {
  wait_for(
      members, [] { return false; }, duration);
}

// True when `live` members own `partitions` partitions between them, each exactly once, and
// each member owns at least one (when there are enough partitions to go round).
bool settled(const std::vector<Member*>& live, int partitions) {
  std::set<std::int32_t> all;
  std::size_t total = 0;
  for (Member* m : live) {
    const auto owned = m->owned();
    if (owned.empty() && static_cast<int>(live.size()) <= partitions) return false;
    all.insert(owned.begin(), owned.end());
    total += owned.size();
  }
  return static_cast<int>(all.size()) == partitions && static_cast<int>(total) == partitions &&
         (all.empty() || (*all.begin() == 0 && *all.rbegin() == partitions - 1));
}

// ---- librdkafka in process: topics, producing, committed offsets ---------------------------

rd_kafka_conf_t* make_conf(const std::string& bootstrap,
                           const std::map<std::string, std::string>& extra) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) {
    EXPECT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err), RD_KAFKA_CONF_OK)
        << k << ": " << err;
  };
  set("bootstrap.servers", bootstrap);
  for (const auto& [k, v] : extra) set(k, v);
  return conf;
}

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, make_conf(bootstrap, {}), err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 10000);
  ASSERT_NE(ev, nullptr);
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(rd_kafka_topic_result_error(results[0]), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_topic_result_error_string(results[0]);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
}

using PartitionOffset = std::pair<std::int32_t, std::int64_t>;

// An acks=all producer that remembers where each acknowledged key landed.
class KeyedProducer {
 public:
  explicit KeyedProducer(const std::string& bootstrap) {
    rd_kafka_conf_t* conf =
        make_conf(bootstrap, {{"acks", "all"}, {"linger.ms", "5"}, {"enable.idempotence", "true"}});
    rd_kafka_conf_set_dr_msg_cb(conf, &KeyedProducer::on_delivery);
    rd_kafka_conf_set_opaque(conf, this);
    char err[512];
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    EXPECT_NE(rk_, nullptr) << err;
  }
  ~KeyedProducer() { rd_kafka_destroy(rk_); }

  // Key "<prefix>-<i>", value "v-<prefix>-<i>", on partition i % partitions.
  void send(const std::string& topic, const std::string& prefix, int first, int count,
            int partitions) {
    for (int i = first; i < first + count; ++i) {
      const std::string key = fmt::format("{}-{}", prefix, i);
      const std::string value = "v-" + key;
      for (;;) {
        auto err = rd_kafka_producev(
            rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(i % partitions),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
          break;
        }
        rd_kafka_poll(rk_, 20);
      }
      rd_kafka_poll(rk_, 0);
    }
  }
  bool flush() { return rd_kafka_flush(rk_, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR; }

  std::map<std::string, PartitionOffset> acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  int failed() const { return failed_; }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KeyedProducer*>(opaque);
    if (m->err) {
      ++self->failed_;
      return;
    }
    std::lock_guard lock(self->mu_);
    self->acked_[std::string(static_cast<const char*>(m->key), m->key_len)] = {m->partition,
                                                                               m->offset};
  }

  rd_kafka_t* rk_ = nullptr;
  std::mutex mu_;
  std::map<std::string, PartitionOffset> acked_;
  std::atomic<int> failed_{0};
};

// OffsetFetch through librdkafka (rd_kafka_committed): partition -> committed offset (-1001
// when none).
std::map<std::int32_t, std::int64_t> committed(const std::string& bootstrap,
                                               const std::string& group, const std::string& topic,
                                               int partitions) {
  char err[512];
  rd_kafka_t* rk =
      rd_kafka_new(RD_KAFKA_CONSUMER, make_conf(bootstrap, {{"group.id", group}}), err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int i = 0; i < partitions; ++i) rd_kafka_topic_partition_list_add(list, topic.c_str(), i);
  std::map<std::int32_t, std::int64_t> out;
  const auto e = rd_kafka_committed(rk, list, 15000);
  EXPECT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
  for (int i = 0; i < list->cnt; ++i) {
    EXPECT_EQ(list->elems[i].err, RD_KAFKA_RESP_ERR_NO_ERROR)
        << rd_kafka_err2str(list->elems[i].err);
    out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

// ---- checking what a group consumed --------------------------------------------------------

struct Consumption {
  const Member* member;
  std::int32_t partition;
  std::int64_t offset;
  std::string key, value;
  bool committed_after;  // its member committed past it before losing the partition
};

std::vector<Consumption> consumptions(const std::vector<Member*>& members) {
  std::vector<Consumption> out;
  for (const Member* m : members) {
    const auto& ev = m->events();
    // Backwards: the highest commit per partition seen since (after) this point and before the
    // member's next revocation of that partition.
    std::map<std::int32_t, std::int64_t> commit_ahead;
    std::vector<Consumption> mine;
    for (auto it = ev.rbegin(); it != ev.rend(); ++it) {
      switch (it->kind) {
        case Event::kCommit:
          for (auto [part, off] : it->parts) commit_ahead[part] = std::max(commit_ahead[part], off);
          break;
        case Event::kRevoked:
          for (auto [part, _] : it->parts) commit_ahead.erase(part);
          break;
        case Event::kRec: {
          auto c = commit_ahead.find(it->partition);
          mine.push_back({m, it->partition, it->offset, it->key, it->value,
                          c != commit_ahead.end() && c->second > it->offset});
          break;
        }
        default:
          break;
      }
    }
    out.insert(out.end(), mine.rbegin(), mine.rend());
  }
  return out;
}

struct DeliveryReport {
  std::string problems;  // empty when everything holds
  int duplicates = 0;    // consumptions beyond the first of a record
};

// Every acked record consumed, each consumption the record produced there, and duplicates only
// where the earlier consumer had not committed past them (see the top of the file). Also: within
// one member, offsets on a partition only go back after that partition was (re)assigned.
DeliveryReport check_delivery(const std::map<std::string, PartitionOffset>& produced,
                              const std::vector<Member*>& members) {
  DeliveryReport report;
  int problems = 0;
  auto problem = [&](const std::string& s) {
    if (++problems <= 20) report.problems += s + "\n";
  };
  std::map<PartitionOffset, std::string> key_at;
  for (const auto& [key, at] : produced) key_at[at] = key;
  std::map<PartitionOffset, std::vector<Consumption>> by_record;
  std::set<std::string> consumed_keys;
  for (const auto& c : consumptions(members)) {
    consumed_keys.insert(c.key);
    auto k = key_at.find({c.partition, c.offset});
    if (k == key_at.end() || k->second != c.key || c.value != "v-" + c.key) {
      problem(fmt::format("{} consumed {}@{} key {} value {}, which was not produced there",
                          c.member->name(), c.partition, c.offset, c.key, c.value));
    }
    by_record[{c.partition, c.offset}].push_back(c);
  }
  for (const auto& [key, at] : produced) {
    if (!consumed_keys.contains(key))
      problem(fmt::format("key {} ({}@{}) never consumed", key, at.first, at.second));
  }
  for (const auto& [at, cs] : by_record) {
    if (cs.size() < 2) continue;
    report.duplicates += static_cast<int>(cs.size()) - 1;
    int covered = 0;
    std::string who;
    for (const auto& c : cs) {
      covered += c.committed_after ? 1 : 0;
      who += fmt::format(" {}{}", c.member->name(), c.committed_after ? "(committed past it)" : "");
    }
    if (covered > 1)
      problem(
          fmt::format("{}@{} consumed again after a commit past it:{}", at.first, at.second, who));
  }
  for (const Member* m : members) {
    std::map<std::int32_t, std::int64_t> last;
    for (const auto& e : m->events()) {
      if (e.kind == Event::kAssigned) {
        for (auto [part, _] : e.parts) last.erase(part);
      } else if (e.kind == Event::kRec) {
        auto it = last.find(e.partition);
        if (it != last.end() && e.offset <= it->second) {
          problem(fmt::format("{} went back on partition {} from {} to {} without a reassignment",
                              m->name(), e.partition, it->second, e.offset));
        }
        last[e.partition] = e.offset;
      }
    }
  }
  if (problems > 20) report.problems += fmt::format("... and {} more\n", problems - 20);
  return report;
}

bool consumed_all(const std::map<std::string, PartitionOffset>& produced,
                  const std::vector<Member*>& members) {
  for (const auto& [key, _] : produced) {
    if (std::none_of(members.begin(), members.end(),
                     [&](const Member* m) { return m->keys().contains(key); })) {
      return false;
    }
  }
  return true;
}

// ---- raw requests ---------------------------------------------------------------------------

// One connection to the broker with bounded reads, for requests built with the generated codec.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }

  // Header + body, size-prefixed, as a client writes it.
  template <typename Request>
  Bytes frame(const Request& request, std::int16_t version) {
    Bytes payload;
    p::Writer w(payload);
    p::RequestHeader h;
    h.request_api_key = Request::kApiKey;
    h.request_api_version = version;
    h.correlation_id = ++correlation_id_;
    h.client_id = "wharf-group-test";
    p::encode_request_header(w, h);
    EXPECT_TRUE(w.status().has_value());
    auto body = p::encode_message(request, version);
    EXPECT_TRUE(body.has_value()) << body.error().to_string();
    if (body) append(payload, *body);
    Bytes out;
    append_be<std::int32_t>(out, static_cast<std::int32_t>(payload.size()));
    append(out, payload);
    return out;
  }

  bool send(ByteView bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Sends `request` and decodes its response; nullopt (with a test failure) if anything is off.
  template <typename Response, typename Request>
  std::optional<Response> call(const Request& request, std::int16_t version,
                               std::chrono::milliseconds timeout = 10s) {
    if (!send(frame(request, version))) {
      ADD_FAILURE() << Request::kName << ": send failed";
      return std::nullopt;
    }
    Bytes size(4);
    if (!read_exact(size, timeout)) {
      ADD_FAILURE() << Request::kName << " v" << version << ": no response";
      return std::nullopt;
    }
    Bytes body(static_cast<std::size_t>(load_be<std::int32_t>(size, 0)));
    if (!read_exact(body, timeout)) {
      ADD_FAILURE() << Request::kName << ": truncated response";
      return std::nullopt;
    }
    p::Reader r(body);
    auto header = p::decode_response_header(r, Response::kApiKey, version);
    if (!header || header->correlation_id != correlation_id_) {
      ADD_FAILURE() << Request::kName << ": bad response header";
      return std::nullopt;
    }
    auto decoded = p::decode_message<Response>(ByteView(body).subspan(r.position()), version);
    if (!decoded) {
      ADD_FAILURE() << Response::kName << ": " << decoded.error().to_string();
      return std::nullopt;
    }
    return std::move(*decoded);
  }

  // True if the broker closes the connection (EOF or reset) within `timeout` without answering.
  bool closed_by_broker(std::chrono::milliseconds timeout = 10s) {
    std::byte b;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
    const ssize_t n = ::recv(fd_, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool read_exact(Bytes& out, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::size_t got = 0;
    while (got < out.size()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    return true;
  }

  int fd_ = -1;
  std::int32_t correlation_id_ = 0;
};

p::JoinGroupRequest join_request(const std::string& group, const std::string& member_id,
                                 std::vector<std::string> protocols = {"range"}) {
  p::JoinGroupRequest r;
  r.group_id = group;
  r.session_timeout_ms = 30'000;
  r.rebalance_timeout_ms = 30'000;
  r.member_id = member_id;
  r.protocol_type = "consumer";
  for (auto& name : protocols) r.protocols.push_back({name, to_bytes("metadata-" + name)});
  return r;
}

p::HeartbeatRequest heartbeat_request(const std::string& group, std::int32_t generation,
                                      const std::string& member_id) {
  p::HeartbeatRequest r;
  r.group_id = group;
  r.generation_id = generation;
  r.member_id = member_id;
  return r;
}

std::optional<p::DescribeGroupsResponse::DescribedGroup> describe_group(int port,
                                                                        const std::string& group) {
  RawClient c(port);
  p::DescribeGroupsRequest req;
  req.groups = {group};
  auto resp = c.call<p::DescribeGroupsResponse>(req, 4);
  if (!resp || resp->groups.size() != 1) return std::nullopt;
  return resp->groups[0];
}

// The group's current generation, found by asking which generation the broker accepts in a
// heartbeat from `member_id` (DescribeGroups does not report it). -1 if none in [1, 200].
std::int32_t probe_generation(int port, const std::string& group, const std::string& member_id) {
  RawClient c(port);
  for (std::int32_t g = 1; g <= 200; ++g) {
    auto resp = c.call<p::HeartbeatResponse>(heartbeat_request(group, g, member_id), 3);
    if (!resp) return -1;
    if (resp->error_code == 0) return g;
    if (resp->error_code != kIllegalGeneration) return -1;
  }
  return -1;
}

// ---- the tests ------------------------------------------------------------------------------

class GroupTest : public ::testing::Test {
 protected:
  void start_broker(std::vector<std::string> args = kNoInitialDelay) {
    broker_ = std::make_unique<BrokerProcess>(std::move(args));
    ASSERT_TRUE(broker_->start()) << broker_->last_output();
  }

  // A group_consumer process; `extra` are more of its flags.
  std::unique_ptr<Member> consumer(const std::string& name, const std::string& group,
                                   const std::string& topic, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {WHARF_GROUP_CONSUMER_PATH};
    argv.insert(argv.end(), {"--bootstrap", broker_->bootstrap(), "--group", group, "--topic",
                             topic, "--client-id", name, "--session-timeout-ms",
                             std::to_string(kSessionTimeoutMs), "--max-seconds", "240"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto m = std::make_unique<Member>(name, std::move(argv));
    EXPECT_TRUE(m->start()) << name;
    return m;
  }

  std::unique_ptr<Member> python_consumer(const std::string& name, const std::string& group,
                                          const std::string& topic) {
    auto m = std::make_unique<Member>(
        name, std::vector<std::string>{"/usr/bin/python3", WHARF_GROUP_CONSUMER_PY, "--bootstrap",
                                       broker_->bootstrap(), "--group", group, "--topic", topic,
                                       "--client-id", name, "--session-timeout-ms",
                                       std::to_string(kSessionTimeoutMs), "--max-seconds", "240"});
    EXPECT_TRUE(m->start()) << name;
    return m;
  }

  void static_member_restarts(const std::vector<std::string>& strategy);

  // On failure, the broker's own log (a crash, a refused request) is the first thing to read.
  void TearDown() override {
    if (HasFailure() && broker_ && broker_->running()) {
      const int status = broker_->stop();
      const std::string& out = broker_->last_output();
      std::printf("--- broker exit status %d, log tail:\n%s\n", status,
                  out.size() > 6000 ? out.substr(out.size() - 6000).c_str() : out.c_str());
    }
  }

  std::unique_ptr<BrokerProcess> broker_;
};

// (a) Three members share six partitions; then a fourth joins, one leaves and one is killed.
TEST_F(GroupTest, MembersJoinLeaveAndDieWithoutLosingRecordsAndDuplicateOnlyAfterTheLastCommit) {
  start_broker();
  const std::string topic = "orders", group = "g-orders";
  constexpr int kPartitions = 6;
  create_topic(broker_->bootstrap(), topic, kPartitions);
  auto c1 = consumer("c1", group, topic);
  auto c2 = consumer("c2", group, topic);
  // c3, the member that will be killed, commits only once a second, so that it dies holding
  // records it consumed but did not commit.
  auto c3 = consumer("c3", group, topic, {"--commit", "interval:1000"});
  std::vector<Member*> all = {c1.get(), c2.get(), c3.get()};
  ASSERT_TRUE(wait_for(all, [&] {
    return settled({c1.get(), c2.get(), c3.get()}, kPartitions);
  })) << dump(all);
  for (Member* m : all)
    EXPECT_EQ(m->owned().size(), 2u) << m->name() << " (six partitions over three members)";

  KeyedProducer producer(broker_->bootstrap());
  producer.send(topic, "a", 0, 1200, kPartitions);
  ASSERT_TRUE(producer.flush());
  ASSERT_TRUE(wait_for(all, [&] { return consumed_all(producer.acked(), all); })) << dump(all);

  // A producer keeps writing while the membership changes underneath the group.
  std::atomic<bool> stop{false};
  std::atomic<int> produced{0};
  std::thread background([&] {
    for (int i = 0; !stop; i += 20) {
      producer.send(topic, "b", i, 20, kPartitions);
      produced = i + 20;
      std::this_thread::sleep_for(20ms);
    }
  });

  auto c4 = consumer("c4", group, topic);
  all.push_back(c4.get());
  ASSERT_TRUE(wait_for(all, [&] {
    return settled({c1.get(), c2.get(), c3.get(), c4.get()}, kPartitions);
  })) << dump(all);

  // c2 leaves cleanly: LeaveGroup, so the group rebalances at once.
  EXPECT_EQ(c2->terminate(), 0) << dump(all);
  EXPECT_TRUE(c2->closed());
  ASSERT_TRUE(wait_for(all, [&] {
    return settled({c1.get(), c3.get(), c4.get()}, kPartitions);
  })) << dump(all);

  // c3 dies: its partitions move only when its session times out. It is frozen first, between
  // two of its commits (no commit in flight) and with records consumed since the last one, so
  // that the offsets it committed are known exactly when it dies.
  ASSERT_TRUE(wait_for(all, [&] {
    return c3->records_since_commit() > 0 && Clock::now() - c3->last_commit_seen() > 150ms &&
           Clock::now() - c3->last_commit_seen() < 600ms;
  })) << dump(all);
  c3->signal(SIGSTOP);
  std::this_thread::sleep_for(200ms);  // anything c3 had written reaches the pipe
  c3->pump();
  const auto c3_owned = c3->owned();
  const auto committed_at_kill = committed(broker_->bootstrap(), group, topic, kPartitions);
  const auto killed_at = Clock::now();
  c3->kill9();
  auto survivors_own_all = [&] { return settled({c1.get(), c4.get()}, kPartitions); };
  ASSERT_TRUE(wait_for(all, survivors_own_all, 40s)) << dump(all);
  const auto moved_after = Clock::now() - killed_at;
  EXPECT_GE(moved_after, std::chrono::milliseconds(kSessionTimeoutMs) - 1s)
      << "moved before the session timed out";

  stop = true;
  background.join();
  ASSERT_TRUE(producer.flush());
  EXPECT_EQ(producer.failed(), 0);
  const auto acked = producer.acked();
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(1200 + produced.load()));
  ASSERT_TRUE(wait_for(all, [&] { return consumed_all(acked, all); })) << dump(all);
  EXPECT_EQ(c1->terminate(), 0) << dump(all);
  EXPECT_EQ(c4->terminate(), 0) << dump(all);
  const auto report = check_delivery(acked, all);
  EXPECT_EQ(report.problems, "") << dump(all);
  // Every clean hand-over (c4 joining, c2 leaving) committed first, so re-reads come from the
  // killed member only: no record was consumed by more than one of the others.
  std::map<PartitionOffset, std::vector<std::string>> by_survivors;
  for (const auto& c : consumptions(all)) {
    if (c.member != c3.get()) by_survivors[{c.partition, c.offset}].push_back(c.member->name());
  }
  std::string reread;
  for (const auto& [at, who] : by_survivors) {
    if (who.size() > 1 && reread.size() < 2000)
      reread += fmt::format("{}@{} by {}\n", at.first, at.second, fmt::join(who, ","));
  }
  EXPECT_EQ(reread, "") << dump(all);
  // Exactly the records c3 consumed after its last commit were consumed twice: the new owners
  // started at c3's committed offsets.
  std::set<PartitionOffset> expected_twice, consumed_twice;
  for (auto part : c3_owned) {
    const std::int64_t from = std::max<std::int64_t>(committed_at_kill.at(part), 0);
    for (std::int64_t o = from; o <= c3->max_offset(part); ++o) expected_twice.insert({part, o});
  }
  std::map<PartitionOffset, int> times;
  for (const auto& c : consumptions(all)) {
    if (++times[{c.partition, c.offset}] == 2) consumed_twice.insert({c.partition, c.offset});
  }
  EXPECT_FALSE(expected_twice.empty()) << "c3 died with uncommitted records";
  EXPECT_EQ(consumed_twice, expected_twice) << dump(all);
  RecordProperty("duplicates", report.duplicates);
  std::printf("records %zu, duplicates %d, partitions moved %.1f s after the kill\n", acked.size(),
              report.duplicates, std::chrono::duration<double>(moved_after).count());
}

// (b) Commits are durable: a clean broker restart and a SIGKILL both keep acknowledged commits.
TEST_F(GroupTest, CommittedOffsetsSurviveACleanRestartAndASigkill) {
  start_broker();
  const std::string topic = "durable", group = "g-durable";
  constexpr int kPartitions = 3;
  create_topic(broker_->bootstrap(), topic, kPartitions);
  KeyedProducer producer(broker_->bootstrap());
  producer.send(topic, "a", 0, 300, kPartitions);
  ASSERT_TRUE(producer.flush());

  auto all_committed = [](Member& m, std::int64_t offset) {
    auto last = m.last_commits();
    for (int part = 0; part < kPartitions; ++part) {
      if (last[part] != offset) return false;
    }
    return true;
  };
  {
    auto c = consumer("c1", group, topic);
    ASSERT_TRUE(wait_for({c.get()}, [&] { return all_committed(*c, 100); })) << c->tail();
    EXPECT_EQ(c->terminate(), 0) << c->tail();
  }
  const std::map<std::int32_t, std::int64_t> first = {{0, 100}, {1, 100}, {2, 100}};
  EXPECT_EQ(committed(broker_->bootstrap(), group, topic, kPartitions), first);

  EXPECT_EQ(broker_->stop(), 0) << broker_->last_output();
  ASSERT_TRUE(broker_->start()) << broker_->last_output();
  EXPECT_EQ(committed(broker_->bootstrap(), group, topic, kPartitions), first)
      << "after a clean restart";

  // A second run resumes after the committed offsets, and its commits are acknowledged while the
  // member is still running when the broker is killed.
  KeyedProducer producer2(broker_->bootstrap());
  producer2.send(topic, "b", 0, 60, kPartitions);
  ASSERT_TRUE(producer2.flush());
  auto c = consumer("c2", group, topic);
  ASSERT_TRUE(wait_for({c.get()}, [&] { return all_committed(*c, 120); })) << c->tail();
  for (const auto& e : c->events()) {
    if (e.kind == Event::kRec) {
      EXPECT_GE(e.offset, 100) << "re-read a committed record: " << e.key;
    }
  }
  EXPECT_EQ(c->keys().size(), 60u);
  broker_->kill9();
  c->kill9();
  ASSERT_TRUE(broker_->start()) << broker_->last_output();
  const std::map<std::int32_t, std::int64_t> second = {{0, 120}, {1, 120}, {2, 120}};
  EXPECT_EQ(committed(broker_->bootstrap(), group, topic, kPartitions), second) << "after SIGKILL";
}

// (c) KIP-345: a static member that restarts within its session timeout gets its partitions
// back without a rebalance; the other member notices nothing. `strategy` are group_consumer flags.
void GroupTest::static_member_restarts(const std::vector<std::string>& strategy) {
  start_broker();
  const std::string topic = "static", group = "g-static";
  constexpr int kPartitions = 6;
  create_topic(broker_->bootstrap(), topic, kPartitions);
  // "a-static" joins first and leads the group: the restart replaces the leader.
  std::vector<std::string> static_flags = {"--instance-id", "instance-a", "--session-timeout-ms",
                                           "20000"};
  static_flags.insert(static_flags.end(), strategy.begin(), strategy.end());
  auto s1 = consumer("a-static", group, topic, static_flags);
  ASSERT_TRUE(wait_for({s1.get()}, [&] { return settled({s1.get()}, kPartitions); })) << s1->tail();
  auto d = consumer("b-dynamic", group, topic, strategy);
  std::vector<Member*> all = {s1.get(), d.get()};
  ASSERT_TRUE(wait_for(all, [&] {
    return settled({s1.get(), d.get()}, kPartitions);
  })) << dump(all);

  KeyedProducer producer(broker_->bootstrap());
  producer.send(topic, "a", 0, 600, kPartitions);
  ASSERT_TRUE(producer.flush());
  ASSERT_TRUE(wait_for(all, [&] { return consumed_all(producer.acked(), all); })) << dump(all);

  auto before = describe_group(broker_->port(), group);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->group_state, "Stable");
  ASSERT_EQ(before->members.size(), 2u);
  std::string d_member, s_member_before;
  for (const auto& m : before->members) {
    (m.group_instance_id ? s_member_before : d_member) = m.member_id;
  }
  ASSERT_FALSE(d_member.empty());
  std::int32_t generation = -1;
  auto generation_found = [&] {
    generation = probe_generation(broker_->port(), group, d_member);
    return generation > 0;
  };
  ASSERT_TRUE(wait_for(all, generation_found)) << "no generation takes b's heartbeat\n"
                                               << dump(all);
  const int d_changes = d->assignment_changes();
  const auto d_owned = d->owned(), s_owned = s1->owned();

  // Restart: a static member sends no LeaveGroup on close.
  EXPECT_EQ(s1->terminate(), 0) << dump(all);
  auto s2 = consumer("a-static", group, topic, static_flags);
  all.push_back(s2.get());
  ASSERT_TRUE(wait_for(all, [&] { return s2->owned() == s_owned; })) << dump(all);
  // Time for a rebalance to show, were there one: several heartbeat intervals of the other member.
  watch(all, 2500ms);
  EXPECT_EQ(d->assignment_changes(), d_changes) << "the other member saw a rebalance\n"
                                                << dump(all);
  EXPECT_EQ(d->owned(), d_owned);
  EXPECT_EQ(probe_generation(broker_->port(), group, d_member), generation)
      << "the generation changed";
  auto after = describe_group(broker_->port(), group);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->group_state, "Stable");
  ASSERT_EQ(after->members.size(), 2u);
  for (const auto& m : after->members) {
    if (m.group_instance_id) {
      EXPECT_EQ(*m.group_instance_id, "instance-a");
      EXPECT_NE(m.member_id, s_member_before) << "the restarted instance has a new member id";
    } else {
      EXPECT_EQ(m.member_id, d_member);
    }
  }

  producer.send(topic, "b", 0, 600, kPartitions);
  ASSERT_TRUE(producer.flush());
  const auto acked = producer.acked();
  ASSERT_TRUE(wait_for(all, [&] { return consumed_all(acked, all); })) << dump(all);
  const auto report = check_delivery(acked, all);
  EXPECT_EQ(report.problems, "") << dump(all);
  EXPECT_EQ(report.duplicates, 0) << "the restarted member resumes at its committed offsets\n"
                                  << dump(all);

  // The group still rebalances normally afterwards: the dynamic member leaves, the static one
  // (now under its new member id, still the leader) takes all six partitions.
  EXPECT_EQ(d->terminate(), 0) << dump(all);
  ASSERT_TRUE(wait_for(all, [&] {
    return s2->owned().size() == static_cast<std::size_t>(kPartitions);
  })) << dump(all);
  EXPECT_EQ(s2->terminate(), 0) << dump(all);
}

TEST_F(GroupTest, StaticMemberRestartingWithinItsSessionTimeoutCausesNoRebalance) {
  static_member_restarts({});
}

// With cooperative-sticky the restarted member's subscription differs (it owns nothing yet);
// Kafka still does not rebalance, because the group's protocol does not change.
TEST_F(GroupTest, StaticCooperativeStickyMemberRestartingCausesNoRebalance) {
  static_member_restarts({"--strategy", "cooperative-sticky", "--commit", "revoke"});
}

// (d) cooperative-sticky: a third member joins two; the first two keep most of their partitions.
TEST_F(GroupTest, CooperativeStickyMembersKeepTheirPartitionsWhenAThirdJoins) {
  start_broker();
  const std::string topic = "coop", group = "g-coop";
  constexpr int kPartitions = 6;
  create_topic(broker_->bootstrap(), topic, kPartitions);
  // Commits only when partitions are revoked: see group_consumer.cc on librdkafka#4059.
  const std::vector<std::string> coop = {"--strategy", "cooperative-sticky", "--commit", "revoke"};
  auto a = consumer("a", group, topic, coop);
  auto b = consumer("b", group, topic, coop);
  std::vector<Member*> all = {a.get(), b.get()};
  ASSERT_TRUE(wait_for(all, [&] {
    return settled({a.get(), b.get()}, kPartitions) && a->owned().size() == 3;
  })) << dump(all);

  KeyedProducer producer(broker_->bootstrap());
  producer.send(topic, "a", 0, 600, kPartitions);
  ASSERT_TRUE(producer.flush());
  ASSERT_TRUE(wait_for(all, [&] { return consumed_all(producer.acked(), all); })) << dump(all);

  const auto a_before = a->owned(), b_before = b->owned();
  const auto a_revocations = a->revocations().size(), b_revocations = b->revocations().size();
  std::atomic<bool> stop{false};
  std::thread background([&] {
    for (int i = 0; !stop; i += 12) {
      producer.send(topic, "b", i, 12, kPartitions);
      std::this_thread::sleep_for(20ms);
    }
  });
  auto c = consumer("c", group, topic, coop);
  all.push_back(c.get());
  const bool ok = wait_for(all, [&] {
    return settled({a.get(), b.get(), c.get()}, kPartitions) && a->owned().size() == 2 &&
           b->owned().size() == 2;
  });
  stop = true;
  background.join();
  ASSERT_TRUE(ok) << dump(all);
  ASSERT_TRUE(producer.flush());

  // Incremental: each old member gave up exactly one partition and kept the others throughout.
  for (auto [m, before, revocations_before] : {std::tuple{a.get(), a_before, a_revocations},
                                               std::tuple{b.get(), b_before, b_revocations}}) {
    const auto after = m->owned();
    EXPECT_TRUE(std::includes(before.begin(), before.end(), after.begin(), after.end()))
        << m->name() << " gained a partition";
    const auto revs = m->revocations();
    std::set<std::int32_t> revoked;
    for (std::size_t i = revocations_before; i < revs.size(); ++i)
      revoked.insert(revs[i].begin(), revs[i].end());
    EXPECT_EQ(revoked.size(), 1u) << m->name() << " should give up one partition only\n"
                                  << dump(all);
  }
  const auto acked = producer.acked();
  ASSERT_TRUE(wait_for(all, [&] { return consumed_all(acked, all); })) << dump(all);
  for (Member* m : all) EXPECT_EQ(m->terminate(), 0) << dump(all);
  const auto report = check_delivery(acked, all);
  EXPECT_EQ(report.problems, "") << dump(all);
}

// (e) librdkafka in C and confluent-kafka in Python, one group.
TEST_F(GroupTest, ACAndAPythonConsumerShareOneGroup) {
  start_broker();
  const std::string topic = "mixed", group = "g-mixed";
  constexpr int kPartitions = 4;
  create_topic(broker_->bootstrap(), topic, kPartitions);
  auto c = consumer("c-consumer", group, topic);
  auto py = python_consumer("py-consumer", group, topic);
  std::vector<Member*> all = {c.get(), py.get()};
  ASSERT_TRUE(wait_for(all, [&] { return settled(all, kPartitions); })) << dump(all);
  EXPECT_EQ(c->owned().size(), 2u);
  EXPECT_EQ(py->owned().size(), 2u);

  KeyedProducer producer(broker_->bootstrap());
  producer.send(topic, "m", 0, 800, kPartitions);
  ASSERT_TRUE(producer.flush());
  const auto acked = producer.acked();
  ASSERT_TRUE(wait_for(all, [&] { return consumed_all(acked, all); })) << dump(all);
  EXPECT_FALSE(c->keys().empty());
  EXPECT_FALSE(py->keys().empty());
  EXPECT_EQ(c->keys().size() + py->keys().size(), acked.size()) << "each record consumed once";
  EXPECT_EQ(py->terminate(), 0) << py->tail();
  EXPECT_TRUE(py->closed());
  // The C member takes over the Python member's partitions after its LeaveGroup.
  ASSERT_TRUE(wait_for(all, [&] {
    return c->owned().size() == static_cast<std::size_t>(kPartitions);
  })) << dump(all);
  EXPECT_EQ(c->terminate(), 0) << dump(all);
  const auto report = check_delivery(acked, all);
  EXPECT_EQ(report.problems, "") << dump(all);
  EXPECT_EQ(report.duplicates, 0);
}

// (f) kcat's balanced consumer (-G): consumes as a group member, commits, and a second run in the
// same group resumes after the committed offsets.
TEST_F(GroupTest, KcatConsumesAsAGroupAndASecondRunResumesAfterTheCommittedOffsets) {
  start_broker();
  const std::string topic = "kcat", group = "g-kcat";
  constexpr int kPartitions = 2;
  create_topic(broker_->bootstrap(), topic, kPartitions);
  KeyedProducer producer(broker_->bootstrap());
  producer.send(topic, "a", 0, 100, kPartitions);
  ASSERT_TRUE(producer.flush());

  // -e: exit once every assigned partition is at its end; offsets are committed on close. (Not
  // "-o beginning": in -G mode kcat then starts every assigned partition there, ignoring commits.)
  auto run_kcat = [&](const std::string& name) {
    Child kcat(name, {"/usr/bin/kcat", "-b", broker_->bootstrap(), "-G", group, topic, "-e", "-q",
                      "-f", "%p %o %k %s\\n", "-X", "auto.offset.reset=earliest", "-X",
                      "auto.commit.interval.ms=200", "-X", "heartbeat.interval.ms=500"});
    EXPECT_TRUE(kcat.start());
    const auto status = kcat.wait_exit(60s);
    EXPECT_EQ(status, std::optional<int>(0)) << kcat.tail();
    kcat.pump();
    std::map<std::string, PartitionOffset> seen;
    for (const auto& line : kcat.lines()) {
      const auto f = split(line, ' ');
      if (f.size() != 4) {
        ADD_FAILURE() << "unexpected kcat line: " << line;
        continue;
      }
      EXPECT_EQ(f[3], "v-" + f[2]);
      EXPECT_TRUE(seen.emplace(f[2], PartitionOffset{std::stoi(f[0]), std::stoll(f[1])}).second)
          << "twice: " << line;
    }
    return seen;
  };
  EXPECT_EQ(run_kcat("kcat-1"), producer.acked());
  EXPECT_EQ(committed(broker_->bootstrap(), group, topic, kPartitions),
            (std::map<std::int32_t, std::int64_t>{{0, 50}, {1, 50}}));

  producer.send(topic, "b", 0, 40, kPartitions);
  ASSERT_TRUE(producer.flush());
  std::map<std::string, PartitionOffset> second;
  for (const auto& [key, at] : producer.acked()) {
    if (key.rfind("b-", 0) == 0) second[key] = at;
  }
  EXPECT_EQ(run_kcat("kcat-2"), second) << "the second run reads only what came after the commit";
  EXPECT_EQ(committed(broker_->bootstrap(), group, topic, kPartitions),
            (std::map<std::int32_t, std::int64_t>{{0, 70}, {1, 70}}));
}

// group.initial.rebalance.delay.ms: members starting together land in one first generation.
TEST_F(GroupTest, InitialRebalanceDelayGathersMembersIntoTheFirstGeneration) {
  start_broker({"--set", "group.initial.rebalance.delay.ms=2000"});
  const std::string topic = "delayed", group = "g-delayed";
  create_topic(broker_->bootstrap(), topic, 4);
  const auto started = Clock::now();
  auto a = consumer("a", group, topic);
  auto b = consumer("b", group, topic);
  std::vector<Member*> all = {a.get(), b.get()};
  ASSERT_TRUE(wait_for(all, [&] { return settled(all, 4); })) << dump(all);
  EXPECT_GE(Clock::now() - started, 1900ms) << "the first rebalance did not wait for the delay";
  for (Member* m : all) {
    EXPECT_EQ(m->assignment_changes(), 1) << m->name() << " saw more than one generation\n"
                                          << dump(all);
    EXPECT_EQ(m->owned().size(), 2u);
  }
  for (Member* m : all) EXPECT_EQ(m->terminate(), 0) << dump(all);
}

// (g) The coordinator's error codes on raw requests (kafka-protocol.md §3.1, 3.2, 3.4).
TEST_F(GroupTest, RawRequestsGetTheCoordinatorsErrorCodes) {
  start_broker();
  const int port = broker_->port();
  const std::string group = "g-raw";
  RawClient c(port);
  ASSERT_TRUE(c.connected());

  // KIP-394: an empty member id gets MEMBER_ID_REQUIRED and an id to come back with.
  auto first = c.call<p::JoinGroupResponse>(join_request(group, ""), 4);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->error_code, kMemberIdRequired);
  const std::string member = first->member_id;
  ASSERT_FALSE(member.empty());
  auto joined = c.call<p::JoinGroupResponse>(join_request(group, member), 4);
  ASSERT_TRUE(joined.has_value());
  ASSERT_EQ(joined->error_code, 0);
  EXPECT_EQ(joined->member_id, member);
  EXPECT_EQ(joined->leader, member);
  EXPECT_EQ(joined->protocol_name, "range");
  const std::int32_t generation = joined->generation_id;
  EXPECT_EQ(generation, 1);

  // SyncGroup: a wrong generation, an unknown member, then the leader's real one.
  p::SyncGroupRequest sync;
  sync.group_id = group;
  sync.member_id = member;
  sync.generation_id = generation + 1;
  auto bad_sync = c.call<p::SyncGroupResponse>(sync, 3);
  ASSERT_TRUE(bad_sync.has_value());
  EXPECT_EQ(bad_sync->error_code, kIllegalGeneration);
  sync.generation_id = generation;
  sync.member_id = "nobody";
  auto stranger_sync = c.call<p::SyncGroupResponse>(sync, 3);
  ASSERT_TRUE(stranger_sync.has_value());
  EXPECT_EQ(stranger_sync->error_code, kUnknownMemberId);
  sync.member_id = member;
  sync.assignments.push_back({member, to_bytes("assignment")});
  auto synced = c.call<p::SyncGroupResponse>(sync, 3);
  ASSERT_TRUE(synced.has_value());
  EXPECT_EQ(synced->error_code, 0);
  EXPECT_EQ(as_chars(synced->assignment), "assignment");

  // Heartbeats.
  auto hb = [&](const std::string& g, std::int32_t gen, const std::string& m) {
    auto r = c.call<p::HeartbeatResponse>(heartbeat_request(g, gen, m), 3);
    return r ? r->error_code : std::int16_t{-1};
  };
  EXPECT_EQ(hb(group, generation, member), 0);
  EXPECT_EQ(hb(group, generation + 1, member), kIllegalGeneration);
  EXPECT_EQ(hb(group, generation - 1, member), kIllegalGeneration);
  EXPECT_EQ(hb(group, generation, "nobody"), kUnknownMemberId);
  EXPECT_EQ(hb("no-such-group", 1, member), kUnknownMemberId);
  // LeaveGroup v3+ of an unknown group: NONE at the top, UNKNOWN_MEMBER_ID per member (Kafka).
  p::LeaveGroupRequest stray;
  stray.group_id = "no-such-group";
  stray.members.push_back({member, std::nullopt});
  auto stray_left = c.call<p::LeaveGroupResponse>(stray, 3);
  ASSERT_TRUE(stray_left.has_value());
  EXPECT_EQ(stray_left->error_code, 0);
  ASSERT_EQ(stray_left->members.size(), 1u);
  EXPECT_EQ(stray_left->members[0].error_code, kUnknownMemberId);

  // A member whose protocols have nothing in common with the group's.
  auto odd = c.call<p::JoinGroupResponse>(join_request(group, "", {"other-assignor"}), 5);
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ(odd->error_code, kInconsistentGroupProtocol);
  auto describe = describe_group(port, group);
  ASSERT_TRUE(describe.has_value());
  EXPECT_EQ(describe->group_state, "Stable") << "the refused member changed nothing";
  EXPECT_EQ(describe->members.size(), 1u);

  // DeleteGroups refuses a group with members.
  p::DeleteGroupsRequest del;
  del.groups_names = {group};
  auto deleted = c.call<p::DeleteGroupsResponse>(del, 1);
  ASSERT_TRUE(deleted.has_value());
  ASSERT_EQ(deleted->results.size(), 1u);
  EXPECT_EQ(deleted->results[0].error_code, kNonEmptyGroup);

  // OffsetCommit with generation -1 (an admin or assign() commit) to an active group.
  create_topic(broker_->bootstrap(), "some-topic", 1);
  p::OffsetCommitRequest commit;
  commit.group_id = group;
  commit.generation_id_or_member_epoch = -1;
  commit.member_id = "";
  p::OffsetCommitRequest::OffsetCommitRequestPartition part;
  part.partition_index = 0;
  part.committed_offset = 5;
  commit.topics.push_back({"some-topic", {part}});
  auto outside = c.call<p::OffsetCommitResponse>(commit, 7);
  ASSERT_TRUE(outside.has_value());
  ASSERT_EQ(outside->topics.size(), 1u);
  ASSERT_EQ(outside->topics[0].partitions.size(), 1u);
  EXPECT_EQ(outside->topics[0].partitions[0].error_code, kIllegalGeneration);
  // The member's own commit with its generation is accepted.
  commit.generation_id_or_member_epoch = generation;
  commit.member_id = member;
  auto inside = c.call<p::OffsetCommitResponse>(commit, 7);
  ASSERT_TRUE(inside.has_value());
  EXPECT_EQ(inside->topics.at(0).partitions.at(0).error_code, 0);
  // A topic the broker does not have, and a partition beyond some-topic's one: error 3 for
  // each, and the member's commit of some-topic/0 in the same request still goes through.
  {
    p::OffsetCommitRequest mixed = commit;
    p::OffsetCommitRequest::OffsetCommitRequestPartition beyond = part;
    beyond.partition_index = 1;
    mixed.topics[0].partitions.push_back(beyond);
    mixed.topics.push_back({"no-such-topic", {part}});
    auto answered = c.call<p::OffsetCommitResponse>(mixed, 7);
    ASSERT_TRUE(answered.has_value());
    ASSERT_EQ(answered->topics.size(), 2u);
    ASSERT_EQ(answered->topics[0].partitions.size(), 2u);
    EXPECT_EQ(answered->topics[0].partitions[0].error_code, 0);
    EXPECT_EQ(answered->topics[0].partitions[1].error_code, kUnknownTopicOrPartition);
    ASSERT_EQ(answered->topics[1].partitions.size(), 1u);
    EXPECT_EQ(answered->topics[1].partitions[0].error_code, kUnknownTopicOrPartition);
    p::OffsetFetchRequest fetch;
    fetch.group_id = group;
    fetch.topics.reset();  // everything the group has committed
    auto fetched = c.call<p::OffsetFetchResponse>(fetch, 5);
    ASSERT_TRUE(fetched.has_value());
    ASSERT_EQ(fetched->topics.size(), 1u) << "nothing stored for no-such-topic";
    EXPECT_EQ(fetched->topics[0].name, "some-topic");
    ASSERT_EQ(fetched->topics[0].partitions.size(), 1u);
    EXPECT_EQ(fetched->topics[0].partitions[0].partition_index, 0);
    EXPECT_EQ(fetched->topics[0].partitions[0].committed_offset, 5);
  }

  // A malformed JoinGroup body: the broker closes that connection and keeps serving others.
  {
    RawClient bad(port);
    ASSERT_TRUE(bad.connected());
    Bytes frame = bad.frame(join_request(group, member), 5);
    // Cut the body inside its protocol list and fix the size prefix to match: the frame is
    // complete, the JoinGroup in it is not.
    frame.resize(frame.size() - 12);
    Bytes fixed;
    append_be<std::int32_t>(fixed, static_cast<std::int32_t>(frame.size() - 4));
    fixed.insert(fixed.end(), frame.begin() + 4, frame.end());
    ASSERT_TRUE(bad.send(fixed));
    EXPECT_TRUE(bad.closed_by_broker()) << "a malformed JoinGroup should close the connection";
  }
  RawClient other(port);
  auto still = other.call<p::HeartbeatResponse>(heartbeat_request(group, generation, member), 3);
  ASSERT_TRUE(still.has_value()) << "the broker stopped serving after a malformed request";
  EXPECT_EQ(still->error_code, 0) << "the group is unchanged";

  // LeaveGroup empties the group; then generation -1 commits and DeleteGroups succeed.
  p::LeaveGroupRequest leave;
  leave.group_id = group;
  leave.members.push_back({member, std::nullopt});
  auto left = c.call<p::LeaveGroupResponse>(leave, 3);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->error_code, 0);
  ASSERT_EQ(left->members.size(), 1u);
  EXPECT_EQ(left->members[0].error_code, 0);
  EXPECT_EQ(hb(group, generation, member), kUnknownMemberId) << "the member is gone";
  commit.generation_id_or_member_epoch = -1;
  commit.member_id = "";
  auto empty_commit = c.call<p::OffsetCommitResponse>(commit, 7);
  ASSERT_TRUE(empty_commit.has_value());
  EXPECT_EQ(empty_commit->topics.at(0).partitions.at(0).error_code, 0)
      << "an Empty group takes generation -1 commits";
  auto deleted_now = c.call<p::DeleteGroupsResponse>(del, 1);
  ASSERT_TRUE(deleted_now.has_value());
  EXPECT_EQ(deleted_now->results.at(0).error_code, 0);
}

}  // namespace
}  // namespace wharf::test
