#include "batch_plugin.hpp"

#include "routes.hpp"

namespace hive::data_processing_engine {

DataProcessingEnginePlugin::DataProcessingEnginePlugin(PluginContext& context)
    : context_(context), events_(context.services(), [this](bus::Bus& bus) {
        // Any task event may end a chunk's task: advance soon rather than at the next period.
        return bus.subscribe("tasks", [this](const bus::Event&) {
          if (auto batches = batches_) batches->poke();
        });
      }) {}

DataProcessingEnginePlugin::~DataProcessingEnginePlugin() { stop(); }

void DataProcessingEnginePlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  options_ = readConfig(section, diagnostics);
  if (options_.inputDirectory.empty()) options_.inputDirectory = context_.dataDirectory() + "/input";
  if (options_.outputDirectory.empty()) options_.outputDirectory = context_.dataDirectory() + "/output";
}

Status DataProcessingEnginePlugin::start() {
  jobs_.accept();
  auto store =
      HIVE_TRY(context_.services().handle<store::Store>(), "data_processing_engine needs hive.store/1");
  batches_ = std::make_shared<Batches>(
      context_, std::move(store), options_,
      [this](const std::string& topic, const std::string& payload) { publish(topic, payload); });
  HIVE_TRY(batches_->open(), "opening the batch collections");
  // Without a bus the batches still advance, at reconcile_period's pace.
  if (Status attached = events_.start(); !attached.ok() && attached.code() != StatusCode::kNotFound)
    return attached;
  HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<BatchRoutes>(
      batches_, [this](std::function<void()> job) { return background(std::move(job)); })));
  batches_->start();
  context_.log().info("started; input directory " + options_.inputDirectory);
  return okStatus();
}

void DataProcessingEnginePlugin::stop() {
  events_.stop();
  jobs_.stopAndWait();
  if (batches_) batches_->stop();
}

void DataProcessingEnginePlugin::beginDrain() { jobs_.refuse(); }

bool DataProcessingEnginePlugin::drained() const { return jobs_.idle(); }

Status DataProcessingEnginePlugin::health() { return batches_ ? okStatus() : unavailable("not started"); }

void DataProcessingEnginePlugin::publish(const std::string& topic, const std::string& payload) {
  auto bus = context_.services().get<bus::Bus>();
  if (!bus.ok()) return;
  if (auto id = (*bus)->publish(topic, payload); !id.ok())
    context_.log().warn("batch event not published on " + topic + ": " + id.status().message());
}

}  // namespace hive::data_processing_engine
