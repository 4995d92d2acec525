// The workflow_engine's `config:` section, read and checked once.
#pragma once

#include "engine.hpp"
#include "hive/config.hpp"

namespace hive::workflow_engine {

// Every problem goes to `diagnostics`, located at its key.
EngineOptions readConfig(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::workflow_engine
