// Names an operator or a caller gives: key names, tenants, projects, agents.
#pragma once

#include <cctype>
#include <cstddef>
#include <string_view>

namespace hive::security_manager {

inline constexpr std::size_t kMaxLabelLength = 64;

// 1-64 of [A-Za-z0-9._-]; a tenant name never holds '~' or '/'.
inline bool isLabel(std::string_view text) {
  if (text.empty() || text.size() > kMaxLabelLength) return false;
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

}  // namespace hive::security_manager
