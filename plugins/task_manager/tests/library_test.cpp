// task_manager as the kernel loads it: the real .so through the SDK loader,
// on the real storage_sqlite .so and the system clock.
#include <cstdlib>
#include <string>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/testing/harness.hpp"

namespace hive::task_manager {
namespace {

using hive::testing::PluginHarness;

// These do not depend on the store: the postgres.* copies of them are skipped.
#define SKIP_ON_POSTGRES()                                                                         \
  do {                                                                                             \
    const char* store = std::getenv("HIVE_TASK_MANAGER_TEST_STORE");                               \
    if (store != nullptr && std::string(store) == "postgres") GTEST_SKIP() << "store-independent"; \
  } while (0)

TEST(TaskManagerLibrary, ServesTasksFromTheLoadedLibrary) {
  SKIP_ON_POSTGRES();
  auto store = PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
  ASSERT_TRUE(store.ok()) << store.status().toString();
  ASSERT_TRUE((*store)->start().ok());
  auto leases = (*store)->services().lookup(store::Store::kServiceId);
  ASSERT_EQ(leases.size(), 1u);
  auto manager = PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN);
  ASSERT_TRUE(manager.ok()) << manager.status().toString();
  ASSERT_STREQ((*manager)->manifest()->name, "task_manager");
  (*manager)->provideFake<store::Store>(std::static_pointer_cast<store::Store>(leases[0].service),
                                        "storage_sqlite");
  Status started = (*manager)->start();
  ASSERT_TRUE(started.ok()) << started.toString();
  auto routes = (*manager)->services().get<http::RouteProvider>();
  ASSERT_TRUE(routes.ok());
  http::Request request;
  request.method = "POST";
  request.path = "/api/v2/tasks";
  request.body = R"({"type":"build","capabilities":["go"]})";
  http::Response created;
  (*routes)->serve("tasks.submit", std::move(request), [&](http::Response r) { created = std::move(r); });
  (*manager)->runPending();
  ASSERT_EQ(created.status, 201) << created.body;
  auto id = std::string(boost::json::parse(created.body).as_object().at("id").as_string());
  auto tasks = (*manager)->services().get<tasks::TaskService>();
  ASSERT_TRUE(tasks.ok());
  auto claimed = (*tasks)->claim("agent-1", {"go"}, 5);
  ASSERT_TRUE(claimed.ok()) << claimed.status().toString();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].taskId, id);
  EXPECT_TRUE((*tasks)->succeeded(id, (*claimed)[0].leaseToken, R"({"ok":true})").ok());
  *routes = {};
  *tasks = {};
  manager->reset();
}

TEST(TaskManagerConfig, RetentionValuesAreChecked) {
  SKIP_ON_POSTGRES();
  auto manager = PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN);
  ASSERT_TRUE(manager.ok()) << manager.status().toString();
  auto retention = hive::testing::configFromPairs({{"keep", "0s"}, {"events", "500ms"}, {"batch", "5000"}});
  auto byType = ConfigNode::map();
  byType.set("x", ConfigNode::scalar("soon"));
  retention.set("by_type", std::move(byType));
  auto section = ConfigNode::map();
  section.set("retention", std::move(retention));
  (*manager)->setConfig(section);
  auto diagnostics = (*manager)->configure();
  std::string text = diagnostics.toString();
  EXPECT_THAT(text, ::testing::HasSubstr("'keep': must be between 1s"));
  EXPECT_THAT(text, ::testing::HasSubstr("'events': must be between 1s"));
  EXPECT_THAT(text, ::testing::HasSubstr("'batch': must be between 1 and 1000"));
  EXPECT_THAT(text, ::testing::HasSubstr("'x'"));
}

