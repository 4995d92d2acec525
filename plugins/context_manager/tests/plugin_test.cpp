// The context_manager .so through the real loader: its manifest, its config
// checks (located errors, nothing started), a start on the real
// storage_sqlite that serves the routes and provides hive.embedder/1, and
// contexts kept apart by tenant over REST and over agents' context.* frames
// (security_manager's hive.tenancy/1 played by plugin_common::TenantsByName,
// the orchestrator's hive.agent_frames/1 by FakeAgentFrames).
#include <unistd.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "hive/services/agent_frames.hpp"
#include "hive/services/embedder.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tenancy.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/routes.hpp"
#include "plugin_common/test_tenancy.hpp"

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

namespace json = boost::json;

// hive.agent_frames/1 as the orchestrator provides it: the test says which
// agents said hello (their presence) and what they send; it keeps what the
// plugin answers. A handler goes with its Subscription, as the real one's does
// (it is the plugin library's code: it must not outlive the plugin).
class FakeAgentFrames final : public agents::AgentFrames {
 public:
  Result<std::unique_ptr<Subscription>> onFrames(std::string_view, FrameHandler handler) override {
    std::lock_guard lock(mutex_);
    frames_ = std::move(handler);
    return std::unique_ptr<Subscription>(std::make_unique<Dropping>([this] {
      std::lock_guard lock(mutex_);
      frames_ = nullptr;
    }));
  }
  Status send(std::string_view agentId, std::string frame) override {
    std::lock_guard lock(mutex_);
    sent_[std::string(agentId)].push_back(std::move(frame));
    return okStatus();
  }
  std::unique_ptr<Subscription> onPresence(PresenceHandler handler) override {
    std::lock_guard lock(mutex_);
    presence_ = std::move(handler);
    return std::make_unique<Dropping>([this] {
      std::lock_guard lock(mutex_);
      presence_ = nullptr;
    });
  }
  std::vector<agents::AgentPresence> connected() override {
    std::lock_guard lock(mutex_);
    return connected_;
  }

  // An agent of `tenant` ("" the default one) says hello: its presence has
  // "tenant:<tenant>" among its capabilities, as the orchestrator's has.
  void hello(const std::string& agentId, const std::string& name, const std::string& tenant) {
    agents::AgentPresence presence{agentId, name, "", {"search"}, true};
    if (!tenant.empty()) presence.capabilities.push_back("tenant:" + tenant);
    PresenceHandler handler;
    {
      std::lock_guard lock(mutex_);
      connected_.push_back(presence);
      handler = presence_;
    }
    if (handler) handler(presence);
  }
  void frame(const std::string& agentId, const json::object& frame) {
    FrameHandler handler;
    {
      std::lock_guard lock(mutex_);
      handler = frames_;
    }
    ASSERT_TRUE(handler) << "context_manager took no context.* frames";
    handler(agentId, json::serialize(frame));
  }
  // The last frame sent to the agent, parsed.
  json::object last(const std::string& agentId) {
    std::lock_guard lock(mutex_);
    auto& frames = sent_[agentId];
    return frames.empty() ? json::object{} : json::parse(frames.back()).as_object();
  }

 private:
  class Dropping final : public Subscription {
   public:
    explicit Dropping(std::function<void()> drop) : drop_(std::move(drop)) {}
    ~Dropping() override { drop_(); }

   private:
    std::function<void()> drop_;
  };

  std::mutex mutex_;
  FrameHandler frames_;
  PresenceHandler presence_;
  std::vector<agents::AgentPresence> connected_;
  std::map<std::string, std::vector<std::string>> sent_;
};

