// Test support: the real communication_engine .so in a real PluginHost (the
// redis transport needs the kernel's io_context), and throwaway Redis servers.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <hiredis/hiredis.h>

#include "hive/config.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/bus_batch.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/service_registry.hpp"

namespace hive::communication_engine::test {

namespace fs = std::filesystem;

// A fresh directory, removed when the object goes.
class ScratchDirectory {
 public:
  explicit ScratchDirectory(const std::string& tag = "bus") {
    static std::atomic<int> serial{0};
    path_ = fs::temp_directory_path() /
            ("hive-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++serial));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline int logDescriptor() {
  // HIVE_TEST_LOGS=1 shows the kernel's and the plugin's log lines on stderr.
  static int fd = std::getenv("HIVE_TEST_LOGS") ? 2 : ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  return fd;
}

// A kernel running communication_engine with `section` as its config.
class BusHost {
 public:
  // Logs go to `logFd` at debug level when given, else see logDescriptor().
  explicit BusHost(ConfigNode section, int logFd = -1)
      : logs_(host::LogOutputFormat::kText,
              logFd >= 0 || std::getenv("HIVE_TEST_LOGS") ? LogLevel::kDebug : LogLevel::kCritical,
              logFd >= 0 ? logFd : logDescriptor()) {
    fs::path plugins = directory_.path() / "plugins";
    fs::create_directories(plugins);
    fs::copy_file(HIVE_BUS_PLUGIN, plugins / fs::path(HIVE_BUS_PLUGIN).filename());
    host::KernelConfig config;
    config.pluginDirectories = {plugins.string()};
    config.dataDirectory = (directory_.path() / "data").string();
    config.ioThreads = 2;
    config.blockingThreads = 2;
    host::PluginEntry entry;
    entry.name = "communication_engine";
    entry.required = true;
    entry.config = std::move(section);
    config.plugins.push_back(std::move(entry));
    host_ = std::make_unique<host::PluginHost>(config, logs_);
    Diagnostics diagnostics;
    Status loaded = host_->load(diagnostics);
    if (!loaded.ok()) {
      error_ = loaded.toString() + "\n" + diagnostics.toString();
      return;
    }
    Status started = host_->start();
    if (!started.ok()) {
      error_ = started.toString();
      return;
    }
    auto leases = host_->services().lookup({bus::Bus::kServiceId.name, bus::Bus::kServiceId.major});
    if (leases.empty()) {
      error_ = "no provider of hive.bus/1";
      return;
    }
    bus_ = std::static_pointer_cast<bus::Bus>(leases.front().service);
    auto batches = host_->services().lookup(
        {bus::BatchPublisher::kServiceId.name, bus::BatchPublisher::kServiceId.major});
    if (!batches.empty()) batch_ = std::static_pointer_cast<bus::BatchPublisher>(batches.front().service);
  }
  ~BusHost() {
    batch_.reset();
    bus_.reset();
    host_->stop();
  }
  BusHost(const BusHost&) = delete;
  BusHost& operator=(const BusHost&) = delete;

  const std::string& error() const { return error_; }
  bus::Bus* bus() const { return bus_.get(); }
  // Its hive.bus_batch/1 (null if the plugin does not provide it).
  bus::BatchPublisher* batch() const { return batch_.get(); }
  host::PluginHost& host() { return *host_; }

 private:
  ScratchDirectory directory_{"bus-host"};
  host::LogSystem logs_;
  std::unique_ptr<host::PluginHost> host_;
  std::shared_ptr<bus::Bus> bus_;
  std::shared_ptr<bus::BatchPublisher> batch_;
  std::string error_;
};

// A bus whose shared_ptr owns the kernel hosting it.
inline std::shared_ptr<bus::Bus> hostedBus(ConfigNode section, std::string* error = nullptr) {
  auto host = std::make_shared<BusHost>(std::move(section));
  if (host->bus() == nullptr) {
    if (error != nullptr) *error = host->error();
    return nullptr;
  }
  bus::Bus* bus = host->bus();
  return std::shared_ptr<bus::Bus>(bus, [host](bus::Bus*) mutable { host.reset(); });
}

// The same with the plugin's hive.bus_batch/1; both pointers own the kernel.
inline std::pair<std::shared_ptr<bus::Bus>, std::shared_ptr<bus::BatchPublisher>> hostedBusWithBatch(
    ConfigNode section, std::string* error = nullptr) {
  auto host = std::make_shared<BusHost>(std::move(section));
  if (host->bus() == nullptr) {
    if (error != nullptr) *error = host->error();
    return {};
  }
  return {std::shared_ptr<bus::Bus>(host, host->bus()),
          std::shared_ptr<bus::BatchPublisher>(host, host->batch())};
}

inline ConfigNode redisSection(const std::string& url, const std::string& prefix,
                               std::vector<std::pair<std::string, std::string>> extra = {},
                               std::vector<std::pair<std::string, std::string>> top = {}) {
  ConfigNode section = ConfigNode::map();
  section.set("transport", ConfigNode::scalar("redis"));
  for (auto& [k, v] : top) section.set(k, ConfigNode::scalar(v));
  ConfigNode redis = ConfigNode::map();
  redis.set("url", ConfigNode::scalar(url));
  redis.set("prefix", ConfigNode::scalar(prefix));
  for (auto& [k, v] : extra) redis.set(k, ConfigNode::scalar(v));
  section.set("redis", std::move(redis));
  return section;
}

// Deletes every key under `prefix` (tests on the shared server clean up after themselves).
inline void deleteKeys(const std::string& url, const std::string& prefix) {
  // Test URLs: redis://[:password@]host:port
  std::string rest = url.substr(std::min<std::size_t>(url.size(), 8));
  std::string password;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    password = rest.substr(rest.find(':') + 1, at - rest.find(':') - 1);
    rest = rest.substr(at + 1);
  }
  auto colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  int port = colon == std::string::npos ? 6379 : std::atoi(rest.c_str() + colon + 1);
  timeval timeout{5, 0};
  redisContext* context = redisConnectWithTimeout(host.c_str(), port, timeout);
  if (context == nullptr) return;
  if (context->err == 0) {
    if (!password.empty()) freeReplyObject(redisCommand(context, "AUTH %s", password.c_str()));
    std::string cursor = "0";
    std::string match = prefix + "*";
    do {
      auto* reply = static_cast<redisReply*>(
          redisCommand(context, "SCAN %s MATCH %s COUNT 1000", cursor.c_str(), match.c_str()));
      if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        freeReplyObject(reply);
        break;
      }
      cursor.assign(reply->element[0]->str, reply->element[0]->len);
      for (std::size_t i = 0; i < reply->element[1]->elements; ++i) {
        const redisReply* key = reply->element[1]->element[i];
        freeReplyObject(redisCommand(context, "DEL %b", key->str, key->len));
      }
      freeReplyObject(reply);
    } while (cursor != "0");
  }
  redisFree(context);
}

// The shared test server (scripts/test-servers), or empty.
inline std::string testRedisUrl() {
  const char* url = std::getenv("HIVE_TEST_REDIS_URL");
  return url ? url : "";
}
inline constexpr const char kNoRedis[] =
    "HIVE_TEST_REDIS_URL is not set: start the test servers with "
    "eval \"$(scripts/test-servers start)\" (or exclude these tests with ctest -LE redis)";

// A unique key prefix per bus: "hive-test:<pid>:<n>:".
inline std::string uniquePrefix() {
  static std::atomic<int> serial{0};
  return "hive-test:" + std::to_string(::getpid()) + ":" + std::to_string(++serial) + ":";
}

inline int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

inline bool canConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// A redis-server of the test's own, on a free loopback port, append-only with
// fsync on every write (so that an acknowledged write survives kill -9).
class ThrowawayRedis {
 public:
  ThrowawayRedis() : port_(freePort()) {}
  ~ThrowawayRedis() { kill(SIGKILL); }
  ThrowawayRedis(const ThrowawayRedis&) = delete;
  ThrowawayRedis& operator=(const ThrowawayRedis&) = delete;

  // Starts (or restarts, on the same port and data directory) the server;
  // false when it does not accept connections within 10s.
  bool start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::string port = std::to_string(port_);
      std::string dir = directory_.path().string();
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--dir",
               dir.c_str(), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
               "--protected-mode", "no", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (canConnect(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  ScratchDirectory directory_{"redis"};
  int port_;
  pid_t pid_ = -1;
};

}  // namespace hive::communication_engine::test
