// The outbound side's HTTP client: one POST per call, blocking, with a deadline
// for the whole exchange. It never follows a redirect (a 3xx is an answer like
// any other), and with AddressPolicy::kPublicOnly it refuses to connect to a
// loopback, private, link-local or otherwise non-public address, checked on the
// address it connects to (so a name that resolves elsewhere later is caught).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services/http.hpp"
#include "hive/status.hpp"
#include "plugin_common/http_client.hpp"

namespace hive::integration_engine {

using Url = plugin_common::HttpUrl;

// http://host[:port]/path or https://…; kInvalidArgument with the reason otherwise.
inline Result<Url> parseUrl(std::string_view text) { return plugin_common::parseHttpUrl(text); }

enum class AddressPolicy { kPublicOnly, kAny };

// Resolves `url`'s host; kPermissionDenied when the policy refuses an address
// it resolves to, kUnavailable when it does not resolve.
Status checkDestination(const Url& url, AddressPolicy policy);

// The status code of the answer, or why there was none. An https URL's server
// must present a certificate that `trust` accepts (plugin_common::TlsTrust).
Result<int> post(const Url& url, AddressPolicy policy, const std::vector<http::Header>& headers,
                 const std::string& body, std::chrono::milliseconds timeout, const std::string& caFile = {});

}  // namespace hive::integration_engine
