// What every part of the orchestrator works with: the plugin's context, its
// clock and options, the two services it needs and its background work.
#pragma once

#include "background.hpp"
#include "clock.hpp"
#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"

namespace hive::orchestrator {

struct Environment {
  PluginContext& context;
  const Clock& clock;
  const Options& options;
  ServiceHandle<tasks::TaskService> tasks;
  ServiceHandle<store::Store> store;
  Background& background;

  std::int64_t now() const { return clock.nowMs(); }
  Logger& log() { return context.log(); }
};

}  // namespace hive::orchestrator
