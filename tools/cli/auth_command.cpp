#include "tools/cli/auth_command.hpp"

#include <iostream>

#include "hive/services/http.hpp"
#include "tools/cli/route_call.hpp"

namespace hive::tools {
namespace {

constexpr const char* kSecurityPlugin = "security_manager";

std::string createBody(const AuthKeyOptions& o) {
  std::string body = "{\"name\":" + http::jsonQuote(o.name) + ",\"role\":" + http::jsonQuote(o.role);
  auto optional = [&](const char* field, const std::string& value) {
    if (!value.empty()) body += std::string(",\"") + field + "\":" + http::jsonQuote(value);
  };
  optional("tenant", o.tenant);
  optional("project", o.project);
  optional("agent", o.agent);
  optional("expires_in", o.expires);
  return body + "}";
}

// The "key" member of the 201 body (hive_<hex>_<hex>: no escapes to undo).
std::string keyOf(const std::string& body) {
  const std::string marker = "\"key\":\"";
  std::size_t start = body.find(marker);
  if (start == std::string::npos) return {};
  start += marker.size();
  std::size_t end = body.find('"', start);
  return end == std::string::npos ? std::string() : body.substr(start, end - start);
}

}  // namespace

int authKeysCommand(AuthKeyAction action, const AuthKeyOptions& options) {
  http::Request request = commandLineRequest();
  std::string routeId;
  if (action == AuthKeyAction::kCreate) {
    routeId = "keys.create";
    request.method = "POST";
    request.path = "/api/v2/security/keys";
    request.body = createBody(options);
  } else if (action == AuthKeyAction::kList) {
    routeId = "keys.list";
    request.method = "GET";
    request.path = "/api/v2/security/keys";
  } else if (action == AuthKeyAction::kAuditVerify) {
    routeId = "audit.verify";
    request.method = "GET";
    request.path = "/api/v2/security/audit/verify";
  } else {
    routeId = "keys.revoke";
    request.method = "DELETE";
    request.path = "/api/v2/security/keys/" + options.id;
    request.params["id"] = options.id;
  }
  auto response = callPluginRoute(options.configFiles, kSecurityPlugin, routeId, std::move(request));
  if (int failed = failureExitCode("hive auth", response)) return failed;
  if (action == AuthKeyAction::kCreate) {
    std::string key = keyOf(response->body);
    if (key.empty()) {
      std::cerr << "hive auth: the answer holds no key\n";
      return 1;
    }
    std::cout << key << std::endl;
    std::string details = response->body;
    details.replace(details.find(key), key.size(), "(shown above, once)");
    std::cerr << "created " << details
              << "\nkeep the key now: it is stored only as a digest and never shown again\n";
  } else if (action == AuthKeyAction::kList) {
    std::cout << response->body << std::endl;
  } else if (action == AuthKeyAction::kAuditVerify) {
    std::cout << response->body << std::endl;
    if (response->body.find("\"intact\":true") == std::string::npos) return 1;
  } else {
    std::cout << "revoked " << options.id << std::endl;
  }
  return 0;
}

}  // namespace hive::tools
