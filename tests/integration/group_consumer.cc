// A librdkafka high-level consumer (rd_kafka_subscribe) run as its own process by
// group_test.cc, so that tests can start, stop (SIGTERM), and kill (SIGKILL) group members
// independently. It writes one line per event to stdout and flushes each line:
//
//   assigned <p,p,...>        partitions added to this member ("-" for none)
//   revoked <p,p,...>         partitions taken away (eager: all of them; cooperative: some)
//   rec <partition> <offset> <key> <value>     one consumed record ("-" for a null key)
//   commit <p>:<o>,<p>:<o>    offsets the broker acknowledged (the next offset to read)
//   commit-failed <p>:<error name>,...         offsets it refused
//   error <text>              a consumer error event (not fatal)
//   member <member id>        after an assignment change (not printed during the final close)
//   closed                    rd_kafka_consumer_close returned (the member left the group)
//
// Commits: after each batch of records (--commit batch, the default), every N ms
// (--commit interval:N), only when partitions are revoked and at exit (--commit revoke), or by
// librdkafka's auto-commit (--auto-commit, printed from the offset-commit callback). With manual
// commits, offsets still pending when partitions are revoked are committed synchronously in the
// rebalance callback first, so a clean hand-over never re-delivers.
//
// --commit revoke is for cooperative-sticky with Debian's librdkafka 2.0.2: a commit sent while
// the member waits in JoinGroup carries the old generation, the broker answers
// ILLEGAL_GENERATION (as Kafka does), and librdkafka then drops its whole assignment and
// rejoins (confluentinc/librdkafka#4059, fixed upstream by #4908). Committing only in the
// revocation callback, which runs between rebalances, keeps the rebalance incremental.
//
// SIGTERM or SIGINT ends the poll loop; the consumer is then closed, which sends LeaveGroup
// (unless group.instance.id is set: static members do not leave). Exit status: 0 after a clean
// close, 1 if the close failed, 2 on bad arguments, 3 if librdkafka refused the configuration,
// 4 if the final commit and close took longer than 10 s ("close-timeout"). Setting
// WHARF_GROUP_CONSUMER_DEBUG (e.g. to "cgrp") turns on librdkafka's debug output on stderr.
//
// One thread (main) plus librdkafka's own; everything prints from main (callbacks run inside
// rd_kafka_consumer_poll). Keeps no state on disk.
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// A final commit and close that hang end the process with a line saying so, rather than leaving
// the test to guess.
constexpr unsigned kCloseSecondsMax = 10;
void on_close_timeout(int) {
  static const char kLine[] = "close-timeout\n";
  (void)!::write(STDOUT_FILENO, kLine, sizeof kLine - 1);
  ::_exit(4);
}

struct Options {
  std::string bootstrap, group, topic;
  std::string strategy;  // empty: librdkafka's default ("range,roundrobin")
  std::string instance_id, client_id = "group-consumer";
  std::string commit = "batch";  // batch | interval:<ms> | revoke | none
  bool auto_commit = false;
  int session_timeout_ms = 6000;
  int heartbeat_interval_ms = 500;  // quick rebalances in tests; Kafka's default is 3000
  int max_seconds = 300;            // a bound in case the test that started us died
  std::vector<std::pair<std::string, std::string>> extra;
};

void usage() {
  std::fprintf(stderr,
               "usage: group_consumer --bootstrap HOST:PORT --group G --topic T [--strategy S]\n"
               "  [--auto-commit] [--commit batch|interval:MS|revoke|none] [--instance-id ID]\n"
               "  [--client-id ID] [--session-timeout-ms N] [--heartbeat-interval-ms N]\n"
               "  [--max-seconds N] [--set key=value]...\n");
}

