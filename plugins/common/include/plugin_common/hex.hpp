// Lower-case hexadecimal of bytes: tokens, secrets, digests, bytea literals.
#pragma once

#include <optional>
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

// The bytes of lower-case `hex` (what hexOf() writes); nullopt when it is not
// whole pairs of lower-case hex digits.
inline std::optional<std::string> bytesOfHex(std::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int high = digit(hex[i]), low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return out;
}

}  // namespace hive::plugin_common
