#include "admin/admin_api.h"

#include <charconv>
#include <optional>

#include <nlohmann/json.hpp>

#include "base/admin_routes.h"
#include "base/metrics.h"
#include "kafka/group/offsets_codec.h"

namespace wharf::admin {
namespace group = kafka::group;
using nlohmann::json;

namespace {

HttpResponse json_response(const json& j, int status = 200) {
  // Names come from clients (group ids, member ids, client ids) and may be any bytes: invalid
  // UTF-8 is replaced with U+FFFD here, at the boundary, instead of failing the whole answer.
  return {status, "application/json", j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"};
}

HttpResponse not_found(const std::string& what) { return json_response({{"error", what}}, 404); }

// "%41b" -> "Ab"; nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
    if (ec != std::errc() || end != s.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

}  // namespace

AdminApi::AdminApi(storage::LogManager& log, kafka::KafkaServer& server)
    : log_(log), server_(server) {
  collector_id_ = metrics::registry().add_collector([this] {
    using metrics::CollectedFamily;
    CollectedFamily size{
        "wharf_partition_size_bytes", "Bytes stored in the partition's segments.", "gauge", {}};
    CollectedFamily hwm{"wharf_partition_high_watermark",
                        "High watermark: the offset after the last record consumers can read.",
                        "gauge",
                        {}};
    CollectedFamily start{
        "wharf_partition_log_start_offset", "The first offset still stored.", "gauge", {}};
    CollectedFamily segments{
        "wharf_partition_segments", "Segment files of the partition.", "gauge", {}};
    for (const auto& t : log_.topics()) {
      for (std::int32_t p = 0; p < t.partitions; ++p) {
        auto part = log_.partition(t.name, PartitionId(p));
        if (!part) continue;
        metrics::Labels labels = {{"topic", t.name}, {"partition", std::to_string(p)}};
        size.samples.push_back({size.name, labels, static_cast<double>((*part)->size_bytes())});
        hwm.samples.push_back(
            {hwm.name, labels, static_cast<double>((*part)->high_watermark().value())});
        start.samples.push_back(
            {start.name, labels, static_cast<double>((*part)->log_start_offset().value())});
        segments.samples.push_back(
            {segments.name, labels, static_cast<double>((*part)->segment_count())});
      }
    }
    CollectedFamily lag{
        "wharf_group_lag",
        "Records between a group's committed offset and the high watermark, per partition.",
        "gauge",
        {}};
    CollectedFamily committed{
        "wharf_group_committed_offset", "A group's committed offset, per partition.", "gauge", {}};
    CollectedFamily lag_skew{
        "wharf_group_topic_lag_skew",
        "Largest partition lag over the mean lag of a group's topic (1 = even).",
        "gauge",
        {}};
    CollectedFamily rate_skew{
        "wharf_group_topic_rate_skew",
        "Fastest partition's consumption rate over the mean of a group's topic (1 = even).",
        "gauge",
        {}};
    CollectedFamily total{"wharf_group_total_lag", "Sum of a group's partition lags.", "gauge", {}};
    CollectedFamily members{"wharf_group_members", "Members of the group.", "gauge", {}};
    CollectedFamily generation{"wharf_group_generation", "The group's generation id.", "gauge", {}};
    CollectedFamily rebalances{"wharf_group_rebalances_total",
                               "Rebalances the group completed since the broker started.",
                               "counter",
                               {}};
    CollectedFamily rebalance_seconds{"wharf_group_last_rebalance_duration_seconds",
                                      "How long the group's last rebalance took.",
                                      "gauge",
                                      {}};
    CollectedFamily state{"wharf_group_state", "1 for the group's current state.", "gauge", {}};
    const auto groups = server_.group_metrics();
    for (const auto& g : groups) {
      metrics::Labels gl = {{"group", g.group_id}};
      members.samples.push_back({members.name, gl, static_cast<double>(g.members)});
      generation.samples.push_back({generation.name, gl, static_cast<double>(g.generation_id)});
      rebalances.samples.push_back({rebalances.name, gl, static_cast<double>(g.rebalances)});
      rebalance_seconds.samples.push_back(
          {rebalance_seconds.name, gl, static_cast<double>(g.last_rebalance_ms) / 1000.0});
      metrics::Labels sl = gl;
      sl.push_back({"state", std::string(group::state_name(g.state))});
      state.samples.push_back({state.name, sl, 1});
    }
    for (const auto& gl : group_lag(groups)) {
      total.samples.push_back(
          {total.name, {{"group", gl.group_id}}, static_cast<double>(gl.total_lag)});
      for (const auto& p : gl.partitions) {
        metrics::Labels labels = {
            {"group", gl.group_id}, {"topic", p.topic}, {"partition", std::to_string(p.partition)}};
        if (p.lag >= 0) lag.samples.push_back({lag.name, labels, static_cast<double>(p.lag)});
        if (p.committed >= 0)
          committed.samples.push_back({committed.name, labels, static_cast<double>(p.committed)});
      }
      for (const auto& t : gl.topics) {
        metrics::Labels labels = {{"group", gl.group_id}, {"topic", t.topic}};
        lag_skew.samples.push_back({lag_skew.name, labels, t.lag_skew});
        rate_skew.samples.push_back({rate_skew.name, labels, t.rate_skew});
      }
    }
    return std::vector<CollectedFamily>{
        size,      hwm,   start,   segments,   lag,        committed,         lag_skew,
        rate_skew, total, members, generation, rebalances, rebalance_seconds, state};
  });
}

AdminApi::~AdminApi() { metrics::registry().remove_collector(collector_id_); }

std::vector<group::GroupLag> AdminApi::group_lag(const std::vector<group::GroupMetrics>& groups) {
  std::lock_guard lock(lag_mu_);
  return lag_tracker_.compute(
      groups,
      [this](const std::string& topic, std::int32_t partition) -> std::optional<std::int64_t> {
        auto p = log_.partition(topic, PartitionId(partition));
        if (!p) return std::nullopt;
        return (*p)->high_watermark().value();
      },
      SystemClock::instance().now_ms());
}

HttpResponse AdminApi::handle(const HttpRequest& req) {
  const std::string& path = req.path;
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            metrics::registry().render_prometheus()};
  }
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    if (!server_.serving()) return HttpResponse{503, "text/plain; charset=utf-8", "not serving\n"};
    if (server_.disk_full()) {
      return HttpResponse{503, "text/plain; charset=utf-8",
                          "disk full: appends fail with KAFKA_STORAGE_ERROR\n"};
    }
    return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"};
  }
  if (path == "/v1/topics" || path == "/v1/topics/") return topics();
  if (path.starts_with("/v1/topics/") || path.starts_with("/v1/groups/")) {
    auto name = percent_decode(std::string_view(path).substr(11));
    if (!name) return json_response({{"error", "malformed percent-escape in the name"}}, 400);
    return path[4] == 't' ? topic(*name) : group(*name);
  }
  if (path == "/v1/groups" || path == "/v1/groups/") return groups();
  if (path.starts_with("/v1/groups/")) return group(path.substr(11));
  if (path == "/v1/dead-letters" || path == "/v1/dead-letters/") return dead_letters();
  if (auto extra = admin_routes::find(path)) {
    auto body = (*extra)();
    if (!body) return json_response({{"error", body.error().to_string()}}, 500);
    return {200, "application/json", *body};
  }
  return not_found(
      "no such endpoint; try /metrics, /healthz, /readyz, /v1/topics, /v1/groups, "
      "/v1/dead-letters");
}

