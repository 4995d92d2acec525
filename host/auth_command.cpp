#include "host/auth_command.hpp"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <iostream>
#include <set>

#include "hive/services/http.hpp"
#include "host/catalog.hpp"
#include "host/config/kernel_config.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/service_registry.hpp"

namespace hive::host {
namespace {

constexpr const char* kSecurityPlugin = "security_manager";

const PluginManifest* manifestOf(const Catalog& catalog, const std::string& name) {
  auto files = catalog.versionsOf(name);
  return files.empty() ? nullptr : &files.front()->manifest;
}

// `plugin` and, transitively, the enabled plugins it depends on or whose
// services it requires: what must start for its routes to work.
std::set<std::string> pluginsNeeded(const KernelConfig& config, const Catalog& catalog,
                                    const std::string& plugin) {
  std::set<std::string> needed{plugin};
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& entry : config.plugins) {
      if (!entry.enabled || needed.count(entry.name) != 0) continue;
      const PluginManifest* candidate = manifestOf(catalog, entry.name);
      if (candidate == nullptr) continue;
      for (const auto& name : needed) {
        const PluginManifest* user = manifestOf(catalog, name);
        if (user == nullptr) continue;
        bool wanted = false;
        for (const auto& dependency : user->dependencies) wanted = wanted || dependency.name == entry.name;
        for (const auto& service : user->requiredServices)
          for (const auto& offered : candidate->provides) wanted = wanted || offered == service;
        if (wanted) {
          needed.insert(entry.name);
          grew = true;
          break;
        }
      }
    }
  }
  return needed;
}

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

Result<http::Response> call(PluginHost& host, const std::string& plugin, const std::string& routeId,
                            http::Request request) {
  std::shared_ptr<http::RouteProvider> provider;
  for (auto& lease : host.services().lookup(ServiceKey{"hive.routes", 1}))
    if (lease.provider == plugin) provider = std::static_pointer_cast<http::RouteProvider>(lease.service);
  if (!provider) return unavailable(plugin + " serves no routes (did it start?)");
  auto answer = std::make_shared<std::promise<http::Response>>();
  auto future = answer->get_future();
  provider->serve(routeId, std::move(request),
                  [answer](http::Response response) { answer->set_value(std::move(response)); });
  if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
    return deadlineExceeded(plugin + " did not answer within 60s");
  return future.get();
}

}  // namespace

std::string commandLineCaller() {
  const passwd* user = ::getpwuid(::geteuid());
  return "cli:" + (user != nullptr ? std::string(user->pw_name) : std::to_string(::geteuid()));
}

Result<http::Response> callPluginRoute(const std::vector<std::string>& configFiles, const std::string& plugin,
                                       const std::string& routeId, http::Request request) {
  Diagnostics diagnostics;
  const std::string configPath = layerNames(configFiles);
  auto config = loadKernelConfig(configFiles, diagnostics);
  for (const auto& d : diagnostics.items()) std::cerr << d.toString() << "\n";
  if (!config.ok()) return invalidArgument(configPath + ": " + config.status().message());
  bool enabled = false;
  for (const auto& entry : config->plugins) enabled = enabled || (entry.name == plugin && entry.enabled);
  if (!enabled)
    return failedPrecondition(configPath + " does not enable " + plugin + " (add `" + plugin +
                              ": {}` under plugins:)");
  Catalog catalog = scanPluginDirectories(config->pluginDirectories, HostAbi::current());
  std::set<std::string> needed = pluginsNeeded(*config, catalog, plugin);
  std::erase_if(config->plugins, [&](const PluginEntry& entry) { return needed.count(entry.name) == 0; });
  for (auto& entry : config->plugins) entry.required = true;

  // Warnings and errors only: stdout carries the answer alone.
  LogSystem logs(LogOutputFormat::kText, LogLevel::kWarn);
  PluginHost host(std::move(config).value(), logs);
  Diagnostics loadDiagnostics;
  Status ready = host.load(loadDiagnostics);
  for (const auto& d : loadDiagnostics.items()) std::cerr << d.toString() << "\n";
  if (ready.ok()) ready = host.start();
  if (!ready.ok()) {
    host.stop();
    return unavailable("cannot start " + plugin + ": " + ready.message());
  }
  auto response = call(host, plugin, routeId, std::move(request));
  host.stop();
  return response;
}

int authKeysCommand(AuthKeyAction action, const AuthKeyOptions& options) {
  http::Request request;
  request.principal = commandLineCaller();
  request.requestId = "cli";
  request.remoteAddress = "local";
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
  if (!response.ok()) {
    std::cerr << "hive auth: " << response.status().message() << "\n";
    return 1;
  }
  if (response->status >= 300) {
    std::cerr << "hive auth: " << response->status << " " << response->body << "\n";
    return response->status < 500 ? 2 : 1;
  }
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

}  // namespace hive::host
