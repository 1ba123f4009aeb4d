// `wharf topic create|list|describe|delete|alter|add-partitions`: topic administration over the
// Kafka Admin API (kafka_client.h), usable against any Kafka-compatible cluster. Runs on the main
// thread; each subcommand makes a few blocking requests and sets the exit code (0 or 1).
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/client_args.h"
#include "cli/commands.h"
#include "cli/kafka_client.h"
#include "cli/table.h"
#include "kafka/client/log_dirs.h"

namespace wharf::cli {
namespace {

// What `topic describe` prints for the size when DescribeLogDirs (the only Kafka API that reports
// bytes on disk) fails: the CLI says so rather than estimate.
constexpr const char* kSizeUnavailable = "n/a";

// Bytes on disk per partition, asked of each partition's leader (DescribeLogDirs); nullopt if
// any leader could not answer.
std::optional<std::map<std::int32_t, std::int64_t>> sizes_on_disk(Client& client,
                                                                  const ClusterMetadata& md,
                                                                  const TopicMetadata& t) {
  std::map<std::int32_t, std::vector<std::int32_t>> by_leader;
  for (const auto& p : t.partitions) by_leader[p.leader].push_back(p.id.value());
  std::map<std::int32_t, std::int64_t> out;
  for (const auto& [leader_id, partitions] : by_leader) {
    const std::int32_t leader = leader_id;  // clang 14 cannot capture a structured binding
    auto broker = std::find_if(md.brokers.begin(), md.brokers.end(),
                               [&](const auto& b) { return b.id == leader; });
    if (broker == md.brokers.end()) return std::nullopt;
    auto sizes = kafka::client::partition_sizes(broker->host, broker->port, t.name, partitions,
                                                client.timeout_ms());
    if (!sizes) return std::nullopt;
    for (std::int32_t id : partitions) {
      auto it = sizes->find(id);
      if (it == sizes->end()) return std::nullopt;
      out[id] = it->second;
    }
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_configs(
    const std::vector<std::string>& kvs) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : kvs) {
    WHARF_ASSIGN_OR_RETURN(auto parsed, parse_key_value(kv, "--config"));
    out.push_back(std::move(parsed));
  }
  return out;
}

std::string join_ids(const std::vector<std::int32_t>& ids) {
  return fmt::format("{}", fmt::join(ids, ","));
}

int replication_factor(const TopicMetadata& t) {
  return t.partitions.empty() ? 0 : static_cast<int>(t.partitions.front().replicas.size());
}

struct CreateArgs {
  std::string name;
  int partitions = -1;
  int replication_factor = -1;
  std::vector<std::string> configs;
};

int run_create(const CreateArgs& a) {
  const char* cmd = "topic create";
  auto configs = parse_configs(a.configs);
  if (!configs) return report_failure(cmd, configs.error());
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  if (auto s = (*client)->create_topic(a.name, a.partitions, a.replication_factor, *configs); !s) {
    return report_failure(cmd, s.error());
  }
  // With -1 the broker picked the counts; report what it created.
  auto t = (*client)->topic(a.name);
  if (t) {
    std::printf("created topic %s (%zu partition(s), replication factor %d)\n", a.name.c_str(),
                t->partitions.size(), replication_factor(*t));
  } else {
    std::printf("created topic %s\n", a.name.c_str());
  }
  return 0;
}

int run_list(bool all, bool json) {
  const char* cmd = "topic list";
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto md = (*client)->metadata();
  if (!md) return report_failure(cmd, md.error());
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  Table table({"NAME", "PARTITIONS", "REPLICAS"});
  for (const auto& t : md->topics) {
    if (t.internal() && !all) continue;
    if (json) {
      out.push_back({{"name", t.name},
                     {"partitions", t.partitions.size()},
                     {"replication_factor", replication_factor(t)},
                     {"internal", t.internal()}});
    } else {
      table.add(
          {t.name, std::to_string(t.partitions.size()), std::to_string(replication_factor(t))});
    }
  }
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    table.print(stdout);
  }
  return 0;
}

int describe_one(Client& client, const ClusterMetadata& md, const std::string& name, bool json,
                 bool first, nlohmann::ordered_json& json_out) {
  const char* cmd = "topic describe";
  const auto* t = md.find(name);
  if (t == nullptr)
    return report_failure(cmd, make_error(ErrorCode::kNotFound, "topic '{}' does not exist", name));
  auto configs = client.describe_topic_configs(name);
  if (!configs) return report_failure(cmd, configs.error());

  struct Row {
    const PartitionMetadata* p;
    std::optional<Watermarks> w;
    std::string error;
  };
  std::vector<Row> rows;
  std::int64_t records = 0;
  for (const auto& p : t->partitions) {
    auto w = client.watermarks(name, p.id);
    if (w) {
      records += w->high - w->low;
      rows.push_back(Row{&p, *w, p.error});
    } else {
      rows.push_back(Row{&p, std::nullopt, w.error().message()});
    }
  }

  const auto sizes = sizes_on_disk(client, md, *t);
  std::optional<std::int64_t> total_size;
  if (sizes) {
    total_size = 0;
    for (const auto& [_, bytes] : *sizes) *total_size += bytes;
  }

  bool errors = false;
  for (const auto& r : rows) errors = errors || !r.error.empty();
  if (json) {
    nlohmann::ordered_json parts = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
      nlohmann::ordered_json j = {{"partition", r.p->id.value()},
                                  {"leader", r.p->leader},
                                  {"replicas", r.p->replicas},
                                  {"isr", r.p->isrs}};
      j["log_start_offset"] =
          r.w ? nlohmann::ordered_json(r.w->low.value()) : nlohmann::ordered_json(nullptr);
      j["high_watermark"] =
          r.w ? nlohmann::ordered_json(r.w->high.value()) : nlohmann::ordered_json(nullptr);
      j["size_bytes"] = sizes ? nlohmann::ordered_json(sizes->at(r.p->id.value()))
                              : nlohmann::ordered_json(nullptr);
      if (!r.error.empty()) j["error"] = r.error;
      parts.push_back(std::move(j));
      if (!r.error.empty())
        std::fprintf(stderr, "wharf %s: %s partition %d: %s\n", cmd, name.c_str(), r.p->id.value(),
                     r.error.c_str());
    }
    nlohmann::ordered_json cfgs = nlohmann::ordered_json::array();
    for (const auto& c : *configs) {
      cfgs.push_back(
          {{"name", c.name},
           {"value", c.value ? nlohmann::ordered_json(*c.value) : nlohmann::ordered_json(nullptr)},
           {"source", c.source},
           {"read_only", c.read_only},
           {"sensitive", c.sensitive}});
    }
    json_out.push_back({{"name", name},
                        {"internal", t->internal()},
                        {"replication_factor", replication_factor(*t)},
                        {"records", records},
                        {"size_bytes", total_size ? nlohmann::ordered_json(*total_size)
                                                  : nlohmann::ordered_json(nullptr)},
                        {"partitions", std::move(parts)},
                        {"configs", std::move(cfgs)}});
    return errors ? 1 : 0;
  }

