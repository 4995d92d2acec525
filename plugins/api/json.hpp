// Boost.JSON behind a small Beast-free, exception-free surface.
#pragma once

#include <string>
#include <string_view>

#include "hive/services/http.hpp"
#include "hive/status.hpp"

namespace hive::api {

// Whether `text` is one well-formed JSON value (nesting bounded). When it is
// an object with a string member `member`, that string goes to `value`.
bool isJson(std::string_view text, std::string_view member = {}, std::string* value = nullptr);
// The same, reading two string members.
bool isJson(std::string_view text, std::string_view member, std::string* value, std::string_view other,
            std::string* otherValue);

// RFC 9457 section 4.2: a problem of type "about:blank" (or none) has the
// status's phrase as its title. A provider that hands a Status to
// http::problem() gets the canonical code as title ("NOT_FOUND"): the code
// moves to a `code` member and the title becomes `phrase`; another title that
// differs from `phrase` becomes the `detail` when there is none. Other bodies
// are left byte for byte as they are.
void setProblemTitle(http::Response& response, std::string_view phrase);

}  // namespace hive::api
