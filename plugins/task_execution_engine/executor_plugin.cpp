#include "executor_plugin.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <exception>
#include <string>

#include "job_cgroup.hpp"
#include "process_tree.hpp"
#include "sandbox.hpp"
#include "work_directory.hpp"

namespace hive::task_execution_engine {

ExecutorPlugin::~ExecutorPlugin() { stop(); }

void ExecutorPlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  try {
    settings_ = readSettings(section, diagnostics);
  } catch (const std::exception& error) {  // allocation failure: never out of configure()
    diagnostics.error(section.location(), std::string("cannot read the configuration: ") + error.what());
  }
}

namespace {

// Jobs run as the sandbox uid, which must be able to walk down to the
// workspace: every existing directory on the way must let it search. Checked
// at start, so that an unreachable workspace is one line at start-up rather
// than a start failure per job (and an open circuit breaker).
Status checkReachable(const std::string& workspace, const Identity& identity) {
  std::string path;
  std::size_t at = 0;
  while (at != std::string::npos) {
    std::size_t next = workspace.find('/', at + 1);
    path = workspace.substr(0, next);
    at = next;
    if (path.empty()) continue;
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) break;  // the rest is created by Hive, searchable
    bool searchable = (info.st_mode & S_IXOTH) != 0 ||
                      (info.st_uid == identity.uid && (info.st_mode & S_IXUSR)) ||
                      (info.st_gid == identity.gid && (info.st_mode & S_IXGRP));
    if (!searchable) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
      return failedPrecondition("workspace " + workspace + " cannot be reached by the sandbox uid " +
                                std::to_string(identity.uid) + ": " + path + " is mode " + mode +
                                " without search permission for it (chmod o+x " + path +
                                ", or put the workspace elsewhere)");
    }
  }
  return okStatus();
}

}  // namespace

Status ExecutorPlugin::start() {
  try {
    Sandbox sandbox = HIVE_TRY(detectSandbox(settings_));
    if (sandbox.kind == SandboxKind::kBubblewrap) {
      context_.log().info("sandbox: " + sandbox.note);
    } else {
      context_.log().warn("sandbox: " + sandbox.note);
    }
    if (!sandbox.identity)
      context_.log().warn(
          "sandbox: Hive is not root, so jobs run as Hive's own uid (65534 inside bubblewrap maps to it): a "
          "job "
          "can reach whatever Hive's user can that is bound into its sandbox; see docs/process-agents.md");
    if (settings_.jobCgroups) {
      auto cgroups = prepareJobCgroups();
      if (cgroups.ok()) {
        sandbox.jobCgroups = *cgroups;
        context_.log().info("job cgroups: each job in a cgroup v2 of its own under " + *cgroups);
      } else {
        context_.log().info("job cgroups: not used (" + cgroups.status().message() +
                            "); jobs are measured through /proc");
      }
    }
    for (const AgentSettings& agent : settings_.agents) {
      if (sandbox.identity)
        HIVE_TRY(checkReachable(agent.workspace, *sandbox.identity), "process agent '" + agent.name + "'");
      auto path = agent.environment.find("PATH");
      if (findProgram(agent.command[0], path == agent.environment.end() ? kChildPath : path->second).empty())
        context_.log().warn("process agent '" + agent.name + "': command '" + agent.command[0] +
                            "' not found; its jobs will fail to start");
    }
    runner_ = std::make_shared<ProcessRunnerService>(settings_, sandbox, context_.log(), context_.metrics());
    runner_->watchJobs(context_.services());
    runner_->readTaskContexts(context_.services(), context_.pluginName());
    HIVE_TRY(context_.services().provide<exec::ProcessRunner>(runner_), "providing hive.executor/1");
    context_.log().info("serving " + std::to_string(settings_.agents.size()) +
                        " process agent(s) with sandbox " + runner_->sandbox());
    return okStatus();
  } catch (const std::exception& error) {
    return internalError(std::string("starting: ") + error.what());
  }
}

void ExecutorPlugin::stop() {
  if (runner_) runner_->shutdown();
  runner_.reset();  // consumers may still hold it: it answers kUnavailable from now on
}

void ExecutorPlugin::beginDrain() {
  if (runner_) runner_->refuseNewJobs();
}

bool ExecutorPlugin::drained() const { return !runner_ || runner_->idle(); }

}  // namespace hive::task_execution_engine
