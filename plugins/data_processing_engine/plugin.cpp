// data_processing_engine: chunked batch processing (docs/data-processing.md).
#include "batch_plugin.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"

// hive.tasks/1 is required for its provider, task_manager, whose routes the
// batches call: it starts before this plugin and stops after it.
HIVE_PLUGIN(
    hive::data_processing_engine::DataProcessingEnginePlugin, .name = "data_processing_engine",
    .version = HIVE_PLUGIN_VERSION,
    .description = "Batches: a dataset in chunks, one task per chunk, durable progress and ordered results",
    .provides = {hive::http::RouteProvider::kServiceId},
    .requiredServices = {hive::store::Store::kServiceId, hive::tasks::TaskService::kServiceId})
