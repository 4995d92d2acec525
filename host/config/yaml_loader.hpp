// YAML text -> hive::ConfigNode, keeping file:line:col on every node.
#pragma once

#include <string>
#include <string_view>

#include "hive/config.hpp"

namespace hive::host {

// Parse errors, duplicate keys and non-scalar keys are reported to
// `diagnostics` with their location; the Result is then an error. Never throws.
Result<ConfigNode> parseYamlText(std::string_view text, const std::string& fileName, Diagnostics& diagnostics);
Result<ConfigNode> parseYamlFile(const std::string& path, Diagnostics& diagnostics);

}  // namespace hive::host
