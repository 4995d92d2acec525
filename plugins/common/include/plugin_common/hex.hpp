// Lower-case hexadecimal of bytes: tokens, secrets, digests, bytea literals.
#pragma once

#include <string>
#include <string_view>

namespace hive::plugin_common {

// Appends the hex of `bytes` to `out` (two digits a byte).
inline void appendHex(std::string& out, std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out.reserve(out.size() + 2 * bytes.size());
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
}

inline std::string hexOf(std::string_view bytes) {
  std::string out;
  appendHex(out, bytes);
  return out;
}

}  // namespace hive::plugin_common
