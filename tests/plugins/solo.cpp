#include "trace_plugin.hpp"
HIVE_PLUGIN(hive::test::TracePlugin, .name = "solo", .version = "1.0.0")
