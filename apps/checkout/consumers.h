// The six consumer groups of the event-driven checkout: each a Router on "orders" with its own
// SQLite store, an inbox in batch mode (idempotent: a redelivered order changes nothing), its
// own retry policy and a dead-letter topic, and simulated work (model.h).
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include <wharf/wharf.h>

#include "loyalty.h"
#include "model.h"

namespace wharf::checkout {

class ConsumerGroup {
 public:
  // Opens <data_dir>/<group>.db (created, migrated), and starts the group's router on a thread.
  static Result<std::unique_ptr<ConsumerGroup>> start(Bus bus, GroupSpec spec,
                                                      const std::string& data_dir,
                                                      GroupStats& stats);
  ~ConsumerGroup();
  ConsumerGroup(const ConsumerGroup&) = delete;
  ConsumerGroup& operator=(const ConsumerGroup&) = delete;

  // Drains what is in flight, commits and leaves the group. Returns the router's status.
  Status stop();
  std::uint64_t duplicates() const;
  // Rows the group's handler wrote (one per order it took effect for): with the inbox, equal to
  // the distinct orders handled, however often one was delivered.
  Result<std::int64_t> effects();
  const std::string& name() const { return spec_.name; }
  // For a group with a ledger, after stop(): Loyalty::verify against the group's effects
  // (empty when it holds). Empty for the others.
  Result<std::string> check_ledger();

 private:
  ConsumerGroup(GroupSpec spec, GroupStats& stats) : spec_(std::move(spec)), stats_(stats) {}
  GroupSpec spec_;
  GroupStats& stats_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<Inbox> inbox_;
  std::unique_ptr<Loyalty> loyalty_;
  std::unique_ptr<Router> router_;
  std::stop_source stop_;
  std::thread thread_;
  Status result_ = ok();
};

}  // namespace wharf::checkout
