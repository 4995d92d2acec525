// The dashboard's routes (hive.routes/1): the app at /dashboard/ (and /), its
// files, and GET /api/v2/dashboard/session, which tells the app what the
// caller may do so that it shows only the buttons that would work.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "assets.hpp"
#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/http.hpp"
#include "static_files.hpp"

namespace hive::dashboard {

// Every permission a view or a button of the app needs.
inline constexpr std::string_view kPermissions[] = {
    "tasks:read",      "tasks:write",        "agents:read",   "agents:write",   "admin:read",
    "admin:write",     "observability:read", "security:read", "security:write", "workflows:read",
    "workflows:write", "events:read",        "messages:read", "messages:write"};

class DashboardRoutes final : public http::RouteProvider {
 public:
  DashboardRoutes(PluginContext& context, const Settings& settings, std::span<const Asset> assets);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override;

 private:
  http::Response session(const http::Request& request) const;

  PluginContext& context_;
  StaticFiles files_;
  http::RouteTable table_;
};

}  // namespace hive::dashboard
