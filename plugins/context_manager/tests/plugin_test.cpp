// The context_manager .so through the real loader: its manifest, its config
// checks (located errors, nothing started), and a start on the real
// storage_sqlite that serves the routes and provides hive.embedder/1.
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "hive/services/embedder.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/routes.hpp"

namespace hive::context_manager {
namespace {

using hive::testing::PluginHarness;

std::unique_ptr<PluginHarness> load(const char* path) {
  auto loaded = PluginHarness::loadLibrary(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
  return std::move(loaded).value();
}

TEST(ContextManagerPlugin, BadConfigIsReportedAtItsLocationAndNothingStarts) {
  auto plugin = load(CONTEXT_MANAGER_PLUGIN);
  auto section = ConfigNode::map();
  section.set("max_k", ConfigNode::scalar("0", {"hive.yaml", 7, 14}));
  auto embedder = ConfigNode::map();
  embedder.set("provider", ConfigNode::scalar("openai", {"hive.yaml", 9, 19}));
  embedder.set("api_key_secret", ConfigNode::scalar("not a name", {"hive.yaml", 10, 21}));
  section.set("embedder", std::move(embedder));
  auto budget = ConfigNode::map();
  budget.set("keep_fractoin", ConfigNode::scalar("0.3", {"hive.yaml", 12, 9}));
  section.set("budget", std::move(budget));
  plugin->setConfig(std::move(section));
  Diagnostics diagnostics = plugin->configure();
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:7:14"), std::string::npos) << text;
  EXPECT_NE(text.find("'max_k': must be between 1 and 1000"), std::string::npos) << text;
  EXPECT_NE(text.find("provider openai needs url"), std::string::npos) << text;
  EXPECT_NE(text.find("needs the model's dimension"), std::string::npos) << text;
  EXPECT_NE(text.find("did you mean 'keep_fraction'"), std::string::npos) << text;
  EXPECT_NE(text.find("hive.yaml:10:21: error: 'api_key_secret': a secret name is"), std::string::npos)
      << text;
  EXPECT_EQ(plugin->start().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(plugin->started());
}

TEST(ContextManagerPlugin, StartsOnTheRealStoreAndServesItsRoutes) {
  auto directory =
      std::filesystem::temp_directory_path() / ("context_plugin_test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  auto store = load(STORAGE_SQLITE_PLUGIN);
  store->setConfig(hive::testing::configFromPairs({{"path", (directory / "store.sqlite3").string()}}));
  ASSERT_TRUE(store->start().ok());
  auto plugin = load(CONTEXT_MANAGER_PLUGIN);
  plugin->provideFake<store::Store>(std::static_pointer_cast<store::Store>(
                                        store->services().lookup(store::Store::kServiceId).front().service),
                                    "storage_sqlite");
  Status started = plugin->start();
  ASSERT_TRUE(started.ok()) << started.toString();
  auto embedder = plugin->services().get<embedder::Embedder>();
  ASSERT_TRUE(embedder.ok());
  EXPECT_EQ((*embedder)->model(), "hashing-v1/256");

  hive::testing::RouteClient client(plugin->services(), "context_manager");
  auto call = [&](std::string_view method, std::string target, std::string body = {}) {
    Result<http::Response> response = unavailable("no answer");
    std::atomic<bool> answered = false;
    std::thread caller([&] {
      response = client.request(method, std::move(target), std::move(body));
      answered = true;
    });
    while (!answered) {
      plugin->runPending();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    caller.join();
    EXPECT_TRUE(response.ok()) << response.status().toString();
    return response.ok() ? *response : http::Response{};
  };
  auto created =
      call("POST", "/api/v2/contexts/project:lib/entries", R"({"text":"loaded through the loader"})");
  EXPECT_EQ(created.status, 201) << created.body;
  auto found = call("GET", "/api/v2/contexts/project:lib/search?q=loader&k=1");
  EXPECT_EQ(found.status, 200);
  EXPECT_NE(found.body.find("loaded through the loader"), std::string::npos) << found.body;
  auto refused = call("POST", "/api/v2/contexts/nope/entries", R"({"text":"x"})");
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(refused.contentType, "application/problem+json");
  plugin->stop();
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(plugin->context().dataDirectory()) / "index" /
                                      "project:lib.hnsw"));
  plugin.reset();
  store.reset();
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace hive::context_manager
