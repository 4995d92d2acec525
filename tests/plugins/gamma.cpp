#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "gamma", .version = "1.0.0",
            .dependencies = {{"beta", ">=1.0.0 <2.0.0"}})
