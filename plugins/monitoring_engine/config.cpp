#include "config.hpp"

namespace hive::monitoring_engine {

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Settings settings;
  settings.healthPeriod = reader.get<std::chrono::milliseconds>("health_period", settings.healthPeriod);
  if (settings.healthPeriod < std::chrono::milliseconds(100) || settings.healthPeriod > std::chrono::hours(1))
    reader.reject("health_period", "must be between 100ms and 1h");
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
  auto series =
      reader.get<std::int64_t>("queue_depth_series", static_cast<std::int64_t>(settings.queueDepthSeries));
  if (series < 0 || series > 1000)
    reader.reject("queue_depth_series", "must be between 0 and 1000");
  else
    settings.queueDepthSeries = static_cast<std::size_t>(series);
  settings.trackedTasks = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "tracked_tasks", static_cast<std::int64_t>(settings.trackedTasks), 0, 10000000));
  settings.alerts = readAlertSettings(reader.child("alerts"), diagnostics);
  settings.tracing = readTracingSettings(reader.child("tracing"), diagnostics);
  reader.finish();
  return settings;
}

}  // namespace hive::monitoring_engine
