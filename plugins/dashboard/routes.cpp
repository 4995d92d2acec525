#include "routes.hpp"

#include <set>
#include <utility>

#include "hive/services/auth.hpp"

namespace hive::dashboard {
namespace {

constexpr const char* kSessionOpenApi =
    R"json({"summary":"What the caller may do: its principal and which of the dashboard's permissions hive.auth/1 grants it (all of them, auth false, when no auth provider runs; none and an empty principal without valid credentials)","tags":["dashboard"],)json"
    R"json("responses":{"200":{"description":"OK","content":{"application/json":{"schema":{"$ref":"#/components/schemas/DashboardSession"}}}}}})json";

}  // namespace

DashboardRoutes::DashboardRoutes(PluginContext& context, const Settings& settings,
                                 std::span<const Asset> assets)
    : context_(context), files_(assets) {
  // The app's files carry no data, and the sign-in page must load before a
  // key is known: they are public like /livez. Everything the app shows
  // comes from /api/v2 under the caller's own permissions.
  auto index = [this](http::Request request, http::Responder respond) {
    respond(files_.answer("index.html", request));
  };
  if (settings.serveRoot)
    table_.add({.id = "root", .method = "GET", .path = "/", .permission = "", .openapi = ""}, index);
  table_.add({.id = "index", .method = "GET", .path = "/dashboard/", .permission = "", .openapi = ""}, index);
  table_.add({.id = "redirect", .method = "GET", .path = "/dashboard", .permission = "", .openapi = ""},
             [](http::Request, http::Responder respond) {
               http::Response moved;
               moved.status = 308;
               moved.contentType = "text/plain; charset=utf-8";
               moved.headers.push_back({"location", "/dashboard/"});
               respond(std::move(moved));
             });
  table_.add({.id = "file", .method = "GET", .path = "/dashboard/{file}", .permission = "", .openapi = ""},
             [this](http::Request request, http::Responder respond) {
               respond(files_.answer(request.param("file"), request));
             });
  table_.add(
      {.id = "asset", .method = "GET", .path = "/dashboard/assets/{file}", .permission = "", .openapi = ""},
      [this](http::Request request, http::Responder respond) {
        respond(files_.answer("assets/" + request.param("file"), request));
      });
  table_.add({.id = "session",
              .method = "GET",
              .path = "/api/v2/dashboard/session",
              .permission = "",
              .openapi = kSessionOpenApi},
             [this](http::Request request, http::Responder respond) { respond(session(request)); });
}

std::string DashboardRoutes::openapiSchemas() {
  return R"json({"DashboardSession":{"type":"object","properties":{"auth":{"type":"boolean"},"principal":{"type":"string"},"permissions":{"type":"array","items":{"type":"string"}},"features":{"type":"array","items":{"type":"string"},"description":"the views whose API is served now: tasks, agents, workflows, messages, alerts, audit"}},"required":["auth","principal","permissions","features"]}})json";
}

namespace {

// The views whose API is served now, by the first path of each API: a view
// appears when its API does (workflow_engine, communication_manager, ...).
std::string features(PluginContext& context) {
  static constexpr std::pair<std::string_view, std::string_view> kFeatures[] = {
      {"tasks", "/api/v2/tasks"},
      {"agents", "/api/v2/agents"},
      {"workflows", "/api/v2/workflows/runs"},
      {"messages", "/api/v2/messages"},
      {"alerts", "/api/v2/observability/alerts"},
      {"audit", "/api/v2/security/audit"}};
  std::set<std::string_view> present;
  for (const auto& provider : context.services().getAll<http::RouteProvider>())
    for (const auto& route : provider->routes())
      for (const auto& [feature, path] : kFeatures)
        if (route.path == path) present.insert(feature);
  std::string out;
  for (const auto& [feature, path] : kFeatures)
    if (present.contains(feature)) (out += out.empty() ? "" : ",") += http::jsonQuote(feature);
  return out;
}

}  // namespace

http::Response DashboardRoutes::session(const http::Request& request) const {
  auto authenticator = context_.services().get<auth::Authenticator>();
  std::string principal;
  std::string permissions;
  bool known = false;
  for (std::string_view permission : kPermissions) {
    bool allowed = true;
    if (authenticator.ok()) {
      auth::Decision decision = (*authenticator)->authorize(request, permission);
      allowed = decision.allowed;
      if (decision.allowed || decision.code == StatusCode::kPermissionDenied) known = true;
      if (principal.empty()) principal = decision.principal;
    }
    if (allowed) (permissions += permissions.empty() ? "" : ",") += http::jsonQuote(permission);
  }
  // A caller without valid credentials gets the same 200, with no principal
  // and no permission: the app asks for a key then. (A 401 would be the
  // browser's console error on every first visit.)
  if (authenticator.ok() && !known) {
    principal.clear();
    permissions.clear();
  }
  http::Response response;
  response.headers.push_back({"cache-control", "no-store"});
  response.body = std::string("{\"auth\":") + (authenticator.ok() ? "true" : "false") +
                  ",\"principal\":" + http::jsonQuote(principal) + ",\"permissions\":[" + permissions +
                  "],\"features\":[" + features(context_) + "]}";
  return response;
}

}  // namespace hive::dashboard
