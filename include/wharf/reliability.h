// Reliable consumption middleware: bounded retries with backoff, and dead-letter topics.
//
//   router.use(wharf::dead_letter());                     // outermost: sees what retry gave up on
//   router.use(wharf::retry({.attempts_max = 5, .backoff_initial = 100ms}));
//
// retry() runs the handler again in place (the message's lane waits; other keys and partitions
// keep flowing) while the error is retryable and attempts remain, sleeping an exponential
// backoff with jitter between attempts; the sleep ends early when the router stops. What it
// gives up on goes on down the chain with the failure recorded in the Context (FailureInfo).
//
// dead_letter() publishes a message whose handler failed to `<topic>.dlq` (or a topic of your
// choosing) with the failure in headers, and reports it done only once the dead-letter topic
// acknowledged it; so the source offset is committed only after the dead letter is durable. If
// that publish fails, the error goes on to the router, which hands the message again: nothing
// is dropped. The dead letter keeps the original's id, key, type, payload and headers, so a
// replay to the original topic is the same message again. Headers: docs/formats/message-headers.md.
//
// Metrics (process registry): wharf_retries_total{group,topic},
// wharf_dead_letters_total{group,topic}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "wharf/router.h"

namespace wharf {

// The failure of the message being handled, as retry() saw it; dead_letter() reads it.
struct FailureInfo {
  std::int32_t attempts = 0;          // handler calls made for this delivery
  std::int64_t first_failure_ms = 0;  // wall clock
  std::int64_t last_failure_ms = 0;
};

// Whether an error is worth trying again. The default: everything except errors that say the
// message itself is bad (kInvalidArgument, kUnsupported, kNotFound — a payload that does not
// parse, an unknown version or type — and kConstraint, kInvalidRecord, kCorruptMessage).
bool retryable_by_default(const Error& error);

struct RetryOptions {
  std::int32_t attempts_max = 5;  // handler calls in all, the first included
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10'000};
  double backoff_multiplier = 2.0;
  double jitter = 0.2;  // each wait is drawn uniformly from ±jitter of its nominal value
  std::function<bool(const Error&)> retryable = retryable_by_default;
  // How to wait; the default sleeps on the system clock and wakes when `stop` is requested.
  // Tests pass one that records the waits (or steps a ManualClock).
  std::function<void(std::chrono::milliseconds, std::stop_token)> sleep;
  const Clock* clock = nullptr;  // failure times; nullptr: the system clock
};
Middleware retry(RetryOptions options = {});

// The nominal wait before attempt `attempt + 1` (attempt >= 1), before jitter:
// min(backoff_max, backoff_initial * multiplier^(attempt - 1)).
std::chrono::milliseconds backoff_delay(const RetryOptions& options, std::int32_t attempt);

// Non-blocking retries through retry topics: a failed message of `topic` is published to
// `<topic>.retry.1` with a due time (delays[0] later) and reported done, so its partition and
// key move on at once; the router (subscribed to the retry topics, which are created with the
// topic's partition count) hands it to the same handlers when it is due; a failure there moves
// it to `.retry.2`, and so on; after the last level the error goes on (to dead_letter(), which
// sends it to `<topic>.dlq` with the attempts counted across levels). Messages keep their id,
// key and headers; the level, due time and first failure travel in headers
// (docs/formats/message-headers.md). Waiting for a due time holds only that retry topic's lane
// (Context::defer), never a worker. Key order is NOT kept across a retry (that is what blocking
// retry() and parking are for): choose per handler.
//
//   router.on<OrderPlaced>("orders", handler);
//   router.use(wharf::dead_letter());
//   router.use(wharf::retry_topics(router, "orders", {.delays = {1s, 30s, 5min}}));
struct RetryTopicsOptions {
  std::vector<std::chrono::milliseconds> delays{std::chrono::seconds(1), std::chrono::seconds(10),
                                                std::chrono::seconds(60)};
  std::function<bool(const Error&)> retryable = retryable_by_default;
  const Clock* clock = nullptr;  // due times; nullptr: the system clock
};
// Registers the retry topics on `router` (Router::route) and creates them; returns the
// middleware to use(). Fails to create nothing: topic creation errors are reported when the
// first message needs the topic.
Middleware retry_topics(Router& router, const std::string& topic, RetryTopicsOptions options = {});
inline constexpr std::string_view kHeaderRetryLevel = "wharf-retry-level";
inline constexpr std::string_view kHeaderRetryDue = "wharf-retry-due-ms";
inline constexpr std::string_view kHeaderRetryTopic = "wharf-retry-original-topic";
inline constexpr std::string_view kHeaderRetryPartition = "wharf-retry-original-partition";
inline constexpr std::string_view kHeaderRetryOffset = "wharf-retry-original-offset";
inline constexpr std::string_view kHeaderRetryFirstFailure = "wharf-retry-first-failure-ms";

struct DeadLetterOptions {
  std::string suffix = ".dlq";  // the dead-letter topic is `<topic><suffix>`
  // Overrides the topic name when set.
  std::function<std::string(const Message&)> topic;
  // Which errors go to the dead-letter topic; others go on to the router (handed again).
  // Default: every error.
  std::function<bool(const Error&)> applies;
  const Clock* clock = nullptr;
};
Middleware dead_letter(DeadLetterOptions options = {});

// --- Reading and replaying dead letters ------------------------------------------------------

// A dead letter with its failure parsed from the headers.
struct DeadLetter {
  Message message;  // as stored in the dead-letter topic (topic/partition/offset: its place there)
  std::string original_topic;
  std::int32_t original_partition = -1;
  std::int64_t original_offset = -1;
  std::string group;
  std::string error_class;
  std::string error_message;
  std::int32_t attempts = 0;
  std::int64_t first_failure_ms = 0;
  std::int64_t last_failure_ms = 0;
};
// kInvalidArgument when a dead-letter header is missing or malformed (a record someone else
// put in the topic).
[[nodiscard]] Result<DeadLetter> parse_dead_letter(const Message& message);

struct DeadLetterFilter {
  std::optional<std::string> error_class;  // exact, e.g. "unavailable"
  std::optional<std::string> key;          // exact message key
  std::optional<std::int64_t> since_ms;    // last failure at or after
  std::optional<std::int64_t> until_ms;    // last failure before
  bool matches(const DeadLetter& d) const;
};

// Reads `dlq_topic` from its purge cursor to its end as of the call (Transport::end_offsets) and
// calls visit for each dead letter the filter keeps, in offset order per partition. A record
// that is not a dead letter is reported to `invalid` (if given) and skipped. Stops at visit's
// first error and returns it. Uses a consumer group of its own that it leaves uncommitted.
[[nodiscard]] Status scan_dead_letters(
    const Bus& bus, const std::string& dlq_topic, const DeadLetterFilter& filter,
    const std::function<Status(const DeadLetter&)>& visit,
    const std::function<void(const Message&, const Error&)>& invalid = {});

// Purging: a dead-letter topic keeps its records (retention removes them in time), but each has
// a cursor — the committed offsets of the consumer group dead_letter_cursor_group(topic) —
// below which scan_dead_letters() and replay_dead_letters() (and `wharf dlq`) no longer look.
std::string dead_letter_cursor_group(const std::string& dlq_topic);

// Moves the cursor of `dlq_topic` to `keep_from` (per partition, the first offset to keep; a
// partition not named is left as it is), or to the end of every partition as of the call when
// `keep_from` is nullopt. The cursor never moves back. Returns how many dead letters that
// purges (or would, with dry_run).
[[nodiscard]] Result<std::int64_t> purge_dead_letters(
    const Bus& bus, const std::string& dlq_topic,
    const std::optional<std::map<TopicPartition, std::int64_t>>& keep_from, bool dry_run = false);

struct ReplayOptions {
  std::string to_topic;   // empty: each dead letter's original topic
  double rate_per_s = 0;  // 0: as fast as the transport takes them
  bool dry_run = false;   // count what would be replayed, publish nothing
  // Called after each replayed (or, dry, matched) message with the counts so far.
  std::function<void(std::int64_t replayed, std::int64_t scanned)> progress;
};
struct ReplayStats {
  std::int64_t scanned = 0;   // records read from the dead-letter topic
  std::int64_t matched = 0;   // kept by the filter
  std::int64_t replayed = 0;  // published (0 on a dry run)
  std::int64_t invalid = 0;   // records that are not dead letters
};
// Publishes the matching dead letters again: same id, key, type, payload and original headers,
// without the wharf-dlq-* headers and with `wharf-replayed-from: <dlq>/<partition>/<offset>`;
// each publish is acknowledged before the next (in order per key), at most rate_per_s a second.
// Replaying twice publishes twice; consumers with an inbox skip the second (same id).
[[nodiscard]] Result<ReplayStats> replay_dead_letters(const Bus& bus, const std::string& dlq_topic,
                                                      const DeadLetterFilter& filter,
                                                      const ReplayOptions& options);

// Header names (docs/formats/message-headers.md).
inline constexpr std::string_view kHeaderDlqTopic = "wharf-dlq-original-topic";
inline constexpr std::string_view kHeaderDlqPartition = "wharf-dlq-original-partition";
inline constexpr std::string_view kHeaderDlqOffset = "wharf-dlq-original-offset";
inline constexpr std::string_view kHeaderDlqGroup = "wharf-dlq-group";
inline constexpr std::string_view kHeaderDlqErrorClass = "wharf-dlq-error-class";
inline constexpr std::string_view kHeaderDlqErrorMessage = "wharf-dlq-error-message";
inline constexpr std::string_view kHeaderDlqAttempts = "wharf-dlq-attempts";
inline constexpr std::string_view kHeaderDlqFirstFailure = "wharf-dlq-first-failure-ms";
inline constexpr std::string_view kHeaderDlqLastFailure = "wharf-dlq-last-failure-ms";
inline constexpr std::string_view kHeaderReplayedFrom = "wharf-replayed-from";
// The longest error message kept in a dead letter's header (the rest is cut, marked "…").
inline constexpr std::size_t kDlqErrorMessageBytesMax = 4096;

}  // namespace wharf
