// `wharf group list|describe|reset-offsets|delete`: consumer groups over the Kafka protocol
// (kafka_client.h), usable against any Kafka-compatible cluster. `describe` decodes each member's
// assignment (consumer_protocol.h) and computes lag per partition and skew per topic;
// `reset-offsets` is a dry run unless --execute, and refuses a group that has members. Runs on
// the main thread with blocking requests; sets the exit code (0 or 1).
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/client_args.h"
#include "cli/commands.h"
#include "cli/consumer_protocol.h"
#include "cli/kafka_client.h"
#include "cli/table.h"
#include "wharf/lag.h"

namespace wharf::cli {
namespace {

// Kafka reports a group that does not exist as "Dead" in DescribeGroups.
bool is_live(const GroupInfo& g) { return g.error.empty() && g.state != "Dead"; }

int run_list(bool json) {
  const char* cmd = "group list";
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto groups = (*client)->list_groups(std::nullopt);
  if (!groups) return report_failure(cmd, groups.error());
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& g : *groups) {
      out.push_back({{"group", g.group},
                     {"state", g.state},
                     {"protocol_type", g.protocol_type},
                     {"protocol", g.protocol},
                     {"members", g.members.size()},
                     {"coordinator", g.coordinator}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  Table table({"GROUP", "STATE", "PROTOCOL-TYPE", "PROTOCOL", "MEMBERS", "COORDINATOR"});
  for (const auto& g : *groups) {
    table.add({g.group, g.error.empty() ? g.state : "error: " + g.error,
               g.protocol_type.empty() ? "-" : g.protocol_type,
               g.protocol.empty() ? "-" : g.protocol, std::to_string(g.members.size()),
               std::to_string(g.coordinator)});
  }
  table.print(stdout);
  return 0;
}

struct PartitionRow {
  TopicPartition tp;
  std::optional<Offset> committed;
  std::optional<Offset> high_watermark;
  std::optional<std::int64_t> lag;
  std::string member;  // member id holding it now, if assigned
};

struct TopicRow {
  std::string topic;
  lag::LagSummary lags;  // of the partitions whose lag is known (wharf/lag.h, as the broker's)
};

int run_describe(const std::string& group, bool json) {
  const char* cmd = "group describe";
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto groups = (*client)->list_groups(group);
  if (!groups) return report_failure(cmd, groups.error());
  // Every partition of the cluster's non-internal topics: OffsetFetch answers only for the
  // partitions it is asked about (see Client::committed_offsets).
  auto md = (*client)->metadata();
  if (!md) return report_failure(cmd, md.error());
  std::vector<TopicPartition> all_partitions;
  for (const auto& t : md->topics) {
    if (t.internal()) continue;
    for (const auto& p : t.partitions) all_partitions.push_back(TopicPartition{t.name, p.id});
  }
  auto committed = (*client)->committed_offsets(group, all_partitions);
  if (!committed) return report_failure(cmd, committed.error());
  const GroupInfo* info = nullptr;
  for (const auto& g : *groups) {
    if (g.group == group) info = &g;
  }
  if ((info == nullptr || !is_live(*info)) && committed->empty()) {
    return report_failure(cmd,
                          make_error(ErrorCode::kNotFound, "group '{}' does not exist", group));
  }
  if (info != nullptr && !info->error.empty()) {
    return report_failure(
        cmd, make_error(ErrorCode::kInvalidArgument, "group '{}': {}", group, info->error));
  }

  // Members and the partitions each one holds.
  struct MemberRow {
    const GroupMember* member;
    std::optional<ConsumerAssignment> assignment;
    std::string note;  // why the assignment is not shown
  };
  std::vector<MemberRow> members;
  std::map<TopicPartition, std::string> owner;
  const bool consumer_protocol =
      info != nullptr && (info->protocol_type == "consumer" || info->protocol_type.empty());
  if (info != nullptr) {
    for (const auto& m : info->members) {
      MemberRow row{&m, std::nullopt, {}};
      if (!consumer_protocol) {
        row.note =
            fmt::format("({} bytes of protocol type {})", m.assignment.size(), info->protocol_type);
      } else if (auto a = decode_consumer_assignment(as_bytes(m.assignment)); a) {
        for (const auto& [topic, partitions] : a->topics) {
          for (auto p : partitions) owner[TopicPartition{topic, PartitionId(p)}] = m.member_id;
        }
        row.assignment = std::move(*a);
      } else {
        row.note = fmt::format("(undecodable: {})", a.error().message());
      }
      members.push_back(std::move(row));
    }
  }

  // Every partition of every topic the group holds or has committed, so skew covers whole topics.
  std::set<std::string> topics;
  for (const auto& [tp, offset] : *committed) topics.insert(tp.topic);
  for (const auto& [tp, member] : owner) topics.insert(tp.topic);
  std::vector<PartitionRow> rows;
  std::map<std::string, TopicRow> per_topic;
  std::int64_t total_lag = 0;
  int exit_code = 0;
  for (const auto& topic : topics) {
    std::set<PartitionId> ids;
    if (const auto* t = md->find(topic); t != nullptr) {
      for (const auto& p : t->partitions) ids.insert(p.id);
    }
    auto& tr = per_topic[topic];
    tr.topic = topic;
    for (auto id : ids) {
      PartitionRow row;
      row.tp = TopicPartition{topic, id};
      if (auto it = committed->find(row.tp); it != committed->end()) row.committed = it->second;
      if (auto it = owner.find(row.tp); it != owner.end()) row.member = it->second;
      if (md->find(topic) != nullptr) {
        auto w = (*client)->watermarks(topic, id);
        if (w) {
          row.high_watermark = w->high;
        } else {
          std::fprintf(stderr, "wharf %s: %s\n", cmd, w.error().message().c_str());
          exit_code = 1;
        }
      }
      if (row.committed && row.high_watermark) {
        row.lag = lag::partition_lag(row.high_watermark->value(), row.committed->value());
        tr.lags.add(*row.lag);
        total_lag += *row.lag;
      }
      rows.push_back(std::move(row));
    }
  }

  auto opt = [](const auto& v) {
    return v ? std::to_string(static_cast<long long>(v->value())) : std::string("-");
  };
  const std::string state = info != nullptr && is_live(*info) ? info->state : "Empty";
  if (json) {
    nlohmann::ordered_json out;
    out["group"] = group;
    out["state"] = state;
    out["protocol_type"] = info != nullptr ? info->protocol_type : "";
    out["protocol"] = info != nullptr ? info->protocol : "";
    out["coordinator"] = info != nullptr ? info->coordinator : -1;
    out["total_lag"] = total_lag;
    out["members"] = nlohmann::ordered_json::array();
    for (const auto& m : members) {
      nlohmann::ordered_json assignment = nlohmann::ordered_json::array();
      if (m.assignment) {
        for (const auto& [topic, partitions] : m.assignment->topics) {
          assignment.push_back({{"topic", topic}, {"partitions", partitions}});
        }
      }
      out["members"].push_back({{"member_id", m.member->member_id},
                                {"client_id", m.member->client_id},
                                {"host", m.member->client_host},
                                {"assignment", std::move(assignment)}});
    }
    out["partitions"] = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
      out["partitions"].push_back(
          {{"topic", r.tp.topic},
           {"partition", r.tp.partition.value()},
           {"committed", r.committed ? nlohmann::ordered_json(r.committed->value())
                                     : nlohmann::ordered_json(nullptr)},
           {"high_watermark", r.high_watermark ? nlohmann::ordered_json(r.high_watermark->value())
                                               : nlohmann::ordered_json(nullptr)},
           {"lag", r.lag ? nlohmann::ordered_json(*r.lag) : nlohmann::ordered_json(nullptr)},
           {"member_id", r.member.empty() ? nlohmann::ordered_json(nullptr)
                                          : nlohmann::ordered_json(r.member)}});
    }
    out["topics"] = nlohmann::ordered_json::array();
    for (const auto& [name, t] : per_topic) {
      out["topics"].push_back({{"topic", name},
                               {"lag", t.lags.sum},
                               {"lag_max", t.lags.max},
                               {"lag_mean", t.lags.mean()},
                               {"lag_skew", t.lags.skew()}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return exit_code;
  }

  Table summary({"GROUP", group});
  summary.add({"STATE", state});
  if (info != nullptr && is_live(*info)) {
    summary.add({"PROTOCOL",
                 info->protocol_type.empty()
                     ? "-"
                     : info->protocol_type + (info->protocol.empty() ? "" : "/" + info->protocol)});
    summary.add(
        {"COORDINATOR", fmt::format("{} ({})", info->coordinator, info->coordinator_address)});
  }
  summary.add({"MEMBERS", std::to_string(members.size())});
  summary.add({"TOTAL-LAG", std::to_string(total_lag)});
  summary.print(stdout);

  if (!members.empty()) {
    std::printf("\n");
    Table table({"MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"});
    for (const auto& m : members) {
      table.add({m.member->member_id, m.member->client_id, m.member->client_host,
                 m.assignment ? (m.assignment->topics.empty() ? "-" : to_string(*m.assignment))
                              : m.note});
    }
    table.print(stdout);
  }
  if (!rows.empty()) {
    std::printf("\n");
    Table table({"TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "MEMBER-ID"});
    for (const auto& r : rows) {
      table.add({r.tp.topic, std::to_string(r.tp.partition.value()), opt(r.committed),
                 opt(r.high_watermark), r.lag ? std::to_string(*r.lag) : "-",
                 r.member.empty() ? "-" : r.member});
    }
    table.print(stdout);
    std::printf("\n");
    Table skew({"TOPIC", "LAG", "LAG-MAX", "LAG-MEAN", "SKEW"});
    for (const auto& [name, t] : per_topic) {
      skew.add({name, std::to_string(t.lags.sum), std::to_string(t.lags.max),
                fmt::format("{:.2f}", t.lags.mean()), fmt::format("{:.2f}", t.lags.skew())});
    }
    skew.print(stdout);
  }
  return exit_code;
}

struct ResetArgs {
  std::string group;
  std::string topic;
  std::vector<int> partitions;
  bool to_earliest = false;
  bool to_latest = false;
  std::string to_datetime;
  std::int64_t to_timestamp = -1;
  std::int64_t to_offset = -1;
  bool execute = false;
};

int run_reset(const ResetArgs& a) {
  const char* cmd = "group reset-offsets";
  const int targets = int{a.to_earliest} + int{a.to_latest} + int{!a.to_datetime.empty()} +
                      int{a.to_timestamp >= 0} + int{a.to_offset >= 0};
  if (targets != 1) {
    return report_failure(
        cmd, make_error(ErrorCode::kInvalidArgument,
                        "give exactly one of --to-earliest, --to-latest, --to-datetime, "
                        "--to-timestamp, --to-offset"));
  }
  std::optional<std::int64_t> timestamp_ms;
  if (!a.to_datetime.empty()) {
    auto t = parse_datetime_ms(a.to_datetime);
    if (!t) return report_failure(cmd, t.error().with_context("--to-datetime"));
    timestamp_ms = *t;
  } else if (a.to_timestamp >= 0) {
    timestamp_ms = a.to_timestamp;
  }

  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto topic = (*client)->topic(a.topic);
  if (!topic) return report_failure(cmd, topic.error());
  std::vector<PartitionId> partitions;
  if (a.partitions.empty()) {
    for (const auto& p : topic->partitions) partitions.push_back(p.id);
  } else {
    for (int p : std::set<int>(a.partitions.begin(), a.partitions.end())) {
      if (p < 0 || static_cast<std::size_t>(p) >= topic->partitions.size()) {
        return report_failure(cmd, make_error(ErrorCode::kInvalidArgument,
                                              "topic '{}' has {} partition(s); no partition {}",
                                              a.topic, topic->partitions.size(), p));
      }
      partitions.push_back(PartitionId(p));
    }
  }

  // Kafka accepts an offset commit from outside the group (generation -1) only while the group
  // has no members; a running consumer would overwrite the reset with its next commit anyway.
  auto groups = (*client)->list_groups(a.group);
  if (!groups) return report_failure(cmd, groups.error());
  for (const auto& g : *groups) {
    if (g.group == a.group && is_live(g) && !g.members.empty()) {
      return report_failure(
          cmd, make_error(ErrorCode::kInvalidArgument,
                          "group '{}' has {} active member(s) (state {}); stop its consumers "
                          "first: offsets can only be reset while the group is empty",
                          a.group, g.members.size(), g.state));
    }
  }
  std::vector<TopicPartition> asked;
  for (auto p : partitions) asked.push_back(TopicPartition{a.topic, p});
  auto committed = (*client)->committed_offsets(a.group, asked);
  if (!committed) return report_failure(cmd, committed.error());

  std::map<PartitionId, std::optional<Offset>> by_time;
  if (timestamp_ms) {
    auto found = (*client)->offsets_for_time(a.topic, partitions, *timestamp_ms);
    if (!found) return report_failure(cmd, found.error());
    by_time = std::move(*found);
  }
  std::map<TopicPartition, Offset> wanted;
  Table table({"TOPIC", "PARTITION", "CURRENT", "NEW", "LOG-START-OFFSET", "HIGH-WATERMARK"});
  for (auto p : partitions) {
    auto w = (*client)->watermarks(a.topic, p);
    if (!w) return report_failure(cmd, w.error());
    Offset target = w->high;
    if (a.to_earliest) {
      target = w->low;
    } else if (a.to_offset >= 0) {
      target = std::clamp(Offset(a.to_offset), w->low, w->high);
      if (target != Offset(a.to_offset)) {
        std::fprintf(stderr,
                     "wharf %s: partition %d holds offsets %lld..%lld; %lld clamped to %lld\n", cmd,
                     p.value(), static_cast<long long>(w->low.value()),
                     static_cast<long long>(w->high.value()), static_cast<long long>(a.to_offset),
                     static_cast<long long>(target.value()));
      }
    } else if (timestamp_ms) {
      // No record at or after the time yet: the end, so the group reads only what comes next.
      auto it = by_time.find(p);
      target = (it != by_time.end() && it->second) ? *it->second : w->high;
    }
    TopicPartition tp{a.topic, p};
    auto current = committed->find(tp);
    table.add({a.topic, std::to_string(p.value()),
               current != committed->end() ? std::to_string(current->second.value()) : "-",
               std::to_string(target.value()), std::to_string(w->low.value()),
               std::to_string(w->high.value())});
    wanted[tp] = target;
  }
  table.print(stdout);
  if (!a.execute) {
    std::printf("dry run: nothing committed; add --execute to commit these offsets for group %s\n",
                a.group.c_str());
    return 0;
  }
  auto results = (*client)->alter_group_offsets(a.group, wanted);
  if (!results) return report_failure(cmd, results.error());
  int exit_code = 0;
  for (const auto& r : *results) {
    if (!r.error.empty())
      exit_code =
          report_failure(cmd, make_error(ErrorCode::kInvalidArgument, "{}: {}", r.name, r.error));
  }
  if (exit_code == 0)
    std::printf("committed %zu offset(s) for group %s\n", wanted.size(), a.group.c_str());
  return exit_code;
}

int run_delete(const std::vector<std::string>& names) {
  const char* cmd = "group delete";
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto results = (*client)->delete_groups(names);
  if (!results) return report_failure(cmd, results.error());
  int exit_code = 0;
  for (const auto& r : *results) {
    if (r.error.empty()) {
      std::printf("deleted group %s\n", r.name.c_str());
    } else {
      exit_code =
          report_failure(cmd, make_error(ErrorCode::kInvalidArgument, "{}: {}", r.name, r.error));
    }
  }
  return exit_code;
}

}  // namespace

void register_group(CLI::App& app, int& exit_code) {
  auto* group = app.add_subcommand("group", "List, describe, reset and delete consumer groups");
  group->require_subcommand(1);
  group->fallthrough();

  static bool list_json = false;
  auto* list =
      group->add_subcommand("list", "List groups with their state, protocol and member count");
  list->alias("ls");
  list->add_flag("--json", list_json, "Print JSON instead of a table");
  add_client_options(list);
  list->callback([&exit_code] { exit_code = run_list(list_json); });

  static std::string describe_name;
  static bool describe_json = false;
  auto* describe = group->add_subcommand(
      "describe",
      "Show a group's state, members and their assigned partitions, and per partition the "
      "committed "
      "offset, high watermark and lag, with lag skew per topic (max partition lag / mean lag)");
  describe->add_option("group", describe_name, "Group id")->required();
  describe->add_flag("--json", describe_json, "Print JSON instead of tables");
  add_client_options(describe);
  describe->callback([&exit_code] { exit_code = run_describe(describe_name, describe_json); });

  static ResetArgs reset;
  auto* r = group->add_subcommand(
      "reset-offsets",
      "Move a group's committed offsets on a topic. Prints current -> new offsets and commits "
      "nothing unless --execute; the group must have no active members");
  r->add_option("group", reset.group, "Group id")->required();
  r->add_option("-t,--topic", reset.topic, "Topic whose offsets to move")->required();
  r->add_option("-p,--partition", reset.partitions,
                "Only this partition, repeatable (default: all)");
  r->add_flag("--to-earliest", reset.to_earliest, "To each partition's log start offset");
  r->add_flag("--to-latest", reset.to_latest,
              "To each partition's high watermark (skip everything so far)");
  r->add_option(
      "--to-datetime", reset.to_datetime,
      "To the first record at or after this ISO 8601 time (2024-05-01T12:00:00Z; no zone = UTC)");
  r->add_option("--to-timestamp", reset.to_timestamp,
                "As --to-datetime, in milliseconds since the epoch")
      ->check(CLI::NonNegativeNumber);
  r->add_option("--to-offset", reset.to_offset,
                "To this offset (clamped into each partition's range)")
      ->check(CLI::NonNegativeNumber);
  r->add_flag("--execute", reset.execute, "Commit the new offsets (default: dry run)");
  add_client_options(r);
  r->callback([&exit_code] { exit_code = run_reset(reset); });

  static std::vector<std::string> delete_names;
  auto* del = group->add_subcommand(
      "delete", "Delete groups and their committed offsets (the groups must be empty)");
  del->add_option("groups", delete_names, "Group id(s)")->required();
  add_client_options(del);
  del->callback([&exit_code] { exit_code = run_delete(delete_names); });
}

}  // namespace wharf::cli
