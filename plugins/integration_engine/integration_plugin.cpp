#include "integration_plugin.hpp"

#include "plugin_common/clock_ids.hpp"
#include "routes.hpp"

namespace hive::integration_engine {

IntegrationEnginePlugin::IntegrationEnginePlugin(PluginContext& context)
    : context_(context), events_(context.services(), [this](bus::Bus& bus) {
        std::vector<std::unique_ptr<hive::Subscription>> held;
        for (const char* root : {"tasks*", "workflows*", "alerts*", "batches*"})
          held.push_back(bus.subscribe(root, [this](const bus::Event& event) {
            auto outbox = outbox_;
            // Most events interest no subscription: only those that do cost a job and the store.
            if (outbox && outbox->follows(event.topic))
              background([outbox, event] { outbox->onEvent(event); });
          }));
        return held;
      }) {}

IntegrationEnginePlugin::~IntegrationEnginePlugin() { stop(); }

void IntegrationEnginePlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  settings_ = readConfig(section, diagnostics);
}

Status IntegrationEnginePlugin::start() {
  jobs_.accept();
  auto store = HIVE_TRY(context_.services().handle<store::Store>(), "integration_engine needs hive.store/1");
  inbound_ = std::make_shared<InboundWebhooks>(context_, store, settings_.inbound,
                                               [] { return plugin_common::nowMs() / 1000; });
  HIVE_TRY(inbound_->open(), "declaring the inbound webhook collection");
  outbox_ = std::make_shared<Outbox>(context_, store, settings_.outbound);
  HIVE_TRY(outbox_->open(), "reading the webhook subscriptions");
  outbox_->start();
  // Without a bus, inbound webhooks still work; nothing is queued for outbound ones.
  if (Status attached = events_.start(); !attached.ok() && attached.code() != StatusCode::kNotFound)
    return attached;
  HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<IntegrationRoutes>(
      inbound_, outbox_, [this](std::function<void()> job) { return background(std::move(job)); },
      [this] { return jobs_.hold(); })));
  refresher_ = context_.timers().every(settings_.outbound.refreshPeriod, [this] {
    background([outbox = outbox_, this] {
      if (Status refreshed = outbox->refresh(); !refreshed.ok())
        context_.log().warn("reading the subscriptions: " + refreshed.message());
    });
  });
  context_.log().info("started: " + std::to_string(settings_.inbound.size()) + " inbound webhooks, " +
                      std::to_string(outbox_->subscriptions().size()) + " subscriptions");
  return okStatus();
}

void IntegrationEnginePlugin::stop() {
  refresher_.reset();
  events_.stop();
  jobs_.stopAndWait();
  if (outbox_) outbox_->stop();
}

void IntegrationEnginePlugin::beginDrain() { jobs_.refuse(); }

bool IntegrationEnginePlugin::drained() const { return jobs_.idle(); }

Status IntegrationEnginePlugin::health() { return outbox_ ? okStatus() : unavailable("not started"); }

}  // namespace hive::integration_engine
