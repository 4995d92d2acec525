// A plugin that does nothing: what the kernel costs per plugin.
#include "hive/plugin.hpp"

namespace {
class Trivial final : public hive::Plugin {
 public:
  explicit Trivial(hive::PluginContext&) {}
  void configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) override {
    hive::ConfigReader reader(section, diagnostics);
    reader.finish();
  }
  hive::Status start() override { return hive::okStatus(); }
  void stop() override {}
};
}  // namespace

HIVE_PLUGIN(Trivial, .name = BENCH_PLUGIN_NAME, .version = "1.0.0")
