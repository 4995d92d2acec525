// YAML text -> hive::ConfigNode, keeping file:line:col (1-based) on every node
// and on every map key.
#pragma once

#include <string>
#include <string_view>

#include "hive/config.hpp"

namespace hive::host {

// Syntax errors (yaml-cpp's message, at its position), duplicate keys (at the
// second one), non-scalar keys, more than one document, nesting deeper than 64
// and inputs over 4 MiB are reported to `diagnostics`; the Result is then an
// error. `key:`, `~` and `null` become null nodes; every other scalar keeps its
// text. Aliases are converted as copies of their anchor. Never throws.
Result<ConfigNode> parseYamlText(std::string_view text, const std::string& fileName,
                                 Diagnostics& diagnostics);

// The same for a file. An unreadable file is one error located at `path`
// ("cannot read config file: <strerror>"), with NotFound, PermissionDenied,
// InvalidArgument (a directory) or Unavailable as the Result.
Result<ConfigNode> parseYamlFile(const std::string& path, Diagnostics& diagnostics);

}  // namespace hive::host
