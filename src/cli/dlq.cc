// `wharf dlq list|show|replay`: the dead-letter topics that wharf::dead_letter() writes, read
// and replayed through the pattern library's kafka transport (so against `wharf serve` or any
// Kafka cluster). Formats: docs/formats/message-headers.md; docs/cli.md has examples.
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/client_args.h"
#include "cli/commands.h"
#include "cli/kafka_client.h"
#include "cli/table.h"
#include "wharf/reliability.h"
#include "wharf/transport.h"

namespace wharf::cli {
namespace {

struct FilterArgs {
  std::string error_class, key, since, until;
};

void add_filter_options(CLI::App* cmd, FilterArgs& f) {
  cmd->add_option("--error-class", f.error_class,
                  "Only dead letters of this error class (as `list` shows it: unavailable, invalid "
                  "argument, ...)");
  cmd->add_option("--key", f.key, "Only dead letters with this message key");
  cmd->add_option(
      "--since", f.since,
      "Only those whose last failure is at or after this ISO 8601 time (no zone = UTC)");
  cmd->add_option("--until", f.until, "Only those whose last failure is before this ISO 8601 time");
}

Result<DeadLetterFilter> to_filter(const FilterArgs& a) {
  DeadLetterFilter f;
  if (!a.error_class.empty()) f.error_class = a.error_class;
  if (!a.key.empty()) f.key = a.key;
  if (!a.since.empty()) {
    WHARF_ASSIGN_OR_RETURN(const std::int64_t ms, parse_datetime_ms(a.since));
    f.since_ms = ms;
  }
  if (!a.until.empty()) {
    WHARF_ASSIGN_OR_RETURN(const std::int64_t ms, parse_datetime_ms(a.until));
    f.until_ms = ms;
  }
  return f;
}

Result<Bus> open_bus() {
  KafkaOptions o;
  o.bootstrap = bootstrap();
  o.client_id = "wharf-dlq";
  WHARF_ASSIGN_OR_RETURN(const double timeout_s, effective_timeout_s());
  o.timeout = std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(timeout_s * 1000)));
  o.properties.clear();
  for (const auto& kv : client_options().properties) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(ErrorCode::kInvalidArgument, "-X {}: expected key=value", kv);
    o.properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return Bus::open(o);
}

int run_list(const std::string& topic, const FilterArgs& args, std::int64_t limit) {
  auto filter = to_filter(args);
  if (!filter) return report_failure("dlq list", filter.error());
  auto bus = open_bus();
  if (!bus) return report_failure("dlq list", bus.error());
  Table table({"PARTITION/OFFSET", "FROM", "KEY", "GROUP", "ERROR CLASS", "ATTEMPTS",
               "LAST FAILURE", "MESSAGE"});
  std::int64_t invalid = 0;
  Status s = scan_dead_letters(
      *bus, topic, *filter,
      [&](const DeadLetter& d) -> Status {
        if (limit > 0 && static_cast<std::int64_t>(table.rows()) >= limit) return ok();
        table.add({fmt::format("{}/{}", d.message.partition, d.message.offset),
                   fmt::format("{}/{}/{}", cell_text(d.original_topic, 64), d.original_partition,
                               d.original_offset),
                   cell_text(d.message.key, 32), cell_text(d.group, 32), d.error_class,
                   std::to_string(d.attempts), utc_time_text(d.last_failure_ms),
                   cell_text(d.error_message, 80)});
        return ok();
      },
      [&](const Message&, const Error&) { ++invalid; });
  (void)(*bus)->close();
  if (!s) return report_failure("dlq list", s.error());
  table.print(stdout);
  std::fprintf(
      stderr, "%zu dead letter(s)%s\n", table.rows(),
      invalid ? fmt::format(", {} record(s) that are not dead letters skipped", invalid).c_str()
              : "");
  return 0;
}

