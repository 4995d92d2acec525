// What agents report at the end of their work, remote or process: handed to
// hive.tasks/1 (several together in one store transaction when they can be),
// then the agent's record updated (its slot freed, its counters, its breaker).
// The record is written at once when its status or breaker changed; counters
// alone wait for the next sweep (a write per result was a commit per task).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "agent_records.hpp"
#include "agent_registry.hpp"
#include "environment.hpp"

namespace hive::orchestrator {

class Dispatcher;

class Results {
 public:
  using Report = tasks::TaskService::Report;
  using Outcome = tasks::TaskService::Outcome;

  Results(Environment& environment, AgentRegistry& registry, AgentRecords& records, Dispatcher& dispatcher)
      : env_(environment), registry_(registry), records_(records), dispatcher_(dispatcher) {}

  // Each report gets the status hive.tasks/1 gave it. A transient one (the
  // store or task_manager unavailable) leaves the agent's slot taken: the
  // caller holds the report (hold()) rather than lose the agent's work.
  std::vector<Status> report(const std::string& agentId, const std::vector<Report>& reports);
  Status reportOne(const std::string& agentId, Report report);
  static bool transient(const Status& s) { return s.code() == StatusCode::kUnavailable; }

  // Keeps a report that got a transient status and reports it again at each
  // sweep until it gets another; `settled` then hears that status (the remote
  // agent's ack is sent then). Past kMaxHeld, settled(unavailable) at once.
  using Settled = std::function<void(const Status&)>;
  void hold(const std::string& agentId, Report report, Settled settled);
  // From the sweep: the held reports again, each agent's together, in order.
  void retryHeld();
  std::size_t heldCount();

  static constexpr std::size_t kMaxHeld = 100000;

 private:
  struct Held {
    std::string agentId;
    Report report;
    Settled settled;
  };
  enum class Change { kCountersOnly, kState };
  // Under the registry's lock.
  Change account(LocalAgent& local, const std::vector<Report>& reports, const std::vector<Status>& statuses);

  Environment& env_;
  AgentRegistry& registry_;
  AgentRecords& records_;
  Dispatcher& dispatcher_;
  std::mutex heldMutex_;
  std::vector<Held> held_;
};

}  // namespace hive::orchestrator
