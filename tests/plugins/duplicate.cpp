#include "trace_plugin.hpp"
// Built twice under two file names with the same manifest name and version.
HIVE_PLUGIN(hive::test::TracePlugin, .name = "dup", .version = "1.0.0")
