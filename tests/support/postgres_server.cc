#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

namespace wharf::test {

namespace {

namespace fs = std::filesystem;

// The newest /usr/lib/postgresql/<version>/bin holding pg_ctl and initdb.
Result<std::string> find_bin_dir() {
  if (const char* env = std::getenv("WHARF_PG_BIN"); env != nullptr && *env != '\0') {
    const fs::path bin = env;
    if (!fs::exists(bin / "initdb") || !fs::exists(bin / "pg_ctl")) {
      return fail(ErrorCode::kNotFound, "WHARF_PG_BIN={}: no initdb and pg_ctl there", env);
    }
    return bin.string();
  }
  const fs::path root = "/usr/lib/postgresql";
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const fs::path bin = entry.path() / "bin";
    if (fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl") && fs::exists(bin / "postgres")) {
      found.emplace_back(std::atoi(entry.path().filename().c_str()), bin.string());
    }
  }
  if (found.empty()) {
    return fail(
        ErrorCode::kNotFound,
        "PostgreSQL server binaries not found under {}/<version>/bin (initdb, pg_ctl, "
        "postgres): install Debian's `postgresql` package (`make test` and `make deps` do), "
        "or set WHARF_PG_BIN",
        root.string());
  }
  std::sort(found.begin(), found.end());
  return found.back().second;
}

}  // namespace

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

Status PostgresServer::run(const std::string& program, const std::vector<std::string>& args,
                           std::string* output) {
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  const std::string path = bin_dir_ + "/" + program;
  std::vector<std::string> all{path};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return fail(errno_error(errno, "pipe"));
  const pid_t pid = ::fork();
  if (pid < 0) return fail(errno_error(errno, "fork"));
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    if (run_as_uid_ >= 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(static_cast<gid_t>(run_as_gid_)) != 0 ||
          ::setuid(static_cast<uid_t>(run_as_uid_)) != 0) {
        ::_exit(126);
      }
    }
    if (::chdir(dir_.c_str()) != 0) ::_exit(126);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output != nullptr) *output = out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return fail(ErrorCode::kInternal, "{} failed (status {}): {}", program, status, out);
  }
  return ok();
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::start() {
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  WHARF_ASSIGN_OR_RETURN(server->bin_dir_, find_bin_dir());

  // As root the server runs as `postgres`, which must be able to reach the directory: /tmp
  // rather than a TMPDIR that may sit under /root.
  const fs::path parent = ::geteuid() == 0 ? fs::path("/tmp") : fs::temp_directory_path();
  std::string pattern = (parent / "wharf-pg-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return fail(errno_error(errno, "mkdtemp"));
  server->dir_ = pattern;

  if (::geteuid() == 0) {
    // initdb and postgres refuse to run as root.
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) {
      return fail(ErrorCode::kNotFound,
                  "running as root and there is no `postgres` user to run the server as "
                  "(Debian's postgresql package creates it)");
    }
    server->run_as_uid_ = static_cast<int>(pw->pw_uid);
    server->run_as_gid_ = static_cast<int>(pw->pw_gid);
    if (::chown(server->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return fail(errno_error(errno, "chown " + server->dir_));
    }
  }

  const std::string data = server->dir_ + "/data";
  std::string output;
  WHARF_RETURN_IF_ERROR(server->run(
      "initdb", {"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"},
      &output));

  // The port is free when picked but may be taken before the server binds it; try a few.
  constexpr int kStartAttempts = 3;
  Status started = ok();
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    server->port_ = free_local_port();
    const std::string options = fmt::format(
        "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
        "-c max_connections=200 -c deadlock_timeout=100ms",
        server->port_, server->dir_);
    started = server->run(
        "pg_ctl",
        {"-D", data, "-l", server->dir_ + "/server.log", "-w", "-t", "60", "-o", options, "start"},
        &output);
    if (started) break;
  }
  if (!started) {
    std::string log;
    std::error_code ec;
    if (fs::exists(server->dir_ + "/server.log", ec)) {
      FILE* f = std::fopen((server->dir_ + "/server.log").c_str(), "r");
      if (f != nullptr) {
        char buffer[4096];
        std::size_t n = std::fread(buffer, 1, sizeof(buffer), f);
        log.assign(buffer, n);
        std::fclose(f);
      }
    }
    return fail(std::move(started).error().with_context("server log: " + log));
  }
  server->started_ = true;
  return server;
}

PostgresServer::~PostgresServer() {
  if (started_) {
    std::string output;
    (void)run("pg_ctl", {"-D", dir_ + "/data", "-m", "fast", "-w", "stop"}, &output);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PostgresServer::url(const std::string& database) const {
  return fmt::format("postgresql://postgres@127.0.0.1:{}/{}", port_, database);
}

Result<std::string> PostgresServer::create_database() {
  const std::string name = fmt::format("wharf_test_{}", ++databases_created_);
  std::string output;
  WHARF_RETURN_IF_ERROR(
      run("createdb", {"-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "postgres", name},
          &output));
  return url(name);
}

}  // namespace wharf::test