int run_show(const std::string& topic, const std::string& at) {
  const auto slash = at.find('/');
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    partition = std::stoi(at.substr(0, slash));
    offset = std::stoll(at.substr(slash + 1));
  } catch (const std::exception&) {
    return report_failure(
        "dlq show", make_error(ErrorCode::kInvalidArgument, "'{}' is not PARTITION/OFFSET", at));
  }
  auto bus = open_bus();
  if (!bus) return report_failure("dlq show", bus.error());
  std::optional<DeadLetter> found;
  Status s = scan_dead_letters(*bus, topic, {}, [&](const DeadLetter& d) -> Status {
    if (d.message.partition == partition && d.message.offset == offset) found = d;
    return ok();
  });
  (void)(*bus)->close();
  if (!s) return report_failure("dlq show", s.error());
  if (!found) {
    return report_failure(
        "dlq show", make_error(ErrorCode::kNotFound, "no dead letter at {}/{} in {}", partition,
                               offset, topic));
  }
  const DeadLetter& d = *found;
  std::printf("dead letter     %s %d/%lld\n", topic.c_str(), partition,
              static_cast<long long>(offset));
  std::printf("from            %s/%d/%lld (group %s)\n", cell_text(d.original_topic, 256).c_str(),
              d.original_partition, static_cast<long long>(d.original_offset),
              cell_text(d.group, 256).c_str());
  std::printf("error           %s: %s\n", d.error_class.c_str(),
              cell_text(d.error_message, 4096).c_str());
  std::printf("attempts        %d, first failure %s, last %s\n", d.attempts,
              utc_time_text(d.first_failure_ms).c_str(), utc_time_text(d.last_failure_ms).c_str());
  std::printf("message id      %s\n", cell_text(d.message.id, 128).c_str());
  std::printf("type            %s v%d\n", cell_text(d.message.type, 256).c_str(),
              d.message.version);
  std::printf("key             %s\n", cell_text(d.message.key, 256).c_str());
  for (const auto& [k, v] : d.message.headers) {
    if (!k.starts_with("wharf-dlq-"))
      std::printf("header          %s=%s\n", cell_text(k, 128).c_str(), cell_text(v, 256).c_str());
  }
  std::printf("payload         %s\n", cell_text(d.message.payload, 64 * 1024).c_str());
  return 0;
}

struct ReplayArgs {
  std::string to;
  double rate = 0;
  bool dry_run = false;
};

int run_replay(const std::string& topic, const FilterArgs& args, const ReplayArgs& r) {
  auto filter = to_filter(args);
  if (!filter) return report_failure("dlq replay", filter.error());
  auto bus = open_bus();
  if (!bus) return report_failure("dlq replay", bus.error());
  const bool tty = ::isatty(STDERR_FILENO);
  auto last_status = std::chrono::steady_clock::now();
  ReplayOptions o{.to_topic = r.to, .rate_per_s = r.rate, .dry_run = r.dry_run};
  o.progress = [&](std::int64_t done, std::int64_t scanned) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_status < std::chrono::seconds(1)) return;
    last_status = now;
    std::fprintf(stderr, tty ? "\r%s %lld, read %lld   " : "%s %lld, read %lld\n",
                 r.dry_run ? "matched" : "replayed", static_cast<long long>(done),
                 static_cast<long long>(scanned));
  };
  auto stats = replay_dead_letters(*bus, topic, *filter, o);
  Status closed = (*bus)->close();
  if (tty) std::fprintf(stderr, "\n");
  if (!stats) return report_failure("dlq replay", stats.error());
  if (!closed) return report_failure("dlq replay", closed.error());
  std::printf(
      "%s %lld of %lld dead letter(s) read from %s%s%s\n", r.dry_run ? "would replay" : "replayed",
      static_cast<long long>(r.dry_run ? stats->matched : stats->replayed),
      static_cast<long long>(stats->scanned), topic.c_str(),
      r.to.empty() ? " to their original topics" : (" to " + r.to).c_str(),
      stats->invalid
          ? fmt::format(" ({} record(s) that are not dead letters skipped)", stats->invalid).c_str()
          : "");
  return 0;
}

struct PurgeArgs {
  std::vector<std::string> before;
  bool all = false;
  bool execute = false;
};

