#include "queue_depth.hpp"

#include <map>

#include "hive/services/tasks.hpp"

namespace hive::monitoring_engine {

void QueueDepthSampler::sample() {
  if (maxSeries_ == 0) return;
  auto service = context_.services().get<tasks::TaskService>();
  if (!service.ok()) return;
  auto depth = (*service)->depth();
  if (!depth.ok()) {
    context_.log().debug("queue depth not sampled: " + depth.status().message());
    return;
  }
  std::map<std::string, double> waiting;
  for (const auto& queue : *depth) {
    std::string label = queue.capabilities.empty() ? "(none)" : queue.capabilities;
    if (known_.count(label) == 0) {
      if (known_.size() < maxSeries_)
        known_.insert(label);
      else
        label = "(other)";
    }
    for (const auto& [priority, count] : queue.byPriority) waiting[label] += static_cast<double>(count);
  }
  if (waiting.count("(other)") != 0) known_.insert("(other)");
  for (const auto& label : known_)
    context_.metrics()
        .gauge("hive_tasks_queued", "Tasks waiting to be claimed, by the capability set they require",
               {{"capabilities", label}})
        .set(waiting.count(label) != 0 ? waiting[label] : 0);
}

}  // namespace hive::monitoring_engine