// The .so started on the real storage_sqlite, with a tenancy provider and agents.
class ContextManagerTenants : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("context_tenants_test-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
    store_ = load(STORAGE_SQLITE_PLUGIN);
    store_->setConfig(hive::testing::configFromPairs({{"path", (directory_ / "store.sqlite3").string()}}));
    ASSERT_TRUE(store_->start().ok());
    plugin_ = load(CONTEXT_MANAGER_PLUGIN);
    plugin_->provideFake<store::Store>(
        std::static_pointer_cast<store::Store>(
            store_->services().lookup(store::Store::kServiceId).front().service),
        "storage_sqlite");
    plugin_->provideFake<tenancy::Tenancy>(std::make_shared<plugin_common::TenantsByName>(),
                                           "security_manager");
    plugin_->provideFake<agents::AgentFrames>(agents_, "orchestrator");
    Status started = plugin_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
  }

  void TearDown() override {
    plugin_.reset();
    store_.reset();
    std::filesystem::remove_all(directory_);
  }

  // `method target` as `principal` (TenantsByName: "acme" is tenant acme,
  // "admin" spans tenants, "" is the default tenant); the JSON answer's
  // status is checked against `status`.
  json::object as(const std::string& principal, std::string_view method, std::string target, int status,
                  std::string body = {}, http::Response* whole = nullptr) {
    hive::testing::RouteClient client(plugin_->services(), "context_manager", {.principal = principal});
    Result<http::Response> response = unavailable("no answer");
    std::atomic<bool> answered = false;
    std::thread caller([&] {
      response = client.request(method, target, std::move(body));
      answered = true;
    });
    while (!answered) {
      plugin_->runPending();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    caller.join();
    EXPECT_TRUE(response.ok()) << response.status().toString();
    if (!response.ok()) return {};
    EXPECT_EQ(response->status, status)
        << "'" << principal << "' " << method << " " << target << ": " << response->body;
    if (whole != nullptr) *whole = *response;
    std::error_code ec;
    json::value parsed = json::parse(response->body, ec);
    return !ec && parsed.is_object() ? parsed.as_object() : json::object{};
  }

  static std::string locationOf(const http::Response& response) {
    for (const http::Header& header : response.headers)
      if (header.name == "location") return header.value;
    return {};
  }

  static std::set<std::string> ids(const json::object& page) {
    std::set<std::string> out;
    for (const json::value& item : page.at("items").as_array())
      out.insert(std::string(item.at("id").as_string()));
    return out;
  }

  std::filesystem::path directory_;
  std::shared_ptr<FakeAgentFrames> agents_ = std::make_shared<FakeAgentFrames>();
  std::unique_ptr<PluginHarness> store_;
  std::unique_ptr<PluginHarness> plugin_;
};

TEST_F(ContextManagerTenants, EachTenantWorksInItsOwnContextOfAScope) {
  const std::string entries = "/api/v2/contexts/project:shared/entries";
  http::Response created;
  json::object acme =
      as("acme", "POST", entries, 201, R"({"text":"acme ships the rocket on friday"})", &created);
  const std::string acmeId(acme.at("id").as_string());
  EXPECT_EQ(acme.at("tenant"), "acme");
  EXPECT_EQ(locationOf(created), entries + "/" + acmeId);
  const std::string globexId(
      as("globex", "POST", entries, 201, R"({"text":"globex ships the rocket on monday"})")
          .at("id")
          .as_string());
  json::object shared = as("", "POST", entries, 201, R"({"text":"the default tenant ships no rocket"})");
  const std::string sharedId(shared.at("id").as_string());
  EXPECT_FALSE(shared.contains("tenant"));

  // Each lists, reads and searches its own entry of project:shared only.
  EXPECT_EQ(ids(as("acme", "GET", entries, 200)), std::set<std::string>{acmeId});
  EXPECT_EQ(ids(as("globex", "GET", entries, 200)), std::set<std::string>{globexId});
  EXPECT_EQ(ids(as("", "GET", entries, 200)), std::set<std::string>{sharedId});
  EXPECT_EQ(ids(as("initech", "GET", entries, 200)), std::set<std::string>{});
  EXPECT_EQ(ids(as("globex", "GET", "/api/v2/contexts/project:shared/search?q=acme+rocket+friday", 200)),
            std::set<std::string>{globexId});
  EXPECT_EQ(
      ids(as("acme", "GET", "/api/v2/contexts/project:shared/search?q=globex+monday&mode=lexical", 200)),
      std::set<std::string>{});
  json::object described = as("acme", "GET", "/api/v2/contexts/project:shared", 200);
  EXPECT_EQ(described.at("entries"), 1);
  EXPECT_EQ(described.at("tenant"), "acme");
  EXPECT_EQ(as("initech", "GET", "/api/v2/contexts/project:shared", 200).at("entries"), 0);

  // Another tenant's entry id is not found: read or deleted, under the same scope.
  as("globex", "GET", entries + "/" + acmeId, 404);
  as("globex", "DELETE", entries + "/" + acmeId, 404);
  as("", "GET", entries + "/" + acmeId, 404);
  as("", "DELETE", entries + "/" + acmeId, 404);
  EXPECT_EQ(as("acme", "GET", entries + "/" + acmeId, 200).at("text"), "acme ships the rocket on friday");
  // A caller of one tenant cannot name another with ?tenant=: it is not read.
  EXPECT_EQ(ids(as("globex", "GET", entries + "?tenant=acme", 200)), std::set<std::string>{globexId});
  as("globex", "GET", entries + "/" + acmeId + "?tenant=acme", 404);

  // A caller that spans tenants works in the default tenant's context, or in the one ?tenant= names.
  EXPECT_EQ(ids(as("admin", "GET", entries, 200)), std::set<std::string>{sharedId});
  EXPECT_EQ(ids(as("admin", "GET", entries + "?tenant=acme", 200)), std::set<std::string>{acmeId});
  EXPECT_EQ(ids(as("admin", "GET", entries + "?tenant=", 200)), std::set<std::string>{sharedId});
  as("admin", "GET", entries + "/" + acmeId, 404);
  EXPECT_EQ(as("admin", "GET", entries + "/" + acmeId + "?tenant=acme", 200).at("tenant"), "acme");
  EXPECT_EQ(ids(as("admin", "GET", "/api/v2/contexts/project:shared/search?q=rocket&tenant=globex", 200)),
            std::set<std::string>{globexId});
  json::object written =
      as("admin", "POST", entries + "?tenant=globex", 201, R"({"text":"written by the admin"})", &created);
  EXPECT_EQ(written.at("tenant"), "globex");
  EXPECT_EQ(written.at("author"), "admin");
  EXPECT_EQ(locationOf(created),
            entries + "/" + std::string(written.at("id").as_string()) + "?tenant=globex");
  EXPECT_EQ(ids(as("globex", "GET", entries, 200)).size(), 2u);
  for (const std::string& bad : std::vector<std::string>{"no%20spaces", "a%2Fb", std::string(65, 't')}) {
    json::object problem = as("admin", "GET", entries + "?tenant=" + bad, 422);
    EXPECT_EQ(problem.at("errors").at(0).at("field"), "tenant") << json::serialize(problem);
  }

  // Clearing one tenant's context leaves the others' of the same scope.
  EXPECT_EQ(as("globex", "DELETE", entries, 200).at("removed"), 2);
  EXPECT_EQ(ids(as("acme", "GET", entries, 200)), std::set<std::string>{acmeId});
  EXPECT_EQ(ids(as("", "GET", entries, 200)), std::set<std::string>{sharedId});
}

