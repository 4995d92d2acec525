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

// Replaces every ${NAME} and ${NAME:-default} in every scalar of `root` (not in
// map keys); `$$` is a literal `$`, and a `$` before anything else is itself.
// NAME is [A-Za-z_][A-Za-z0-9_]*. A default is used only when NAME is unset (a
// variable set to "" gives ""), and may itself hold ${...}. An unset NAME
// without default, an unterminated `${` and an invalid name are errors located
// at the scalar (column of the `${` when the scalar is plain and on one line);
// every error in the tree is reported, and a scalar with an error becomes a null
// node (so that validation does not report it twice). Locations are kept.
void expandVariables(ConfigNode& root, const EnvironmentLookup& lookup, Diagnostics& diagnostics);

}  // namespace hive::host
