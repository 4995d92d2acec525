// `hive secrets set|list|show|delete|rotate-key`: the security_engine vault
// from the command line, whether or not a hive runs on the config (the same
// way as `hive auth keys`: tools/cli/route_call.hpp). A value
// is read from stdin, never from the command line, where `ps` and shell
// history would show it.
#pragma once

#include <string>
#include <vector>

namespace hive::tools {

struct SecretsOptions {
  std::vector<std::string> configFiles;  // layered, as `-c` gives them
  std::string name;
};

enum class SecretsAction { kSet, kList, kShow, kDelete, kRotateKey };

// Prints the answer on stdout and errors on stderr; returns the exit code: 0,
// 2 for a refused request (bad name, unknown secret), 1 when the store or the
// plugin cannot start.
int secretsCommand(SecretsAction action, const SecretsOptions& options);

}  // namespace hive::tools
