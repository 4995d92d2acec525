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
    auto store = HIVE_TRY(context_.services().handle<store::Store>(), "the secrets vault needs hive.store/1");
    auto vault = std::make_shared<Vault>(std::move(store), settings_.secrets,
                                         std::make_shared<const Scanner>(settings_.scanning));
    bool open = !settings_.secrets.current.empty();
    if (open) {
      HIVE_TRY(vault->open(), "opening the secrets collection");
      context_.log().info("secrets: vault open, master key " + settings_.secrets.current.id() + " (" +
                          std::to_string(settings_.secrets.previous.size()) + " previous)");
    } else {
      context_.log().info("secrets: off (no secrets.master_key_file or master_key_env)");
    }
    // Provided without a key too: scan() needs none.
    HIVE_TRY(context_.services().provide<secrets::Vault>(vault));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<SecretRoutes>(
        open ? vault : nullptr, context_.blocking(), settings_.secrets.maxValueBytes)));
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
            .description = "Secrets vault and token scanning: hive.secrets/1 and /api/v2/secrets",
            .provides = {hive::secrets::Vault::kServiceId, hive::http::RouteProvider::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
