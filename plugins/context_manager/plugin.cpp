// context_manager: shared memory for agents — contexts with hybrid search
// (docs/context.md).
#include "context_plugin.hpp"
#include "hive/services/embedder.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"

HIVE_PLUGIN(hive::context_manager::ContextManagerPlugin, .name = "context_manager",
            .version = HIVE_PLUGIN_VERSION,
            .description = "Contexts: entries scoped by project, run, agent or task, with hybrid search",
            .provides = {hive::http::RouteProvider::kServiceId, hive::embedder::Embedder::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
