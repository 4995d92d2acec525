// A real PluginHost in the test process running the built api plugin (and the
// test route provider), on port 0, with its log in a file the tests can read.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "client.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/service_registry.hpp"

namespace hive::api_test {

namespace fs = std::filesystem;

inline const fs::path kApiPlugin = fs::path(HIVE_API_PLUGIN);
inline const fs::path kTestPlugins = fs::path(HIVE_API_TEST_PLUGIN_DIR);

inline std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct HostOptions {
  bool withRoutes = true;
  bool bus = false;
  bool admin = false;
  bool auth = false;
  std::string routesFile = "api_test_routes-1.0.0.so";
  hive::LogLevel logLevel = hive::LogLevel::kInfo;
  std::chrono::milliseconds drainDeadline{10'000};
  // Extra settings of the api section: {key, node}.
  std::vector<std::pair<std::string, ConfigNode>> api;
};

inline ConfigNode scalar(std::string text) { return ConfigNode::scalar(std::move(text)); }
inline ConfigNode mapOf(std::vector<std::pair<std::string, ConfigNode>> entries) {
  ConfigNode node = ConfigNode::map();
  for (auto& [key, value] : entries) node.set(key, std::move(value));
  return node;
}
inline ConfigNode listOf(std::vector<std::string> items) {
  ConfigNode node = ConfigNode::sequence();
  for (auto& item : items) node.push(ConfigNode::scalar(std::move(item)));
  return node;
}

class ApiHost {
 public:
  explicit ApiHost(HostOptions options = {}) : options_(std::move(options)) {
    static int serial = 0;
    dir_ = fs::temp_directory_path() /
           ("hive-api-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial));
    fs::remove_all(dir_);
    fs::create_directories(pluginDir());
    logFd_ = ::open((dir_ / "hive.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    logs_ = std::make_unique<host::LogSystem>(host::LogOutputFormat::kText, options_.logLevel, logFd_);
    fs::copy_file(kApiPlugin, pluginDir() / kApiPlugin.filename());
    if (options_.withRoutes)
      fs::copy_file(kTestPlugins / options_.routesFile, pluginDir() / options_.routesFile);
  }
  ~ApiHost() {
    stop();
    logs_.reset();
    if (logFd_ >= 0) ::close(logFd_);
    std::error_code ignored;
    if (!::testing::Test::HasFailure()) fs::remove_all(dir_, ignored);
  }

  fs::path pluginDir() const { return dir_ / "plugins"; }
  fs::path dataDir() const { return dir_ / "data"; }
  std::string log() const { return readFile(dir_ / "hive.log"); }

  // Loads and starts; false (with the reason recorded) when anything failed.
  bool start() {
    host::KernelConfig config;
    config.pluginDirectories = {pluginDir().string()};
    config.dataDirectory = dataDir().string();
    config.ioThreads = 2;
    config.blockingThreads = 2;
    config.drainDeadline = options_.drainDeadline;
    if (options_.withRoutes) {
      host::PluginEntry routes;
      routes.name = "api_test_routes";
      routes.config = mapOf({{"provide_bus", scalar(options_.bus ? "true" : "false")},
                             {"provide_admin", scalar(options_.admin ? "true" : "false")},
                             {"provide_auth", scalar(options_.auth ? "true" : "false")}});
      config.plugins.push_back(routes);
    }
    host::PluginEntry api;
    api.name = "api";
    api.config = mapOf({{"listen", scalar("127.0.0.1:0")}});
    for (auto& [key, value] : options_.api) api.config.set(key, value);
    config.plugins.push_back(api);
    host_ = std::make_unique<host::PluginHost>(config, *logs_);
    Diagnostics diagnostics;
    Status loaded = host_->load(diagnostics);
    if (!loaded.ok()) {
      problem_ = loaded.toString() + "\n" + diagnostics.toString();
      return false;
    }
    Status started = host_->start();
    if (!started.ok()) {
      problem_ = started.toString();
      return false;
    }
    for (const auto& plugin : host_->status())
      if (plugin.state != host::PluginState::kStarted) problem_ += plugin.name + ": " + plugin.reason + "\n";
    if (!problem_.empty()) return false;
    port_ = readPort();
    return port_ != 0;
  }

  // The token the api wrote for the admin routes (no hive.auth/1 provider).
  std::string localToken() const {
    std::string text = readFile(dataDir() / "api" / "local_token");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  // "Authorization: Bearer <local token>\r\n", for request()'s extra headers.
  std::string tokenHeader() const { return "Authorization: Bearer " + localToken() + "\r\n"; }

  std::uint16_t readPort() const {
    std::string text = readFile(dataDir() / "api" / "port");
    return text.empty() ? 0 : static_cast<std::uint16_t>(std::stoi(text));
  }

  void stop() {
    if (host_) host_->stop();
    host_.reset();
  }

  host::PluginHost& host() { return *host_; }
  std::uint16_t port() const { return port_; }
  const std::string& problem() const { return problem_; }

  // Swaps `name` to a copy of `file` (a new path each time, as a rebuilt file would be).
  Status swap(const std::string& name, const fs::path& file) {
    fs::path copy = pluginDir() / ("swap-" + std::to_string(++swaps_) + "-" + file.filename().string());
    fs::copy_file(file, copy, fs::copy_options::overwrite_existing);
    return host_->reload(name, copy.string());
  }

 private:
  HostOptions options_;
  fs::path dir_;
  int logFd_ = -1;
  std::unique_ptr<host::LogSystem> logs_;
  std::unique_ptr<host::PluginHost> host_;
  std::uint16_t port_ = 0;
  std::string problem_;
  int swaps_ = 0;
};

// Waits until `condition` holds or `timeout` passes; returns whether it held.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace hive::api_test
