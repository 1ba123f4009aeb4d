#include "kafka/server/fetch_read_ahead.h"

#include "base/log.h"
#include "storage/record_batch.h"

namespace wharf::kafka {

namespace {

// The whole batches at the front of `records` with a base offset below `high_watermark`. The
// bytes were framed and CRC-checked by Partition::read; only the cut is new.
std::size_t bytes_below(ByteView records, Offset high_watermark) {
  auto walked = storage::for_each_batch(records, [high_watermark](ByteView batch) {
    return Offset(load_be<std::int64_t>(batch, storage::batch_layout::kBaseOffset)) <
           high_watermark;
  });
  return walked ? *walked : 0;
}

metrics::Counter& outcome(const char* what) {
  return metrics::registry()
      .counter("wharf_fetch_read_ahead_total",
               "Reads ahead for consumers' next Fetch, by outcome (used, dropped).")
      .with({{"outcome", what}});
}

}  // namespace

metrics::Gauge& read_ahead_held_bytes() {
  static metrics::Gauge& g =
      metrics::registry()
          .gauge("wharf_fetch_read_ahead_bytes",
                 "Bytes read ahead for consumers' next Fetch, held until it comes.")
          .with({});
  return g;
}
metrics::Counter& read_ahead_used() {
  static metrics::Counter& c = outcome("used");
  return c;
}
metrics::Counter& read_ahead_dropped() {
  static metrics::Counter& c = outcome("dropped");
  return c;
}

metrics::Counter& fetch_answered_from_read_ahead() {
  static metrics::Counter& c =
      metrics::registry()
          .counter("wharf_fetch_answered_from_read_ahead_total",
                   "Fetch requests answered on the network thread from the records their "
                   "connection read ahead, without a storage-thread hop.")
          .with({});
  return c;
}

bool ReadAheadBudget::reserve(std::size_t n) {
  std::size_t used = used_.load();
  do {
    if (n > max_ || used > max_ - n) return false;
  } while (!used_.compare_exchange_weak(used, used + n));
  read_ahead_held_bytes().add(static_cast<double>(n));
  return true;
}

void ReadAheadBudget::release(std::size_t n) {
  used_.fetch_sub(n);
  read_ahead_held_bytes().add(-static_cast<double>(n));
}

FetchReadAhead::~FetchReadAhead() {
  // Posted reads hold this object: none is queued or running once it is destroyed.
  if (reserved_ > 0) budget_->release(reserved_);
}

void FetchReadAhead::drop_locked() {
  read_ahead_dropped().inc();
  budget_->release(std::exchange(reserved_, 0));
  records_ = ByteBuffer();
  part_.reset();
  state_ = State::kEmpty;
}

void FetchReadAhead::start(std::shared_ptr<storage::Partition> part, Offset from,
                           std::size_t max_bytes) {
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kQueued || state_ == State::kRunning) return;
    if (state_ == State::kHeld) drop_locked();
    if (max_bytes > budget_->per_connection_max() || !budget_->reserve(max_bytes)) return;
    reserved_ = max_bytes;
    part_ = std::move(part);
    from_ = from;
    max_bytes_ = max_bytes;
    state_ = State::kQueued;
  }
  if (post_([self = shared_from_this()] { self->run(); })) return;
  std::lock_guard lock(mu_);
  if (state_ == State::kQueued) drop_locked();
}

void FetchReadAhead::run() {
  std::shared_ptr<storage::Partition> part;
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kQueued) return;  // cancelled by take()
    state_ = State::kRunning;
    part = part_;
  }
  ByteBuffer got;  // nothing when the read fails: the Fetch then reads for itself
  try {
    auto read = part->read(from_, max_bytes_);  // from_ and max_bytes_ change only in kEmpty
    if (read) got = std::move(read->records);
  } catch (const std::exception& e) {
    // Only an allocation can throw here. The read still ends held (empty), so a take() waiting
    // for it returns instead of waiting for ever.
    WHARF_LOG_WARN("reading ahead for a Fetch: {}", e.what());
  }
  ByteBuffer unheld;  // bytes the budget cannot hold, freed after the lock is released
  std::lock_guard lock(mu_);
  records_ = std::move(got);
  // Hold what was read, not what was reserved: less, or more when a first batch is larger than
  // the limit (KIP-74), if the budget has room for it.
  if (records_.size() <= reserved_) {
    budget_->release(reserved_ - records_.size());
    reserved_ = records_.size();
  } else if (budget_->reserve(records_.size() - reserved_)) {
    reserved_ = records_.size();
  } else {
    unheld = std::move(records_);
    records_ = ByteBuffer();
    budget_->release(std::exchange(reserved_, 0));
  }
  state_ = State::kHeld;
  held_since_ = clock_.steady_now();
  done_.notify_all();
}

bool FetchReadAhead::matches_locked(const storage::Partition& part, Offset from,
                                    std::size_t max_bytes) const {
  return part_.get() == &part && from_ == from && max_bytes_ == max_bytes;
}

std::optional<ByteBuffer> FetchReadAhead::take(const storage::Partition& part, Offset from,
                                               std::size_t max_bytes, Offset high_watermark) {
  std::unique_lock lock(mu_);
  if (state_ == State::kEmpty) return std::nullopt;
  // Another partition of the same Fetch may be the one read ahead: left for it.
  if (!matches_locked(part, from, max_bytes)) return std::nullopt;
  if (state_ == State::kQueued) {
    drop_locked();  // not started: the caller reads now, sooner than the queue would
    return std::nullopt;
  }
  if (state_ == State::kRunning) done_.wait(lock, [this] { return state_ == State::kHeld; });
  return serve_locked(high_watermark);
}

std::optional<ByteBuffer> FetchReadAhead::take_finished(const storage::Partition& part, Offset from,
                                                        std::size_t max_bytes,
                                                        Offset high_watermark) {
  std::lock_guard lock(mu_);
  if (state_ != State::kHeld || !matches_locked(part, from, max_bytes)) return std::nullopt;
  return serve_locked(high_watermark);
}

std::optional<ByteBuffer> FetchReadAhead::serve_locked(Offset high_watermark) {
  if (records_.empty() || clock_.steady_now() - held_since_ > kHeldMax) {
    drop_locked();
    return std::nullopt;
  }
  // The high watermark can stand lower than when the read ran: a topic switched from
  // sync.policy=none to always answers with what is durable.
  records_.resize(bytes_below(records_, high_watermark));
  if (records_.empty()) {
    drop_locked();
    return std::nullopt;
  }
  read_ahead_used().inc();
  ByteBuffer records = std::move(records_);
  budget_->release(std::exchange(reserved_, 0));
  part_.reset();
  state_ = State::kEmpty;
  return records;
}

void FetchReadAhead::expire() {
  std::lock_guard lock(mu_);
  if (state_ == State::kHeld && clock_.steady_now() - held_since_ > kHeldMax) drop_locked();
}

}  // namespace wharf::kafka
