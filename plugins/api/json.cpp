// The one translation unit compiling Boost.JSON for this plugin.
#include "json.hpp"

#include <boost/json/src.hpp>

namespace hive::api {

bool isJson(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code error;
  boost::json::monotonic_resource resource;
  boost::json::parse(text, error, &resource, options);
  return !error;
}

}  // namespace hive::api
