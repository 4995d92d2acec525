#include "config.hpp"

#include <cstdint>
#include <string>

namespace hive::workflow_engine {

EngineOptions readConfig(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  EngineOptions options;
  auto bounded = [&](const char* key, std::size_t fallback, std::int64_t low, std::int64_t high) {
    std::int64_t value = reader.get<std::int64_t>(key, static_cast<std::int64_t>(fallback));
    if (value < low || value > high) {
      reader.reject(key, "must be between " + std::to_string(low) + " and " + std::to_string(high));
      return fallback;
    }
    return static_cast<std::size_t>(value);
  };
  Limits& limits = options.limits;
  limits.maxDefinitionBytes =
      bounded("max_definition_bytes", limits.maxDefinitionBytes, 1024, 16 * 1024 * 1024);
  limits.maxSteps = bounded("max_steps", limits.maxSteps, 1, 100000);
  limits.maxExpressionBytes = bounded("max_expression_bytes", limits.maxExpressionBytes, 16, 65536);
  limits.maxParams = bounded("max_params", limits.maxParams, 0, 10000);
  limits.maxMapItems = bounded("max_map_items", limits.maxMapItems, 1, 100000);
  options.reconcilePeriod =
      reader.get<std::chrono::milliseconds>("reconcile_period", options.reconcilePeriod);
  if (options.reconcilePeriod < std::chrono::milliseconds(100) ||
      options.reconcilePeriod > std::chrono::hours(1))
    reader.reject("reconcile_period", "must be between 100ms and 1h");
  ScheduleOptions& schedules = options.schedules;
  schedules.tick = reader.get<std::chrono::milliseconds>("schedule_tick", schedules.tick);
  if (schedules.tick < std::chrono::milliseconds(100) || schedules.tick > std::chrono::minutes(1))
    reader.reject("schedule_tick", "must be between 100ms and 1m");
  schedules.grace = reader.get<std::chrono::milliseconds>("schedule_grace", schedules.grace);
  if (schedules.grace < std::chrono::seconds(1) || schedules.grace > std::chrono::hours(24))
    reader.reject("schedule_grace", "must be between 1s and 24h");
  RetentionOptions& retention = options.retention;
  retention.keep = reader.get<std::chrono::milliseconds>("run_retention", retention.keep);
  if (retention.keep < std::chrono::minutes(1) || retention.keep > std::chrono::hours(24 * 3650))
    reader.reject("run_retention", "must be between 1m and 3650d");
  retention.batch = bounded("retention_batch", retention.batch, 1, 1000);
  retention.period = reader.get<std::chrono::milliseconds>("retention_period", retention.period);
  if (retention.period < std::chrono::seconds(1) || retention.period > std::chrono::hours(24))
    reader.reject("retention_period", "must be between 1s and 24h");
  reader.finish();
  return options;
}

}  // namespace hive::workflow_engine
