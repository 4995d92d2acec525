#include <stdexcept>

#include "trace_plugin.hpp"
namespace {
class Throwing : public hive::test::TracePlugin {
 public:
  explicit Throwing(hive::PluginContext& context) : TracePlugin(context) { throw std::runtime_error("boom"); }
};
}  // namespace
HIVE_PLUGIN(Throwing, .name = "throwing_ctor", .version = "1.0.0")
