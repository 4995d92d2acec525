// The entry point: the manifest and the factory, nothing else.
#include "hello/greeter.hpp"
#include "hello_plugin.hpp"

HIVE_PLUGIN(hello::HelloPlugin, .name = "hello", .version = "1.0.0",
            .description = "Greets people: an example of an out-of-tree plugin",
            .provides = {hello::Greeter::kServiceId})
