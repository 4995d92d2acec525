#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "beta", .version = "1.0.0", .dependencies = {{"alpha", "^1.0"}},
            .requiredServices = {hive::test::CounterService::kServiceId})
