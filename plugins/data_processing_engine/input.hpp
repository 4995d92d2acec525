// The items of a batch: an inline JSON array, or a file under the input
// directory in JSON lines or CSV. Every refusal says where (the field, the
// file's line) and why, and nothing is kept of a refused input.
#pragma once

#include <cstddef>
#include <string>

#include <boost/json.hpp>

#include "config.hpp"
#include "hive/status.hpp"

namespace hive::data_processing_engine {

enum class InputFormat { kJsonLines, kCsv };

// The file `relative` names under `directory`, resolved (symbolic links
// included) and checked to stay inside it. kInvalidArgument otherwise.
Result<std::string> resolveUnder(const std::string& directory, const std::string& relative);

// The input file `relative` names for a caller of `tenant`: a named tenant's
// files are under `directory`/tenants/<tenant>/, the default tenant's anywhere
// under `directory` but tenants/. kInvalidArgument as resolveUnder().
Result<std::string> resolveInput(const std::string& directory, const std::string& tenant,
                                 const std::string& relative);

// Reads a file's items; kInvalidArgument with "line N: …" for a bad line,
// kResourceExhausted when the file or its items exceed `limits`.
Result<boost::json::array> readItems(const std::string& path, InputFormat format, const Limits& limits);

// Items of text in that format (what readItems parses).
Result<boost::json::array> parseItems(std::string_view text, InputFormat format, const Limits& limits);

}  // namespace hive::data_processing_engine