int run_purge(const std::string& topic, const PurgeArgs& a) {
  if (a.all == !a.before.empty()) {
    return report_failure("dlq purge",
                          make_error(ErrorCode::kInvalidArgument, "give either --all or --before"));
  }
  std::optional<std::map<wharf::TopicPartition, std::int64_t>> keep_from;
  if (!a.all) {
    keep_from.emplace();
    for (const auto& at : a.before) {
      const auto slash = at.find('/');
      try {
        if (slash == std::string::npos) throw std::invalid_argument("no slash");
        (*keep_from)[{topic, std::stoi(at.substr(0, slash))}] = std::stoll(at.substr(slash + 1));
      } catch (const std::exception&) {
        return report_failure("dlq purge", make_error(ErrorCode::kInvalidArgument,
                                                      "'{}' is not PARTITION/OFFSET", at));
      }
    }
  }
  auto bus = open_bus();
  if (!bus) return report_failure("dlq purge", bus.error());
  auto n = purge_dead_letters(*bus, topic, keep_from, !a.execute);
  (void)(*bus)->close();
  if (!n) return report_failure("dlq purge", n.error());
  std::printf("%s %lld dead letter(s) of %s%s\n", a.execute ? "purged" : "would purge",
              static_cast<long long>(*n), topic.c_str(),
              a.execute ? "" : " (dry run; --execute to purge)");
  return 0;
}

}  // namespace

void register_dlq(CLI::App& app, int& exit_code) {
  auto* dlq = app.add_subcommand(
      "dlq", "List, show and replay dead letters (the <topic>.dlq topics of wharf::dead_letter())");
  dlq->require_subcommand(1);
  dlq->fallthrough();

  static std::string list_topic;
  static FilterArgs list_filter;
  static std::int64_t list_limit = 0;
  auto* list = dlq->add_subcommand(
      "list", "One line per dead letter: where it came from, why it failed, how often, when");
  list->add_option("topic", list_topic, "Dead-letter topic, e.g. orders.dlq")->required();
  add_filter_options(list, list_filter);
  list->add_option("--limit", list_limit, "At most this many lines (0: all)")
      ->check(CLI::NonNegativeNumber);
  add_client_options(list);
  list->callback([&exit_code] { exit_code = run_list(list_topic, list_filter, list_limit); });

  static std::string show_topic, show_at;
  auto* show = dlq->add_subcommand(
      "show", "Everything about one dead letter: failure, envelope, headers and payload");
  show->add_option("topic", show_topic, "Dead-letter topic")->required();
  show->add_option("at", show_at, "PARTITION/OFFSET in the dead-letter topic, as `list` prints it")
      ->required();
  add_client_options(show);
  show->callback([&exit_code] { exit_code = run_show(show_topic, show_at); });

  static std::string replay_topic;
  static FilterArgs replay_filter;
  static ReplayArgs replay;
  auto* rp = dlq->add_subcommand("replay",
                                 "Publish dead letters again (same id, key and payload; without "
                                 "the dead-letter headers) to their "
                                 "original topic or --to, in order, acknowledged one by one");
  rp->add_option("topic", replay_topic, "Dead-letter topic")->required();
  add_filter_options(rp, replay_filter);
  rp->add_option("--to", replay.to, "Publish to this topic instead of each one's original topic");
  rp->add_option("--rate", replay.rate, "At most this many messages a second (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  rp->add_flag("--dry-run", replay.dry_run, "Count what would be replayed; publish nothing");
  add_client_options(rp);
  rp->callback([&exit_code] { exit_code = run_replay(replay_topic, replay_filter, replay); });

  static std::string purge_topic;
  static PurgeArgs purge;
  auto* pg =
      dlq->add_subcommand("purge",
                          "Hide dead letters from list, show and replay from now on: moves the "
                          "topic's purge cursor (the "
                          "records stay until retention removes them). Dry run unless --execute");
  pg->add_option("topic", purge_topic, "Dead-letter topic")->required();
  pg->add_flag("--all", purge.all, "Everything in the topic now");
  pg->add_option(
      "--before", purge.before,
      "PARTITION/OFFSET: purge that partition's dead letters before OFFSET (repeatable)");
  pg->add_flag("--execute", purge.execute, "Move the cursor (default: say what would be purged)");
  add_client_options(pg);
  pg->callback([&exit_code] { exit_code = run_purge(purge_topic, purge); });
}

}  // namespace wharf::cli