HttpResponse AdminApi::topics() {
  json out = json::array();
  for (const auto& t : log_.topics()) {
    out.push_back({{"name", t.name},
                   {"id", storage::topic_id_string(t.id)},
                   {"partitions", t.partitions},
                   {"internal", t.name == group::kOffsetsTopic},
                   {"configs", t.overrides}});
  }
  return json_response(out);
}

// The dead-letter topics of the pattern library's dead_letter() (named <topic>.dlq), with how
// many dead letters each holds; `wharf dlq list` shows their contents.
HttpResponse AdminApi::dead_letters() {
  constexpr std::string_view kSuffix = ".dlq";
  json out = json::array();
  for (const auto& t : log_.topics()) {
    if (t.name.size() <= kSuffix.size() || !t.name.ends_with(kSuffix)) continue;
    std::int64_t messages = 0, size_bytes = 0;
    for (std::int32_t p = 0; p < t.partitions; ++p) {
      auto part = log_.partition(t.name, PartitionId(p));
      if (!part) continue;
      messages += (*part)->high_watermark().value() - (*part)->log_start_offset().value();
      size_bytes += static_cast<std::int64_t>((*part)->size_bytes());
    }
    out.push_back({{"topic", t.name},
                   {"source_topic", t.name.substr(0, t.name.size() - kSuffix.size())},
                   {"partitions", t.partitions},
                   {"dead_letters", messages},
                   {"size_bytes", size_bytes}});
  }
  return json_response(out);
}