TEST_F(ContextManagerTenants, AnAgentWorksInItsTenantsContexts) {
  agents_->hello("a-1", "scout", "acme");
  agents_->hello("g-1", "scout", "globex");
  agents_->hello("d-1", "scout", "");
  auto put = [&](const std::string& agent, const std::string& text) {
    agents_->frame(agent, {{"type", "context.put"}, {"scope", "project:p"}, {"text", text}, {"ref", "r1"}});
    plugin_->runPending();
    json::object stored = agents_->last(agent);
    EXPECT_EQ(stored["type"], "context.stored") << json::serialize(stored);
    return stored.contains("id") ? std::string(stored.at("id").as_string()) : std::string();
  };
  auto query = [&](const std::string& agent, const std::string& q) {
    agents_->frame(agent, {{"type", "context.query"}, {"scope", "project:p"}, {"q", q}, {"ref", "r2"}});
    plugin_->runPending();
    json::object result = agents_->last(agent);
    EXPECT_EQ(result["type"], "context.result") << json::serialize(result);
    std::set<std::string> out;
    if (result.contains("items"))
      for (const json::value& item : result.at("items").as_array())
        out.insert(std::string(item.at("id").as_string()));
    return out;
  };
  const std::string acmeId = put("a-1", "acme's agent found the leak in valve seven");
  const std::string globexId = put("g-1", "globex's agent found nothing");
  const std::string sharedId = put("d-1", "the default tenant's agent found the leak too");
  EXPECT_EQ(query("a-1", "leak in valve seven"), std::set<std::string>{acmeId});
  EXPECT_EQ(query("g-1", "leak in valve seven"), std::set<std::string>{globexId});
  EXPECT_EQ(query("d-1", "leak in valve seven"), std::set<std::string>{sharedId});

  // Over REST, the agent's entry is its tenant's, written by its principal.
  const std::string entries = "/api/v2/contexts/project:p/entries";
  json::object entry = as("acme", "GET", entries + "/" + acmeId, 200);
  EXPECT_EQ(entry.at("author"), "agent+acme:scout");
  EXPECT_EQ(entry.at("tenant"), "acme");
  EXPECT_EQ(as("", "GET", entries + "/" + sharedId, 200).at("author"), "agent:scout");
  as("", "GET", entries + "/" + acmeId, 404);
  EXPECT_EQ(ids(as("globex", "GET", entries, 200)), std::set<std::string>{globexId});

  // A frame of an agent whose tenant is unknown stores nothing.
  agents_->frame("stranger",
                 {{"type", "context.put"}, {"scope", "project:p"}, {"text", "who am i"}, {"ref", 7}});
  plugin_->runPending();
  json::object refused = agents_->last("stranger");
  EXPECT_EQ(refused["type"], "error");
  EXPECT_EQ(refused["reason"], "unavailable");
  EXPECT_EQ(refused["ref"], 7);
  EXPECT_EQ(ids(as("", "GET", entries, 200)), std::set<std::string>{sharedId});
}

}  // namespace
}  // namespace hive::context_manager
