// A config tree as YAML text, each value annotated with the file:line:col it
// came from (`hive config show`, which prints layered files merged).
#pragma once

#include <string>

#include "hive/config.hpp"

namespace hive::host {

// Valid YAML that reads back to the same tree; scalars that are not plain words
// are double-quoted. Every line with a value ends in `# file:line:col`.
std::string renderWithOrigins(const ConfigNode& node);

}  // namespace hive::host
