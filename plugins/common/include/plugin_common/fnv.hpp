// FNV-1a (64 bits) of a text: a short, stable stand-in for a name too long
// for where it is kept (a store id, a queue name). Not for secrets.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace hive::plugin_common {

inline std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = 1469598103934665603ull;
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

// "h" and the 16 hex digits of fnv1a64(text).
inline std::string fnvName(std::string_view text) {
  char digits[20];
  std::snprintf(digits, sizeof digits, "h%016llx", static_cast<unsigned long long>(fnv1a64(text)));
  return digits;
}

}  // namespace hive::plugin_common
