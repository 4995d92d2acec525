#include "process_runner.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <utility>

#include "job_cgroup.hpp"
#include "plugin_common/trace_context.hpp"
#include "process_pump.hpp"
#include "process_tree.hpp"
#include "task_context.hpp"
#include "work_directory.hpp"
#include "work_tree.hpp"

namespace hive::task_execution_engine {

// The handle a caller of run() gets; shared with the job's thread.
class RunningJob final : public exec::Execution {
 public:
  RunningJob() : wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~RunningJob() override {
    if (wake_ >= 0) close(wake_);
  }
  RunningJob(const RunningJob&) = delete;
  RunningJob& operator=(const RunningJob&) = delete;

  // hive::exec::Execution
  void cancel() override {
    cancelled_.store(true);
    std::uint64_t one = 1;
    if (wake_ >= 0) (void)!write(wake_, &one, sizeof one);
  }
  std::int64_t pid() const override { return pid_.load(); }

  bool cancelled() const { return cancelled_.load(); }
  int wakeFd() const { return wake_; }
  void setPid(std::int64_t pid) { pid_.store(pid); }

 private:
  int wake_;
  std::atomic<bool> cancelled_{false};
  std::atomic<std::int64_t> pid_{0};
};

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxInputBytes = 16u << 20;
constexpr std::size_t kMaxResultBytes = 1u << 20;
constexpr std::chrono::milliseconds kMaxJobTimeout = std::chrono::hours(24 * 7);

const char* outcomeName(exec::OutcomeKind kind) {
  switch (kind) {
    case exec::OutcomeKind::kSucceeded: return "succeeded";
    case exec::OutcomeKind::kFailed: return "failed";
    case exec::OutcomeKind::kCrashed: return "crashed";
    case exec::OutcomeKind::kTimedOut: return "timed_out";
    case exec::OutcomeKind::kCancelled: return "cancelled";
    case exec::OutcomeKind::kStartFailed: return "start_failed";
    case exec::OutcomeKind::kLimitExceeded: return "limit_exceeded";
  }
  return "unknown";
}

constexpr exec::OutcomeKind kAllOutcomes[] = {
    exec::OutcomeKind::kSucceeded,    exec::OutcomeKind::kFailed,    exec::OutcomeKind::kCrashed,
    exec::OutcomeKind::kTimedOut,     exec::OutcomeKind::kCancelled, exec::OutcomeKind::kStartFailed,
    exec::OutcomeKind::kLimitExceeded};

std::string signalName(int signal) {
  const char* abbreviation = sigabbrev_np(signal);
  return abbreviation ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
}

bool isValidTaskId(const std::string& id) { return isValidName(id); }

std::vector<std::string> childEnvironment(const AgentSettings& agent, const std::string& workDirectory) {
  std::map<std::string, std::string> variables = {
      {"PATH", kChildPath}, {"HOME", workDirectory}, {"LANG", "C.UTF-8"}};
  for (const auto& [name, value] : agent.environment) variables[name] = value;
  std::vector<std::string> out;
  out.reserve(variables.size());
  for (const auto& [name, value] : variables) out.push_back(name + "=" + value);
  return out;
}

std::string childPath(const AgentSettings& agent) {
  auto path = agent.environment.find("PATH");
  return path == agent.environment.end() ? std::string(kChildPath) : path->second;
}

}  // namespace

ProcessRunnerService::ProcessRunnerService(Settings settings, Sandbox sandbox, Logger& log, Metrics& metrics)
    : sandbox_(std::move(sandbox)),
      retention_(settings.workspaceRetention),
      log_(log),
      metrics_(metrics),
      janitor_(settings.agents, settings.workspaceRetention, sandbox_.identity, log) {
  for (AgentSettings& agent : settings.agents) {
    std::string name = agent.name;
    Agent& entry = agents_[name];
    entry.settings = std::move(agent);
    entry.runningGauge = &metrics_.gauge("hive_executor_running_jobs", "Jobs of process agents running now",
                                         {{"agent", name}});
    for (exec::OutcomeKind kind : kAllOutcomes)  // every series exists from the start
      metrics_.counter("hive_executor_jobs_total", "Finished jobs of process agents, by outcome",
                       {{"agent", name}, {"outcome", outcomeName(kind)}});
    agentOrder_.push_back(name);
  }
  janitor_.start();
}

