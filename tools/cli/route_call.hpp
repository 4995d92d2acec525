// A plugin's own HTTP routes called from the command line, whether or not a
// hive runs on the config: `hive auth keys`, `hive audit verify` and `hive
// secrets` go through the same code, checks and store as the API does.
//
// It starts, in this process, the config's plugin and the plugins providing
// what it requires (its store), nothing else (no api, no listener), and calls
// the plugin's route through hive.routes/1. So what it writes is in the store
// that every node reads; a running hive (this one or another node) picks a
// change up as that plugin refreshes. Authority is the file system's: whoever
// can read the config and reach its store can act, which is how the first
// admin key is made.
#pragma once

#include <string>
#include <vector>

#include "hive/services/http.hpp"
#include "hive/status.hpp"

namespace hive::tools {

// Starts, inside this process, the config's `plugin` and the enabled plugins
// providing what it requires (transitively), nothing else (no api, no
// listener); calls `plugin`'s own route `routeId` with `request` through
// hive.routes/1 and stops them again. Config diagnostics go to stderr. Errors
// (bad config, `plugin` not enabled, cannot start, no answer) are a Status
// whose message is ready to print.
Result<http::Response> callPluginRoute(const std::vector<std::string>& configFiles, const std::string& plugin,
                                       const std::string& routeId, http::Request request);

// A request from the command line: principal cli:<user name>, request id
// "cli", remote address "local".
http::Request commandLineRequest();

// 0 for an answer below 300. Otherwise prints the failure on stderr after
// `command` ("hive auth") and returns the exit code: 2 when the plugin refused
// the request (an answer below 500), 1 when it failed or could not be called.
int failureExitCode(const std::string& command, const Result<http::Response>& response);

}  // namespace hive::tools
