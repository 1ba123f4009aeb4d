// The APIs this broker serves. One table (apis.cc) has a row per API: its key, the versions
// advertised in ApiVersions, and its handler; ApiVersions lists the table and the dispatcher
// (server.cc) looks requests up in it, so the two never disagree. Handlers are free functions
// over a HandlerContext (handler_context.h): decode the body, do the work, encode the response
// body. They run on the network thread and hand blocking work to storage threads through
// HandlerContext::blocking()/parallel(). Adding an API: a row in apis.cc and its handler,
// declared here (README.md).
#pragma once

#include <cstdint>
#include <span>

#include "kafka/protocol/reader.h"
#include "kafka/server/handler_context.h"

namespace wharf::kafka {

using Handler = asio::awaitable<HandlerResult> (*)(HandlerContext& hc, const RequestContext& ctx,
                                                   protocol::Reader& body);

// What the server advertises in ApiVersions: only what it implements (kafka-protocol.md §1.6).
struct AdvertisedApi {
  std::int16_t api_key;
  std::int16_t min_version;
  std::int16_t max_version;
  Handler handler;
};
// Every row, in the order ApiVersions lists them.
std::span<const AdvertisedApi> advertised_apis();
// The row for `api_key`, or nullptr if this broker does not serve it.
const AdvertisedApi* find_advertised(std::int16_t api_key);

// handle_metadata.cc
asio::awaitable<HandlerResult> handle_api_versions(HandlerContext& hc, const RequestContext& ctx,
                                                   protocol::Reader& body);
asio::awaitable<HandlerResult> handle_metadata(HandlerContext& hc, const RequestContext& ctx,
                                               protocol::Reader& body);
asio::awaitable<HandlerResult> handle_find_coordinator(HandlerContext& hc,
                                                       const RequestContext& ctx,
                                                       protocol::Reader& body);
// handle_produce.cc
asio::awaitable<HandlerResult> handle_produce(HandlerContext& hc, const RequestContext& ctx,
                                              protocol::Reader& body);
asio::awaitable<HandlerResult> handle_init_producer_id(HandlerContext& hc,
                                                       const RequestContext& ctx,
                                                       protocol::Reader& body);
// handle_fetch.cc
asio::awaitable<HandlerResult> handle_fetch(HandlerContext& hc, const RequestContext& ctx,
                                            protocol::Reader& body);
asio::awaitable<HandlerResult> handle_list_offsets(HandlerContext& hc, const RequestContext& ctx,
                                                   protocol::Reader& body);
// handle_admin.cc
asio::awaitable<HandlerResult> handle_create_topics(HandlerContext& hc, const RequestContext& ctx,
                                                    protocol::Reader& body);
asio::awaitable<HandlerResult> handle_delete_topics(HandlerContext& hc, const RequestContext& ctx,
                                                    protocol::Reader& body);
asio::awaitable<HandlerResult> handle_create_partitions(HandlerContext& hc,
                                                        const RequestContext& ctx,
                                                        protocol::Reader& body);
asio::awaitable<HandlerResult> handle_describe_configs(HandlerContext& hc,
                                                       const RequestContext& ctx,
                                                       protocol::Reader& body);
asio::awaitable<HandlerResult> handle_alter_configs(HandlerContext& hc, const RequestContext& ctx,
                                                    protocol::Reader& body);
asio::awaitable<HandlerResult> handle_incremental_alter_configs(HandlerContext& hc,
                                                                const RequestContext& ctx,
                                                                protocol::Reader& body);
// handle_groups.cc
asio::awaitable<HandlerResult> handle_join_group(HandlerContext& hc, const RequestContext& ctx,
                                                 protocol::Reader& body);
asio::awaitable<HandlerResult> handle_sync_group(HandlerContext& hc, const RequestContext& ctx,
                                                 protocol::Reader& body);
asio::awaitable<HandlerResult> handle_heartbeat(HandlerContext& hc, const RequestContext& ctx,
                                                protocol::Reader& body);
asio::awaitable<HandlerResult> handle_leave_group(HandlerContext& hc, const RequestContext& ctx,
                                                  protocol::Reader& body);
asio::awaitable<HandlerResult> handle_offset_commit(HandlerContext& hc, const RequestContext& ctx,
                                                    protocol::Reader& body);
asio::awaitable<HandlerResult> handle_offset_fetch(HandlerContext& hc, const RequestContext& ctx,
                                                   protocol::Reader& body);
asio::awaitable<HandlerResult> handle_describe_groups(HandlerContext& hc, const RequestContext& ctx,
                                                      protocol::Reader& body);
asio::awaitable<HandlerResult> handle_list_groups(HandlerContext& hc, const RequestContext& ctx,
                                                  protocol::Reader& body);
asio::awaitable<HandlerResult> handle_delete_groups(HandlerContext& hc, const RequestContext& ctx,
                                                    protocol::Reader& body);
asio::awaitable<HandlerResult> handle_offset_delete(HandlerContext& hc, const RequestContext& ctx,
                                                    protocol::Reader& body);
// handle_log_admin.cc
asio::awaitable<HandlerResult> handle_delete_records(HandlerContext& hc, const RequestContext& ctx,
                                                     protocol::Reader& body);
asio::awaitable<HandlerResult> handle_describe_log_dirs(HandlerContext& hc,
                                                        const RequestContext& ctx,
                                                        protocol::Reader& body);
asio::awaitable<HandlerResult> handle_describe_cluster(HandlerContext& hc,
                                                       const RequestContext& ctx,
                                                       protocol::Reader& body);
asio::awaitable<HandlerResult> handle_offset_for_leader_epoch(HandlerContext& hc,
                                                              const RequestContext& ctx,
                                                              protocol::Reader& body);
asio::awaitable<HandlerResult> handle_describe_producers(HandlerContext& hc,
                                                         const RequestContext& ctx,
                                                         protocol::Reader& body);

}  // namespace wharf::kafka
