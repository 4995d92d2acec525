// hive: the kernel's command line.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "hive/version.h"
#include "host/auth_command.hpp"
#include "host/catalog.hpp"
#include "host/config/kernel_config.hpp"
#include "host/config/render.hpp"
#include "host/control_socket.hpp"
#include "host/kernel_admin.hpp"
#include "host/kernel_health.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/plugin_signature.hpp"
#include "host/reload_controller.hpp"
#include "host/scaffold.hpp"
#include "host/secrets_command.hpp"
#include "host/systemd_notify.hpp"
#include "host/watchdog.hpp"
#include "tools/backup/store_backup.hpp"
#include "tools/config/migrate.hpp"
#include "tools/workflow/workflow_command.hpp"

namespace {

using namespace hive;
using namespace hive::host;
using Clock = std::chrono::steady_clock;

LogOutputFormat outputFormat(LogFormat format) {
  return format == LogFormat::kJson ? LogOutputFormat::kJson : LogOutputFormat::kText;
}

void printDiagnostics(const Diagnostics& diagnostics) {
  for (const auto& d : diagnostics.items()) std::cerr << d.toString() << "\n";
}

// The config files of a command: `-c` repeated layers them, later over earlier.
using ConfigFiles = std::vector<std::string>;
const ConfigFiles kDefaultConfig{"config/base.yaml"};

// Loads and validates the config files; prints every error, after saying
// which settings are in the shape of an older config version.
Result<KernelConfig> readConfig(const ConfigFiles& files) {
  for (const auto& file : files)
    for (const auto& warning : tools::configVersionWarnings(file)) std::cerr << warning << "\n";
  Diagnostics diagnostics;
  auto config = loadKernelConfig(files, diagnostics);
  printDiagnostics(diagnostics);
  return config;
}

// The first plugin not yet started, in start order: the one start() is in.
std::string pluginStarting(const PluginHost& host) {
  for (const auto& p : host.status())
    if (p.state == PluginState::kConfigured) return p.name;
  return "none";
}

// Waits up to `slice` for SIGTERM/SIGINT/SIGHUP; the signal, or 0.
int takeSignal(const sigset_t& signals, std::chrono::nanoseconds slice) {
  slice =
      std::clamp(slice, std::chrono::nanoseconds(0), std::chrono::nanoseconds(std::chrono::milliseconds(50)));
  timespec wait{0, static_cast<long>(slice.count())};
  int signal = sigtimedwait(&signals, nullptr, &wait);
  return signal < 0 ? 0 : signal;
}

// Stops every plugin, in reverse order, by `deadline`; past it, or on a second
// SIGTERM/SIGINT, exits at once. Returns normally only when all stopped.
void stopBy(PluginHost& host, Clock::time_point deadline, std::chrono::milliseconds drainDeadline,
            const sigset_t& signals, Logger& log, LogSystem& logs) {
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    host.stop();
    stopped = true;
  });
  while (!stopped) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      log.error("stop deadline of " + std::to_string(drainDeadline.count()) + " ms passed; exiting now");
      logs.flush();
      _exit(1);
    }
    int signal = takeSignal(signals, left);
    if (signal == SIGTERM || signal == SIGINT) {
      log.warn("second signal: exiting now");
      logs.flush();
      _exit(130);
    }
  }
  stopper.join();
}

struct RunOptions {
  ConfigFiles configFiles = kDefaultConfig;
  std::string logFormat;
  std::string logLevel;
};

// Runs `stop` when its scope ends, whichever way it ends: each start is
// followed at once by its guard, so what started stops, in reverse order.
template <typename Stop>
class StopGuard {
 public:
  explicit StopGuard(Stop stop) : stop_(std::move(stop)) {}
  ~StopGuard() { stop_(); }
  StopGuard(const StopGuard&) = delete;
  StopGuard& operator=(const StopGuard&) = delete;

 private:
  Stop stop_;
};

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

