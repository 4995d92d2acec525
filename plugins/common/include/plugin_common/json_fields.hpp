// Reading a field of a parsed JSON object that may be missing or of another
// type. Header-only, shared by in-tree plugins (not part of the SDK).
#pragma once

#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace hive::plugin_common {

// The string at `key`; "" when it is absent or not a string.
inline std::string stringField(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : std::string();
}

}  // namespace hive::plugin_common
