// Per-key parking: when a key's message fails for good, that key's later messages wait in a
// durable table while every other key keeps flowing; released, they are handled in their
// original order before anything newer of that key.
//
//   auto parking = wharf::KeyParking::open(*db);
//   router.use(wharf::dead_letter());                 // the failed message itself: to orders.dlq
//   router.use((*parking)->middleware());              // its key: parked
//   router.use(wharf::retry());
//   router.on<OrderPlaced>("orders", handler);
//   ...
//   (*parking)->release("inventory", "orders", "order-7", bus);   // or `wharf park release`
//
// The middleware, for each message:
// - key parked (state `parked`): the message is stored in wharf_parked_messages (in arrival
//   order) and reported done; the handler is not called.
// - key being released (state `releasing`, set by release()): first the stored messages are
//   handed down the chain in order and deleted as each succeeds; when none is left the key is
//   free and the current message is handled. If a stored message fails again the key goes back
//   to `parked` with what is left (and the current message joins them).
// - otherwise the message is handed down; if that fails, the key is parked (reason and the
//   failed message's id recorded) and the error goes on up (to dead_letter(), which sends the
//   message itself to the dead-letter topic).
// release() also publishes a marker message with the key (type wharf.ParkingReleased) so the
// consumer drains the key promptly even if nothing new of it arrives; the middleware reports
// markers done without calling the handler.
//
// Keys are parked per consumer group and topic. Messages without a key are never parked (they
// have no order to keep): their failures go on up as usual. Schema: docs/formats/parking.md.
// Threads: thread-safe (the Database's pool); one lane handles a key at a time, so a key's
// state changes in order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wharf/router.h"
#include "wharf/sql.h"

namespace wharf {

struct ParkedKey {
  std::string group;
  std::string topic;
  std::string key;
  std::string state;  // "parked" or "releasing"
  std::int64_t parked_at_ms = 0;
  std::string reason;  // the error that parked it
  std::string failed_message_id;
  std::int64_t messages = 0;  // waiting in the table
};

struct ParkingOptions {
  const Clock* clock = nullptr;
  // Messages stored for one key at most; past it the consumer's message fails (and stays
  // uncommitted) rather than grow the table without bound.
  std::int64_t messages_per_key_max = 100'000;
};

inline constexpr std::string_view kParkingReleasedType = "wharf.ParkingReleased";

class KeyParking {
 public:
  // Applies the migrations of component "wharf_parking". Also registers the gauge
  // wharf_parked_keys{group,topic} (computed from the table at each scrape of the process's
  // /metrics) and the admin API endpoint /v1/parked-keys (JSON; served by the process's admin
  // listener: EmbeddedOptions::admin, `wharf outbox-relay --admin`) for as long as the
  // KeyParking lives.
  [[nodiscard]] static Result<std::unique_ptr<KeyParking>> open(sql::Database& db,
                                                                ParkingOptions options = {});
  ~KeyParking();
  KeyParking(const KeyParking&) = delete;
  KeyParking& operator=(const KeyParking&) = delete;

  Middleware middleware();

  // Every parked key (of `group` when not empty), oldest first, with its waiting messages.
  [[nodiscard]] Result<std::vector<ParkedKey>> list(const std::string& group = {});
  // The messages waiting for a key, in order.
  [[nodiscard]] Result<std::vector<Message>> messages(const std::string& group,
                                                      const std::string& topic,
                                                      const std::string& key);
  // Marks the key `releasing` and publishes the release marker to `topic` with the key (so it
  // lands on the key's partition). kNotFound if the key is not parked.
  [[nodiscard]] Status release(const std::string& group, const std::string& topic,
                               const std::string& key, const Bus& bus);

 private:
  KeyParking(sql::Database& db, ParkingOptions options) : db_(db), options_(options) {}
  Status park(const std::string& group, const Message& m, const Error& reason, bool store_message);
  sql::Database& db_;
  ParkingOptions options_;
  std::uint64_t collector_id_ = 0;
  std::uint64_t route_id_ = 0;  // /v1/parked-keys on the process's admin API
};

}  // namespace wharf