HttpResponse AdminApi::topic(const std::string& name) {
  auto info = log_.topic(name);
  if (!info) return not_found("topic '" + name + "' does not exist");
  json parts = json::array();
  for (std::int32_t p = 0; p < info->partitions; ++p) {
    auto part = log_.partition(name, PartitionId(p));
    if (!part) continue;
    parts.push_back({{"partition", p},
                     {"log_start_offset", (*part)->log_start_offset().value()},
                     {"high_watermark", (*part)->high_watermark().value()},
                     {"log_end_offset", (*part)->log_end_offset().value()},
                     {"size_bytes", (*part)->size_bytes()},
                     {"segments", (*part)->segment_count()}});
  }
  return json_response({{"name", info->name},
                        {"id", storage::topic_id_string(info->id)},
                        {"internal", name == group::kOffsetsTopic},
                        {"configs", info->config.to_map()},
                        {"overrides", info->overrides},
                        {"partitions", parts}});
}

HttpResponse AdminApi::groups() {
  json out = json::array();
  for (const auto& g : server_.group_metrics()) {
    out.push_back({{"group", g.group_id},
                   {"state", std::string(group::state_name(g.state))},
                   {"protocol_type", g.protocol_type},
                   {"protocol", g.protocol},
                   {"generation", g.generation_id},
                   {"members", g.members},
                   {"rebalances", g.rebalances}});
  }
  return json_response(out);
}

HttpResponse AdminApi::group(const std::string& name) {
  const auto all = server_.group_metrics();
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& g) { return g.group_id == name; });
  if (it == all.end()) return not_found("group '" + name + "' does not exist");
  const auto owners = group::assigned_partitions(*it);
  json members = json::array();
  for (const auto& m : it->member_list) {
    json parts = json::array();
    for (const auto& [tp, owner] : owners) {
      if (owner == m.member_id) parts.push_back({{"topic", tp.first}, {"partition", tp.second}});
    }
    members.push_back(
        {{"member_id", m.member_id},
         {"group_instance_id", m.group_instance_id ? json(*m.group_instance_id) : json(nullptr)},
         {"client_id", m.client_id},
         {"client_host", m.client_host},
         {"partitions", parts}});
  }
  auto lags = group_lag({*it});
  json partitions = json::array(), topics = json::array();
  std::int64_t total = 0;
  if (!lags.empty()) {
    total = lags[0].total_lag;
    for (const auto& p : lags[0].partitions) {
      partitions.push_back({{"topic", p.topic},
                            {"partition", p.partition},
                            {"committed_offset", p.committed},
                            {"high_watermark", p.high_watermark},
                            {"lag", p.lag},
                            {"owner", p.owner}});
    }
    for (const auto& t : lags[0].topics) {
      topics.push_back({{"topic", t.topic},
                        {"lag_max", t.lag_max},
                        {"lag_mean", t.lag_mean},
                        {"lag_skew", t.lag_skew},
                        {"rate_max", t.rate_max},
                        {"rate_mean", t.rate_mean},
                        {"rate_skew", t.rate_skew}});
    }
  }
  return json_response({{"group", it->group_id},
                        {"state", std::string(group::state_name(it->state))},
                        {"protocol_type", it->protocol_type},
                        {"protocol", it->protocol},
                        {"generation", it->generation_id},
                        {"rebalances", it->rebalances},
                        {"last_rebalance_ms", it->last_rebalance_ms},
                        {"members", members},
                        {"partitions", partitions},
                        {"topics", topics},
                        {"total_lag", total}});
}

}  // namespace wharf::admin
