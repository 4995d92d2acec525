// A plugin the harness test loads as a real library.
#include <memory>
#include <string>

#include "echo.hpp"
#include "hive/plugin.hpp"

namespace harness_echo {
namespace {

class PrefixEcho final : public Echo {
 public:
  explicit PrefixEcho(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string echo(std::string_view text) override { return prefix_ + std::string(text); }

 private:
  std::string prefix_;
};

class NothingUndeclared final : public Undeclared {};

class EchoPlugin final : public hive::Plugin {
 public:
  explicit EchoPlugin(hive::PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) override {
    hive::ConfigReader reader(section, diagnostics);
    prefix_ = reader.get<std::string>("prefix", "");
    provideUndeclared_ = reader.get<bool>("provide_undeclared", false);
    reader.finish();
  }

  hive::Status start() override {
    HIVE_TRY(context_.services().provide<Echo>(std::make_shared<PrefixEcho>(prefix_)));
    if (provideUndeclared_)
      HIVE_TRY(context_.services().provide<Undeclared>(std::make_shared<NothingUndeclared>()));
    context_.log().info("echo started");
    return hive::okStatus();
  }

  void stop() override { context_.log().info("echo stopped"); }

 private:
  hive::PluginContext& context_;
  std::string prefix_;
  bool provideUndeclared_ = false;
};

}  // namespace
}  // namespace harness_echo

HIVE_PLUGIN(harness_echo::EchoPlugin, .name = "harness_echo", .version = "1.0.0",
            .provides = {harness_echo::Echo::kServiceId})
