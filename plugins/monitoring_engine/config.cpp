#include "config.hpp"

namespace hive::monitoring_engine {

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Settings settings;
  settings.healthPeriod = reader.getInRange<std::chrono::milliseconds>(
      "health_period", settings.healthPeriod, std::chrono::milliseconds(100), std::chrono::hours(1));
  const ConfigNode& optional = reader.child("optional_plugins");
  if (!optional.isNull()) {
    if (!optional.isSequence()) {
      reader.reject("optional_plugins", "expected a list of plugin names");
    } else {
      for (const ConfigNode& item : optional.items()) {
        auto name = item.as<std::string>();
        if (!name.ok() || name->empty())
          diagnostics.error(item.location(), "'optional_plugins': expected a plugin name");
        else
          settings.optionalPlugins.insert(*name);
      }
    }
  }
  settings.queueDepthSeries = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "queue_depth_series", static_cast<std::int64_t>(settings.queueDepthSeries), 0, 1000));
  settings.trackedTasks = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "tracked_tasks", static_cast<std::int64_t>(settings.trackedTasks), 0, 10000000));
  settings.alerts = readAlertSettings(reader.child("alerts"), diagnostics);
  settings.tracing = readTracingSettings(reader.child("tracing"), diagnostics);
  reader.finish();
  return settings;
}

}  // namespace hive::monitoring_engine
