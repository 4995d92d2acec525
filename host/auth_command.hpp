// `hive auth keys create|list|revoke`: API keys of the security_manager plugin
// from the command line, whether or not a hive runs on the config.
//
// It starts, in this process, the config's security_manager and the plugins
// providing what it requires (its store), nothing else (no api, no listener),
// and calls security_manager's own key routes through hive.routes/1: the same
// code, checks and store as POST /api/v2/security/keys. So what it writes is in
// the store that every node reads; a running hive (this one or another node)
// picks a change up within security_manager's refresh_interval. Authority is
// the file system's: whoever can read the config and reach its store can mint
// keys, which is how the first admin key is made.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services/http.hpp"
#include "hive/status.hpp"

namespace hive::host {

// Starts, inside this process, the config's `plugin` and the enabled plugins
// providing what it requires (transitively), nothing else (no api, no
// listener); calls `plugin`'s own route `routeId` with `request` through
// hive.routes/1 and stops them again. Config diagnostics go to stderr. Errors
// (bad config, `plugin` not enabled, cannot start, no answer) are a Status
// whose message is ready to print. `hive auth keys` and `hive secrets` use it.
Result<http::Response> callPluginRoute(const std::vector<std::string>& configFiles, const std::string& plugin,
                                       const std::string& routeId, http::Request request);

// The principal of a command-line caller: cli:<user name>.
std::string commandLineCaller();

struct AuthKeyOptions {
  std::vector<std::string> configFiles;                     // layered, as `-c` gives them
  std::string name, role, tenant, project, agent, expires;  // create
  std::string id;                                           // revoke
};

enum class AuthKeyAction { kCreate, kList, kRevoke, kAuditVerify };

// Prints the result on stdout (create: the key alone on its line) and errors
// on stderr; returns the process exit code. kAuditVerify (`hive audit
// verify`) walks security_manager's audit chain: exit 0 when intact, 1 when
// broken (the answer says at which event and why).
int authKeysCommand(AuthKeyAction action, const AuthKeyOptions& options);

}  // namespace hive::host
