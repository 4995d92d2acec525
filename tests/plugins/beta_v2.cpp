#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "beta", .version = "2.0.0", .dependencies = {{"alpha", "^2.0"}},
            .requiredServices = {hive::test::CounterService::kServiceId})
