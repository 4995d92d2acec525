#include "hello/plugin.hpp"

namespace hello {
namespace {

class FriendlyGreeter final : public Greeter {
 public:
  FriendlyGreeter(std::string greeting, hive::Counter& greetings) : greeting_(std::move(greeting)), greetings_(greetings) {}
  std::string greet(const std::string& name) override {
    greetings_.increment();
    return greeting_ + ", " + name + "!";
  }

 private:
  std::string greeting_;
  hive::Counter& greetings_;
};

}  // namespace

HelloPlugin::HelloPlugin(hive::PluginContext& context) : context_(context) {}

void HelloPlugin::configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) {
  hive::ConfigReader reader(section, diagnostics);
  greeting_ = reader.get<std::string>("greeting", "Hello");
  heartbeat_ = reader.get<std::chrono::milliseconds>("heartbeat", std::chrono::seconds(30));
  if (greeting_.empty()) reader.reject("greeting", "must not be empty");
  if (heartbeat_.count() == 0) reader.reject("heartbeat", "must be greater than 0");
  reader.finish();
}

hive::Status HelloPlugin::start() {
  auto& greetings = context_.metrics().counter("hello_greetings_total", "Greetings said by the hello plugin");
  HIVE_TRY(context_.services().provide<Greeter>(std::make_shared<FriendlyGreeter>(greeting_, greetings)));
  timer_ = context_.timers().every(heartbeat_, [this] { context_.log().info("alive (" + std::to_string(++beats_) + ")"); });
  context_.log().info("started; greeting '" + greeting_ + "'");
  return hive::okStatus();
}

void HelloPlugin::stop() {
  timer_.reset();  // after this returns the heartbeat callback cannot run
  context_.log().info("stopped");
}

}  // namespace hello

HIVE_PLUGIN(hello::HelloPlugin, .name = "hello", .version = "1.0.0", .description = "Greets people",
            .provides = {hello::Greeter::kServiceId})
