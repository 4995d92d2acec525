// The `limit` query parameter of the paginated list routes (GET /api/v2/tasks,
// GET /api/v2/agents): an integer 1-1000, 100 when absent. Header-only, shared
// by in-tree plugins (not part of the SDK).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "hive/services/http.hpp"

namespace hive::plugin_common {

inline constexpr std::size_t kDefaultPageLimit = 100;
inline constexpr long kMaxPageLimit = 1000;

// The limit `value` asks for (nullptr: absent); a field error when it is not one.
inline std::size_t pageLimit(const std::string* value, std::vector<http::FieldError>& errors) {
  if (value == nullptr) return kDefaultPageLimit;
  char* end = nullptr;
  long parsed = std::strtol(value->c_str(), &end, 10);
  if (value->empty() || *end != '\0' || parsed < 1 || parsed > kMaxPageLimit) {
    errors.push_back({"limit", "must be an integer between 1 and " + std::to_string(kMaxPageLimit)});
    return kDefaultPageLimit;
  }
  return static_cast<std::size_t>(parsed);
}

}  // namespace hive::plugin_common
