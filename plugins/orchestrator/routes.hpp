// The orchestrator's hive.routes/1: the agent REST routes, the coordination
// status and the remote agents' WebSocket (/api/v2/agents/connect).
#pragma once

#include <memory>

#include "hive/services/http.hpp"
#include "orchestrator.hpp"

namespace hive::orchestrator {

std::shared_ptr<http::RouteProvider> makeAgentRoutes(std::shared_ptr<Orchestrator> orchestrator);

}  // namespace hive::orchestrator
