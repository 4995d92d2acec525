#include "config.hpp"

namespace hive::optimization_engine {

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Settings settings;
  {
    ConfigReader adaptive(reader.child("adaptive_concurrency"), diagnostics);
    GradientOptions& g = settings.gradient;
    settings.adaptiveConcurrency = adaptive.get<bool>("enabled", settings.adaptiveConcurrency);
    g.windowSamples = static_cast<std::size_t>(adaptive.getInRange<std::int64_t>(
        "window_samples", static_cast<std::int64_t>(g.windowSamples), 1, 10000));
    g.window = adaptive.getInRange<std::chrono::milliseconds>(
        "window", g.window, std::chrono::milliseconds(100), std::chrono::hours(1));
    g.tolerance = adaptive.getInRange<double>("tolerance", g.tolerance, 1.0, 100.0);
    g.baselineDrift = adaptive.getInRange<double>("baseline_drift", g.baselineDrift, 0.0, 1.0);
    g.failureShare = adaptive.getInRange<double>("failure_share", g.failureShare, 0.0, 1.0);
    g.minLimit = static_cast<std::uint32_t>(
        adaptive.getInRange<std::int64_t>("min_limit", static_cast<std::int64_t>(g.minLimit), 1, 1024));
    adaptive.finish();
  }
  settings.maxAgents = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "max_agents", static_cast<std::int64_t>(settings.maxAgents), 1, 1000000));
  settings.trackedTasks = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "tracked_tasks", static_cast<std::int64_t>(settings.trackedTasks), 0, 10000000));
  reader.finish();
  return settings;
}

}  // namespace hive::optimization_engine
