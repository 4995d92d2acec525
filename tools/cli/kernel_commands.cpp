#include "tools/cli/kernel_commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "hive/version.h"
#include "host/catalog.hpp"
#include "host/config/kernel_config.hpp"
#include "host/config/render.hpp"
#include "host/control_socket.hpp"
#include "host/kernel_process.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "tools/config/migrate.hpp"

namespace hive::tools {

using namespace hive::host;

namespace {

using Clock = std::chrono::steady_clock;

void printDiagnostics(const Diagnostics& diagnostics) {
  for (const auto& d : diagnostics.items()) std::cerr << d.toString() << "\n";
}

// Loads and validates the config files; prints every error, after saying
// which settings are in the shape of an older config version.
Result<KernelConfig> readConfig(const ConfigFiles& files) {
  for (const auto& file : files)
    for (const auto& warning : configVersionWarnings(file)) std::cerr << warning << "\n";
  Diagnostics diagnostics;
  auto config = loadKernelConfig(files, diagnostics);
  printDiagnostics(diagnostics);
  return config;
}

// The config file with the command line's overrides; prints every error, and
// sets `exitCode` when there is one (2: a bad option).
Result<KernelConfig> runConfig(const RunOptions& options, int& exitCode) {
  exitCode = 1;
  auto config = readConfig(options.configFiles);
  if (!config.ok()) return config.status().withContext(layerNames(options.configFiles));
  exitCode = 2;
  if (options.logFormat == "json") config->logFormat = LogFormat::kJson;
  if (options.logFormat == "text") config->logFormat = LogFormat::kText;
  if (!options.logLevel.empty()) {
    auto level = parseLogLevel(options.logLevel);
    if (!level.ok()) return invalidArgument("--log-level: " + level.status().message());
    config->logLevel = *level;
  }
  exitCode = 0;
  return config;
}

// The control socket of the kernel running on `files` (or `socket`).
Result<std::string> controlSocketPath(const ConfigFiles& files, const std::string& socket) {
  if (!socket.empty()) return socket;
  Diagnostics diagnostics;
  auto config = loadKernelConfig(files, diagnostics);
  if (!config.ok()) {
    printDiagnostics(diagnostics);
    return config.status();
  }
  if (config->controlSocket.empty())
    return failedPrecondition(layerNames(files) +
                              " sets no hive.control_socket; add one to control a running hive");
  return config->controlSocket;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out.empty() ? "-" : out;
}

}  // namespace

int runCommand(const RunOptions& options) {
  // Before anything else, so that every thread created from here on inherits the mask.
  sigset_t signals = blockKernelSignals();
  auto begin = Clock::now();
  int exitCode = 0;
  auto config = runConfig(options, exitCode);
  if (!config.ok()) {
    std::cerr << "hive: " << config.status().message() << "\n";
    return exitCode;
  }
  return runKernel(std::move(config).value(), options.configFiles, signals, begin);
}

int controlCommand(const ConfigFiles& files, const std::string& socket, const std::string& command) {
  auto path = controlSocketPath(files, socket);
  if (!path.ok()) {
    std::cerr << "hive: " << path.status().message() << "\n";
    return 1;
  }
  auto reply = sendControlCommand(*path, command);
  if (!reply.ok()) {
    std::cerr << "hive: " << reply.status().message() << "\n";
    return 1;
  }
  bool ok = reply->rfind("ok\n", 0) == 0;
  if (ok) {
    std::cout << reply->substr(3);
  } else {
    std::cerr << "hive: " << *reply;
  }
  return ok ? 0 : 1;
}

int checkConfigCommand(const ConfigFiles& files) {
  const std::string path = layerNames(files);
  auto config = readConfig(files);
  if (!config.ok()) {
    std::cerr << "hive: " << path << ": " << config.status().message() << "\n";
    return 1;
  }
  // Plugins validate their own sections: load and configure them, start nothing.
  // Warnings show refused plugin files, the likely cause of a "not found".
  LogSystem logs(LogOutputFormat::kText, LogLevel::kWarn);
  PluginHost host(std::move(config).value(), logs);
  Diagnostics diagnostics;
  Status loaded = host.load(diagnostics);
  printDiagnostics(diagnostics);
  std::size_t problems = diagnostics.errorCount();
  problems += diagnostics.items().size() - diagnostics.errorCount();  // refusals are warnings under `run`
  for (const auto& p : host.status()) {
    if (p.state != PluginState::kFailed) continue;
    bool located =
        std::any_of(diagnostics.items().begin(), diagnostics.items().end(),
                    [&](const Diagnostic& d) { return d.message.find(p.reason) != std::string::npos; });
    if (located) continue;
    std::cerr << path << ": error: " << p.reason << "\n";
    ++problems;
  }
  if (!loaded.ok() || problems > 0) {
    std::cerr << path << ": " << problems << " problem(s) found\n";
    return 1;
  }
  std::cout << path << ": OK (" << host.status().size() << " plugins enabled)\n";
  return 0;
}

int pluginsListCommand(std::vector<std::string> directories, const ConfigFiles& files) {
  std::string socket;
  if (directories.empty()) {
    auto config = readConfig(files);
    if (!config.ok()) {
      std::cerr << "hive: " << layerNames(files) << ": " << config.status().message() << "\n";
      return 1;
    }
    directories = config->pluginDirectories;
    socket = config->controlSocket;
  }
  // When a hive runs on this config, say what it runs before what is on disk.
  if (!socket.empty()) {
    if (auto running = sendControlCommand(socket, "plugins status");
        running.ok() && running->rfind("ok\n", 0) == 0) {
      std::printf("running (hive at %s):\n%s\n", socket.c_str(), running->substr(3).c_str());
      std::printf("plugin files:\n");
    }
  }
  Catalog catalog = scanPluginDirectories(directories, HostAbi::current());
  std::printf("%-24s %-10s %-5s %-32s %-28s %-28s %s\n", "NAME", "VERSION", "ABI", "DEPENDENCIES", "PROVIDES",
              "REQUIRES", "FILE");
  for (const auto& p : catalog.plugins) {
    const auto& m = p.manifest;
    std::vector<std::string> dependencies, provides, requires_;
    for (const auto& d : m.dependencies) dependencies.push_back(d.name + " " + d.range);
    for (const auto& s : m.provides) provides.push_back(s.toString());
    for (const auto& s : m.requiredServices) requires_.push_back(s.toString());
    std::string abi = std::to_string(m.abiMajor) + "." + std::to_string(m.abiMinor);
    std::printf("%-24s %-10s %-5s %-32s %-28s %-28s %s\n", m.name.c_str(), m.version.c_str(), abi.c_str(),
                join(dependencies).c_str(), join(provides).c_str(), join(requires_).c_str(), p.path.c_str());
  }
  for (const auto& r : catalog.refusals) std::fprintf(stderr, "refused: %s\n", r.c_str());
  return 0;
}

// `hive config show`: the layers merged, as YAML, each value followed by where it came from.
int configShowCommand(const ConfigFiles& files) {
  Diagnostics diagnostics;
  auto merged = loadConfigLayers(files, diagnostics);
  printDiagnostics(diagnostics);
  if (!merged.ok()) {
    std::cerr << "hive: " << merged.status().message() << "\n";
    return 1;
  }
  std::cout << "# " << layerNames(files) << " merged; ${VAR}s expanded\n" << renderWithOrigins(*merged);
  // Shown even when invalid (that is when one wants to see it), but it fails then.
  Diagnostics validation;
  auto config = kernelConfigFromNode(*merged, files.front(), validation);
  printDiagnostics(validation);
  return config.ok() ? 0 : 1;
}

// `hive dashboard`: the link to the running hive's dashboard, with the api's
// local token in its fragment (never sent to the server, so never in a log).
int dashboardCommand(const ConfigFiles& files) {
  auto config = readConfig(files);
  if (!config.ok()) {
    std::cerr << "hive: " << config.status().message() << "\n";
    return 1;
  }
  const std::string api = config->dataDirectory + "/api";
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    return in ? text : std::string();
  };
  std::string port = read(api + "/port");
  if (port.empty()) {
    std::cerr << "hive: no " << api << "/port: is hive running on " << layerNames(files)
              << " with the api plugin?\n";
    return 1;
  }
  std::string token = read(api + "/local_token");
  std::string link = "http://127.0.0.1:" + port + "/dashboard/";
  if (token.empty()) {
    std::cerr << "hive: cannot read " << api << "/local_token (run this as the user that runs hive); "
              << "the link works without it, but not the admin views\n";
    std::cout << link << "\n";
    return 1;
  }
  std::cout << link << "#token=" << token << "\n";
  return 0;
}

int versionCommand() {
  HostAbi abi = HostAbi::current();
  std::cout << "hive " << HIVE_VERSION << "\nSDK ABI " << abi.major << "." << abi.minor << "\ntoolchain "
            << abi.toolchain << "\nasio runtime " << abi.asioRuntime << "\n";
  return 0;
}

}  // namespace hive::tools
