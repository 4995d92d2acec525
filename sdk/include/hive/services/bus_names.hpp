// The names hive.bus/1 accepts, checked one way for every provider and fake
// (SDK ABI 2.1): topics and stream names, subscription patterns, group and
// consumer names. A provider refuses what these refuse, with their message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::bus {

inline constexpr std::size_t kMaxNameLength = 200;

namespace detail {

inline bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == ':';
}

inline Status checkLength(std::string_view text, std::string_view what) {
  if (text.empty()) return invalidArgument(std::string(what) + " is empty");
  if (text.size() > kMaxNameLength)
    return invalidArgument(std::string(what) + " longer than " + std::to_string(kMaxNameLength) +
                           " characters");
  return okStatus();
}

// Dot-separated non-empty segments of [A-Za-z0-9_-:], and '*' when `allowStar`.
inline Status checkDotted(std::string_view text, std::string_view what, bool allowStar) {
  HIVE_TRY(checkLength(text, what));
  std::size_t segment = 0;
  for (char c : text) {
    if (c == '.') {
      if (segment == 0)
        return invalidArgument(std::string(what) + " '" + std::string(text) + "' has an empty segment");
      segment = 0;
      continue;
    }
    if (!isNameChar(c) && !(allowStar && c == '*'))
      return invalidArgument(std::string(what) + " '" + std::string(text) +
                             "' may only hold dot-separated segments of [A-Za-z0-9_-:]" +
                             (allowStar ? " and '*'" : ""));
    ++segment;
  }
  if (segment == 0)
    return invalidArgument(std::string(what) + " '" + std::string(text) + "' ends with a dot");
  return okStatus();
}

}  // namespace detail

// Topics and stream names: dot-separated non-empty segments of [A-Za-z0-9_-:].
inline Status checkTopic(std::string_view topic, std::string_view what = "topic") {
  return detail::checkDotted(topic, what, false);
}

// Subscription and replay patterns: like topics, with '*' allowed anywhere.
inline Status checkPattern(std::string_view pattern) { return detail::checkDotted(pattern, "pattern", true); }

// Group and consumer names: [A-Za-z0-9_-:.]+.
inline Status checkLabel(std::string_view label, std::string_view what) {
  HIVE_TRY(detail::checkLength(label, what));
  for (char c : label)
    if (!detail::isNameChar(c) && c != '.')
      return invalidArgument(std::string(what) + " '" + std::string(label) +
                             "' may only hold [A-Za-z0-9_-:.]");
  return okStatus();
}

}  // namespace hive::bus
