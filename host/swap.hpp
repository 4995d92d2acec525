// A hot swap: a started plugin's generation is replaced while it serves.
//
//   plan      load and configure the next generation against staging services
//   check     the running set stays consistent; a consumer that would not
//             accept the new version is planned along, when a file of it does
//   switch    hold new calls back, wait for leases, hand the state over, start
//             and health-check the next generations, providers first
//   commit    publish the staged services, update status and metrics, retire
//             the old generations (consumers first: they may still call)
//   rollback  stop and destroy what was made; until commit the old generations
//             keep their state and never stop serving
#pragma once

#include <string>

#include "hive/config.hpp"
#include "hive/status.hpp"

namespace hive::host {

struct HostState;
struct PluginFile;

// Swaps `name` to `file` (when null: the file at `path`; when that is empty
// too: the best file of its range in the plugin directories) with `section`
// (when null: its current one). The caller holds state.lifecycle.
Status swapPlugin(HostState& state, const std::string& name, const std::string& path, const PluginFile* file,
                  const ConfigNode* section);

}  // namespace hive::host
