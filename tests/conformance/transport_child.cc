// The consumer the conformance suite kills with SIGKILL: a Router in group GROUP on TOPIC that
// appends each handled message's payload and a newline to OUT (unbuffered write, so what the
// kernel has survives the kill), and each commit the transport acknowledged to OUT.commits as
// "PARTITION=NEXT_OFFSET ..." lines. Usage: transport_child embedded|kafka DATA_DIR|BOOTSTRAP
// GROUP TOPIC OUT
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "wharf/reliability.h"
#include "wharf/router.h"
#include "wharf/transport.h"

int main(int argc, char** argv) {
  if (argc != 6 && !(argc == 7 && std::string(argv[6]) == "dlq")) {
    std::fprintf(stderr, "usage: %s embedded|kafka DATA_DIR|BOOTSTRAP GROUP TOPIC OUT [dlq]\n",
                 argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  wharf::Result<wharf::Bus> bus =
      wharf::fail(wharf::ErrorCode::kInvalidArgument, "unknown transport {}", kind);
  if (kind == "embedded") {
    wharf::EmbeddedOptions o;
    o.data_dir = argv[2];
    o.broker_settings = {{"group.initial.rebalance.delay.ms", "0"}};
    bus = wharf::Bus::open(o);
  } else if (kind == "kafka") {
    wharf::KafkaOptions o;
    o.bootstrap = argv[2];
    bus = wharf::Bus::open(o);
  }
  if (!bus) {
    std::fprintf(stderr, "open: %s\n", bus.error().to_string().c_str());
    return 1;
  }
  const int fd = ::open(argv[5], O_WRONLY | O_APPEND);
  if (fd < 0) return 1;
  const int commits_fd =
      ::open((std::string(argv[5]) + ".commits").c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (commits_fd < 0) return 1;
  wharf::RouterOptions options{.group = argv[3], .commit_interval = std::chrono::milliseconds(50)};
  options.on_commit = [commits_fd](const std::map<wharf::TopicPartition, std::int64_t>& offsets) {
    std::string line;
    for (const auto& [tp, next] : offsets) {
      line += std::to_string(tp.partition) + "=" + std::to_string(next) + " ";
    }
    line += "\n";
    if (::write(commits_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      std::abort();  // the test could not tell what was acknowledged
    }
  };
  wharf::Router router(*bus, std::move(options));
  const bool dlq = argc == 7;
  if (dlq) router.use(wharf::dead_letter());
  router.on_message(
      argv[4], "*", [fd, dlq](const wharf::Message& m, wharf::Context&) -> wharf::Status {
        if (dlq && m.payload.starts_with("poison"))
          return wharf::fail(wharf::ErrorCode::kInvalidArgument, "poison");
        const std::string line = m.payload + "\n";
        if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
          return wharf::fail(wharf::ErrorCode::kIoError, "write failed");
        }
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        return wharf::ok();
      });
  std::stop_source never;  // runs until killed
  auto s = router.run(never.get_token());
  std::fprintf(stderr, "router stopped: %s\n", s ? "ok" : s.error().to_string().c_str());
  return 1;
}
