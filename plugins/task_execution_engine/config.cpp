#include "config.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace hive::task_execution_engine {
namespace {

bool isEnvironmentName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

// A list of strings; each bad item is reported at its own location.
std::vector<std::string> readStringList(ConfigReader& reader, std::string_view key, std::size_t maxItems,
                                        std::size_t maxItemBytes) {
  std::vector<std::string> out;
  const ConfigNode& node = reader.child(key);
  if (node.isNull()) return out;
  if (!node.isSequence()) {
    reader.diagnostics().error(node.location(), "'" + std::string(key) + "': expected a list");
    return out;
  }
  if (node.items().size() > maxItems) {
    reader.diagnostics().error(node.location(),
                               "'" + std::string(key) + "': at most " + std::to_string(maxItems) + " items");
    return out;
  }
  for (const ConfigNode& item : node.items()) {
    Result<std::string> text = item.as<std::string>();
    if (!text.ok()) {
      reader.diagnostics().error(item.location(), "'" + std::string(key) + "': " + text.status().message());
    } else if (text->size() > maxItemBytes || text->find('\0') != std::string::npos) {
      reader.diagnostics().error(item.location(), "'" + std::string(key) + "': item too long or has a NUL");
    } else {
      out.push_back(std::move(text).value());
    }
  }
  return out;
}

// A non-negative byte or count limit; absent means "inherit".
std::optional<std::uint64_t> readLimit(ConfigReader& reader, std::string_view key, std::int64_t minimum) {
  if (!reader.has(key)) return std::nullopt;
  std::int64_t value = reader.get<std::int64_t>(key, -1);
  if (value == -1 && reader.child(key).text() != "-1") return std::nullopt;  // already reported
  if (value < minimum) {
    reader.reject(key, "must be at least " + std::to_string(minimum));
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(value);
}

// A uid or gid for the sandbox: not root, not nobody (65534, which the
// sandbox uses inside its namespace and which other programs run as), not
// the invalid (uid_t)-1.
std::uint32_t readSandboxId(ConfigReader& reader, std::string_view key, std::uint32_t fallback) {
  if (!reader.has(key)) return fallback;
  std::int64_t value = reader.get<std::int64_t>(key, -1);
  if (value == -1) return fallback;  // not a number: already reported
  if (value < 1 || value > 4'294'967'294LL || value == 65534) {
    reader.reject(key, "must be between 1 and 4294967294 and not 65534 (nobody)");
    return fallback;
  }
  return static_cast<std::uint32_t>(value);
}

AgentSettings readAgent(const ConfigNode& node, Diagnostics& diagnostics) {
  AgentSettings agent;
  ConfigReader reader(node, diagnostics);
  if (!node.isMap()) return agent;

  agent.name = reader.require<std::string>("name");
  if (reader.has("name") && !isValidName(agent.name))
    reader.reject("name", "must match [A-Za-z0-9_-]{1,64} (it names git branches and metrics)");

  agent.command = readStringList(reader, "command", kMaxArguments, kMaxArgumentBytes);
  if (!reader.has("command")) {
    diagnostics.error(node.location(), "missing required key 'command'");
  } else if (agent.command.empty() && reader.child("command").isSequence()) {
    reader.reject("command", "must name a program");
  } else if (!agent.command.empty() && agent.command[0].empty()) {
    reader.reject("command", "the program name is empty");
  } else if (!agent.command.empty() && agent.command[0].find('/') != std::string::npos &&
             agent.command[0][0] != '/') {
    reader.reject("command", "the program must be a name looked up in PATH or an absolute path");
  }

  agent.capabilities = readStringList(reader, "capabilities", 64, 128);

  agent.workspace = reader.require<std::string>("workspace");
  if (reader.has("workspace") && !agent.workspace.empty() && agent.workspace[0] != '/')
    reader.reject("workspace", "must be an absolute path");
  while (agent.workspace.size() > 1 && agent.workspace.back() == '/') agent.workspace.pop_back();
  if (agent.workspace == "/") reader.reject("workspace", "must not be the root directory");

  std::int64_t concurrency = reader.get<std::int64_t>("max_concurrency", 1);
  if (concurrency < 1 || concurrency > kMaxConcurrency) {
    reader.reject("max_concurrency", "must be between 1 and " + std::to_string(kMaxConcurrency));
  } else {
    agent.maxConcurrency = static_cast<std::uint32_t>(concurrency);
  }

  agent.timeout = reader.get<std::chrono::milliseconds>("timeout", agent.timeout);
  if (agent.timeout < std::chrono::milliseconds(10)) reader.reject("timeout", "must be at least 10ms");
  if (agent.timeout > std::chrono::hours(24 * 7)) reader.reject("timeout", "must be at most 168h");

  agent.network = reader.get<bool>("network", false) ? Network::kAllowed : Network::kDenied;
  agent.gitWorktree = reader.get<bool>("git_worktree", false);

  const ConfigNode& environment = reader.child("environment");
  if (!environment.isNull() && !environment.isMap()) {
    diagnostics.error(environment.location(), "'environment': expected a map of NAME: value");
  } else if (environment.entries().size() > kMaxEnvironment) {
    diagnostics.error(environment.location(),
                      "'environment': at most " + std::to_string(kMaxEnvironment) + " variables");
  } else {
    for (const ConfigEntry& entry : environment.entries()) {
      Result<std::string> value =
          entry.value.isNull() ? Result<std::string>(std::string()) : entry.value.as<std::string>();
      if (!isEnvironmentName(entry.key)) {
        diagnostics.error(entry.keyLocation, "'environment': '" + entry.key + "' is not a variable name");
      } else if (!value.ok()) {
        diagnostics.error(entry.value.location(),
                          "'environment." + entry.key + "': " + value.status().message());
      } else if (value->size() > kMaxArgumentBytes || value->find('\0') != std::string::npos) {
        diagnostics.error(entry.value.location(), "'environment." + entry.key + "': too long or has a NUL");
      } else {
        agent.environment[entry.key] = std::move(value).value();
      }
    }
  }

  agent.readOnlyPaths = readStringList(reader, "read_only_paths", 64, 4096);
  const ConfigNode& paths = reader.child("read_only_paths");
  for (std::size_t i = 0; i < agent.readOnlyPaths.size() && i < paths.items().size(); ++i) {
    if (agent.readOnlyPaths[i].empty() || agent.readOnlyPaths[i][0] != '/')
      diagnostics.error(paths.items()[i].location(), "'read_only_paths': must be an absolute path");
  }

  const ConfigNode& limitsNode = reader.child("limits");
  ConfigReader limits(limitsNode, diagnostics);
  agent.limits.cpuSeconds = readLimit(limits, "cpu_seconds", 1);
  agent.limits.memoryBytes = readLimit(limits, "memory_bytes", 1 << 20);
  agent.limits.fileSizeBytes = readLimit(limits, "file_size_bytes", 0);
  agent.limits.openFiles = readLimit(limits, "open_files", 16);
  if (auto processes = readLimit(limits, "processes", 1)) {
    if (*processes > kMaxProcesses) {
      limits.reject("processes", "must be at most " + std::to_string(kMaxProcesses));
    } else {
      agent.limits.processes = *processes;
    }
  }
  if (auto disk = readLimit(limits, "disk_bytes", 1 << 20)) agent.limits.diskBytes = *disk;
  // One file cannot be larger than the whole quota: RLIMIT_FSIZE stops it at
  // once, where the periodic measurement would only see it later.
  if (!agent.limits.fileSizeBytes) agent.limits.fileSizeBytes = agent.limits.diskBytes;
  if (agent.limits.memoryBytes)
    agent.limits.tmpBytes = std::min(agent.limits.tmpBytes, *agent.limits.memoryBytes);
  if (auto tmp = readLimit(limits, "tmp_bytes", 1 << 20)) {
    if (agent.limits.memoryBytes && *tmp > *agent.limits.memoryBytes) {
      limits.reject("tmp_bytes",
                    "must not exceed memory_bytes: the sandbox's /tmp is a tmpfs whose pages are host RAM");
    } else {
      agent.limits.tmpBytes = *tmp;
    }
  }
  if (auto output = readLimit(limits, "output_bytes", 0)) {
    if (*output > kMaxOutputBytes) {
      limits.reject("output_bytes", "must be at most " + std::to_string(kMaxOutputBytes));
    } else {
      agent.limits.outputBytes = *output;
    }
  }
  limits.finish();

  reader.finish();
  return agent;
}

}  // namespace

bool isValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  Settings settings;
  ConfigReader reader(section, diagnostics);

