// Test support: runs the real `wharf serve` binary as a child process on a free loopback port
// with its own data directory, and can stop it (SIGTERM), kill it (SIGKILL) and restart it on
// the same port and directory. Used by integration tests that talk to the broker with real
// Kafka clients. Not thread-safe; one per test.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace wharf::test {

class BrokerProcess {
 public:
  // `extra_args` are appended to `wharf serve` (e.g. {"--sync", "none"}).
  explicit BrokerProcess(std::vector<std::string> extra_args = {});
  ~BrokerProcess();

  // Starts the broker and waits until it prints "ready". Returns false (with the broker's
  // output in last_output()) if it exits or takes longer than 30 s.
  bool start();
  // SIGTERM and wait: a clean shutdown. Returns the exit status.
  int stop();
  // SIGKILL and wait: a crash.
  void kill9();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  std::string bootstrap() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& last_output() const { return output_; }

 private:
  std::vector<std::string> extra_args_;
  std::string data_dir_;
  int port_ = 0;  // fixed after the first start so clients can reconnect to the same address
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
};

// The wharf binary under test (set at build time).
const char* wharf_binary();

}  // namespace wharf::test
