// Entry point of the `api` plugin: the manifest and nothing else.
#include "api_plugin.hpp"

HIVE_PLUGIN(hive::api::ApiPlugin, .name = "api", .version = "1.0.0",
            .description = "HTTP/1.1 and WebSocket server for the routes of every hive.routes/1 provider")
