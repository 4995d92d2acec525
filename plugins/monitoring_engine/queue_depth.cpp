#include "queue_depth.hpp"

#include <map>

#include "hive/services/tasks.hpp"

namespace hive::monitoring_engine {

void QueueDepthSampler::sample() {
  if (labels_->maxSets() == 0) return;
  auto service = context_.services().get<tasks::TaskService>();
  if (!service.ok()) return;
  auto depth = (*service)->depth();
  if (!depth.ok()) {
    context_.log().debug("queue depth not sampled: " + depth.status().message());
    return;
  }
  std::map<std::string, double> waiting;
  for (const auto& queue : *depth) {
    std::string label = labels_->label(queue.capabilities);
    for (const auto& [priority, count] : queue.byPriority) waiting[label] += static_cast<double>(count);
  }
  for (const auto& label : labels_->known())
    context_.metrics()
        .gauge("hive_tasks_queued", "Tasks waiting to be claimed, by the capability set they require",
               {{"capabilities", label}})
        .set(waiting.count(label) != 0 ? waiting[label] : 0);
}

}  // namespace hive::monitoring_engine
