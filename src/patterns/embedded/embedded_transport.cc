// The embedded transport: Wharf's own log hosted in this process, no broker to run.
//
// Bus::open(wharf::EmbeddedOptions{...}) starts the broker in-process on `data_dir` with a Kafka
// listener on loopback, then talks to it through the same librdkafka client as the kafka
// transport. So the embedded bus has the broker's consumer groups, durable committed offsets
// in __consumer_offsets and fsync-backed acknowledgements, and kcat, `wharf` and other
// processes attach to the same topics at kafka_address() while it runs. Why the in-process
// path goes through the client rather than straight to storage, and what it costs:
// docs/decisions/0004-embedded-transport.md.
//
// Shutdown order: the client first (flushes what it holds), then the broker (drains requests,
// syncs, writes the clean-shutdown markers).
#include <memory>

#include "base/log.h"
#include "broker/broker.h"
#include "io/posix_file_system.h"
#include "patterns/kafka/kafka_transport.h"
#include "wharf/transport.h"

namespace wharf {
namespace {

class EmbeddedTransport final : public Transport {
 public:
  static Result<std::shared_ptr<EmbeddedTransport>> create(const EmbeddedOptions& options) {
    auto t = std::shared_ptr<EmbeddedTransport>(new EmbeddedTransport());
    broker::BrokerConfig config;
    config.data_dir = options.data_dir;
    WHARF_ASSIGN_OR_RETURN(auto host_port, broker::parse_host_port(options.listen));
    config.server.listen_host = host_port.first;
    config.server.listen_port = host_port.second;
    config.server.default_partitions = options.default_partitions;
    config.admin_listen = options.admin;
    WHARF_RETURN_IF_ERROR(broker::apply_setting(config, "sync.policy", options.sync_policy));
    for (const auto& [k, v] : options.broker_settings)
      WHARF_RETURN_IF_ERROR(broker::apply_setting(config, k, v));
    WHARF_ASSIGN_OR_RETURN(
        t->broker_, broker::Broker::start(std::move(config), t->fs_, SystemClock::instance()));
    KafkaOptions client;
    client.bootstrap =
        fmt::format("{}:{}", host_port.first == "0.0.0.0" ? "127.0.0.1" : host_port.first,
                    t->broker_->kafka_port());
    client.client_id = "wharf-embedded";
    client.properties = options.properties;
    client.default_partitions = options.default_partitions;
    auto k = make_kafka_transport(client, "embedded");
    if (!k) {
      (void)t->broker_->stop();
      return fail(std::move(k).error());
    }
    t->client_ = std::move(*k);
    return t;
  }

  ~EmbeddedTransport() override { (void)close(); }

  Status publish(const std::string& topic, std::vector<Message> messages) override {
    return client_->publish(topic, std::move(messages));
  }
  Result<std::unique_ptr<Subscription>> subscribe(SubscribeOptions options) override {
    return client_->subscribe(std::move(options));
  }
  Status ensure_topic(const std::string& topic, std::int32_t partitions) override {
    return client_->ensure_topic(topic, partitions);
  }
  Result<std::int32_t> partition_count(const std::string& topic) override {
    return client_->partition_count(topic);
  }
  Result<std::map<TopicPartition, std::int64_t>> end_offsets(const std::string& topic) override {
    return client_->end_offsets(topic);
  }
  Result<std::map<TopicPartition, std::int64_t>> committed_offsets(
      const std::string& group, const std::string& topic) override {
    return client_->committed_offsets(group, topic);
  }
  Status commit_offsets(const std::string& group,
                        const std::map<TopicPartition, std::int64_t>& offsets) override {
    return client_->commit_offsets(group, offsets);
  }
  Status close() override {
    if (closed_) return ok();
    closed_ = true;
    Status a = client_ ? client_->close() : ok();
    Status b = broker_ ? broker_->stop() : ok();
    if (!a) return a;
    return b;
  }
  std::string_view name() const override { return "embedded"; }
  std::string kafka_address() const override { return client_->kafka_address(); }

 private:
  EmbeddedTransport() = default;
  io::PosixFileSystem fs_;
  std::unique_ptr<broker::Broker> broker_;
  std::shared_ptr<Transport> client_;
  bool closed_ = false;
};

}  // namespace

Result<Bus> Bus::open(const EmbeddedOptions& options) {
  WHARF_ASSIGN_OR_RETURN(auto t, EmbeddedTransport::create(options));
  return Bus(std::shared_ptr<Transport>(std::move(t)));
}

}  // namespace wharf