// Runs host.start() on a thread of its own so that signals are still taken
// while a plugin starts: a plugin stuck on its data must not make Hive
// unkillable, and start-up as a whole is bounded by start_timeout. A stop
// asked for meanwhile sets `stopDeadline`.
Status startTaking(PluginHost& host, const sigset_t& signals, std::optional<Clock::time_point>& stopDeadline,
                   Logger& log, LogSystem& logs) {
  Status started;
  std::atomic<bool> startReturned{false};
  std::thread starter([&] {
    started = host.start();
    startReturned = true;
  });
  const auto drainDeadline = host.config().drainDeadline;
  const auto startDeadline = Clock::now() + host.config().startTimeout;
  auto exitNow = [&](int status, const std::string& why) {
    log.error(why + " (plugin starting: " + pluginStarting(host) + "); exiting now");
    logs.flush();
    _exit(status);
  };
  while (!startReturned) {
    int signal = takeSignal(signals, std::chrono::milliseconds(50));
    auto now = Clock::now();
    if ((signal == SIGTERM || signal == SIGINT) && stopDeadline)
      exitNow(130, "second signal during start-up");
    if (signal == SIGTERM || signal == SIGINT) {
      log.warn("stop requested while starting (plugin starting: " + pluginStarting(host) +
               "); stopping once it returns, within " + std::to_string(drainDeadline.count()) + " ms");
      stopDeadline = now + drainDeadline;
    } else if (signal == SIGHUP) {
      log.warn("SIGHUP during start-up ignored: nothing to reload yet");
    }
    if (stopDeadline && now >= *stopDeadline) exitNow(1, "start-up did not return within the drain deadline");
    if (now >= startDeadline)
      exitNow(1, "start-up did not finish within start_timeout (" +
                     std::to_string(host.config().startTimeout.count()) + " ms)");
  }
  starter.join();
  return started;
}

// Serves until SIGTERM or SIGINT: SIGHUP reloads, and once a second libraries
// whose last lease went (a replaced generation pinned by a consumer) close.
void serve(PluginHost& host, ReloadController& reloads, const sigset_t& signals, Logger& log) {
  for (;;) {
    timespec second{1, 0};
    int signal = sigtimedwait(&signals, nullptr, &second);
    if (signal < 0) {
      if (!host.retired().empty()) host.reapLibraries();
    } else if (signal == SIGHUP) {
      log.info("SIGHUP: reloading the configuration and rescanning plugin directories");
      notifyReloading();
      (void)reloads.reloadConfig();
      (void)reloads.rescanPlugins();
      notifyServiceManager("READY=1");
    } else if (signal == SIGTERM || signal == SIGINT) {
      return;
    }
  }
}

