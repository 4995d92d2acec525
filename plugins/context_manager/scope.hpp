// Context scopes: what a context belongs to, written `kind:name`.
#pragma once

#include <string>

#include "hive/status.hpp"

namespace hive::context_manager {

// `project:<name>`, `run:<id>`, `agent:<name>` or `task:<id>`; the name is 1..100
// characters of [A-Za-z0-9._-] (what task, run and agent ids and names are made
// of), so a scope is safe in a path segment, a file name and a store index.
Status checkScope(const std::string& scope);

}  // namespace hive::context_manager
