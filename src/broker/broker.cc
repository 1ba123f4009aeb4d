#include "broker/broker.h"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "base/log.h"
#include "base/text.h"
#include "storage/limits.h"

namespace wharf::broker {
namespace {

Result<std::int64_t> to_int(const std::string& key, const std::string& value) {
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || p != value.data() + value.size()) {
    return fail(ErrorCode::kInvalidArgument, "{}: '{}' is not an integer", key, excerpt(value));
  }
  return out;
}

// Descriptors kept free beyond connections and open files: the admin API's connections
// (HttpServer::kConnectionsMax = 256), the listeners, snapshot and metadata writes, directory
// syncs, and the partitions of a few new topics.
constexpr std::uint64_t kDescriptorsReserve = 256 + 256;

// The longest cluster.id meta.properties may give: it is sent in every Metadata response.
constexpr std::size_t kClusterIdBytesMax = 255;

// Raises the soft limit on open files to the hard limit (a broker holds three descriptors per
// segment and one per connection; distributions default the soft limit to 1024).
void raise_descriptor_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  const rlim_t before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
    WHARF_LOG_INFO("raised the open-file limit from {} to {}", before, rl.rlim_cur);
  }
}

std::uint64_t open_descriptors() {
  std::error_code ec;
  std::uint64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// Refuses to serve if the descriptor limit cannot hold what is open now (the partitions'
// files) plus connections.max plus a reserve: better a clear message at start than accept()
// and open() failing later under load.
Status check_descriptor_limit(std::size_t connections_max) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return ok();
  const std::uint64_t open_now = open_descriptors();
  const std::uint64_t needed = open_now + connections_max + kDescriptorsReserve;
  if (needed > rl.rlim_cur) {
    return fail(ErrorCode::kResourceExhausted,
                "the open-file limit is {} (hard limit {}), but the broker needs {}: {} open now "
                "(3 per log "
                "segment), connections.max = {}, and {} in reserve. Raise the limit (ulimit -n, "
                "LimitNOFILE= in "
                "a systemd unit) or lower connections.max",
                rl.rlim_cur, rl.rlim_max, needed, open_now, connections_max, kDescriptorsReserve);
  }
  return ok();
}

// Kafka-style cluster id: 16 random bytes, URL-safe base64 without padding (22 characters).
std::string new_cluster_id() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 22; ++i) out.push_back(kAlphabet[rd() % 64]);
  return out;
}

// <data_dir>/meta.properties holds the cluster id, like Kafka's; created on first start.
Result<std::string> load_or_create_cluster_id(io::FileSystem& fs, const std::string& data_dir) {
  const std::string path = io::join_path(data_dir, "meta.properties");
  WHARF_ASSIGN_OR_RETURN(bool exists, fs.exists(path));
  if (exists) {
    WHARF_ASSIGN_OR_RETURN(Bytes raw, io::read_file(fs, path, storage::kMetadataFileBytesMax));
    const std::string text(as_chars(raw));
    // The line that starts with the key (not a comment, not another key ending in it).
    constexpr std::string_view kKey = "cluster.id=";
    std::size_t at = text.starts_with(kKey) ? 0 : text.find("\n" + std::string(kKey));
    if (at == std::string::npos) {
      return fail(ErrorCode::kCorruption, "{} has no cluster.id", excerpt(path));
    }
    if (at > 0) at += 1;
    const auto end = text.find('\n', at);
    std::string id = text.substr(
        at + kKey.size(), end == std::string::npos ? std::string::npos : end - at - kKey.size());
    // Trailing spaces, tabs and a Windows line end are not part of the id.
    while (!id.empty() && (id.back() == ' ' || id.back() == '\t' || id.back() == '\r')) {
      id.pop_back();
    }
    // Every Metadata and DescribeCluster response carries the id, so it must be a string any
    // client can take: Kafka's are 22 base64url characters.
    const bool printable =
        std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c <= '~'; });
    if (id.empty() || id.size() > kClusterIdBytesMax || !printable) {
      return fail(ErrorCode::kCorruption,
                  "{}: cluster.id '{}' is not 1 to {} printable ASCII characters without spaces",
                  excerpt(path), excerpt(id), kClusterIdBytesMax);
    }
    return id;
  }
  const std::string id = new_cluster_id();
  const std::string text =
      "# written by wharf on first start\nversion=1\nnode.id=0\ncluster.id=" + id + "\n";
  WHARF_RETURN_IF_ERROR(io::write_file_atomic(fs, path, as_bytes(text)));
  return id;
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(ErrorCode::kInvalidArgument, "'{}' is not HOST:PORT", excerpt(text));
  }
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto digits = text.substr(colon + 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || p != digits.data() + digits.size() || port > 65535) {
    return fail(ErrorCode::kInvalidArgument, "'{}': port must be 0..65535", excerpt(text));
  }
  return std::make_pair(host, static_cast<std::uint16_t>(port));
}

