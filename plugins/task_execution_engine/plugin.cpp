// Entry file: the manifest and nothing else.
#include "executor_plugin.hpp"
#include "hive/services/executor.hpp"

HIVE_PLUGIN(hive::task_execution_engine::ExecutorPlugin, .name = "task_execution_engine", .version = "1.0.0",
            .description = "Runs process agents' tasks as sandboxed child processes (hive.executor/1)",
            .provides = {hive::exec::ProcessRunner::kServiceId})
