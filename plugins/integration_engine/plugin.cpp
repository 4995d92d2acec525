// integration_engine: webhooks in and out (docs/integrations.md).
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "integration_plugin.hpp"

HIVE_PLUGIN(hive::integration_engine::IntegrationEnginePlugin, .name = "integration_engine",
            .version = HIVE_PLUGIN_VERSION,
            .description =
                "Integrations: signed inbound webhooks that start runs or tasks, durable outbound webhooks",
            .provides = {hive::http::RouteProvider::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