ProcessRunnerService::~ProcessRunnerService() { shutdown(); }

std::vector<exec::ProcessAgent> ProcessRunnerService::agents() const {
  std::lock_guard lock(mutex_);
  std::vector<exec::ProcessAgent> out;
  for (const std::string& name : agentOrder_) {
    const AgentSettings& settings = agents_.at(name).settings;
    out.push_back({settings.name, settings.capabilities, settings.maxConcurrency});
  }
  return out;
}

std::string ProcessRunnerService::sandbox() const { return sandboxName(sandbox_.kind); }

Result<std::shared_ptr<exec::Execution>> ProcessRunnerService::run(exec::Job job,
                                                                   std::function<void(exec::Outcome)> done) {
  if (!isValidTaskId(job.taskId)) return invalidArgument("task id must match [A-Za-z0-9_-]{1,64}");
  if (job.input.size() > kMaxInputBytes)
    return invalidArgument("job input is " + std::to_string(job.input.size()) + " bytes; the limit is " +
                           std::to_string(kMaxInputBytes));
  if (job.timeout.count() < 0 || job.timeout > kMaxJobTimeout)
    return invalidArgument("job timeout must be between 0 (the agent's) and 168h");
  if (!done) return invalidArgument("a done callback is required");

  joinFinished();
  std::lock_guard lock(mutex_);
  if (refusing_) return unavailable("task_execution_engine is stopping; not starting new jobs");
  auto found = agents_.find(job.agent);
  if (found == agents_.end()) return notFound("no process agent named '" + job.agent + "'");
  Agent& agent = found->second;
  if (agent.running >= agent.settings.maxConcurrency)
    return resourceExhausted("process agent '" + agent.settings.name + "' is running " +
                             std::to_string(agent.running) + " of its " +
                             std::to_string(agent.settings.maxConcurrency) + " jobs");
  auto running = std::make_shared<RunningJob>();
  if (running->wakeFd() < 0) return unavailable(std::string("eventfd: ") + std::strerror(errno));

  std::uint64_t id = nextId_++;
  ++agent.running;
  agent.runningGauge->add(1);
  ++inFlight_;
  Worker& worker = workers_[id];
  worker.job = running;
  try {
    worker.thread = std::thread([this, id, &agent, job = std::move(job), running, done = std::move(done)] {
      execute(id, agent, job, running, done);
    });
  } catch (const std::system_error& error) {
    workers_.erase(id);
    --agent.running;
    agent.runningGauge->add(-1);
    --inFlight_;
    return unavailable(std::string("cannot start a job thread: ") + error.what());
  }
  return std::shared_ptr<exec::Execution>(running);
}

void ProcessRunnerService::execute(std::uint64_t id, Agent& agent, const exec::Job& job,
                                   const std::shared_ptr<RunningJob>& running,
                                   const std::function<void(exec::Outcome)>& done) {
  exec::Outcome outcome = runJob(agent.settings, job, *running);
  record(agent, job, outcome);
  {
    std::lock_guard lock(mutex_);
    --agent.running;  // before `done`, which may start the agent's next job
  }
  done(std::move(outcome));
  std::lock_guard lock(mutex_);
  auto worker = workers_.find(id);
  finished_.push_back(std::move(worker->second.thread));
  workers_.erase(worker);
  if (--inFlight_ == 0) idle_.notify_all();
}

