#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "needs_service", .version = "1.0.0",
            .requiredServices = {{"test.nothing", 1}})