  if (!first) std::printf("\n");
  Table summary({"NAME", name});
  summary.add({"PARTITIONS", std::to_string(t->partitions.size())});
  summary.add({"REPLICATION-FACTOR", std::to_string(replication_factor(*t))});
  summary.add({"RECORDS", std::to_string(records)});
  summary.add({"SIZE", total_size ? std::to_string(*total_size) : kSizeUnavailable});
  if (t->internal()) summary.add({"INTERNAL", "yes"});
  summary.print(stdout);

  std::printf("\n");
  Table parts(
      {"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK", "RECORDS"});
  for (const auto& r : rows) {
    parts.add({std::to_string(r.p->id.value()), std::to_string(r.p->leader),
               join_ids(r.p->replicas), join_ids(r.p->isrs),
               r.w ? std::to_string(r.w->low.value()) : "-",
               r.w ? std::to_string(r.w->high.value()) : "-",
               r.w ? std::to_string(r.w->high - r.w->low) : "-"});
  }
  parts.print(stdout);
  if (errors) {
    for (const auto& r : rows) {
      if (!r.error.empty())
        std::fprintf(stderr, "wharf %s: %s partition %d: %s\n", cmd, name.c_str(), r.p->id.value(),
                     r.error.c_str());
    }
  }

  std::printf("\n");
  Table cfg({"CONFIG", "VALUE", "SOURCE"});
  for (const auto& c : *configs) {
    cfg.add({c.name, c.sensitive ? "(sensitive)" : c.value.value_or(""), c.source});
  }
  cfg.print(stdout);
  return errors ? 1 : 0;
}

