// Read-ahead for consumers that read a partition in order. Once a Fetch has answered a partition
// and more records are already there, the next read of it (the same partition, from the offset
// after the last batch served, with the same byte limit) starts on a storage thread while the
// response is written and the client parses it. A consumer's next Fetch asks for exactly that
// and finds the bytes read (and CRC-checked) already, so the segment read leaves the round trip.
//
// What a read ahead serves is what a read at that moment could have served: whole batches of the
// same Partition object (a topic deleted and created again is another object), cut at the high
// watermark the Fetch sees, from an offset the Fetch has checked is not below the log start. A
// partition that compaction or retention rewrote meanwhile serves the batches as they were read,
// as a read that began before the rewrite does.
//
// One read ahead per connection, of at most an eighth of the budget. Their bytes, across the
// server, are bounded by a ReadAheadBudget (ServerConfig::fetch_read_ahead_bytes_max,
// docs/limits.md); a read that does not fit is not started. Bytes no Fetch takes are dropped
// once they are kHeldMax old (the connection's watchdog calls expire()), when the connection's
// next read ahead starts, or when it ends: a consumer that stops fetching does not keep them,
// nor a deleted topic's files, and a compacted range is not served as it was for longer than
// that. Decision 0010 says why this rather than sendfile. Any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "base/byte_buffer.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "storage/partition.h"

namespace wharf::kafka {

// Bytes held by read-aheads across connections (gauge wharf_fetch_read_ahead_bytes). Any thread.
class ReadAheadBudget {
 public:
  explicit ReadAheadBudget(std::size_t max_bytes) : max_(max_bytes) {}
  // The most one connection's read ahead may take: an eighth of the budget, so that one client
  // asking for huge partition limits cannot keep read-ahead from every other connection.
  std::size_t per_connection_max() const { return max_ / 8; }
  ReadAheadBudget(const ReadAheadBudget&) = delete;
  ReadAheadBudget& operator=(const ReadAheadBudget&) = delete;
  // Takes `n` bytes if they fit under the maximum.
  bool reserve(std::size_t n);
  void release(std::size_t n);
  std::size_t used() const { return used_.load(); }

 private:
  const std::size_t max_;
  std::atomic<std::size_t> used_{0};
};

// The process's read-ahead metrics (docs/metrics.md): bytes held, and reads by outcome (`used`:
// a Fetch served them; `dropped`: none asked for them in time, or the read was cancelled).
metrics::Gauge& read_ahead_held_bytes();
metrics::Counter& read_ahead_used();
metrics::Counter& read_ahead_dropped();
// Fetches answered on the network thread from a finished read ahead, without a storage-thread
// hop (handle_fetch.cc: one partition, nothing that would wait).
metrics::Counter& fetch_answered_from_read_ahead();

class FetchReadAhead : public std::enable_shared_from_this<FetchReadAhead> {
 public:
  // How long records read ahead are kept for a Fetch that has not come (a consumer's next
  // Fetch follows its last response within milliseconds).
  static constexpr std::chrono::seconds kHeldMax{1};

  // `clock` (steady time) must outlive this object and every read it posts.
  // `post` runs the reads on storage threads (HandlerContext::storage_runner()).
  FetchReadAhead(std::shared_ptr<ReadAheadBudget> budget, storage::TaskRunner post,
                 const Clock& clock)
      : budget_(std::move(budget)), post_(std::move(post)), clock_(clock) {}
  ~FetchReadAhead();
  FetchReadAhead(const FetchReadAhead&) = delete;
  FetchReadAhead& operator=(const FetchReadAhead&) = delete;

  // Starts reading up to `max_bytes` of `part` from `from` on a storage thread, unless a read
  // ahead is still queued or running, `max_bytes` is more than the budget's per-connection
  // share, or the budget cannot hold it. Records held from an earlier read ahead that no Fetch
  // took are dropped. Must be owned by a shared_ptr.
  void start(std::shared_ptr<storage::Partition> part, Offset from, std::size_t max_bytes);

  // For a Fetch about to read `max_bytes` of `part` from `from`: the records read ahead for
  // exactly that, cut to the whole batches below `high_watermark`, or none (nothing read ahead
  // for it, a read ahead that failed or found nothing, or one still queued, which is cancelled
  // so that the caller reads now). Waits for a matching read ahead that is running. A read
  // ahead of something else is left as it is (another partition of the same Fetch may take
  // it); the next start() drops it. Records older than kHeldMax are dropped, not served. The
  // caller has checked `from` against the log start.
  std::optional<ByteBuffer> take(const storage::Partition& part, Offset from, std::size_t max_bytes,
                                 Offset high_watermark);

  // take() for a thread that must not wait (the network thread): none, and nothing changed,
  // unless the read ahead of exactly that read has finished; a queued or running one is left as
  // it is. Otherwise as take().
  std::optional<ByteBuffer> take_finished(const storage::Partition& part, Offset from,
                                          std::size_t max_bytes, Offset high_watermark);

  // Drops held records older than kHeldMax. Called periodically (the connection's watchdog).
  void expire();

 private:
  enum class State { kEmpty, kQueued, kRunning, kHeld };
  void run();
  void drop_locked();  // kHeld or kQueued: back to kEmpty, bytes given back
  bool matches_locked(const storage::Partition& part, Offset from, std::size_t max_bytes) const;
  // kHeld: the held records cut at `high_watermark`, or none (failed, empty, too old).
  std::optional<ByteBuffer> serve_locked(Offset high_watermark);

  const std::shared_ptr<ReadAheadBudget> budget_;
  const storage::TaskRunner post_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable done_;
  State state_ = State::kEmpty;
  std::shared_ptr<storage::Partition> part_;
  Offset from_{0};
  std::size_t max_bytes_ = 0;
  std::size_t reserved_ = 0;  // of budget_
  ByteBuffer records_;        // kHeld: what the read returned (empty if it failed)
  std::chrono::steady_clock::time_point held_since_;  // kHeld: when the read ended
};

}  // namespace wharf::kafka
