#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "alpha", .version = ALPHA_VERSION,
            .description = "test provider", .provides = {hive::test::CounterService::kServiceId})
