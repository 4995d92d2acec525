// task_manager's HTTP routes (hive.routes/1): /api/v2/tasks and below.
#pragma once

#include <atomic>
#include <memory>

#include "hive/context.hpp"
#include "hive/services/http.hpp"
#include "service.hpp"

namespace hive::task_manager {

// `inFlight` counts the requests being answered (the plugin is drained at 0).
std::shared_ptr<http::RouteProvider> makeRoutes(PluginContext& context, std::shared_ptr<Tasks> service,
                                                const Limits& limits,
                                                std::shared_ptr<std::atomic<int>> inFlight);

}  // namespace hive::task_manager
