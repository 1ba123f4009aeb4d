// ApiVersions, Metadata and FindCoordinator: what a client asks before anything else.
#include <regex>

#include "kafka/group/offsets_codec.h"
#include "kafka/protocol/generated/api_versions.h"
#include "kafka/protocol/generated/find_coordinator.h"
#include "kafka/protocol/generated/metadata.h"
#include "kafka/server/handler_util.h"

namespace wharf::kafka {
namespace p = protocol;

namespace {
bool valid_software_field(const std::string& s) {
  static const std::regex kPattern("[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?");
  return std::regex_match(s, kPattern);
}
}  // namespace

asio::awaitable<HandlerResult> handle_api_versions(HandlerContext& /*hc*/,
                                                   const RequestContext& ctx, p::Reader& body) {
  p::ApiVersionsResponse resp;
  for (const auto& a : advertised_apis())
    resp.api_keys.push_back({a.api_key, a.min_version, a.max_version});
  const AdvertisedApi* self = find_advertised(p::ApiVersionsRequest::kApiKey);
  if (ctx.version() > self->max_version) {
    // KIP-511: a version we do not know gets error 35 in a v0 body listing our ranges, and the
    // response header is always v0, so the client can read it whatever it sent.
    resp.error_code = code(KafkaError::kUnsupportedVersion);
    co_return respond(resp, 0);
  }
  auto req = decode_body<p::ApiVersionsRequest>(ctx, body);
  if (!req) co_return close_connection();
  if (ctx.version() >= 3 && (!valid_software_field(req->client_software_name) ||
                             !valid_software_field(req->client_software_version))) {
    resp.error_code = code(KafkaError::kInvalidRequest);
    resp.api_keys.clear();
  }
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_metadata(HandlerContext& hc, const RequestContext& ctx,
                                               p::Reader& body) {
  auto req = decode_body<p::MetadataRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::int16_t v = ctx.version();
  // v0: an empty list means every topic; v1+: null means every topic, empty means none.
  const bool all = !req->topics.has_value() || (v == 0 && req->topics->empty());
  const bool may_create = hc.config.auto_create_topics && (v < 4 || req->allow_auto_topic_creation);
  std::vector<std::string> names;
  if (!all) {
    for (const auto& t : *req->topics) names.push_back(t.name);
  }
  const std::int32_t default_partitions = hc.config.default_partitions;
  struct TopicView {
    std::string name;
    KafkaError error = KafkaError::kNone;
    std::int32_t partitions = 0;
  };
  auto work = [&hc, all, names, may_create, default_partitions] {
    std::vector<TopicView> out;
    if (all) {
      for (const auto& t : hc.log.topics())
        out.push_back({t.name, KafkaError::kNone, t.partitions});
      return out;
    }
    for (const auto& name : names) {
      if (auto t = hc.log.topic(name)) {
        out.push_back({name, KafkaError::kNone, t->partitions});
        continue;
      }
      if (!storage::validate_topic_name(name)) {
        out.push_back({name, KafkaError::kInvalidTopicException, 0});
        continue;
      }
      if (!may_create) {
        out.push_back({name, KafkaError::kUnknownTopicOrPartition, 0});
        continue;
      }
      auto created = hc.log.create_topic(name, default_partitions);
      if (created) {
        WHARF_LOG_INFO("auto-created topic {} with {} partition(s)", name, created->partitions);
        out.push_back({name, KafkaError::kNone, created->partitions});
      } else if (created.error().code() == ErrorCode::kAlreadyExists) {
        auto t = hc.log.topic(name);  // created meanwhile by another request
        out.push_back(
            {name, t ? KafkaError::kNone : KafkaError::kLeaderNotAvailable, t ? t->partitions : 0});
      } else {
        WHARF_LOG_ERROR("auto-creating topic {}: {}", name, created.error().to_string());
        out.push_back({name, to_kafka_error(created.error()), 0});
      }
    }
    return out;
  };
  auto topics = co_await hc.blocking(work);

  p::MetadataResponse resp;
  resp.brokers.push_back(
      {hc.config.node_id, hc.advertised_host(), hc.advertised_port(), std::nullopt});
  resp.cluster_id = hc.config.cluster_id;
  resp.controller_id = hc.config.node_id;
  for (const auto& t : topics) {
    p::MetadataResponse::MetadataResponseTopic mt;
    mt.name = t.name;
    mt.error_code = code(t.error);
    mt.is_internal = t.name == group::kOffsetsTopic;  // regex subscribers skip it
    for (std::int32_t i = 0; i < t.partitions; ++i) {
      p::MetadataResponse::MetadataResponsePartition mp;
      mp.partition_index = i;
      mp.leader_id = hc.config.node_id;
      mp.leader_epoch = 0;  // one node, one leader, forever (kafka-protocol.md P10)
      mp.replica_nodes = {hc.config.node_id};
      mp.isr_nodes = {hc.config.node_id};
      mt.partitions.push_back(std::move(mp));
    }
    resp.topics.push_back(std::move(mt));
  }
  co_return respond(resp, v);
}

asio::awaitable<HandlerResult> handle_find_coordinator(HandlerContext& hc,
                                                       const RequestContext& ctx, p::Reader& body) {
  auto req = decode_body<p::FindCoordinatorRequest>(ctx, body);
  if (!req) co_return close_connection();
  p::FindCoordinatorResponse resp;
  if (req->key_type != 0) {
    // Transaction coordinators (key type 1) do not exist here: transactions are not offered.
    resp.error_code = code(KafkaError::kCoordinatorNotAvailable);
    resp.error_message = "transactions are not supported by this broker";
    resp.node_id = -1;
    resp.port = -1;
  } else {
    resp.error_code = code(KafkaError::kNone);
    resp.error_message = std::nullopt;
    resp.node_id = hc.config.node_id;
    resp.host = hc.advertised_host();
    resp.port = hc.advertised_port();
  }
  co_return respond(resp, ctx.version());
}

}  // namespace wharf::kafka
