// security_engine: the secrets vault (hive.secrets/1 and /api/v2/secrets).
// docs/security.md, "Secrets".
#include "hive/plugin.hpp"

#include <sodium.h>

#include <memory>

#include "config.hpp"
#include "hive/services/http.hpp"
#include "hive/services/secrets.hpp"
#include "hive/services/store.hpp"
#include "routes.hpp"
#include "vault.hpp"

namespace hive::security_engine {
namespace {

class SecurityEnginePlugin final : public Plugin {
 public:
  explicit SecurityEnginePlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    settings_ = readSettings(section, diagnostics);
  }

  Status start() override {
    if (sodium_init() < 0) return unavailable("libsodium cannot start (no entropy source?)");
    std::shared_ptr<Vault> vault;
    if (!settings_.secrets.current.empty()) {
      auto store =
          HIVE_TRY(context_.services().handle<store::Store>(), "the secrets vault needs hive.store/1");
      vault = std::make_shared<Vault>(std::move(store), settings_.secrets);
      HIVE_TRY(vault->open(), "opening the secrets collection");
      HIVE_TRY(context_.services().provide<secrets::Vault>(vault));
      context_.log().info("secrets: vault open, master key " + settings_.secrets.current.id() + " (" +
                          std::to_string(settings_.secrets.previous.size()) + " previous)");
    } else {
      context_.log().info("secrets: off (no secrets.master_key_file or master_key_env)");
    }
    HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<SecretRoutes>(
        std::move(vault), context_.blocking(), settings_.secrets.maxValueBytes)));
    return okStatus();
  }

  void stop() override {}

 private:
  PluginContext& context_;
  Settings settings_;
};

}  // namespace
}  // namespace hive::security_engine

HIVE_PLUGIN(hive::security_engine::SecurityEnginePlugin, .name = "security_engine",
            .version = HIVE_PLUGIN_VERSION,
            .description = "Secrets vault: hive.secrets/1 and /api/v2/secrets",
            .provides = {hive::secrets::Vault::kServiceId, hive::http::RouteProvider::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
