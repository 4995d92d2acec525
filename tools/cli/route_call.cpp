#include "tools/cli/route_call.hpp"

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

namespace hive::tools {

using namespace hive::host;

namespace {

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

http::Request commandLineRequest() {
  const passwd* user = ::getpwuid(::geteuid());
  http::Request request;
  request.principal = "cli:" + (user != nullptr ? std::string(user->pw_name) : std::to_string(::geteuid()));
  request.requestId = "cli";
  request.remoteAddress = "local";
  return request;
}

int failureExitCode(const std::string& command, const Result<http::Response>& response) {
  if (!response.ok()) {
    std::cerr << command << ": " << response.status().message() << "\n";
    return 1;
  }
  if (response->status < 300) return 0;
  std::cerr << command << ": " << response->status << " " << response->body << "\n";
  return response->status < 500 ? 2 : 1;
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

}  // namespace hive::tools
