// Consumer groups: FindCoordinator answers with this broker; JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and
// OffsetDelete go to the group coordinator (src/kafka/group). JoinGroup and SyncGroup may park
// until the rebalance completes; their connection waits, as with Kafka. Offset commits are
// durable in __consumer_offsets before they are answered.
#include "kafka/group/coordinator.h"
#include "kafka/group/offsets_log.h"
#include "kafka/server/handler_util.h"

namespace wharf::kafka {
namespace p = protocol;

namespace {

// Awaits a coordinator call that answers through a callback, possibly much later.
template <typename Response, typename Start>
asio::awaitable<Response> await_callback(Start& start) {
  Response response;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&start, &response](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start([&response, shared](Response r) {
          response = std::move(r);
          auto h = std::move(*shared);
          auto ex = asio::get_associated_executor(h);
          asio::post(ex, std::move(h));
        });
      },
      asio::use_awaitable);
  co_return response;
}

}  // namespace

asio::awaitable<HandlerResult> handle_join_group(HandlerContext& hc, const RequestContext& ctx,
                                                 p::Reader& body) {
  auto req = decode_body<p::JoinGroupRequest>(ctx, body);
  if (!req) co_return close_connection();
  const std::string client_id = ctx.header.client_id.value_or("");
  auto start = [&](group::Coordinator::JoinCallback done) {
    hc.coordinator.join(*req, ctx.version(), client_id, ctx.client_host, std::move(done));
  };
  auto resp = co_await await_callback<p::JoinGroupResponse>(start);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_sync_group(HandlerContext& hc, const RequestContext& ctx,
                                                 p::Reader& body) {
  auto req = decode_body<p::SyncGroupRequest>(ctx, body);
  if (!req) co_return close_connection();
  auto start = [&](group::Coordinator::SyncCallback done) {
    hc.coordinator.sync(*req, ctx.version(), std::move(done));
  };
  auto resp = co_await await_callback<p::SyncGroupResponse>(start);
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_heartbeat(HandlerContext& hc, const RequestContext& ctx,
                                                p::Reader& body) {
  auto req = decode_body<p::HeartbeatRequest>(ctx, body);
  if (!req) co_return close_connection();
  co_return respond(hc.coordinator.heartbeat(*req), ctx.version());
}

asio::awaitable<HandlerResult> handle_leave_group(HandlerContext& hc, const RequestContext& ctx,
                                                  p::Reader& body) {
  auto req = decode_body<p::LeaveGroupRequest>(ctx, body);
  if (!req) co_return close_connection();
  co_return respond(hc.coordinator.leave(*req, ctx.version()), ctx.version());
}

asio::awaitable<HandlerResult> handle_offset_commit(HandlerContext& hc, const RequestContext& ctx,
                                                    p::Reader& body) {
  auto req = decode_body<p::OffsetCommitRequest>(ctx, body);
  if (!req) co_return close_connection();
  // As Kafka: a partition this broker does not have gets UNKNOWN_TOPIC_OR_PARTITION and no
  // committed offset (a typo'd topic would otherwise hold an offset forever). The topic table
  // is in memory, so this lookup does not block.
  std::map<std::string, std::int32_t, std::less<>> partitions_of;
  auto partition_exists = [&](const std::string& topic, std::int32_t partition) {
    auto it = partitions_of.find(topic);
    if (it == partitions_of.end()) {
      auto info = hc.log.topic(topic);
      it = partitions_of.emplace(topic, info ? info->partitions : 0).first;
    }
    return partition >= 0 && partition < it->second;
  };
  auto plan = hc.coordinator.prepare_commit(*req, ctx.version(), partition_exists);
  if (!plan.records.empty()) {
    auto persist = [&hc, &plan]() -> Status { return hc.offsets_log.append(plan.records); };
    auto status = co_await hc.blocking(persist);
    if (status) {
      hc.coordinator.apply(plan.records);
    } else {
      WHARF_LOG_ERROR("offset commit for group {}: {}", plan.group_id, status.error().to_string());
      group::Coordinator::fail_commit(plan, code(to_kafka_error(status.error())));
    }
  }
  co_return respond(plan.response, ctx.version());
}

asio::awaitable<HandlerResult> handle_offset_fetch(HandlerContext& hc, const RequestContext& ctx,
                                                   p::Reader& body) {
  auto req = decode_body<p::OffsetFetchRequest>(ctx, body);
  if (!req) co_return close_connection();
  co_return respond(hc.coordinator.fetch_offsets(*req, ctx.version()), ctx.version());
}

asio::awaitable<HandlerResult> handle_describe_groups(HandlerContext& hc, const RequestContext& ctx,
                                                      p::Reader& body) {
  auto req = decode_body<p::DescribeGroupsRequest>(ctx, body);
  if (!req) co_return close_connection();
  co_return respond(hc.coordinator.describe(*req), ctx.version());
}

asio::awaitable<HandlerResult> handle_list_groups(HandlerContext& hc, const RequestContext& ctx,
                                                  p::Reader& body) {
  auto req = decode_body<p::ListGroupsRequest>(ctx, body);
  if (!req) co_return close_connection();
  co_return respond(hc.coordinator.list(*req), ctx.version());
}

asio::awaitable<HandlerResult> handle_delete_groups(HandlerContext& hc, const RequestContext& ctx,
                                                    p::Reader& body) {
  auto req = decode_body<p::DeleteGroupsRequest>(ctx, body);
  if (!req) co_return close_connection();
  group::Coordinator::DeletePlan plan;
  auto resp = hc.coordinator.prepare_delete_groups(*req, plan);
  if (!plan.tombstones.empty()) {
    auto persist = [&hc, &plan] { return hc.offsets_log.append(plan.tombstones); };
    auto status = co_await hc.blocking(persist);
    if (!status) {
      for (auto& r : resp.results) {
        if (r.error_code == 0) r.error_code = code(to_kafka_error(status.error()));
      }
      co_return respond(resp, ctx.version());
    }
    hc.coordinator.apply(plan.tombstones);
  }
  co_return respond(resp, ctx.version());
}

asio::awaitable<HandlerResult> handle_offset_delete(HandlerContext& hc, const RequestContext& ctx,
                                                    p::Reader& body) {
  auto req = decode_body<p::OffsetDeleteRequest>(ctx, body);
  if (!req) co_return close_connection();
  group::Coordinator::DeletePlan plan;
  auto resp = hc.coordinator.prepare_offset_delete(*req, plan);
  if (!plan.tombstones.empty()) {
    auto persist = [&hc, &plan] { return hc.offsets_log.append(plan.tombstones); };
    auto status = co_await hc.blocking(persist);
    if (!status) {
      resp.error_code = code(to_kafka_error(status.error()));
      co_return respond(resp, ctx.version());
    }
    hc.coordinator.apply(plan.tombstones);
  }
  co_return respond(resp, ctx.version());
}

}  // namespace wharf::kafka