bool parse(int argc, char** argv, Options& o) {
  const std::map<std::string, std::string*> strings = {
      {"--bootstrap", &o.bootstrap}, {"--group", &o.group},   {"--topic", &o.topic},
      {"--strategy", &o.strategy},   {"--commit", &o.commit}, {"--instance-id", &o.instance_id},
      {"--client-id", &o.client_id},
  };
  const std::map<std::string, int*> ints = {
      {"--session-timeout-ms", &o.session_timeout_ms},
      {"--heartbeat-interval-ms", &o.heartbeat_interval_ms},
      {"--max-seconds", &o.max_seconds},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--auto-commit") {
      o.auto_commit = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (auto s = strings.find(a); s != strings.end()) {
      *s->second = value;
    } else if (auto n = ints.find(a); n != ints.end()) {
      *n->second = std::atoi(value.c_str());
    } else if (a == "--set" && value.find('=') != std::string::npos) {
      o.extra.emplace_back(value.substr(0, value.find('=')), value.substr(value.find('=') + 1));
    } else {
      return false;
    }
  }
  const bool commit_ok = o.commit == "batch" || o.commit == "revoke" || o.commit == "none" ||
                         o.commit.rfind("interval:", 0) == 0;
  return !o.bootstrap.empty() && !o.group.empty() && !o.topic.empty() && commit_ok;
}

// Every line is written whole and flushed at once: the test reads them as they come.
void emit(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string partitions_text(const rd_kafka_topic_partition_list_t* list) {
  std::string out;
  for (int i = 0; list && i < list->cnt; ++i) {
    if (!out.empty()) out += ',';
    out += std::to_string(list->elems[i].partition);
  }
  return out.empty() ? "-" : out;
}

// Offsets consumed but not yet committed: partition -> next offset to read.
struct Pending {
  std::string topic;
  std::map<std::int32_t, std::int64_t> next;
};
Pending g_pending;

void print_commit_result(const rd_kafka_topic_partition_list_t* offsets) {
  std::string ok, failed;
  for (int i = 0; i < offsets->cnt; ++i) {
    const auto& e = offsets->elems[i];
    if (e.offset < 0 && e.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;  // nothing was committed
    std::string& out = e.err ? failed : ok;
    if (!out.empty()) out += ',';
    out += std::to_string(e.partition) + ':' +
           (e.err ? rd_kafka_err2name(e.err) : std::to_string(e.offset));
  }
  if (!ok.empty()) emit("commit " + ok);
  if (!failed.empty()) emit("commit-failed " + failed);
}

// Synchronously commits the pending offsets of `only` (every pending partition if null).
void commit_pending(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* only) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
  for (auto it = g_pending.next.begin(); it != g_pending.next.end();) {
    bool wanted = only == nullptr;
    for (int i = 0; only && i < only->cnt; ++i)
      wanted = wanted || only->elems[i].partition == it->first;
    if (!wanted) {
      ++it;
      continue;
    }
    rd_kafka_topic_partition_list_add(list, g_pending.topic.c_str(), it->first)->offset =
        it->second;
    it = g_pending.next.erase(it);
  }
  if (list->cnt > 0) {
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk, list, 0 /* synchronous */);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      // Per-partition errors are set too when the broker answered; otherwise mark them all.
      for (int i = 0; i < list->cnt; ++i) {
        if (!list->elems[i].err) list->elems[i].err = err;
      }
    }
    print_commit_result(list);
  }
  rd_kafka_topic_partition_list_destroy(list);
}

bool g_manual_commit = true;
// Set by the rebalance callback; the poll loop then prints the member id. rd_kafka_memberid()
// must not be called from the callback itself: it waits for the consumer-group thread, which
// during rd_kafka_consumer_close() may already have terminated, and then waits forever.
bool g_assignment_changed = false;

void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                  rd_kafka_topic_partition_list_t* partitions, void*) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, partitions);
      if (e) {
        emit(std::string("error incremental_assign: ") + rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk, partitions);
    }
    emit("assigned " + partitions_text(partitions));
  } else {
    // Hand over cleanly: what this member consumed is committed before the partitions go.
    if (g_manual_commit && !rd_kafka_assignment_lost(rk)) commit_pending(rk, partitions);
    for (int i = 0; i < partitions->cnt; ++i) g_pending.next.erase(partitions->elems[i].partition);
    emit("revoked " + partitions_text(partitions));
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions);
      if (e) {
        emit(std::string("error incremental_unassign: ") + rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
  g_assignment_changed = true;
}

// Auto-commit results (only installed with --auto-commit).
void on_offset_commit(rd_kafka_t*, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t* offsets, void*) {
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  print_commit_result(offsets);
}

}  // namespace

