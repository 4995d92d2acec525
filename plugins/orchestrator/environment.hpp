// What every part of the orchestrator works with: the plugin's context, its
// clock and options, the two services it needs and its background work.
#pragma once

#include "background.hpp"
#include "clock.hpp"
#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/services/tenancy.hpp"
#include "plugin_common/tenant_scope.hpp"

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
  // Whose agents a caller sees (hive.tenancy/1); everything without a provider.
  tenancy::Scope scopeOf(std::string_view principal) {
    return plugin_common::scopeOf(context.services(), principal);
  }
  // The tenant of the agents a caller registers: "" for the default tenant,
  // for a caller that spans tenants, and without a provider.
  std::string tenantOf(std::string_view principal) {
    tenancy::Scope scope = scopeOf(principal);
    return scope.allTenants ? std::string() : scope.tenant;
  }
};

}  // namespace hive::orchestrator
