// Reading and replaying dead-letter topics (reliability.h).
#include <charconv>
#include <thread>

#include "wharf/reliability.h"

namespace wharf {
namespace {

template <typename T>
Result<T> number_header(const Message& m, std::string_view name) {
  auto v = m.header(name);
  if (!v)
    return fail(ErrorCode::kInvalidArgument, "{}/{}/{} has no {} header: not a dead letter",
                m.topic, m.partition, m.offset, name);
  T out{};
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return fail(ErrorCode::kInvalidArgument, "{}/{}/{}: header {} is not a number", m.topic,
                m.partition, m.offset, name);
  }
  return out;
}

Result<std::string> text_header(const Message& m, std::string_view name) {
  auto v = m.header(name);
  if (!v)
    return fail(ErrorCode::kInvalidArgument, "{}/{}/{} has no {} header: not a dead letter",
                m.topic, m.partition, m.offset, name);
  return std::string(*v);
}

}  // namespace

Result<DeadLetter> parse_dead_letter(const Message& m) {
  DeadLetter d;
  d.message = m;
  WHARF_ASSIGN_OR_RETURN(d.original_topic, text_header(m, kHeaderDlqTopic));
  WHARF_ASSIGN_OR_RETURN(d.original_partition, number_header<std::int32_t>(m, kHeaderDlqPartition));
  WHARF_ASSIGN_OR_RETURN(d.original_offset, number_header<std::int64_t>(m, kHeaderDlqOffset));
  WHARF_ASSIGN_OR_RETURN(d.group, text_header(m, kHeaderDlqGroup));
  WHARF_ASSIGN_OR_RETURN(d.error_class, text_header(m, kHeaderDlqErrorClass));
  WHARF_ASSIGN_OR_RETURN(d.error_message, text_header(m, kHeaderDlqErrorMessage));
  WHARF_ASSIGN_OR_RETURN(d.attempts, number_header<std::int32_t>(m, kHeaderDlqAttempts));
  WHARF_ASSIGN_OR_RETURN(d.first_failure_ms,
                         number_header<std::int64_t>(m, kHeaderDlqFirstFailure));
  WHARF_ASSIGN_OR_RETURN(d.last_failure_ms, number_header<std::int64_t>(m, kHeaderDlqLastFailure));
  if (d.original_topic.empty())
    return fail(ErrorCode::kInvalidArgument, "{}/{}/{}: empty original topic", m.topic, m.partition,
                m.offset);
  return d;
}

bool DeadLetterFilter::matches(const DeadLetter& d) const {
  if (error_class && d.error_class != *error_class) return false;
  if (key && d.message.key != *key) return false;
  if (since_ms && d.last_failure_ms < *since_ms) return false;
  if (until_ms && d.last_failure_ms >= *until_ms) return false;
  return true;
}

std::string dead_letter_cursor_group(const std::string& dlq_topic) {
  return "wharf-dlq-cursor." + dlq_topic;
}

namespace {
// The purge cursor of a dead-letter topic; empty when none was ever set (or the transport keeps
// no group offsets).
Result<std::map<TopicPartition, std::int64_t>> cursor_of(const Bus& bus,
                                                         const std::string& dlq_topic) {
  auto c = bus->committed_offsets(dead_letter_cursor_group(dlq_topic), dlq_topic);
  if (!c && c.error().code() == ErrorCode::kUnsupported)
    return std::map<TopicPartition, std::int64_t>{};
  return c;
}
}  // namespace

Result<std::int64_t> purge_dead_letters(
    const Bus& bus, const std::string& dlq_topic,
    const std::optional<std::map<TopicPartition, std::int64_t>>& keep_from, bool dry_run) {
  WHARF_ASSIGN_OR_RETURN(auto ends, bus->end_offsets(dlq_topic));
  WHARF_ASSIGN_OR_RETURN(auto cursor, cursor_of(bus, dlq_topic));
  const std::map<TopicPartition, std::int64_t> target = keep_from ? *keep_from : ends;
  std::map<TopicPartition, std::int64_t> moves;
  std::int64_t purged = 0;
  for (const auto& [tp, want] : target) {
    auto end = ends.find(tp);
    if (end == ends.end())
      return fail(ErrorCode::kNotFound, "{} has no partition {}", dlq_topic, tp.partition);
    const std::int64_t to = std::min(want, end->second);
    const std::int64_t from = cursor.contains(tp) ? cursor[tp] : 0;
    if (to <= from) continue;  // never back
    moves[tp] = to;
    purged += to - from;
  }
  if (!dry_run && !moves.empty()) {
    WHARF_RETURN_IF_ERROR(bus->commit_offsets(dead_letter_cursor_group(dlq_topic), moves));
  }
  return purged;
}