int main(int argc, char** argv) {
  // Die with the test that started us, whatever happened to it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  Options o;
  if (!parse(argc, argv, o)) {
    usage();
    return 2;
  }
  g_manual_commit = !o.auto_commit && o.commit != "none";
  g_pending.topic = o.topic;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", o.bootstrap},
      {"group.id", o.group},
      {"client.id", o.client_id},
      {"enable.auto.commit", o.auto_commit ? "true" : "false"},
      {"auto.commit.interval.ms", "500"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      {"session.timeout.ms", std::to_string(o.session_timeout_ms)},
      {"heartbeat.interval.ms", std::to_string(o.heartbeat_interval_ms)},
      {"topic.metadata.refresh.interval.ms", "2000"},
  };
  if (!o.strategy.empty()) settings.emplace_back("partition.assignment.strategy", o.strategy);
  if (!o.instance_id.empty()) settings.emplace_back("group.instance.id", o.instance_id);
  // librdkafka's debug contexts on stderr (e.g. "cgrp"), for diagnosing a failing test.
  if (const char* debug = std::getenv("WHARF_GROUP_CONSUMER_DEBUG"))
    settings.emplace_back("debug", debug);
  settings.insert(settings.end(), o.extra.begin(), o.extra.end());
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "group_consumer: %s=%s: %s\n", k.c_str(), v.c_str(), errstr);
      return 3;
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  if (o.auto_commit) rd_kafka_conf_set_offset_commit_cb(conf, on_offset_commit);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    std::fprintf(stderr, "group_consumer: %s\n", errstr);
    return 3;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics)) {
    std::fprintf(stderr, "group_consumer: subscribe: %s\n", rd_kafka_err2str(err));
    return 3;
  }
  rd_kafka_topic_partition_list_destroy(topics);

  using Clock = std::chrono::steady_clock;
  const auto give_up = Clock::now() + std::chrono::seconds(o.max_seconds);
  const bool interval_mode = o.commit.rfind("interval:", 0) == 0;
  const auto interval =
      std::chrono::milliseconds(interval_mode ? std::atoi(o.commit.c_str() + 9) : 0);
  auto last_commit = Clock::now();
  constexpr int kBatchMax = 500;  // records per batch before a commit
  while (!g_stop && Clock::now() < give_up) {
    int n = 0;
    // One batch: wait briefly for the first record, then take whatever is already there.
    for (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100); m;
         m = rd_kafka_consumer_poll(rk, 0)) {
      if (m->err) {
        emit(std::string("error ") + rd_kafka_message_errstr(m));
      } else {
        const std::string key =
            m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : "-";
        const std::string value(static_cast<const char*>(m->payload), m->len);
        emit("rec " + std::to_string(m->partition) + " " + std::to_string(m->offset) + " " + key +
             " " + value);
        g_pending.next[m->partition] = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
      if (++n >= kBatchMax || g_stop) break;
    }
    if (g_assignment_changed && !g_stop) {
      g_assignment_changed = false;
      char* member = rd_kafka_memberid(rk);
      emit(std::string("member ") + (member ? member : "-"));
      if (member) rd_kafka_mem_free(rk, member);
    }
    if (!g_manual_commit || g_pending.next.empty() || o.commit == "revoke") continue;
    if (!interval_mode || Clock::now() - last_commit >= interval) {
      commit_pending(rk, nullptr);
      last_commit = Clock::now();
    }
  }
  struct sigaction alarm_action {};
  alarm_action.sa_handler = on_close_timeout;
  ::sigaction(SIGALRM, &alarm_action, nullptr);
  ::alarm(kCloseSecondsMax);
  if (g_manual_commit) commit_pending(rk, nullptr);
  const rd_kafka_resp_err_t close_err = rd_kafka_consumer_close(rk);
  emit(close_err ? std::string("close-failed ") + rd_kafka_err2name(close_err) : "closed");
  rd_kafka_destroy(rk);
  return close_err ? 1 : 0;
}