Status apply_setting(BrokerConfig& c, const std::string& key, const std::string& value) {
  if (key == "data.dir") {
    c.data_dir = value;
  } else if (key == "listen") {
    WHARF_ASSIGN_OR_RETURN(auto hp, parse_host_port(value));
    c.server.listen_host = hp.first;
    c.server.listen_port = hp.second;
  } else if (key == "advertise") {
    WHARF_ASSIGN_OR_RETURN(auto hp, parse_host_port(value));
    c.server.advertised_host = hp.first;
    c.server.advertised_port = hp.second;
  } else if (key == "admin") {
    WHARF_RETURN_IF_ERROR(parse_host_port(value));
    c.admin_listen = value;
  } else if (key == "sync.policy") {
    WHARF_ASSIGN_OR_RETURN(c.topic_defaults.sync, storage::SyncPolicy::parse(value));
  } else if (key == "auto.create.topics.enable") {
    if (value != "true" && value != "false") {
      return fail(ErrorCode::kInvalidArgument,
                  "auto.create.topics.enable: '{}' is not true or false", excerpt(value));
    }
    c.server.auto_create_topics = value == "true";
  } else if (key == "num.partitions") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 1 || n > 10000)
      return fail(ErrorCode::kInvalidArgument, "num.partitions: {} is outside [1, 10000]", n);
    c.server.default_partitions = static_cast<std::int32_t>(n);
  } else if (key == "socket.request.max.bytes") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 1024 || n > (1ll << 30))
      return fail(ErrorCode::kInvalidArgument,
                  "socket.request.max.bytes: {} is outside [1 KiB, 1 GiB]", n);
    c.server.request_bytes_max = static_cast<std::size_t>(n);
  } else if (key == "connections.max") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 1 || n > 100000)
      return fail(ErrorCode::kInvalidArgument, "connections.max: {} is outside [1, 100000]", n);
    c.server.connections_max = static_cast<std::size_t>(n);
  } else if (key == "queued.max.request.bytes") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 1024 || n > (16ll << 30))
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [1 KiB, 16 GiB]", key, n);
    c.server.request_memory_bytes_max = static_cast<std::size_t>(n);
  } else if (key == "fetch.read.ahead.max.bytes") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 0 || n > (16ll << 30))
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [0, 16 GiB] (0: off)", key, n);
    c.server.fetch_read_ahead_bytes_max = static_cast<std::size_t>(n);
  } else if (key == "connections.max.idle.ms") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 1000 || n > 86'400'000)
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [1000, 86400000]", key, n);
    c.server.idle_timeout = std::chrono::milliseconds(n);
  } else if (key == "request.read.timeout.ms") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 1000 || n > 3'600'000)
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [1000, 3600000]", key, n);
    c.server.request_read_timeout = std::chrono::milliseconds(n);
  } else if (key == "group.initial.rebalance.delay.ms") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 0 || n > 300'000)
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [0, 300000]", key, n);
    c.server.group_initial_rebalance_delay = std::chrono::milliseconds(n);
  } else if (key == "offsets.topic.num.partitions") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 1 || n > 1000)
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [1, 1000]", key, n);
    c.server.offsets_topic_partitions = static_cast<std::int32_t>(n);
  } else if (key == "log.cleaner.io.max.bytes.per.second") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 0 || n > (1ll << 40))
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [0, 1 TiB] (0: unthrottled)", key,
                  n);
    c.cleaner.io_bytes_per_second = static_cast<std::uint64_t>(n);
  } else if (key == "log.cleaner.dedupe.buffer.size") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < (1ll << 20) || n > (16ll << 30))
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [1 MiB, 16 GiB]", key, n);
    c.cleaner.key_map_bytes_max = static_cast<std::size_t>(n);
  } else if (key == "log.cleaner.backoff.ms") {
    WHARF_ASSIGN_OR_RETURN(auto n, to_int(key, value));
    if (n < 100 || n > 3'600'000)
      return fail(ErrorCode::kInvalidArgument, "{}: {} is outside [100, 3600000]", key, n);
    c.cleaner_backoff = std::chrono::milliseconds(n);
  } else {
    // Topic defaults under their log.* broker names map onto the topic config names.
    static const std::map<std::string, std::string> kTopicKeys = {
        {"message.max.bytes", "max.message.bytes"}, {"log.segment.bytes", "segment.bytes"},
        {"log.segment.ms", "segment.ms"},           {"log.retention.ms", "retention.ms"},
        {"log.retention.bytes", "retention.bytes"},
    };
    auto it = kTopicKeys.find(key);
    if (it == kTopicKeys.end())
      return fail(ErrorCode::kInvalidArgument, "unknown setting '{}'", excerpt(key));
    WHARF_ASSIGN_OR_RETURN(c.topic_defaults,
                           storage::TopicConfig::from_map({{it->second, value}}, c.topic_defaults));
  }
  return ok();
}

