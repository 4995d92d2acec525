#include "config.hpp"

#include <cstdint>
#include <string>

namespace hive::workflow_engine {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

std::size_t count(ConfigReader& reader, const char* key, std::size_t fallback, std::int64_t low,
                  std::int64_t high) {
  return static_cast<std::size_t>(
      reader.getInRange<std::int64_t>(key, static_cast<std::int64_t>(fallback), low, high));
}

// retention: {keep, batch, period}, the shape task_manager's retention has.
void readRetention(ConfigReader& parent, Diagnostics& diagnostics, RetentionOptions& retention) {
  const ConfigNode& node = parent.child("retention");
  if (node.isNull()) return;
  if (!node.isMap()) return parent.reject("retention", "expected a map (keep, batch, period)");
  ConfigReader reader(node, diagnostics);
  retention.keep = reader.getInRange<milliseconds>("keep", retention.keep, minutes(1), hours(24 * 3650));
  retention.batch = count(reader, "batch", retention.batch, 1, 1000);
  retention.period = reader.getInRange<milliseconds>("period", retention.period, seconds(1), hours(24));
  reader.finish();
}

}  // namespace

EngineOptions readConfig(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  EngineOptions options;
  Limits& limits = options.limits;
  limits.maxDefinitionBytes =
      count(reader, "max_definition_bytes", limits.maxDefinitionBytes, 1024, 16 * 1024 * 1024);
  limits.maxSteps = count(reader, "max_steps", limits.maxSteps, 1, 100000);
  limits.maxExpressionBytes = count(reader, "max_expression_bytes", limits.maxExpressionBytes, 16, 65536);
  limits.maxParams = count(reader, "max_params", limits.maxParams, 0, 10000);
  limits.maxMapItems = count(reader, "max_map_items", limits.maxMapItems, 1, 100000);
  options.reconcilePeriod = reader.getInRange<milliseconds>("reconcile_period", options.reconcilePeriod,
                                                            milliseconds(100), hours(1));
  ScheduleOptions& schedules = options.schedules;
  schedules.tick =
      reader.getInRange<milliseconds>("schedule_tick", schedules.tick, milliseconds(100), minutes(1));
  schedules.grace = reader.getInRange<milliseconds>("schedule_grace", schedules.grace, seconds(1), hours(24));
  readRetention(reader, diagnostics, options.retention);
  reader.finish();
  return options;
}

}  // namespace hive::workflow_engine
