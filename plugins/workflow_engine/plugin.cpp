// workflow_engine: durable DAGs of tasks (docs/workflows.md).
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "workflow_plugin.hpp"

// hive.tasks/1 is required for its provider, task_manager, whose routes the
// engine calls: it starts before this plugin and stops after it.
HIVE_PLUGIN(hive::workflow_engine::WorkflowEnginePlugin, .name = "workflow_engine",
            .version = HIVE_PLUGIN_VERSION,
            .description = "Workflows: versioned DAG definitions of tasks, durable runs",
            .provides = {hive::http::RouteProvider::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId, hive::tasks::TaskService::kServiceId})
