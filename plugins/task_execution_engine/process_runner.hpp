// hive.executor/1: runs jobs of the configured process agents, one thread per
// running job (bounded by the agents' max_concurrency), each job a sandboxed
// process tree (see process_tree.hpp and sandbox.hpp).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services/executor.hpp"
#include "janitor.hpp"
#include "job_watch.hpp"
#include "sandbox.hpp"

namespace hive::task_execution_engine {

class RunningJob;

class ProcessRunnerService final : public exec::ProcessRunner {
 public:
  // `log` and `metrics` are used only until shutdown() returns. Starts the
  // workspace janitor; shutdown() stops it.
  ProcessRunnerService(Settings settings, Sandbox sandbox, Logger& log, Metrics& metrics);
  ~ProcessRunnerService() override;
  ProcessRunnerService(const ProcessRunnerService&) = delete;
  ProcessRunnerService& operator=(const ProcessRunnerService&) = delete;

  // hive::exec::ProcessRunner
  std::vector<exec::ProcessAgent> agents() const override;
  std::string sandbox() const override;
  Result<std::shared_ptr<exec::Execution>> run(exec::Job job,
                                               std::function<void(exec::Outcome)> done) override;

  // Asks hive.job_watch/1 about every job from now on (call it before the
  // first run()). `services` must outlive shutdown().
  void watchJobs(ServiceRegistry& services) { watch_.emplace(services); }
  // Gives every job its task's context file (task_context.hpp), read through
  // `services` as plugin `self` (call it before the first run()). `services`
  // must outlive shutdown().
  void readTaskContexts(ServiceRegistry& services, std::string self) {
    contexts_ = &services;
    self_ = std::move(self);
  }

  // New jobs get kUnavailable from now on; running ones go on.
  void refuseNewJobs();
  // Refuses new jobs, kills the running ones (they report kCancelled) and
  // waits until every job thread has finished, done callbacks included.
  void shutdown();
  // No job thread left.
  bool idle() const;

 private:
  struct Agent {
    AgentSettings settings;
    std::uint32_t running = 0;
    Gauge* runningGauge = nullptr;
  };
  struct Worker {
    std::thread thread;
    std::shared_ptr<RunningJob> job;
  };

  void execute(std::uint64_t id, Agent& agent, const exec::Job& job,
               const std::shared_ptr<RunningJob>& running, const std::function<void(exec::Outcome)>& done);
  exec::Outcome runJob(const AgentSettings& agent, const exec::Job& job, RunningJob& running);
  // `contextFile`: the task's context file in the work directory, or empty.
  exec::Outcome runInWorkDirectory(const AgentSettings& agent, const exec::Job& job, RunningJob& running,
                                   const WorkDirectory& work, const std::string& contextFile,
                                   std::chrono::steady_clock::time_point began);
  // After the job: no setuid/setgid file survives, the quota is checked once
  // more, and the directory is stamped as finished (or removed, retention 0).
  void afterJob(const AgentSettings& agent, const WorkDirectory& work, exec::Outcome& outcome);
  void record(Agent& agent, const exec::Job& job, const exec::Outcome& outcome);
  void joinFinished();

  const Sandbox sandbox_;
  const std::chrono::milliseconds retention_;
  Logger& log_;
  Metrics& metrics_;
  WorkspaceJanitor janitor_;
  std::optional<JobWatch> watch_;
  ServiceRegistry* contexts_ = nullptr;
  std::string self_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::map<std::string, Agent> agents_;
  std::vector<std::string> agentOrder_;
  std::map<std::uint64_t, Worker> workers_;
  std::vector<std::thread> finished_;
  std::uint64_t nextId_ = 1;
  std::size_t inFlight_ = 0;
  bool refusing_ = false;
  bool stopping_ = false;
};

}  // namespace hive::task_execution_engine
