#include "tests/integration/broker_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace wharf::test {

const char* wharf_binary() { return WHARF_BIN_PATH; }

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

BrokerProcess::BrokerProcess(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  char tmpl[] = "/tmp/wharf-it-XXXXXX";
  data_dir_ = ::mkdtemp(tmpl);
}

BrokerProcess::~BrokerProcess() {
  if (pid_ > 0) kill9();
  std::error_code ec;
  if (!std::getenv("WHARF_KEEP_DATA")) std::filesystem::remove_all(data_dir_, ec);
}

bool BrokerProcess::start() {
  if (port_ == 0) port_ = free_port();
  int fds[2];
  if (::pipe(fds) != 0) return false;
  std::vector<std::string> args = {wharf_binary(), "serve",
                                   "--data-dir",   data_dir_,
                                   "--listen",     "127.0.0.1:" + std::to_string(port_)};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out_fd_ = fds[0];
  output_.clear();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      const ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      output_.append(buf, static_cast<std::size_t>(n));
      if (output_.find("\nready\n") != std::string::npos) {
        // Keep draining the broker's output in the background so it never blocks on a full pipe.
        ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
        return true;
      }
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
  }
  kill9();
  return false;
}

int BrokerProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  char buf[4096];
  // Drain output while waiting so a chatty shutdown cannot block on the pipe.
  for (;;) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n > 0)
      output_.append(buf, static_cast<std::size_t>(n));
    else
      ::usleep(10'000);
  }
  ssize_t n;
  while ((n = ::read(out_fd_, buf, sizeof buf)) > 0)
    output_.append(buf, static_cast<std::size_t>(n));
  ::close(out_fd_);
  out_fd_ = -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void BrokerProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  if (out_fd_ >= 0) ::close(out_fd_);
  out_fd_ = -1;
  pid_ = -1;
}

}  // namespace wharf::test