int run_describe(const std::vector<std::string>& names, bool json) {
  const char* cmd = "topic describe";
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto md = (*client)->metadata();
  if (!md) return report_failure(cmd, md.error());
  int exit_code = 0;
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  bool first = true;
  for (const auto& name : names) {
    if (describe_one(**client, *md, name, json, first, out) != 0) exit_code = 1;
    first = false;
  }
  if (json) std::printf("%s\n", out.dump(2).c_str());
  return exit_code;
}

int run_delete(const std::vector<std::string>& names) {
  const char* cmd = "topic delete";
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto results = (*client)->delete_topics(names);
  if (!results) return report_failure(cmd, results.error());
  int exit_code = 0;
  for (const auto& r : *results) {
    if (r.error.empty()) {
      std::printf("deleted topic %s\n", r.name.c_str());
    } else {
      exit_code =
          report_failure(cmd, make_error(ErrorCode::kInvalidArgument, "{}: {}", r.name, r.error));
    }
  }
  return exit_code;
}

struct AlterArgs {
  std::string name;
  std::vector<std::string> set;
  std::vector<std::string> remove;
};

int run_alter(const AlterArgs& a) {
  const char* cmd = "topic alter";
  if (a.set.empty() && a.remove.empty()) {
    return report_failure(cmd,
                          make_error(ErrorCode::kInvalidArgument,
                                     "nothing to change: give --config k=v or --delete-config k"));
  }
  auto sets = parse_configs(a.set);
  if (!sets) return report_failure(cmd, sets.error());
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  if (auto t = (*client)->topic(a.name); !t) return report_failure(cmd, t.error());
  // librdkafka 2.0.2 has only the non-incremental AlterConfigs, which replaces the topic's whole
  // override set: read the current overrides, merge, and send them all.
  auto current = (*client)->describe_topic_configs(a.name);
  if (!current) return report_failure(cmd, current.error());
  std::map<std::string, std::string> overrides;
  std::set<std::string> unreadable;
  for (const auto& c : *current) {
    if (!c.is_topic_override()) continue;
    if (c.value) {
      overrides[c.name] = *c.value;
    } else {
      unreadable.insert(c.name);
    }
  }
  for (const auto& [k, v] : *sets) {
    overrides[k] = v;
    unreadable.erase(k);
  }
  for (const auto& k : a.remove) {
    if (overrides.erase(k) == 0 && unreadable.erase(k) == 0) {
      std::fprintf(stderr, "wharf %s: %s is not overridden on %s; nothing to delete\n", cmd,
                   k.c_str(), a.name.c_str());
    }
  }
  if (!unreadable.empty()) {
    return report_failure(
        cmd, make_error(ErrorCode::kInvalidArgument,
                        "override '{}' is sensitive, so its value cannot be read back and a "
                        "non-incremental AlterConfigs would drop it; set it again with --config",
                        *unreadable.begin()));
  }
  if (auto s = (*client)->alter_topic_configs(a.name, overrides); !s)
    return report_failure(cmd, s.error());
  std::printf("altered topic %s\n", a.name.c_str());
  auto after = (*client)->describe_topic_configs(a.name);
  if (!after) return report_failure(cmd, after.error());
  Table table({"OVERRIDE", "VALUE"});
  for (const auto& c : *after) {
    if (c.is_topic_override())
      table.add({c.name, c.sensitive ? "(sensitive)" : c.value.value_or("")});
  }
  if (table.rows() == 0) {
    std::printf("no overrides left: every config is the default\n");
  } else {
    table.print(stdout);
  }
  return 0;
}

