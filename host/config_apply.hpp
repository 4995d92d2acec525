// A new, already validated configuration applied to the running kernel.
//
//   diff   each enabled, started plugin against its new entry: unchanged, entry
//          only (log level, required), a new section (reconfigure), another
//          file (swap); a plugin whose file cannot be chosen rejects it all
//          before anything changed
//   apply  reconfigure or swap in order; each step leaves an undo step, and the
//          first rejection undoes the steps taken, in reverse: the running
//          configuration stays
//   then   plugins disabled or removed stop (dependents first), newly enabled
//          ones start once what they need runs; settings that need a restart
//          keep their running values (reported as warnings)
#pragma once

#include "hive/config.hpp"
#include "host/config/kernel_config.hpp"

namespace hive::host {

class PluginHost;
struct HostState;

// The caller holds state.lifecycle.
Status applyKernelConfig(PluginHost& host, HostState& state, KernelConfig next, Diagnostics& diagnostics);

}  // namespace hive::host
