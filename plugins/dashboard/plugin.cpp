// dashboard: the operators' web console, a single-page app built by npm from
// web/ and compiled into this .so; it talks to Hive through /api/v2 and the
// /api/v2/ws WebSocket like any other client. Entry: manifest and wiring only.
#include "hive/plugin.hpp"

#include <memory>

#include "assets.hpp"
#include "config.hpp"
#include "hive/services/http.hpp"
#include "routes.hpp"

namespace hive::dashboard {
namespace {

class DashboardPlugin final : public Plugin {
 public:
  explicit DashboardPlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    settings_ = readSettings(section, diagnostics);
  }

  Status start() override {
    auto assets = embeddedAssets();
    HIVE_TRY(context_.services().provide<http::RouteProvider>(
        std::make_shared<DashboardRoutes>(context_, settings_, assets)));
    context_.log().info("serving the dashboard at /dashboard/" +
                        std::string(settings_.serveRoot ? " and /" : "") + " (" +
                        std::to_string(assets.size()) + " files)");
    return okStatus();
  }

  void stop() override {}

 private:
  PluginContext& context_;
  Settings settings_;
};

}  // namespace
}  // namespace hive::dashboard

HIVE_PLUGIN(hive::dashboard::DashboardPlugin, .name = "dashboard", .version = HIVE_PLUGIN_VERSION,
            .description = "The operators' web console (a single-page app at / and /dashboard/)",
            .provides = {hive::http::RouteProvider::kServiceId})
