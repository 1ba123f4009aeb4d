// The API table: what ApiVersions advertises and what the dispatcher serves, one row per API
// (handlers.h). Constant data; any thread.
#include <iterator>

#include "kafka/protocol/generated/messages.h"
#include "kafka/server/handlers.h"

namespace wharf::kafka {
namespace p = protocol;

namespace {

// Tier A of kafka-protocol.md §1.6, limited to what is implemented. Old minimum versions are
// advertised on purpose: librdkafka 2.0.2 enables compression only if Produce covers v0, and
// the group coordinator lookup and LZ4 only if FindCoordinator covers v0. Produce 0-2 are
// answered with UNSUPPORTED_VERSION, as Kafka 4.0 does. Keys are the generated codec's, so a
// row cannot name an API the codec does not know.
constexpr AdvertisedApi kAdvertised[] = {
    // Produce (serves 3-7)
    {p::ProduceRequest::kApiKey, 0, 7, handle_produce},
    // Fetch
    {p::FetchRequest::kApiKey, 4, 11, handle_fetch},
    // ListOffsets (v0: Burrow 1.2.1)
    {p::ListOffsetsRequest::kApiKey, 0, 4, handle_list_offsets},
    // Metadata (never exactly 9: platformatic)
    {p::MetadataRequest::kApiKey, 0, 8, handle_metadata},
    // OffsetCommit (v7: group.instance.id)
    {p::OffsetCommitRequest::kApiKey, 0, 7, handle_offset_commit},
    // OffsetFetch (6-7 flexible)
    {p::OffsetFetchRequest::kApiKey, 0, 7, handle_offset_fetch},
    // FindCoordinator
    {p::FindCoordinatorRequest::kApiKey, 0, 2, handle_find_coordinator},
    // JoinGroup (v4: member-id handshake, v5: static membership)
    {p::JoinGroupRequest::kApiKey, 0, 5, handle_join_group},
    // Heartbeat
    {p::HeartbeatRequest::kApiKey, 0, 3, handle_heartbeat},
    // LeaveGroup (v3: batched members)
    {p::LeaveGroupRequest::kApiKey, 0, 3, handle_leave_group},
    // SyncGroup
    {p::SyncGroupRequest::kApiKey, 0, 3, handle_sync_group},
    // DescribeGroups
    {p::DescribeGroupsRequest::kApiKey, 0, 4, handle_describe_groups},
    // ListGroups (v4: states filter)
    {p::ListGroupsRequest::kApiKey, 0, 4, handle_list_groups},
    // ApiVersions (any version is answered: see KafkaServer::Impl::dispatch)
    {p::ApiVersionsRequest::kApiKey, 0, 3, handle_api_versions},
    // CreateTopics
    {p::CreateTopicsRequest::kApiKey, 0, 4, handle_create_topics},
    // DeleteTopics
    {p::DeleteTopicsRequest::kApiKey, 0, 3, handle_delete_topics},
    // DeleteRecords (2 flexible)
    {p::DeleteRecordsRequest::kApiKey, 0, 2, handle_delete_records},
    // InitProducerId
    {p::InitProducerIdRequest::kApiKey, 0, 1, handle_init_producer_id},
    // OffsetForLeaderEpoch (leader epoch 0; 4 flexible)
    {p::OffsetForLeaderEpochRequest::kApiKey, 0, 4, handle_offset_for_leader_epoch},
    // DescribeConfigs
    {p::DescribeConfigsRequest::kApiKey, 0, 3, handle_describe_configs},
    // DescribeLogDirs (2+ flexible; 4: total and usable bytes)
    {p::DescribeLogDirsRequest::kApiKey, 0, 4, handle_describe_log_dirs},
    // AlterConfigs (topics only; replaces the override set)
    {p::AlterConfigsRequest::kApiKey, 0, 1, handle_alter_configs},
    // IncrementalAlterConfigs (topics only; SET and DELETE)
    {p::IncrementalAlterConfigsRequest::kApiKey, 0, 1, handle_incremental_alter_configs},
    // CreatePartitions
    {p::CreatePartitionsRequest::kApiKey, 0, 1, handle_create_partitions},
    // DeleteGroups
    {p::DeleteGroupsRequest::kApiKey, 0, 1, handle_delete_groups},
    // OffsetDelete
    {p::OffsetDeleteRequest::kApiKey, 0, 0, handle_offset_delete},
    // DescribeCluster (1: endpoint type)
    {p::DescribeClusterRequest::kApiKey, 0, 1, handle_describe_cluster},
    // DescribeProducers
    {p::DescribeProducersRequest::kApiKey, 0, 0, handle_describe_producers},
};

// Every row's key is unique and its range non-empty.
constexpr bool rows_are_valid() {
  for (std::size_t i = 0; i < std::size(kAdvertised); ++i) {
    if (kAdvertised[i].min_version < 0 || kAdvertised[i].min_version > kAdvertised[i].max_version)
      return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (kAdvertised[j].api_key == kAdvertised[i].api_key) return false;
    }
  }
  return true;
}
static_assert(rows_are_valid(), "an API key appears twice, or a version range is empty");

}  // namespace

std::span<const AdvertisedApi> advertised_apis() { return kAdvertised; }

const AdvertisedApi* find_advertised(std::int16_t api_key) {
  for (const auto& a : kAdvertised) {
    if (a.api_key == api_key) return &a;
  }
  return nullptr;
}

}  // namespace wharf::kafka
