// Wharf in five minutes: one event type, a publisher and two consumer groups that each see
// every order, on the embedded transport (no broker to run). Prints what each group handled and
// exits 0 once both have seen every order.
#include <wharf/wharf.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

struct OrderPlaced {
  std::string order_id;
  std::string customer_id;
  std::int64_t total_cents = 0;
};
WHARF_EVENT(OrderPlaced, "checkout.OrderPlaced", 2, order_id, customer_id, total_cents);

// Version 1 carried "amount" in whole units: old events stay readable forever.
WHARF_UPCAST("checkout.OrderPlaced", 1, [](wharf::json& e) {
  e["total_cents"] = e["amount"].get<std::int64_t>() * 100;
  e.erase("amount");
});

int main(int argc, char** argv) {
  const std::string data_dir = argc > 1 ? argv[1] : "./quickstart-data";
  constexpr int kOrders = 10;

  // The embedded transport hosts Wharf's log in this process; the same code runs against a
  // broker or a Kafka cluster with wharf::KafkaOptions{.bootstrap = "host:9092"}.
  wharf::EmbeddedOptions options;
  options.data_dir = data_dir;
  auto bus = wharf::Bus::open(options);
  if (!bus) {
    std::fprintf(stderr, "open: %s\n", bus.error().to_string().c_str());
    return 1;
  }
  std::printf("kafka clients can attach at %s\n", (*bus)->kafka_address().c_str());
  if (auto s = (*bus)->ensure_topic("orders", 6); !s) {
    std::fprintf(stderr, "topic: %s\n", s.error().to_string().c_str());
    return 1;
  }

  // Two consumer groups: each gets every order; each partition in order.
  std::atomic<int> reserved{0}, emailed{0};
  wharf::Router inventory(*bus, {.group = "inventory", .concurrency = 2});
  inventory.use(wharf::recover());
  inventory.on<OrderPlaced>("orders", [&](const OrderPlaced& e, wharf::Context&) -> wharf::Status {
    std::printf("inventory: reserve stock for %s\n", e.order_id.c_str());
    ++reserved;
    return wharf::ok();
  });
  wharf::Router email(*bus, {.group = "email"});
  email.on<OrderPlaced>("orders", [&](const OrderPlaced& e, wharf::Context&) -> wharf::Status {
    std::printf("email: receipt to %s for %lld cents\n", e.customer_id.c_str(),
                static_cast<long long>(e.total_cents));
    ++emailed;
    return wharf::ok();
  });
  std::stop_source stop;
  std::jthread t1([&] { (void)inventory.run(stop.get_token()); });
  std::jthread t2([&] { (void)email.run(stop.get_token()); });

  // The publisher: the key (order id) picks the partition, so one order's events stay in order.
  for (int i = 1; i <= kOrders; ++i) {
    OrderPlaced e{"order-" + std::to_string(i), "customer-" + std::to_string(i % 3), 1000 * i};
    if (auto s = bus->publish("orders", wharf::make_message(e, e.order_id)); !s) {
      std::fprintf(stderr, "publish: %s\n", s.error().to_string().c_str());
      return 1;
    }
  }
  for (int i = 0; i < 600 && (reserved < kOrders || emailed < kOrders); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop.request_stop();  // routers drain what they hold, commit, and leave their groups
  t1.join();
  t2.join();
  (void)(*bus)->close();
  std::printf("inventory handled %d, email handled %d of %d orders\n", reserved.load(),
              emailed.load(), kOrders);
  return reserved >= kOrders && emailed >= kOrders ? 0 : 1;
}
