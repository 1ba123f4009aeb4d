// The admin HTTP API of a running broker: /metrics (Prometheus text format), /healthz,
// /readyz, and JSON at /v1/topics, /v1/topics/NAME, /v1/groups, /v1/groups/NAME. It reads the
// log manager (thread-safe) and asks the Kafka server for group snapshots; it also registers
// the scrape-time collectors (partition sizes and offsets, group lag, skew and rebalances).
// Threads: handlers run on the HTTP server's thread. No durability.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "admin/http_server.h"
#include "kafka/group/lag.h"
#include "kafka/server/server.h"
#include "storage/log_manager.h"

namespace wharf::admin {

class AdminApi {
 public:
  AdminApi(storage::LogManager& log, kafka::KafkaServer& server);
  ~AdminApi();
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  HttpResponse handle(const HttpRequest& req);

 private:
  std::vector<kafka::group::GroupLag> group_lag(
      const std::vector<kafka::group::GroupMetrics>& groups);
  HttpResponse topics();
  HttpResponse dead_letters();
  HttpResponse topic(const std::string& name);
  HttpResponse groups();
  HttpResponse group(const std::string& name);

  storage::LogManager& log_;
  kafka::KafkaServer& server_;
  std::mutex lag_mu_;
  kafka::group::LagTracker lag_tracker_;
  std::uint64_t collector_id_ = 0;
};

}  // namespace wharf::admin