Status scan_dead_letters(const Bus& bus, const std::string& dlq_topic,
                         const DeadLetterFilter& filter,
                         const std::function<Status(const DeadLetter&)>& visit,
                         const std::function<void(const Message&, const Error&)>& invalid) {
  WHARF_ASSIGN_OR_RETURN(auto ends, bus->end_offsets(dlq_topic));
  WHARF_ASSIGN_OR_RETURN(const auto cursor, cursor_of(bus, dlq_topic));
  std::map<TopicPartition, std::int64_t> remaining;  // partitions with records still to read
  for (const auto& [tp, end] : ends) {
    auto c = cursor.find(tp);
    if (end > (c == cursor.end() ? 0 : c->second)) remaining[tp] = end;
  }
  if (remaining.empty()) return ok();
  WHARF_ASSIGN_OR_RETURN(auto sub, bus->subscribe({.group = "wharf-dlq-scan-" + new_message_id(),
                                                   .topics = {dlq_topic},
                                                   .client_id = "wharf-dlq",
                                                   .from_beginning = true}));
  // A bound on silence, not on the whole scan: the log answers within this or something is down.
  constexpr auto kIdleMax = std::chrono::seconds(30);
  auto last_progress = std::chrono::steady_clock::now();
  Status result = ok();
  while (!remaining.empty() && result) {
    auto got = sub->poll(1000, std::chrono::milliseconds(200));
    if (!got) {
      result = fail(std::move(got).error());
      break;
    }
    if (got->empty()) {
      if (std::chrono::steady_clock::now() - last_progress > kIdleMax) {
        result = fail(ErrorCode::kTimeout,
                      "reading {}: no record for {} s with {} partition(s) unfinished", dlq_topic,
                      std::chrono::duration_cast<std::chrono::seconds>(kIdleMax).count(),
                      remaining.size());
      }
      continue;
    }
    last_progress = std::chrono::steady_clock::now();
    for (const Message& m : *got) {
      auto it = remaining.find({m.topic, m.partition});
      if (it == remaining.end() || m.offset >= it->second)
        continue;  // published after the scan began
      if (m.offset + 1 >= it->second) remaining.erase(it);
      if (auto c = cursor.find({m.topic, m.partition}); c != cursor.end() && m.offset < c->second) {
        continue;  // purged
      }
      auto d = parse_dead_letter(m);
      if (!d) {
        if (invalid) invalid(m, d.error());
        continue;
      }
      if (!filter.matches(*d)) continue;
      if (Status s = visit(*d); !s) {
        result = s;
        break;
      }
    }
  }
  sub->close();
  return result;
}

Result<ReplayStats> replay_dead_letters(const Bus& bus, const std::string& dlq_topic,
                                        const DeadLetterFilter& filter,
                                        const ReplayOptions& options) {
  ReplayStats stats;
  const auto started = std::chrono::steady_clock::now();
  Status s = scan_dead_letters(
      bus, dlq_topic, DeadLetterFilter{},
      [&](const DeadLetter& d) -> Status {
        ++stats.scanned;
        if (!filter.matches(d)) return ok();
        ++stats.matched;
        if (!options.dry_run) {
          if (options.rate_per_s > 0) {
            const auto due =
                started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(stats.replayed) /
                                                            options.rate_per_s));
            std::this_thread::sleep_until(due);
          }
          Message m = d.message;
          std::erase_if(m.headers, [](const auto& h) { return h.first.starts_with("wharf-dlq-"); });
          m.set_header(kHeaderReplayedFrom, fmt::format("{}/{}/{}", d.message.topic,
                                                        d.message.partition, d.message.offset));
          const std::string to = options.to_topic.empty() ? d.original_topic : options.to_topic;
          m.topic.clear();
          m.partition = -1;
          m.offset = -1;
          WHARF_RETURN_IF_ERROR(bus.publish(to, std::move(m)));
          ++stats.replayed;
        }
        if (options.progress)
          options.progress(options.dry_run ? stats.matched : stats.replayed, stats.scanned);
        return ok();
      },
      [&](const Message&, const Error&) {
        ++stats.scanned;
        ++stats.invalid;
      });
  if (!s) return fail(std::move(s).error());
  return stats;
}

}  // namespace wharf
