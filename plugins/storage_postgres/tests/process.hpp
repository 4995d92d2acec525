// Child processes and throwaway PostgreSQL clusters for the storage_postgres tests.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace hive::storage_postgres::test {

// A child process with its stdout on a pipe. Killed (SIGKILL) if still running
// when destroyed, so a failing test never leaves one behind.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }

  // The next line of stdout, or nullopt when `limit` passes or the pipe closes.
  std::optional<std::string> readLine(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      std::size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd descriptor{out_, POLLIN, 0};
      if (::poll(&descriptor, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[256];
      ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // The exit code, or nullopt when it is still running after `limit`.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      int status = 0;
      pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  bool exited_ = false;
  std::string buffer_;
};

inline int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A PostgreSQL cluster of the test's own, so that stopping and restarting it
// disturbs nobody else. As root, it runs as the `postgres` user (initdb refuses root).
class ThrowawayCluster {
 public:
  ThrowawayCluster() {
    namespace fs = std::filesystem;
    for (const char* candidate :
         {"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"})
      if (fs::exists(fs::path(candidate) / "initdb")) bin_ = candidate;
    directory_ = "/tmp/hive-pg-restart-" + std::to_string(::getpid()) + "-" + std::to_string(freePort());
    fs::remove_all(directory_);
    fs::create_directories(directory_);
    if (::geteuid() == 0) run("chown postgres " + directory_);
    port_ = freePort();
    ready_ = !bin_.empty() && run(asUser(bin_ + "/initdb -D " + directory_ +
                                         "/data -A trust -U postgres "
                                         "--no-locale -E UTF8 > " +
                                         directory_ + "/initdb.log 2>&1")) == 0;
  }
  ~ThrowawayCluster() {
    if (ready_) stop();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  ThrowawayCluster(const ThrowawayCluster&) = delete;
  ThrowawayCluster& operator=(const ThrowawayCluster&) = delete;

  bool ready() const { return ready_; }
  std::string url() const { return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres"; }
  std::string urlWithPassword(const std::string& password) const {
    return "postgresql://postgres:" + password + "@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }

  bool start() {
    return run(asUser(bin_ + "/pg_ctl -D " + directory_ + "/data -l " + directory_ +
                      "/server.log -w -t 60 -o \"-p " + std::to_string(port_) + " -k " + directory_ +
                      " -c listen_addresses=127.0.0.1 -c fsync=off\" start > /dev/null 2>&1")) == 0;
  }
  // Immediate shutdown: the server goes away as if it crashed.
  bool stop() {
    return run(asUser(bin_ + "/pg_ctl -D " + directory_ +
                      "/data -m immediate -w -t 60 stop > /dev/null 2>&1")) == 0;
  }

 private:
  static int run(const std::string& command) { return std::system(command.c_str()); }
  static std::string asUser(const std::string& command) {
    if (::geteuid() != 0) return command;
    return "runuser -u postgres -- sh -c '" + command + "'";
  }

  std::string bin_;
  std::string directory_;
  int port_ = 0;
  bool ready_ = false;
};

}  // namespace hive::storage_postgres::test