int run_add_partitions(const std::string& name, int total, int add) {
  const char* cmd = "topic add-partitions";
  if ((total > 0) == (add > 0)) {
    return report_failure(
        cmd,
        make_error(ErrorCode::kInvalidArgument,
                   "give exactly one of --partitions N (new total) or --add N (how many more)"));
  }
  auto client = connect_client(ClientKind::kAdmin);
  if (!client) return report_failure(cmd, client.error());
  auto t = (*client)->topic(name);
  if (!t) return report_failure(cmd, t.error());
  const int current = static_cast<int>(t->partitions.size());
  const int wanted = add > 0 ? current + add : total;
  if (wanted <= current) {
    return report_failure(
        cmd, make_error(ErrorCode::kInvalidArgument,
                        "topic '{}' has {} partition(s); Kafka can only add partitions, so "
                        "--partitions must be more than {}",
                        name, current, current));
  }
  if (auto s = (*client)->create_partitions(name, wanted); !s)
    return report_failure(cmd, s.error());
  std::printf("topic %s: %d -> %d partitions\n", name.c_str(), current, wanted);
  return 0;
}

}  // namespace

void register_topic(CLI::App& app, int& exit_code) {
  auto* topic = app.add_subcommand(
      "topic", "Create, list, describe, alter and delete topics (Kafka Admin API)");
  topic->require_subcommand(1);
  topic->fallthrough();

  static CreateArgs create_args;
  auto* create = topic->add_subcommand("create", "Create a topic");
  create->add_option("name", create_args.name, "Topic name")->required();
  create
      ->add_option("-p,--partitions", create_args.partitions,
                   "Partition count (default: the broker's num.partitions)")
      ->check(CLI::PositiveNumber);
  create
      ->add_option("-r,--replication-factor", create_args.replication_factor,
                   "Replicas per partition (default: the broker's default)")
      ->check(CLI::PositiveNumber);
  create->add_option("-c,--config", create_args.configs,
                     "Topic config key=value, repeatable (e.g. retention.ms=86400000)");
  add_client_options(create);
  create->callback([&exit_code] { exit_code = run_create(create_args); });

  static bool list_all = false, list_json = false;
  auto* list = topic->add_subcommand(
      "list", "List topics with their partition counts and replication factors");
  list->alias("ls");
  list->add_flag("-a,--all", list_all, "Include internal topics (names starting with __)");
  list->add_flag("--json", list_json, "Print JSON instead of a table");
  add_client_options(list);
  list->callback([&exit_code] { exit_code = run_list(list_all, list_json); });

  static std::vector<std::string> describe_names;
  static bool describe_json = false;
  auto* describe = topic->add_subcommand(
      "describe",
      "Show a topic's partitions (leader, replicas, log start offset, high watermark) and configs");
  describe->add_option("names", describe_names, "Topic name(s)")->required();
  describe->add_flag("--json", describe_json, "Print JSON instead of tables");
  add_client_options(describe);
  describe->callback([&exit_code] { exit_code = run_describe(describe_names, describe_json); });

  static std::vector<std::string> delete_names;
  auto* del = topic->add_subcommand("delete", "Delete topics and all their records");
  del->add_option("names", delete_names, "Topic name(s)")->required();
  add_client_options(del);
  del->callback([&exit_code] { exit_code = run_delete(delete_names); });

  static AlterArgs alter_args;
  auto* alter = topic->add_subcommand("alter",
                                      "Set or delete topic config overrides (other overrides are "
                                      "kept: the current set is read, merged "
                                      "and written back with AlterConfigs)");
  alter->add_option("name", alter_args.name, "Topic name")->required();
  alter->add_option("-c,--config", alter_args.set, "Override to set, key=value, repeatable");
  alter->add_option("-d,--delete-config", alter_args.remove,
                    "Override to remove (back to the default), repeatable");
  add_client_options(alter);
  alter->callback([&exit_code] { exit_code = run_alter(alter_args); });

  static std::string add_name;
  static int add_total = 0, add_more = 0;
  auto* add = topic->add_subcommand(
      "add-partitions",
      "Add partitions to a topic (Kafka never removes them; keyed records may move partition)");
  add->add_option("name", add_name, "Topic name")->required();
  add->add_option("-p,--partitions", add_total, "The new total partition count")
      ->check(CLI::PositiveNumber);
  add->add_option("-n,--add", add_more, "How many partitions to add")->check(CLI::PositiveNumber);
  add_client_options(add);
  add->callback([&exit_code] { exit_code = run_add_partitions(add_name, add_total, add_more); });
}

}  // namespace wharf::cli
