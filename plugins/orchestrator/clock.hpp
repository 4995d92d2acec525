// Where the orchestrator's time comes from: heartbeats, circuit breakers,
// claim windows, reconnect waits, record retention and the timestamps it
// writes (plugin_common/clock.hpp).
#pragma once

#include "plugin_common/clock.hpp"

namespace hive::orchestrator {

using plugin_common::Clock;
using plugin_common::SystemClock;

}  // namespace hive::orchestrator