  std::string sandbox = reader.get<std::string>("sandbox", "auto");
  if (sandbox == "auto") {
    settings.sandbox = SandboxMode::kAuto;
  } else if (sandbox == "bubblewrap") {
    settings.sandbox = SandboxMode::kBubblewrap;
  } else if (sandbox == "rlimits") {
    settings.sandbox = SandboxMode::kRlimits;
  } else {
    reader.reject("sandbox", "must be auto, bubblewrap or rlimits, got '" + sandbox + "'");
  }
  std::string cgroups = reader.get<std::string>("cgroups", "auto");
  if (cgroups == "off") {
    settings.jobCgroups = false;
  } else if (cgroups != "auto") {
    reader.reject("cgroups", "must be auto or off, got '" + cgroups + "'");
  }
  settings.sandboxUid = readSandboxId(reader, "sandbox_uid", settings.sandboxUid);
  settings.sandboxGid = readSandboxId(reader, "sandbox_gid", settings.sandboxGid);
  settings.workspaceRetention =
      reader.get<std::chrono::milliseconds>("workspace_retention", settings.workspaceRetention);
  if (settings.workspaceRetention > kMaxRetention)
    reader.reject("workspace_retention", "must be at most 8760h");

  const ConfigNode& agents = reader.child("agents");
  if (!agents.isNull() && !agents.isSequence()) {
    diagnostics.error(agents.location(), "'agents': expected a list of agents");
  } else if (agents.items().size() > kMaxAgents) {
    diagnostics.error(agents.location(), "'agents': at most " + std::to_string(kMaxAgents) + " agents");
  } else {
    std::set<std::string> names;
    for (const ConfigNode& item : agents.items()) {
      if (!item.isMap()) {
        diagnostics.error(item.location(), "'agents': each agent must be a map");
        continue;
      }
      AgentSettings agent = readAgent(item, diagnostics);
      if (!agent.name.empty() && !names.insert(agent.name).second) {
        const ConfigNode* name = item.find("name");
        diagnostics.error(name ? name->location() : item.location(),
                          "'name': agent '" + agent.name + "' is defined twice");
      }
      settings.agents.push_back(std::move(agent));
    }
  }

  reader.finish();
  return settings;
}

}  // namespace hive::task_execution_engine
