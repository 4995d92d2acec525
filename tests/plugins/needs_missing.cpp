#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "needs_missing", .version = "1.0.0",
            .dependencies = {{"nonexistent", "*"}})