Status apply_config_file(BrokerConfig& config, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return fail(ErrorCode::kNotFound, "cannot read config file {}", excerpt(path));
  // Read at most one byte past the bound, so a pipe or device is bounded too (no size to stat).
  std::string text(kConfigFileBytesMax + 1, '\0');
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (file.bad()) return fail(ErrorCode::kNotFound, "cannot read config file {}", excerpt(path));
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (text.size() > kConfigFileBytesMax) {
    return fail(ErrorCode::kInvalidArgument, "config file {} is larger than {} bytes",
                excerpt(path), kConfigFileBytesMax);
  }
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto trim = [](std::string s) {
      const auto b = s.find_first_not_of(" \t\r");
      const auto e = s.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "{}:{}: expected key=value", excerpt(path), number);
    auto s = apply_setting(config, trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
    if (!s)
      return fail(std::move(s).error().with_context(fmt::format("{}:{}", excerpt(path), number)));
  }
  return ok();
}

Result<std::unique_ptr<Broker>> Broker::start(BrokerConfig config, io::FileSystem& fs,
                                              const Clock& clock) {
  std::unique_ptr<Broker> b(new Broker(std::move(config)));
  raise_descriptor_limit();
  WHARF_RETURN_IF_ERROR(io::create_dirs_durable(fs, b->config_.data_dir));
  WHARF_ASSIGN_OR_RETURN(b->config_.server.cluster_id,
                         load_or_create_cluster_id(fs, b->config_.data_dir));
  WHARF_ASSIGN_OR_RETURN(b->producer_ids_,
                         kafka::ProducerIdAllocator::open(fs, b->config_.data_dir));
  storage::LogManagerOptions options;
  options.data_dir = b->config_.data_dir;
  options.defaults = b->config_.topic_defaults;
  options.cleaner = b->config_.cleaner;
  options.cleaner_backoff = b->config_.cleaner_backoff;
  WHARF_ASSIGN_OR_RETURN(b->log_, storage::LogManager::open(fs, options, clock));
  WHARF_RETURN_IF_ERROR(check_descriptor_limit(b->config_.server.connections_max));
  b->server_ =
      std::make_unique<kafka::KafkaServer>(b->config_.server, *b->log_, *b->producer_ids_, clock);
  WHARF_RETURN_IF_ERROR(b->server_->start());
  if (!b->config_.admin_listen.empty()) {
    WHARF_ASSIGN_OR_RETURN(auto hp, parse_host_port(b->config_.admin_listen));
    b->admin_ = std::make_unique<admin::AdminApi>(*b->log_, *b->server_);
    b->http_ = std::make_unique<admin::HttpServer>(
        hp.first, hp.second,
        [api = b->admin_.get()](const admin::HttpRequest& r) { return api->handle(r); });
    WHARF_RETURN_IF_ERROR(b->http_->start());
  }
  return b;
}

Broker::~Broker() {
  auto s = stop();
  if (!s) WHARF_LOG_ERROR("broker shutdown: {}", s.error().to_string());
}

Status Broker::stop() {
  if (stopped_) return ok();
  stopped_ = true;
  // The admin API goes last so /readyz reports the shutdown while the Kafka side drains.
  if (server_) server_->stop();
  if (http_) http_->stop();
  admin_.reset();
  if (log_) return log_->close();
  return ok();
}

}  // namespace wharf::broker
