// The run time of each attempt, per agent, from task_manager's events on the
// bus (topic `tasks`, docs/events.md): an attempt runs from the event that
// shows it `running` (its agent and started_at_ms) to the event that ends it
// (succeeded; failed, retrying, timed_out or dead count as failed; a
// cancellation is not the agent's doing and is not counted). The running
// attempts are followed by task id, at most `maxTracked` of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "agent_limits.hpp"

namespace hive::optimization_engine {

class AttemptEvents {
 public:
  AttemptEvents(std::shared_ptr<AgentLimits> limits, std::size_t maxTracked)
      : limits_(std::move(limits)), maxTracked_(maxTracked) {}

  // One event payload of topic `tasks`; anything else is ignored. Thread-safe.
  void record(std::string_view payload);
  std::size_t running() const;

 private:
  struct Running {
    std::string agent;
    std::int64_t startedAtMs = 0;
  };
  const std::shared_ptr<AgentLimits> limits_;
  const std::size_t maxTracked_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Running> running_;
};

}  // namespace hive::optimization_engine
