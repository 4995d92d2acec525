// The entry point: the manifest and the factory, nothing else.
#include "hello/greeter.hpp"
#include "hello_plugin.hpp"

HIVE_PLUGIN(hello::HelloPlugin, .name = "hello", .version = HIVE_PLUGIN_VERSION,
            .description = "Greets people: an example of an out-of-tree plugin",
            .provides = {hello::Greeter::kServiceId})
