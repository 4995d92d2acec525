// ${VAR} and ${VAR:-default} in configuration scalars.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "hive/config.hpp"

namespace hive::host {

using EnvironmentLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment (getenv).
std::optional<std::string> processEnvironment(const std::string& name);

// Replaces every ${NAME} and ${NAME:-default} in every scalar of `root`; `$$`
// is a literal `$`. An unset NAME without default, an unterminated `${` and an
// invalid name are errors located at the scalar (column of the `${` when the
// scalar is plain and on one line).
void expandVariables(ConfigNode& root, const EnvironmentLookup& lookup, Diagnostics& diagnostics);

}  // namespace hive::host
