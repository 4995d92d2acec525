// `hive auth keys create|list|revoke` and `hive audit verify`: API keys and
// the audit chain of the security_manager plugin from the command line,
// whether or not a hive runs on the config (tools/cli/route_call.hpp): the
// same code, checks and store as POST /api/v2/security/keys. A running hive
// picks a change up within security_manager's refresh_interval.
#pragma once

#include <string>
#include <vector>

namespace hive::tools {

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

}  // namespace hive::tools
