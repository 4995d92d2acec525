// security_manager: who is calling (API keys) and what they may do (roles),
// as hive.auth/1 for the api plugin, with the key routes under
// /api/v2/security. docs/security.md.
#include "hive/plugin.hpp"

#include <atomic>
#include <memory>

#include "api_key.hpp"
#include "config.hpp"
#include "hive/services/auth.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "key_authenticator.hpp"
#include "key_service.hpp"
#include "routes.hpp"

namespace hive::security_manager {
namespace {

class SecurityManagerPlugin final : public Plugin {
 public:
  explicit SecurityManagerPlugin(PluginContext& context) : context_(context) {}
  ~SecurityManagerPlugin() override { stop(); }

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    settings_ = readSettings(section, diagnostics);
  }

  Status start() override {
    if (!cryptoReady()) return unavailable("libsodium cannot start (no entropy source?)");
    auto store = HIVE_TRY(context_.services().handle<store::Store>(), "security_manager needs hive.store/1");
    auto roles = std::make_shared<const Roles>(settings_.roles);
    authenticator_ = std::make_shared<KeyAuthenticator>(roles, settings_.pepper, systemNowMs, settings_.jwt);
    service_ =
        std::make_shared<KeyService>(context_, settings_, roles, authenticator_, KeyStore(std::move(store)));
    HIVE_TRY(service_->load(), "reading the API keys");
    HIVE_TRY(context_.services().provide<auth::Authenticator>(authenticator_));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<SecurityRoutes>(service_)));
    refresher_ = context_.timers().every(settings_.refreshInterval, [this] {
      if (refreshQueued_.exchange(true)) return;
      service_->background([this] {
        service_->refresh();
        refreshQueued_ = false;
      });
    });
    context_.log().info(std::to_string(authenticator_->size()) + " API keys loaded");
    return okStatus();
  }

  void stop() override { refresher_.reset(); }

  Status health() override { return service_ ? okStatus() : unavailable("not started"); }

 private:
  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<KeyAuthenticator> authenticator_;
  std::shared_ptr<KeyService> service_;
  std::atomic<bool> refreshQueued_{false};
  std::unique_ptr<Timer> refresher_;
};

}  // namespace
}  // namespace hive::security_manager

HIVE_PLUGIN(hive::security_manager::SecurityManagerPlugin, .name = "security_manager",
            .version = HIVE_PLUGIN_VERSION,
            .description = "API keys and roles: hive.auth/1 for the api, keys under /api/v2/security",
            .provides = {hive::auth::Authenticator::kServiceId, hive::http::RouteProvider::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