exec::Outcome ProcessRunnerService::runJob(const AgentSettings& agent, const exec::Job& job,
                                           RunningJob& running) {
  Clock::time_point began = Clock::now();
  exec::Outcome outcome;
  auto finish = [&](exec::OutcomeKind kind, std::string reason) {
    outcome.kind = kind;
    outcome.reason = std::move(reason);
    outcome.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
    return outcome;
  };

  if (running.cancelled()) return finish(exec::OutcomeKind::kCancelled, "cancelled before it started");
  // Held until the job's directory is swept: the janitor leaves it alone.
  std::string claimed = tasksDirectory(agent) + "/" + job.taskId;
  janitor_.claim(claimed);
  struct Release {
    WorkspaceJanitor& janitor;
    const std::string& path;
    ~Release() { janitor.release(path); }
  } release{janitor_, claimed};

  Result<WorkDirectory> work = prepareWorkDirectory(agent, job.taskId, sandbox_.identity);
  if (!work.ok()) return finish(exec::OutcomeKind::kStartFailed, work.status().message());
  // A shared flock on the directory for as long as the job runs keeps the
  // janitor of another generation of this plugin (during a hot swap) away;
  // if that janitor removed it just before, it is made again.
  int lock = -1;
  for (int attempt = 0; attempt < 3 && lock < 0; ++attempt) {
    lock = open(work->path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat info {};
    if (lock >= 0 && (flock(lock, LOCK_SH) != 0 || fstat(lock, &info) != 0 || info.st_nlink == 0)) {
      close(lock);
      lock = -1;
      work = prepareWorkDirectory(agent, job.taskId, sandbox_.identity);
      if (!work.ok()) return finish(exec::OutcomeKind::kStartFailed, work.status().message());
    }
  }
  if (lock < 0)
    return finish(exec::OutcomeKind::kStartFailed, "cannot lock " + work->path + ": " + std::strerror(errno));
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }
  } unlock{lock};
  futimens(lock, nullptr);  // in use now: not expired for another retention
  std::string contextFile;
  if (contexts_ != nullptr) {
    if (auto context = fetchTaskContext(*contexts_, self_, job.taskId, job.input)) {
      if (writeContextFile(lock, *context, sandbox_.identity))
        contextFile = work->path + "/" + kContextFileName;
      else
        log_.warn("task " + job.taskId + ": its context file not written: " + std::strerror(errno) +
                  plugin_common::traceLogField(plugin_common::traceparentIn(job.input)));
    }
  }
  outcome = runInWorkDirectory(agent, job, running, *work, contextFile, began);
  outcome.workDirectory = work->path;
  // Whatever the job did (even if it never started), its directory is swept
  // before `done` runs.
  afterJob(agent, *work, outcome);
  return outcome;
}

