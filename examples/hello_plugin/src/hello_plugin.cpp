#include "hello_plugin.hpp"

#include "hello/greeter.hpp"

namespace hello {
namespace {

// Holds copies, not a reference to the plugin: a consumer's ServiceRef may keep it
// alive after the plugin object is gone. The counter is the kernel's and outlives both.
class ConfiguredGreeter final : public Greeter {
 public:
  ConfiguredGreeter(std::string greeting, hive::Counter& greetings)
      : greeting_(std::move(greeting)), greetings_(greetings) {}

  // hello::Greeter
  std::string greet(std::string_view name) override {
    greetings_.increment();
    return greeting_ + ", " + std::string(name) + "!";
  }

 private:
  const std::string greeting_;
  hive::Counter& greetings_;
};

}  // namespace

HelloPlugin::HelloPlugin(hive::PluginContext& context)
    : context_(context),
      greetings_(
          context.metrics().counter("hello_greetings_total", "Greetings returned by example.greeter/1")) {}

void HelloPlugin::configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) {
  hive::ConfigReader reader(section, diagnostics);
  greeting_ = reader.get<std::string>("greeting", "Hello");
  heartbeat_ = reader.get<std::chrono::milliseconds>("heartbeat", std::chrono::seconds(30));
  if (greeting_.empty()) reader.reject("greeting", "must not be empty");
  if (heartbeat_.count() == 0) reader.reject("heartbeat", "must be longer than 0ms");
  reader.finish();
}

hive::Status HelloPlugin::start() {
  HIVE_TRY(context_.services().provide<Greeter>(std::make_shared<ConfiguredGreeter>(greeting_, greetings_)),
           "providing example.greeter/1");
  heartbeatTimer_ = context_.timers().every(heartbeat_, [this] {
    context_.log().info("heartbeat: " + std::to_string(static_cast<long long>(greetings_.value())) +
                        " greetings so far");
  });
  context_.log().info("started; greeting '" + greeting_ + "'");
  return hive::okStatus();
}

void HelloPlugin::stop() {
  heartbeatTimer_.reset();  // once destroyed, the heartbeat is neither running nor scheduled
  context_.log().info("stopped");
}

}  // namespace hello