int runCommand(const RunOptions& options) {
  // Every thread created from here on inherits this mask; signals are taken
  // synchronously by sigtimedwait, never by a handler inside plugin code.
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto begin = Clock::now();
  int exitCode = 0;
  auto config = runConfig(options, exitCode);
  if (!config.ok()) {
    std::cerr << "hive: " << config.status().message() << "\n";
    return exitCode;
  }
  LogSystem logs(outputFormat(config->logFormat), config->logLevel);
  auto log = logs.logger("kernel");
  PluginHost host(std::move(config).value(), logs);
  Diagnostics diagnostics;
  Status loaded = host.load(diagnostics);
  for (const auto& d : diagnostics.items())
    log->log(d.severity == Severity::kError ? LogLevel::kError : LogLevel::kWarn, d.toString());
  auto notStarting = [&](const Status& why) {
    log->error("not starting: " + why.message());
    return 1;
  };
  auto admin = loaded.ok() ? KernelAdmin::provide(host) : Result<std::shared_ptr<KernelAdmin>>(loaded);
  if (!admin.ok()) return notStarting(admin.status());
  StopGuard stopAdmin([&] { (*admin)->stop(); });
  if (auto checker = KernelHealth::provide(host); !checker.ok()) return notStarting(checker.status());
  auto watchdog = KernelWatchdog::provide(host, *log);
  if (!watchdog.ok()) return notStarting(watchdog.status());
  StopGuard stopWatchdog([&] { (*watchdog)->stop(); });
  // The plugins stop while the watchdog still watches, within the drain
  // deadline (as reloaded, if it was; from the signal when one came during start-up).
  std::optional<Clock::time_point> stopDeadline;
  StopGuard stopHost([&] {
    auto deadline = host.config().drainDeadline;
    stopBy(host, stopDeadline.value_or(Clock::now() + deadline), deadline, signals, *log, logs);
    log->info("stopped");
  });
  Status started = startTaking(host, signals, stopDeadline, *log, logs);
  if (stopDeadline) {
    log->info("stopping (start-up was interrupted)");
    return started.ok() ? 0 : 1;
  }
  if (!started.ok()) return notStarting(started);
  std::size_t running = 0, failed = 0;
  for (const auto& p : host.status()) (p.state == PluginState::kStarted ? running : failed)++;
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin);
  log->info("hive ready: " + std::to_string(running) + " plugins started, " + std::to_string(failed) +
            " failed, in " + fmt::format("{:.1f}", elapsed.count() / 1000.0) + " ms");

  ReloadController reloads(host, {options.configFiles, std::chrono::milliseconds(200), true}, *log);
  if (Status watching = reloads.start(); !watching.ok()) return notStarting(watching);
  (*admin)->attach(&reloads);
  (*admin)->setPhase(admin::Phase::kReady);
  notifyServiceManager("READY=1\nSTATUS=" + std::to_string(running) + " plugins started, " +
                       std::to_string(failed) + " failed");
  StopGuard detach([&] {
    log->info("stopping (a second signal exits at once)");
    notifyServiceManager("STOPPING=1");
    (*admin)->setPhase(admin::Phase::kDraining);
    (*admin)->attach(nullptr);  // waits for a running reload
    reloads.stop();
  });
  serve(host, reloads, signals, *log);
  return 0;
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

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out.empty() ? "-" : out;
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

int newPluginCommand(const std::string& name, const std::string& directory) {
  Status written = writePluginSkeleton(directory, name);
  if (!written.ok()) {
    std::cerr << "hive plugin new: " << written.message() << "\n";
    return 1;
  }
  std::cout << "wrote plugin skeleton '" << name << "' to " << directory << "\n";
  return 0;
}

int keygenCommand(const std::string& secretPath) {
  auto publicKey = writeSigningKeyPair(secretPath);
  if (!publicKey.ok()) {
    std::cerr << "hive plugin keygen: " << publicKey.status().message() << "\n";
    return 1;
  }
  std::cout << "secret key: " << secretPath << " (keep it off the servers)\npublic key: " << secretPath
            << ".pub\n"
            << *publicKey << "\n";
  return 0;
}

