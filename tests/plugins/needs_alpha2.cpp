#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "needs_alpha2", .version = "1.0.0",
            .dependencies = {{"alpha", "^2.0"}})
