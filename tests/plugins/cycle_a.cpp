#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "cycle_a", .version = "1.0.0",
            .dependencies = {{"cycle_b", "*"}})
