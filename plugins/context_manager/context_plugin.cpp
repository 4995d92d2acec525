#include "context_plugin.hpp"

#include "embedders.hpp"
#include "hive/services/embedder.hpp"
#include "hive/services/http.hpp"
#include "hive/services/secrets.hpp"
#include "hive/services/store.hpp"
#include "routes.hpp"

namespace hive::context_manager {

ContextManagerPlugin::ContextManagerPlugin(PluginContext& context) : context_(context) {}

void ContextManagerPlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  options_ = readConfig(section, diagnostics);
}

Status ContextManagerPlugin::start() {
  auto store = HIVE_TRY(context_.services().handle<store::Store>(), "context_manager needs hive.store/1");
  // The key is read from the vault at each request: a rotated secret is used
  // at once, and security_engine may start after this plugin.
  std::shared_ptr<embedder::Embedder> embedder =
      makeEmbedder(options_.embedder, [this, name = options_.embedder.apiKeySecret]() -> Result<std::string> {
        auto vault = context_.services().handle<secrets::Vault>();
        if (!vault.ok())
          return unavailable("secret '" + name + "' needs hive.secrets/1 (enable security_engine)");
        auto lease = vault->lease();
        if (!lease) return unavailable("secret '" + name + "': hive.secrets/1 is being replaced");
        return lease->reveal(name);
      });
  jobs_ = std::make_unique<Jobs>(context_.blocking());
  contexts_ =
      std::make_shared<Contexts>(store, embedder, options_.limits, options_.index,
                                 std::filesystem::path(context_.dataDirectory()) / "index", context_.log());
  auto opened = HIVE_TRY(contexts_->open(), "building the context indexes");
  context_.log().info("started: " + std::to_string(opened.entries) + " entries in " +
                      std::to_string(opened.scopes) + " contexts; vector indexes loaded " +
                      std::to_string(opened.loaded) + ", rebuilt " + std::to_string(opened.rebuilt) + ", " +
                      std::to_string(opened.repaired) + " vectors repaired; embedder " + embedder->model());
  compressor_ = std::make_shared<Compressor>(contexts_, store, context_.services(), context_.pluginName(),
                                             options_.budget, context_.log());
  HIVE_TRY(compressor_->open(), "reading the pending compressions");
  HIVE_TRY(context_.services().provide<embedder::Embedder>(embedder));
  HIVE_TRY(context_.services().provide<http::RouteProvider>(
      std::make_shared<ContextRoutes>(contexts_, compressor_, *jobs_, context_.services())));
  frames_ = std::make_unique<ContextFrames>(context_, contexts_, compressor_, *jobs_);
  frames_->start();
  saver_ = context_.timers().every(options_.savePeriod, [this] {
    once(saving_, [this] {
      if (Status saved = contexts_->saveIndexes(); !saved.ok())
        context_.log().warn("context indexes not saved: " + saved.message());
    });
  });
  budget_ = context_.timers().every(options_.budget.checkPeriod, [this] {
    once(checking_, [this] {
      compressor_->advance();
      for (const ScopeRef& scope : contexts_->scopes()) compressor_->check(scope);
    });
  });
  return okStatus();
}

void ContextManagerPlugin::once(std::atomic<bool>& running, std::function<void()> job) {
  if (running.exchange(true)) return;
  if (!jobs_->post([&running, job = std::move(job)] {
        job();
        running = false;
      }))
    running = false;
}

void ContextManagerPlugin::stop() {
  saver_.reset();
  budget_.reset();
  if (frames_) frames_->stop();
  if (jobs_) jobs_->closeAndWait();
  if (contexts_)
    if (Status saved = contexts_->saveIndexes(); !saved.ok())
      context_.log().warn("context indexes not saved at stop (rebuilt at the next start): " +
                          saved.message());
}

void ContextManagerPlugin::beginDrain() {
  if (jobs_) jobs_->refuse();
}

bool ContextManagerPlugin::drained() const { return !jobs_ || jobs_->idle(); }

Status ContextManagerPlugin::health() { return contexts_ ? okStatus() : unavailable("not started"); }

}  // namespace hive::context_manager