int signCommand(const std::string& secretPath, const std::vector<std::string>& pluginPaths) {
  for (const auto& path : pluginPaths) {
    auto signature = signPluginFile(secretPath, path);
    if (!signature.ok()) {
      std::cerr << "hive plugin sign: " << signature.status().message() << "\n";
      return 1;
    }
    std::cout << "wrote " << *signature << "\n";
  }
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

int versionCommand() {
  HostAbi abi = HostAbi::current();
  std::cout << "hive " << HIVE_VERSION << "\nSDK ABI " << abi.major << "." << abi.minor << "\ntoolchain "
            << abi.toolchain << "\nasio runtime " << abi.asioRuntime << "\n";
  return 0;
}

// The subcommands of the CLI, each with what runs when it was the one parsed.
using Commands = std::vector<std::pair<CLI::App*, std::function<int()>>>;

// -c FILE, repeatable: later files override earlier ones key by key.
void addConfigOption(CLI::App* command, ConfigFiles& files, const std::string& what) {
  command->add_option("-c,--config", files, what + " (repeat -c to layer files: later ones override)")
      ->allow_extra_args(false)
      ->capture_default_str();
}

// hive run, hive check-config.
void addRunCommands(CLI::App& app, Commands& commands) {
  auto run = std::make_shared<RunOptions>();
  auto* runCmd = app.add_subcommand("run", "Run Hive with a configuration file");
  addConfigOption(runCmd, run->configFiles, "Configuration file");
  runCmd->add_option("--log-format", run->logFormat, "Override the log format")
      ->check(CLI::IsMember({"text", "json"}));
  runCmd->add_option("--log-level", run->logLevel, "Override the default log level");
  commands.emplace_back(runCmd, [run] { return runCommand(*run); });

  auto checkFiles = std::make_shared<ConfigFiles>(kDefaultConfig);
  auto* checkCmd =
      app.add_subcommand("check-config", "Validate a configuration file and every plugin section");
  addConfigOption(checkCmd, *checkFiles, "Configuration file");
  commands.emplace_back(checkCmd, [checkFiles] { return checkConfigCommand(*checkFiles); });
}

// hive plugins list|status|reload|rescan, hive config reload|show|migrate.
void addControlCommands(CLI::App& app, Commands& commands) {
  auto* pluginsCmd = app.add_subcommand("plugins", "Inspect plugins");
  pluginsCmd->require_subcommand(1);
  struct List {
    std::vector<std::string> directories;
    ConfigFiles config = kDefaultConfig;
  };
  auto list = std::make_shared<List>();
  auto* listCmd = pluginsCmd->add_subcommand("list", "List plugin files and their manifests; starts nothing");
  listCmd->add_option("--dir", list->directories,
                      "Plugin directory (repeatable); default: those of the config");
  addConfigOption(listCmd, list->config, "Configuration file");
  commands.emplace_back(listCmd, [list] { return pluginsListCommand(list->directories, list->config); });

  struct Control {
    ConfigFiles config = kDefaultConfig;
    std::string socket, reloadName;
  };
  auto control = std::make_shared<Control>();
  auto addControl = [&](CLI::App* command, std::function<std::string()> request) {
    addConfigOption(command, control->config, "Configuration file naming the control socket");
    command->add_option("--socket", control->socket, "Control socket path (instead of the config's)");
    commands.emplace_back(
        command, [control, request] { return controlCommand(control->config, control->socket, request()); });
  };
  addControl(pluginsCmd->add_subcommand("status", "State of each plugin in the running hive (JSON lines)"),
             [] { return std::string("plugins status"); });
  auto* reloadCmd = pluginsCmd->add_subcommand("reload", "Hot-swap a plugin in the running hive");
  reloadCmd->add_option("name", control->reloadName, "Plugin name")->required();
  addControl(reloadCmd, [control] { return "plugins reload " + control->reloadName; });
  addControl(pluginsCmd->add_subcommand("rescan", "Swap every plugin whose file changed"),
             [] { return std::string("plugins rescan"); });

  auto* configCmd =
      app.add_subcommand("config", "Configuration: reload the running hive's, show or migrate files");
  configCmd->require_subcommand(1);
  addControl(configCmd->add_subcommand("reload", "Re-read, validate and apply the config file"),
             [] { return std::string("config reload"); });
  auto showFiles = std::make_shared<ConfigFiles>(kDefaultConfig);
  auto* configShowCmd = configCmd->add_subcommand(
      "show", "Print the merged configuration, each value with the file:line:col it came from");
  addConfigOption(configShowCmd, *showFiles, "Configuration file");
  commands.emplace_back(configShowCmd, [showFiles] { return configShowCommand(*showFiles); });
  auto migrate = std::make_shared<tools::MigrateOptions>();
  auto* configMigrateCmd = configCmd->add_subcommand(
      "migrate", "Rewrite a config file written for an older config version (a backup FILE.v<N>.bak first)");
  configMigrateCmd->add_option("file", migrate->file, "Config file to rewrite")->required();
  configMigrateCmd->add_flag("--rollback", migrate->rollback, "Restore FILE from its newest backup");
  configMigrateCmd->add_flag("--dry-run", migrate->dryRun, "Print the migrated file; write nothing");
  commands.emplace_back(configMigrateCmd, [migrate] { return tools::migrateCommand(*migrate); });
}

// hive plugin new|keygen|sign, hive version.
void addDevelopmentCommands(CLI::App& app, Commands& commands) {
  auto* pluginCmd = app.add_subcommand("plugin", "Plugin development");
  pluginCmd->require_subcommand(1);
  struct Development {
    std::string newName, newDirectory, keygenPath, signKey;
    std::vector<std::string> signPlugins;
  };
  auto d = std::make_shared<Development>();
  auto* newCmd = pluginCmd->add_subcommand("new", "Write an out-of-tree plugin skeleton");
  newCmd->add_option("name", d->newName, "Plugin name ([a-z][a-z0-9_]*)")->required();
  newCmd->add_option("--dir", d->newDirectory, "Directory to create (default: ./NAME)");
  commands.emplace_back(newCmd, [d] {
    return newPluginCommand(d->newName, d->newDirectory.empty() ? d->newName : d->newDirectory);
  });
  auto* keygenCmd = pluginCmd->add_subcommand("keygen", "Write an ed25519 key pair to sign plugins with");
  keygenCmd
      ->add_option("out", d->keygenPath, "Secret key file to create (0600); the public key goes to OUT.pub")
      ->required();
  commands.emplace_back(keygenCmd, [d] { return keygenCommand(d->keygenPath); });
  auto* signCmd = pluginCmd->add_subcommand("sign", "Write PLUGIN.so.sig, a detached ed25519 signature");
  signCmd->add_option("--key", d->signKey, "Secret key file written by `hive plugin keygen`")->required();
  signCmd->add_option("plugins", d->signPlugins, "Plugin files")->required();
  commands.emplace_back(signCmd, [d] { return signCommand(d->signKey, d->signPlugins); });
  commands.emplace_back(app.add_subcommand("version", "Print versions"), [] { return versionCommand(); });
}

// hive backup, hive restore (tools/backup).
void addBackupCommands(CLI::App& app, Commands& commands) {
  auto backup = std::make_shared<tools::BackupOptions>();
  backup->configFiles = kDefaultConfig;
  auto* backupCmd = app.add_subcommand(
      "backup", "Copy the embedded store (storage_sqlite) to FILE, consistent while Hive runs and writes");
  addConfigOption(backupCmd, backup->configFiles, "Configuration file naming the store");
  backupCmd->add_option("file", backup->file, "Backup file to write")->required();
  backupCmd->add_flag("--force", backup->force, "Replace FILE if it exists");
  commands.emplace_back(backupCmd, [backup] { return tools::backupCommand(*backup); });
  auto* restoreCmd = app.add_subcommand(
      "restore", "Replace the embedded store with a backup (Hive must not be running on it)");
  addConfigOption(restoreCmd, backup->configFiles, "Configuration file naming the store");
  restoreCmd->add_option("file", backup->file, "Backup file written by hive backup")->required();
  commands.emplace_back(restoreCmd, [backup] { return tools::restoreCommand(*backup); });
}

// hive auth keys create|list|revoke, hive audit verify (host/auth_command.hpp;
// they work whether or not a hive runs).
void addAuthCommands(CLI::App& app, Commands& commands) {
  auto authKey = std::make_shared<AuthKeyOptions>();
  authKey->configFiles = kDefaultConfig;
  auto* authCmd = app.add_subcommand("auth", "API keys of the security_manager plugin");
  authCmd->require_subcommand(1);
  auto* keysCmd = authCmd->add_subcommand("keys", "Create, list and revoke API keys");
  keysCmd->require_subcommand(1);
  auto* keyCreateCmd = keysCmd->add_subcommand("create", "Create a key; prints it once, alone on its line");
  keyCreateCmd->add_option("--name", authKey->name, "What the key is for")->required();
  keyCreateCmd
      ->add_option("--role", authKey->role, "admin, operator, submitter, agent, viewer or a custom role")
      ->required();
  keyCreateCmd->add_option("--tenant", authKey->tenant, "Tenant the key acts for");
  keyCreateCmd->add_option("--project", authKey->project, "Project the key is scoped to");
  keyCreateCmd->add_option("--agent", authKey->agent, "Role agent: the agent name (default: --name)");
  keyCreateCmd->add_option("--expires", authKey->expires, "Lifetime: 3600s, 90m, 12h, 30d (default: never)");
  auto* keyListCmd = keysCmd->add_subcommand("list", "List keys (never their secrets)");
  auto* keyRevokeCmd = keysCmd->add_subcommand("revoke", "Revoke a key");
  keyRevokeCmd->add_option("id", authKey->id, "Key id (the hex between hive_ and the second _)")->required();
  auto* auditCmd = app.add_subcommand("audit", "The security_manager audit log");
  auditCmd->require_subcommand(1);
  auto* auditVerifyCmd =
      auditCmd->add_subcommand("verify", "Walk the audit hash chain; exit 1 where it breaks");
  for (auto [command, action] :
       {std::pair{keyCreateCmd, AuthKeyAction::kCreate}, std::pair{keyListCmd, AuthKeyAction::kList},
        std::pair{keyRevokeCmd, AuthKeyAction::kRevoke},
        std::pair{auditVerifyCmd, AuthKeyAction::kAuditVerify}}) {
    addConfigOption(command, authKey->configFiles, "Configuration file");
    commands.emplace_back(command, [authKey, action = action] { return authKeysCommand(action, *authKey); });
  }
}

// hive secrets set|show|delete|list|rotate-key (host/secrets_command.hpp: the security_engine vault).
void addSecretsCommands(CLI::App& app, Commands& commands) {
  auto secrets = std::make_shared<SecretsOptions>();
  secrets->configFiles = kDefaultConfig;
  auto* secretsCmd = app.add_subcommand("secrets", "Secrets of the security_engine vault");
  secretsCmd->require_subcommand(1);
  auto* secretSetCmd = secretsCmd->add_subcommand("set", "Set a secret to the value read from stdin");
  auto* secretShowCmd = secretsCmd->add_subcommand("show", "A secret's metadata (never its value)");
  auto* secretDeleteCmd = secretsCmd->add_subcommand("delete", "Delete a secret");
  for (auto* command : {secretSetCmd, secretShowCmd, secretDeleteCmd})
    command->add_option("name", secrets->name, "Secret name")->required();
  auto* secretListCmd = secretsCmd->add_subcommand("list", "Every secret's metadata (never a value)");
  auto* secretRotateCmd =
      secretsCmd->add_subcommand("rotate-key", "Re-encrypt every secret under the current master key");
  for (auto [command, action] :
       {std::pair{secretSetCmd, SecretsAction::kSet}, std::pair{secretShowCmd, SecretsAction::kShow},
        std::pair{secretDeleteCmd, SecretsAction::kDelete}, std::pair{secretListCmd, SecretsAction::kList},
        std::pair{secretRotateCmd, SecretsAction::kRotateKey}}) {
    addConfigOption(command, secrets->configFiles, "Configuration file");
    commands.emplace_back(command, [secrets, action = action] { return secretsCommand(action, *secrets); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hive: a multi-agent orchestration platform built as a plugin host"};
  app.require_subcommand(1);
  Commands commands;
  addRunCommands(app, commands);
  addControlCommands(app, commands);
  addDevelopmentCommands(app, commands);
  addBackupCommands(app, commands);
  addAuthCommands(app, commands);
  addSecretsCommands(app, commands);
  tools::WorkflowCommands workflowCommands(app);  // hive workflow ...: tools/workflow

  CLI11_PARSE(app, argc, argv);
  if (auto exitCode = workflowCommands.run()) return *exitCode;
  for (const auto& [command, run] : commands)
    if (command->parsed()) return run();
  return 0;
}