exec::Outcome ProcessRunnerService::runInWorkDirectory(const AgentSettings& agent, const exec::Job& job,
                                                       RunningJob& running, const WorkDirectory& work,
                                                       const std::string& contextFile,
                                                       Clock::time_point began) {
  exec::Outcome outcome;
  auto finish = [&](exec::OutcomeKind kind, std::string reason) {
    outcome.kind = kind;
    outcome.reason = std::move(reason);
    outcome.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
    return outcome;
  };

  std::string program = findProgram(agent.command[0], childPath(agent));
  if (program.empty())
    return finish(exec::OutcomeKind::kStartFailed,
                  "command '" + agent.command[0] + "' not found or not executable");
  for (const std::string& path : agent.readOnlyPaths)
    if (access(path.c_str(), F_OK) != 0)
      return finish(exec::OutcomeKind::kStartFailed, "read_only_paths: " + path + " does not exist");

  SpawnRequest request;
  request.environment = childEnvironment(agent, work.path);
  if (std::string trace = plugin_common::traceparentIn(job.input); !trace.empty())
    request.environment.push_back("TRACEPARENT=" + trace);
  if (!contextFile.empty()) request.environment.push_back("HIVE_CONTEXT_FILE=" + contextFile);
  request.workDirectory = work.path;
  request.limits = agent.limits;
  request.identity = sandbox_.identity;
  request.seccomp = &sandbox_.seccomp;
  if (sandbox_.kind == SandboxKind::kBubblewrap) {
    request.program = sandbox_.bubblewrap;
    request.arguments =
        bubblewrapArguments(sandbox_, agent, work, request.environment, program, agent.command);
  } else {
    request.program = program;
    request.arguments = agent.command;
  }

  // Its own cgroup where the host allows (removed after the tree, below).
  std::unique_ptr<JobCgroup> cgroup;
  if (!sandbox_.jobCgroups.empty()) {
    auto made = JobCgroup::create(sandbox_.jobCgroups);
    if (made.ok()) {
      cgroup = std::move(made).value();
      request.cgroupProcsFd = cgroup->procsFd();
      request.cgroupKillFd = cgroup->killFd();
    } else {
      log_.warn("job " + agent.name + "/" + job.taskId + ": " + made.status().message() +
                "; it runs without a cgroup");
    }
  }
  auto tree = ProcessTree::start(request);
  if (!tree.ok()) return finish(exec::OutcomeKind::kStartFailed, tree.status().message());

  std::chrono::milliseconds timeout = job.timeout.count() > 0 ? job.timeout : agent.timeout;
  PumpOptions options;
  options.input = job.input;
  options.outputCap = agent.limits.outputBytes;
  options.maxResultBytes = std::min<std::size_t>(agent.limits.outputBytes, kMaxResultBytes);
  options.deadline = began + timeout;
  options.wakeFd = running.wakeFd();
  options.cancelRequested = [&running, this] {
    if (running.cancelled()) return true;
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  options.started = [&running](pid_t pid) { running.setPid(pid); };
  jobs::WatchedJob watched{agent.name, job.taskId, 0,
                           std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count()};
  options.checkLimits = [&agent, &work, &running, &watched, this]() -> std::string {
    DiskUsage usage = measureDiskUsage(work.path);
    if (usage.tooDeep)
      return "work directory deeper than " + std::to_string(kMaxDepth) +
             " levels (its disk use cannot be measured)";
    if (usage.bytes > agent.limits.diskBytes)
      return "disk quota exceeded: the work directory holds " + std::to_string(usage.bytes) +
             " bytes, the limit (disk_bytes) is " + std::to_string(agent.limits.diskBytes);
    watched.pid = running.pid();
    return watch_ ? watch_->check(watched) : std::string();
  };
  PumpResult result = pump(**tree, options);
  tree->reset();
  if (watch_ && watched.pid > 0) watch_->ended(watched);

  outcome.output = result.output.text();
  outcome.errors = result.errors.text();
  outcome.outputTruncated = result.output.truncated() || result.errors.truncated();
  outcome.result = result.output.lastJsonObject();

  switch (result.ending) {
    case Ending::kExecFailed:
      if (result.execErrno == EACCES && sandbox_.identity)
        return finish(exec::OutcomeKind::kStartFailed,
                      "cannot start '" + agent.command[0] + "': permission denied for the sandbox uid " +
                          std::to_string(sandbox_.identity->uid) + ", which must reach " + work.path +
                          " (the workspace's parent directories searchable, o+x) and run the program");
      return finish(exec::OutcomeKind::kStartFailed,
                    "cannot start '" + agent.command[0] + "': " + std::strerror(result.execErrno));
    case Ending::kOverLimit: return finish(exec::OutcomeKind::kLimitExceeded, result.overLimit);
    case Ending::kTimedOut:
      return finish(exec::OutcomeKind::kTimedOut, "timed out after " + std::to_string(timeout.count()) +
                                                      " ms; its process tree was killed");
    case Ending::kCancelled: {
      bool stopping = !running.cancelled();
      return finish(exec::OutcomeKind::kCancelled, stopping ? "cancelled: task_execution_engine is stopping"
                                                            : "cancelled; its process tree was killed");
    }
    case Ending::kLost: return finish(exec::OutcomeKind::kCrashed, "its supervising process was killed");
    case Ending::kExited: break;
  }

  int status = result.waitStatus;
  int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  // bwrap reports a child killed by signal n as exit status 128 + n.
  if (sandbox_.kind == SandboxKind::kBubblewrap && signal == 0 && exitCode > 128 && exitCode < 128 + NSIG) {
    signal = exitCode - 128;
    exitCode = -1;
  }
  if (signal != 0) {
    outcome.signal = signal;
    if (signal == SIGXFSZ)
      return finish(exec::OutcomeKind::kLimitExceeded, "file size limit exceeded (SIGXFSZ)");
    if (signal == SIGXCPU)
      return finish(exec::OutcomeKind::kLimitExceeded, "CPU time limit exceeded (SIGXCPU)");
    return finish(exec::OutcomeKind::kCrashed, "killed by " + signalName(signal));
  }
  outcome.exitCode = exitCode;
  if (exitCode == 0) return finish(exec::OutcomeKind::kSucceeded, "");
  return finish(exec::OutcomeKind::kFailed, "exit status " + std::to_string(exitCode));
}

void ProcessRunnerService::afterJob(const AgentSettings& agent, const WorkDirectory& work,
                                    exec::Outcome& outcome) {
  for (const std::string& root : {work.path, work.gitDirectory}) {
    if (root.empty()) continue;
    Result<SweepReport> swept = sweepPrivileges(root);
    if (!swept.ok()) {
      log_.warn("sweep of " + root + " failed: " + swept.status().message());
      continue;
    }
    if (swept->privilegeBitsCleared + swept->removed + swept->flattened > 0)
      log_.warn("sweep of " + root + ": cleared setuid/setgid bits of " +
                std::to_string(swept->privilegeBitsCleared) + " entries, removed " +
                std::to_string(swept->removed) + " (devices, linked privileged files), flattened " +
                std::to_string(swept->flattened) + " directories from " + std::to_string(kMaxDepth) +
                " levels down");
  }
  // A job that ended between two measurements is measured once more.
  if (outcome.kind == exec::OutcomeKind::kSucceeded || outcome.kind == exec::OutcomeKind::kFailed) {
    DiskUsage usage = measureDiskUsage(work.path);
    if (usage.bytes > agent.limits.diskBytes) {
      outcome.kind = exec::OutcomeKind::kLimitExceeded;
      outcome.reason = "disk quota exceeded: the work directory holds " + std::to_string(usage.bytes) +
                       " bytes, the limit (disk_bytes) is " + std::to_string(agent.limits.diskBytes);
    }
  }
  if (retention_.count() == 0) {
    Status removed = removeTree(work.path);
    if (!removed.ok()) log_.warn("cannot remove " + work.path + ": " + removed.message());
    if (!work.gitDirectory.empty()) pruneWorktrees(agent, sandbox_.identity);
    return;
  }
  // The retention counts from the job's end.
  utimensat(AT_FDCWD, work.path.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);
}

void ProcessRunnerService::record(Agent& agent, const exec::Job& job, const exec::Outcome& outcome) {
  const char* name = outcomeName(outcome.kind);
  metrics_
      .counter("hive_executor_jobs_total", "Finished jobs of process agents, by outcome",
               {{"agent", agent.settings.name}, {"outcome", name}})
      .increment();
  metrics_
      .histogram("hive_executor_job_duration_seconds", "Wall time of process agents' jobs", {},
                 {{"agent", agent.settings.name}})
      .observe(std::chrono::duration<double>(outcome.duration).count());
  agent.runningGauge->add(-1);
  std::string line = "job " + agent.settings.name + "/" + job.taskId + " " + name + " in " +
                     std::to_string(outcome.duration.count()) + " ms" +
                     plugin_common::traceLogField(plugin_common::traceparentIn(job.input));
  if (outcome.kind == exec::OutcomeKind::kSucceeded) {
    log_.info(line);
  } else {
    log_.warn(line + ": " + outcome.reason);
  }
}

void ProcessRunnerService::refuseNewJobs() {
  std::lock_guard lock(mutex_);
  refusing_ = true;
}

void ProcessRunnerService::shutdown() {
  std::vector<std::thread> threads;
  {
    std::unique_lock lock(mutex_);
    refusing_ = true;
    stopping_ = true;
    for (auto& [id, worker] : workers_) {
      (void)id;
      // Wakes the job's poll; cancelRequested() sees stopping_.
      std::uint64_t one = 1;
      (void)!write(worker.job->wakeFd(), &one, sizeof one);
    }
    idle_.wait(lock, [this] { return inFlight_ == 0; });
    threads.swap(finished_);
  }
  for (std::thread& thread : threads) thread.join();
  janitor_.stop();
}

bool ProcessRunnerService::idle() const {
  std::lock_guard lock(mutex_);
  return inFlight_ == 0;
}

void ProcessRunnerService::joinFinished() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(finished_);
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace hive::task_execution_engine
