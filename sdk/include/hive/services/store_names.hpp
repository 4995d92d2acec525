// The names and ids hive.store/1 accepts, checked one way for every provider
// (SDK ABI 2.3): collection, queue and stream names, document and item ids,
// indexed field names. A provider refuses what these refuse, with their message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::store {

inline constexpr std::size_t kMaxNameLength = 63;
inline constexpr std::size_t kMaxIdLength = 128;

// Caller input as shown in an error message: quoted, at most 64 characters,
// anything but printable ASCII as \xNN.
inline std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < 64; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > 64) out += "...";
  return out + "'";
}

namespace detail {
inline bool isLower(char c) { return c >= 'a' && c <= 'z'; }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
}  // namespace detail

// Collections, queues and streams: [a-z][a-z0-9_.-]{0,62}. `what` names the
// kind in the message ("collection", "queue", "stream").
inline Status checkName(std::string_view name, std::string_view what) {
  bool valid = !name.empty() && name.size() <= kMaxNameLength && detail::isLower(name[0]);
  for (std::size_t i = 1; valid && i < name.size(); ++i) {
    char c = name[i];
    valid = detail::isLower(c) || detail::isDigit(c) || c == '_' || c == '.' || c == '-';
  }
  if (valid) return okStatus();
  return invalidArgument(std::string(what) + " name " + quoted(name) + " must match [a-z][a-z0-9_.-]{0,62}");
}

// Document and queue item ids: 1..128 printable ASCII characters.
inline Status checkId(std::string_view id, std::string_view what) {
  bool valid = !id.empty() && id.size() <= kMaxIdLength;
  for (std::size_t i = 0; valid && i < id.size(); ++i) {
    auto c = static_cast<unsigned char>(id[i]);
    valid = c >= 0x20 && c < 0x7f;
  }
  if (valid) return okStatus();
  return invalidArgument(std::string(what) + " id " + quoted(id) +
                         " must be 1..128 printable ASCII characters");
}

// Indexed field names (CollectionSpec::indexed, ListQuery::equals): [a-z][a-z0-9_]{0,62}.
inline Status checkFieldName(std::string_view field) {
  bool valid = !field.empty() && field.size() <= kMaxNameLength && detail::isLower(field[0]);
  for (std::size_t i = 1; valid && i < field.size(); ++i)
    valid = detail::isLower(field[i]) || detail::isDigit(field[i]) || field[i] == '_';
  if (valid) return okStatus();
  return invalidArgument("indexed field name " + quoted(field) + " must match [a-z][a-z0-9_]{0,62}");
}

}  // namespace hive::store
