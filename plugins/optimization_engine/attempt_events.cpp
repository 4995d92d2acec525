#include "attempt_events.hpp"

#include "plugin_common/task_event.hpp"

namespace hive::optimization_engine {

void AttemptEvents::record(std::string_view payload) {
  auto task = plugin_common::readTaskEvent(payload);
  if (!task) return;
  Running ended;
  {
    std::lock_guard lock(mutex_);
    if (task->status == "running") {
      if (!task->agent.empty() && (running_.count(task->id) != 0 || running_.size() < maxTracked_))
        running_[task->id] = {task->agent, task->startedAtMs};
      return;
    }
    auto found = running_.find(task->id);
    if (found == running_.end()) return;
    ended = std::move(found->second);
    running_.erase(found);
  }
  if (task->event == "cancelled" || task->event == "assigned") return;  // not an outcome of the agent's
  Attempt attempt = task->event == "succeeded" ? Attempt::kSucceeded : Attempt::kFailed;
  limits_->record(ended.agent, static_cast<double>(task->updatedAtMs - ended.startedAtMs), attempt,
                  task->updatedAtMs);
}

std::size_t AttemptEvents::running() const {
  std::lock_guard lock(mutex_);
  return running_.size();
}

}  // namespace hive::optimization_engine
