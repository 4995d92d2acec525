// communication_manager's .so through the SDK harness: its settings are
// checked all at once with clear messages, and it refuses to start without
// the services it needs, saying which. Delivery itself is proven end to end
// (messages_e2e.py), with the real orchestrator and real WebSockets.
#include <gtest/gtest.h>

#include "hive/services/bus.hpp"
#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"

namespace hive::communication_manager {
namespace {

using testing::PluginHarness;

std::unique_ptr<PluginHarness> load() {
  auto loaded = PluginHarness::loadLibrary(COMMUNICATION_MANAGER_PLUGIN);
  EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
  return std::move(loaded).value();
}

TEST(CommunicationManagerPlugin, BadSettingsAreReportedTogetherByName) {
  auto plugin = load();
  plugin->setConfig(hive::testing::configFromPairs({{"max_queue", "0"},
                                                    {"rate_per_second", "-1"},
                                                    {"ack_timeout", "5ms"},
                                                    {"max_body_bytes", "huge"},
                                                    {"node", "bad node"},
                                                    {"max_deliverys", "3"}}));
  Diagnostics diagnostics = plugin->configure();
  std::string text = diagnostics.toString();
  EXPECT_EQ(diagnostics.errorCount(), 6u) << text;
  for (const char* key :
       {"'max_queue'", "'rate_per_second'", "'ack_timeout'", "'max_body_bytes'", "'node'", "max_deliverys"})
    EXPECT_NE(text.find(key), std::string::npos) << key << " not in:\n" << text;
  EXPECT_NE(text.find("max_deliveries"), std::string::npos) << "a 'did you mean' for the misspelt key:\n"
                                                            << text;
}

TEST(CommunicationManagerPlugin, DefaultsAreValid) {
  auto plugin = load();
  EXPECT_FALSE(plugin->configure().hasErrors());
}

TEST(CommunicationManagerPlugin, ItNamesTheServiceItCannotRunWithout) {
  auto plugin = load();
  ASSERT_FALSE(plugin->configure().hasErrors());
  plugin->provideFake<bus::Bus>(std::make_shared<hive::testing::MemoryBus>());
  Status started = plugin->start();
  EXPECT_FALSE(started.ok());
  EXPECT_NE(started.message().find("hive.store/1"), std::string::npos) << started.toString();
}

}  // namespace
}  // namespace hive::communication_manager
