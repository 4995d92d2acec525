// Boost.JSON behind a small Beast-free, exception-free surface.
#pragma once

#include <string>
#include <string_view>

#include "hive/services/http.hpp"
#include "hive/status.hpp"

namespace hive::api {

// Whether `text` is one well-formed JSON value (nesting bounded).
bool isJson(std::string_view text);

}  // namespace hive::api