// A file of config version 1 is named as such, with the command that rewrites it.
TEST(TaskManagerConfig, TheFlatRetentionOfConfigVersion1SaysHowToMigrate) {
  SKIP_ON_POSTGRES();
  auto manager = PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN);
  ASSERT_TRUE(manager.ok()) << manager.status().toString();
  (*manager)->setConfig(hive::testing::configFromPairs({{"retention", "7d"}}));
  EXPECT_THAT(
      (*manager)->configure().toString(),
      ::testing::HasSubstr("config version 1: `hive config migrate FILE` rewrites it as retention.keep"));
}

// Each bad value named with its place in the file, the others still read.
TEST(TaskManagerConfig, BadValuesAreReportedWithTheirLocation) {
  SKIP_ON_POSTGRES();
  auto manager = PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN);
  ASSERT_TRUE(manager.ok()) << manager.status().toString();
  auto section = ConfigNode::map();
  section.set("retry_base", ConfigNode::scalar("2s", {"hive.yaml", 12, 15}));
  section.set("retry_max", ConfigNode::scalar("1s", {"hive.yaml", 13, 14}));
  section.set("claim_lease", ConfigNode::scalar("10ms", {"hive.yaml", 14, 16}));
  section.set("max_payload_bytes", ConfigNode::scalar("12", {"hive.yaml", 15, 22}));
  section.set("sweep_perod", ConfigNode::scalar("1s", {"hive.yaml", 16, 3}));
  (*manager)->setConfig(section);
  std::string text = (*manager)->configure().toString();
  EXPECT_THAT(text, ::testing::HasSubstr("hive.yaml:13:14"));
  EXPECT_THAT(text, ::testing::HasSubstr("'retry_max': must not be shorter than retry_base"));
  EXPECT_THAT(text, ::testing::HasSubstr("hive.yaml:14:16"));
  EXPECT_THAT(text, ::testing::HasSubstr("'claim_lease': must be between 100ms and 24h"));
  EXPECT_THAT(text, ::testing::HasSubstr("'max_payload_bytes': must be between 1024 and 16777216"));
  EXPECT_THAT(text, ::testing::HasSubstr("unknown key 'sweep_perod' (did you mean 'sweep_period'?)"));
  EXPECT_FALSE((*manager)->start().ok()) << "a plugin with a bad config is not started";
}

TEST(TaskManagerConfig, ConcurrencyLimitsAreChecked) {
  SKIP_ON_POSTGRES();
  auto manager = PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN);
  ASSERT_TRUE(manager.ok()) << manager.status().toString();
  auto section = ConfigNode::map();
  auto concurrency = ConfigNode::map();
  concurrency.set("per_tenant", ConfigNode::scalar("-1", {"hive.yaml", 3, 17}));
  auto capabilities = ConfigNode::map();
  capabilities.set("gpu", ConfigNode::scalar("0", {"hive.yaml", 5, 12}));
  concurrency.set("capabilities", std::move(capabilities));
  concurrency.set("tenants", ConfigNode::scalar("5", {"hive.yaml", 6, 14}));
  concurrency.set("per_tennant", ConfigNode::scalar("5", {"hive.yaml", 7, 5}));
  section.set("concurrency", std::move(concurrency));
  (*manager)->setConfig(section);
  std::string text = (*manager)->configure().toString();
  EXPECT_THAT(text, ::testing::HasSubstr("hive.yaml:3:17"));
  EXPECT_THAT(text, ::testing::HasSubstr("'per_tenant': must be between 0 and 1000000"));
  EXPECT_THAT(text, ::testing::HasSubstr("hive.yaml:5:12"));
  EXPECT_THAT(text, ::testing::HasSubstr("'gpu': must be between 1 and 1000000"));
  EXPECT_THAT(text, ::testing::HasSubstr("expected a map of name to a number of tasks"));
  EXPECT_THAT(text, ::testing::HasSubstr("unknown key 'per_tennant' (did you mean 'per_tenant'?)"));
  EXPECT_FALSE((*manager)->start().ok());
}

}  // namespace
}  // namespace hive::task_manager
