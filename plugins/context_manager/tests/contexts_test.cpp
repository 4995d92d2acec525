// Contexts and Compressor over the real storage_sqlite (and, for compression,
// the real task_manager), loaded from their .so files through the SDK harness.
// The test plays the summarising agent through hive.tasks/1, and
// security_manager's hive.tenancy/1 with plugin_common::TenantsByName.
#include "contexts.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "compressor.hpp"
#include "hashing_embedder.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/services/tenancy.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/routes.hpp"
#include "plugin_common/test_tenancy.hpp"

namespace hive::context_manager {
namespace {

namespace json = boost::json;
using hive::testing::PluginHarness;

// A scope of the default tenant, as every context was before tenancy.
ScopeRef inDefault(std::string scope) { return {"", std::move(scope)}; }

class SilentLogger final : public Logger {
 public:
  void log(LogLevel, std::string_view message) override { lines.emplace_back(message); }
  bool enabled(LogLevel) const override { return true; }
  std::vector<std::string> lines;
};

class ContextsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("contexts_test-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
    store_ = load(STORAGE_SQLITE_PLUGIN);
    store_->setConfig(hive::testing::configFromPairs({{"path", (directory_ / "store.sqlite3").string()}}));
    Status started = store_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
    reopen();
  }

  void TearDown() override {
    stopPump();
    compressor_.reset();
    contexts_.reset();
    tasks_.reset();
    store_.reset();
    std::filesystem::remove_all(directory_);
  }

  static std::unique_ptr<PluginHarness> load(const char* path) {
    auto loaded = PluginHarness::loadLibrary(path);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    return std::move(loaded).value();
  }

  ServiceHandle<store::Store> storeHandle() {
    auto handle = store_->services().handle<store::Store>();
    EXPECT_TRUE(handle.ok());
    return std::move(handle).value();
  }

  // A process that starts again on the same store and index directory; the
  // previous one's in-memory state is gone (it saved nothing more).
  OpenReport reopen(EntryLimits limits = {}) {
    contexts_.reset();
    contexts_ = std::make_shared<Contexts>(storeHandle(), std::make_shared<HashingEmbedder>(64), limits,
                                           IndexOptions{}, directory_ / "index", log_);
    auto opened = contexts_->open();
    EXPECT_TRUE(opened.ok()) << opened.status().toString();
    return opened.ok() ? *opened : OpenReport{};
  }

  std::string add(const ScopeRef& context, const std::string& text) {
    auto entry = contexts_->put(context, text, json::object{{"source", "test"}}, "agent:tester");
    EXPECT_TRUE(entry.ok()) << entry.status().toString();
    return entry.ok() ? entry->id : std::string();
  }

  std::vector<std::string> ids(const ScopeRef& context, const std::string& query, std::size_t k = 10) {
    auto hits = contexts_->search(context, query, k);
    EXPECT_TRUE(hits.ok()) << hits.status().toString();
    std::vector<std::string> out;
    if (hits.ok())
      for (const Hit& hit : *hits) out.push_back(hit.id);
    return out;
  }

  void startTasks() {
    tasks_ = load(TASK_MANAGER_PLUGIN);
    tasks_->provideFake<store::Store>(
        std::static_pointer_cast<store::Store>(
            store_->services().lookup(store::Store::kServiceId).front().service),
        "storage_sqlite");
    Status started = tasks_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
    pumping_ = true;
    pump_ = std::thread([this] {
      while (pumping_) {
        if (tasks_->runPending() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  void stopPump() {
    pumping_ = false;
    if (pump_.joinable()) pump_.join();
  }
  // A compressor over the real task_manager (startTasks()), budgeted by entry count only.
  Status openCompressor(std::size_t maxEntries) {
    BudgetOptions budget;
    budget.maxEntries = maxEntries;
    budget.maxTokens = 0;
    compressor_ = std::make_shared<Compressor>(contexts_, storeHandle(), tasks_->services(),
                                               "context_manager", budget, log_);
    return compressor_->open();
  }

  std::filesystem::path directory_;
  SilentLogger log_;
  std::unique_ptr<PluginHarness> store_;
  std::unique_ptr<PluginHarness> tasks_;
  std::shared_ptr<Contexts> contexts_;
  std::shared_ptr<Compressor> compressor_;
  std::atomic<bool> pumping_{false};
  std::thread pump_;
};

TEST_F(ContextsTest, EntriesAreStoredReadListedAndRemoved) {
  std::string id = add(inDefault("project:alpha"), "the staging database moved to host db-7");
  ASSERT_EQ(id.size(), 16u);
  auto entry = contexts_->get(inDefault("project:alpha"), id);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->text, "the staging database moved to host db-7");
  EXPECT_EQ(entry->author, "agent:tester");
  EXPECT_EQ(entry->metadata, (json::value(json::object{{"source", "test"}})));
  EXPECT_GT(entry->createdMs, 0);
  // Another scope does not see it.
  EXPECT_EQ(contexts_->get(inDefault("project:beta"), id).status().code(), StatusCode::kNotFound);
  std::string second = add(inDefault("project:alpha"), "second note");
  auto page = contexts_->list(inDefault("project:alpha"), Contexts::Which::kActive, 1, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, id);  // oldest first
  auto next = contexts_->list(inDefault("project:alpha"), Contexts::Which::kActive, 1, page->nextCursor);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->items.at(0).id, second);
  ASSERT_TRUE(contexts_->remove(inDefault("project:alpha"), id).ok());
  EXPECT_EQ(contexts_->get(inDefault("project:alpha"), id).status().code(), StatusCode::kNotFound);
  for (const std::string& found : ids(inDefault("project:alpha"), "staging database")) EXPECT_NE(found, id);
  EXPECT_EQ(contexts_->stats(inDefault("project:alpha")).entries, 1u);
  auto cleared = contexts_->clear(inDefault("project:alpha"));
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(*cleared, 1u);
  EXPECT_EQ(contexts_->stats(inDefault("project:alpha")).entries, 0u);
}

TEST_F(ContextsTest, BadInputIsRefusedAndChangesNothing) {
  for (const char* scope : {"alpha", "project:", "team:x", "project:a/b", "project:a b"})
    EXPECT_EQ(contexts_->put(inDefault(scope), "text", json::object{}, "x").status().code(),
              StatusCode::kInvalidArgument)
        << scope;
  EXPECT_EQ(contexts_->put(inDefault("task:t1"), "", json::object{}, "x").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(contexts_->put(inDefault("task:t1"), "x", json::array{}, "x").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      contexts_->put(inDefault("task:t1"), std::string(70000, 'a'), json::object{}, "x").status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(contexts_->put(inDefault("task:t1"), "x", json::object{{"big", std::string(20000, 'b')}}, "x")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(contexts_->search(inDefault("task:t1"), "x", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(contexts_->search(inDefault("task:t1"), "x", 101).status().code(), StatusCode::kInvalidArgument);
  auto page = contexts_->list(inDefault("task:t1"), Contexts::Which::kActive, 10, "");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->items.empty());
  EXPECT_TRUE(contexts_->scopes().empty());
}

TEST_F(ContextsTest, SearchFindsByWordsAndBySpellingBestFirst) {
  add(inDefault("run:r1"), "deploy the payments service to the eu cluster");
  std::string target = add(inDefault("run:r1"), "the payments database migration failed: disk full on db-3");
  add(inDefault("run:r1"), "weekly planning notes, nothing urgent");
  add(inDefault("run:r2"), "payments database migration in the other run");
  auto found = ids(inDefault("run:r1"), "why did the database migration fail");
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found.front(), target);
  EXPECT_EQ(found.size(), 3u);  // every entry of r1 comes back (the semantic half ranks all), none of r2
  // A misspelt word still finds it through the letter groups.
  auto typo = contexts_->search(inDefault("run:r1"), "migraton", 1, Ranking::kSemantic);
  ASSERT_TRUE(typo.ok());
  EXPECT_EQ(typo->at(0).id, target);
  EXPECT_TRUE(ids(inDefault("project:none"), "anything").empty());
}

TEST_F(ContextsTest, IndexFileIsLoadedAtStartWhenItMatchesTheStore) {
  for (int i = 0; i < 20; ++i)
    add(inDefault("project:p"), "note number " + std::to_string(i) + " about the cache layer");
  ASSERT_TRUE(contexts_->saveIndexes().ok());
  OpenReport report = reopen();
  EXPECT_EQ(report.loaded, 1u);
  EXPECT_EQ(report.rebuilt, 0u);
  EXPECT_EQ(report.repaired, 0u);
  EXPECT_EQ(contexts_->stats(inDefault("project:p")).vectors, 20u);
}

// What a kill -9 leaves: a file some writes behind the store (entries added
// and one removed after the last save). The file is loaded, then repaired
// label by label: the index answers as the store says.
TEST_F(ContextsTest, StaleIndexFileIsRepairedFromTheStore) {
  std::vector<std::string> before;
  for (int i = 0; i < 10; ++i)
    before.push_back(add(inDefault("agent:a"), "before the save " + std::to_string(i)));
  ASSERT_TRUE(contexts_->saveIndexes().ok());
  std::string after = add(inDefault("agent:a"), "written after the last save: zanzibar");
  ASSERT_TRUE(contexts_->remove(inDefault("agent:a"), before[3]).ok());
  OpenReport report = reopen();  // no save: as after kill -9
  EXPECT_EQ(report.loaded, 1u);
  EXPECT_EQ(report.repaired, 2u);  // one vector added, one dropped
  ScopeStats stats = contexts_->stats(inDefault("agent:a"));
  EXPECT_EQ(stats.entries, 10u);
  EXPECT_EQ(stats.vectors, 10u);
  EXPECT_EQ(contexts_->search(inDefault("agent:a"), "zanzibar", 1, Ranking::kSemantic)->at(0).id, after);
  for (const std::string& id : ids(inDefault("agent:a"), "before the save 3")) EXPECT_NE(id, before[3]);
}

TEST_F(ContextsTest, TornOrMissingIndexFileIsRebuiltFromTheStore) {
  for (int i = 0; i < 30; ++i) add(inDefault("task:t"), "line " + std::to_string(i) + " of the log");
  ASSERT_TRUE(contexts_->saveIndexes().ok());
  auto file = directory_ / "index" / "task:t.hnsw";
  ASSERT_TRUE(std::filesystem::exists(file));
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
  OpenReport report = reopen();
  EXPECT_EQ(report.loaded, 0u);
  EXPECT_EQ(report.rebuilt, 1u);
  EXPECT_EQ(contexts_->stats(inDefault("task:t")).vectors, 30u);
  // open() saved the rebuilt graph: the next start loads it.
  std::filesystem::remove(directory_ / "index" / "task:t.hnsw.meta");
  EXPECT_EQ(reopen().rebuilt, 1u);
  EXPECT_EQ(reopen().loaded, 1u);
  EXPECT_EQ(contexts_->search(inDefault("task:t"), "line 17 of the log", 1)->at(0).text,
            "line 17 of the log");
}

TEST_F(ContextsTest, AnotherEmbedderModelEmbedsTheEntriesAgain) {
  add(inDefault("project:m"), "vectors of the first model");
  ASSERT_TRUE(contexts_->saveIndexes().ok());
  contexts_ = std::make_shared<Contexts>(storeHandle(), std::make_shared<HashingEmbedder>(32), EntryLimits{},
                                         IndexOptions{}, directory_ / "index", log_);
  auto opened = contexts_->open();
  ASSERT_TRUE(opened.ok()) << opened.status().toString();
  EXPECT_EQ(opened->rebuilt, 1u);
  EXPECT_EQ(contexts_->stats(inDefault("project:m")).vectors, 1u);
  EXPECT_EQ(contexts_->search(inDefault("project:m"), "first model", 1)->size(), 1u);
}

// Over budget: ONE summarize task through the real task_manager; when the
// agent answers, the summary replaces the oldest entries in search and they
// stay readable, archived.
TEST_F(ContextsTest, ContextOverBudgetIsSummarisedByOneTask) {
  startTasks();
  ASSERT_TRUE(openCompressor(6).ok());  // keeps half of the budget (keep_fraction 0.5, the default)
  std::vector<std::string> written;
  for (int i = 0; i < 8; ++i) {
    written.push_back(
        add(inDefault("project:big"), "observation " + std::to_string(i) + " about the flaky ingest job"));
    compressor_->check(inDefault("project:big"));
  }
  auto service = tasks_->services().handle<tasks::TaskService>();
  ASSERT_TRUE(service.ok());
  auto tasks = service->lease();
  auto claimed = tasks->claim("summarizer-1", {"summarize"}, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status().toString();
  ASSERT_EQ(claimed->size(), 1u);  // one task, though every write after the 7th was over budget
  const tasks::Assignment& assignment = claimed->front();
  EXPECT_EQ(assignment.type, "context.summarize");
  json::value payload = json::parse(assignment.payload);
  const json::array& entries = payload.at("entries").as_array();
  // Checked at the 7th entry (over 6): keep half the budget, the 4 oldest go.
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].at("id").as_string(), written[0]);
  EXPECT_EQ(payload.at("scope").as_string(), "project:big");
  EXPECT_TRUE(compressor_->describe(inDefault("project:big")).at("pending").as_bool());
  compressor_->check(inDefault("project:big"));
  EXPECT_TRUE(tasks->claim("summarizer-2", {"summarize"}, 10)->empty());

  ASSERT_TRUE(tasks->started(assignment.taskId, assignment.leaseToken).ok());
  ASSERT_TRUE(
      tasks
          ->succeeded(assignment.taskId, assignment.leaseToken,
                      R"({"summary":"Observations 0-3: the ingest job is flaky (summary by the agent)."})")
          .ok());
  compressor_->advance();
  EXPECT_FALSE(compressor_->describe(inDefault("project:big")).at("pending").as_bool());
  EXPECT_EQ(contexts_->stats(inDefault("project:big")).entries, 5u);  // 4 kept + the summary
  auto hits = contexts_->search(inDefault("project:big"), "observations flaky ingest summary", 1);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->at(0).text, "Observations 0-3: the ingest job is flaky (summary by the agent).");
  for (const std::string& id : ids(inDefault("project:big"), "observation about the flaky ingest job"))
    for (int i = 0; i < 4; ++i) EXPECT_NE(id, written[i]);
  auto archived = contexts_->list(inDefault("project:big"), Contexts::Which::kArchived, 100, "");
  ASSERT_TRUE(archived.ok());
  ASSERT_EQ(archived->items.size(), 4u);
  EXPECT_EQ(archived->items[0].text, "observation 0 about the flaky ingest job");
  EXPECT_EQ(archived->items[0].archivedBy, hits->at(0).id);
  auto summary = contexts_->get(inDefault("project:big"), hits->at(0).id);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->summaryOf.size(), 4u);
  EXPECT_EQ(summary->author, "task:" + assignment.taskId);
  // A restart (or a second advance) does not apply the same task twice.
  compressor_->advance();
  reopen();
  EXPECT_EQ(contexts_->stats(inDefault("project:big")).entries, 5u);
}

TEST_F(ContextsTest, FailedSummarizeTaskLeavesTheEntriesAndAllowsAnother) {
  startTasks();
  ASSERT_TRUE(openCompressor(3).ok());
  for (int i = 0; i < 5; ++i) add(inDefault("project:f"), "entry " + std::to_string(i));
  compressor_->check(inDefault("project:f"));
  auto tasks = tasks_->services().handle<tasks::TaskService>()->lease();
  auto claimed = tasks->claim("summarizer", {"summarize"}, 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE(
      tasks->failed(claimed->front().taskId, claimed->front().leaseToken, "no model", tasks::Retry::kNever)
          .ok());
  compressor_->advance();
  EXPECT_FALSE(compressor_->describe(inDefault("project:f")).at("pending").as_bool());
  EXPECT_EQ(contexts_->stats(inDefault("project:f")).entries, 5u);
  compressor_->check(inDefault("project:f"));
  EXPECT_EQ(tasks->claim("summarizer", {"summarize"}, 10)->size(), 1u);
}

// A context is a scope of one tenant: acme's, globex's and the default
// tenant's project:shared share no entry, no search hit, no index, no count —
// in memory, in the store across a restart, and in the graph files.
TEST_F(ContextsTest, TheSameScopeOfTwoTenantsIsTwoContexts) {
  const ScopeRef acme{"acme", "project:shared"};
  const ScopeRef globex{"globex", "project:shared"};
  const ScopeRef shared = inDefault("project:shared");
  // Two tenants whose names differ after the 40 characters kept in the store key.
  const ScopeRef longA{std::string(45, 'a') + "-one", "project:shared"};
  const ScopeRef longB{std::string(45, 'a') + "-two", "project:shared"};
  std::string acmeId = add(acme, "acme deploys the payments service to eu-west");
  std::string globexId = add(globex, "globex deploys the payments service to us-east");
  std::string sharedId = add(shared, "the default tenant deploys nothing");
  std::string longAId = add(longA, "long tenant one deploys the payments service");
  std::string longBId = add(longB, "long tenant two deploys the payments service");

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    for (const auto& [context, id] : std::vector<std::pair<ScopeRef, std::string>>{
             {acme, acmeId}, {globex, globexId}, {shared, sharedId}, {longA, longAId}, {longB, longBId}}) {
      auto page = contexts_->list(context, Contexts::Which::kActive, 100, "");
      ASSERT_TRUE(page.ok()) << page.status().toString();
      ASSERT_EQ(page->items.size(), 1u) << context.text();
      EXPECT_EQ(page->items[0].id, id);
      EXPECT_EQ(page->items[0].tenant, context.tenant);
      EXPECT_EQ(contexts_->stats(context).entries, 1u) << context.text();
      // Search ranks every entry of the context: the only one is its own.
      EXPECT_EQ(ids(context, "who deploys the payments service to us-east"), std::vector<std::string>{id})
          << context.text();
    }
    // Another tenant's entry id is not found, under the same scope name.
    for (const ScopeRef& other : {globex, shared, longA})
      EXPECT_EQ(contexts_->get(other, acmeId).status().code(), StatusCode::kNotFound) << other.text();
    EXPECT_EQ(contexts_->get(longB, longAId).status().code(), StatusCode::kNotFound);
    EXPECT_EQ(contexts_->get(acme, acmeId)->text, "acme deploys the payments service to eu-west");
  };
  check("as written");
  EXPECT_EQ(contexts_->scopes().size(), 5u);

  // The entry tells its tenant; the default tenant's says nothing, as before tenancy.
  EXPECT_EQ(contexts_->get(acme, acmeId)->toJson().at("tenant"), "acme");
  EXPECT_FALSE(contexts_->get(shared, sharedId)->toJson().contains("tenant"));

  ASSERT_TRUE(contexts_->saveIndexes().ok());
  EXPECT_TRUE(std::filesystem::exists(directory_ / "index" / "project:shared.hnsw"));
  EXPECT_TRUE(std::filesystem::exists(directory_ / "index" / "acme@project:shared.hnsw"));
  EXPECT_TRUE(std::filesystem::exists(directory_ / "index" / "globex@project:shared.hnsw"));
  OpenReport report = reopen();
  EXPECT_EQ(report.scopes, 5u);
  EXPECT_EQ(report.loaded, 5u);
  EXPECT_EQ(report.repaired, 0u);
  check("after a restart");

  // Deleting through another tenant touches nothing; clearing one tenant's leaves the others'.
  EXPECT_EQ(contexts_->remove(globex, acmeId).code(), StatusCode::kNotFound);
  EXPECT_TRUE(contexts_->get(acme, acmeId).ok());
  auto cleared = contexts_->clear(globex);
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(*cleared, 1u);
  EXPECT_EQ(contexts_->stats(globex).entries, 0u);
  EXPECT_EQ(contexts_->stats(acme).entries, 1u);
  EXPECT_EQ(contexts_->stats(shared).entries, 1u);
  ASSERT_TRUE(contexts_->remove(acme, acmeId).ok());
  EXPECT_EQ(contexts_->stats(acme).entries, 0u);
  EXPECT_EQ(contexts_->stats(shared).entries, 1u);
}

// Entries stored before tenancy have no tenant in the store: they are the
// default tenant's, readable as before, and no named tenant's.
TEST_F(ContextsTest, EntriesWrittenBeforeTenancyStayTheDefaultTenants) {
  {
    auto store = storeHandle().lease();
    ASSERT_TRUE(store);
    store::Document old{.id = idOf(42),
                        .body =
                            R"({"scope":"project:old","text":"written by an older release","metadata":{},)"
                            R"("author":"key:k1","created_ms":1})",
                        .index = {{"scope", "project:old"}, {"state", "active"}}};
    ASSERT_TRUE(store->put("context_entries", std::move(old)).ok());
  }
  OpenReport report = reopen();
  EXPECT_EQ(report.entries, 1u);
  auto entry = contexts_->get(inDefault("project:old"), idOf(42));
  ASSERT_TRUE(entry.ok()) << entry.status().toString();
  EXPECT_EQ(entry->text, "written by an older release");
  EXPECT_EQ(entry->tenant, "");
  EXPECT_EQ(ids(inDefault("project:old"), "older release"), std::vector<std::string>{idOf(42)});
  const ScopeRef acme{"acme", "project:old"};
  EXPECT_EQ(contexts_->get(acme, idOf(42)).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contexts_->list(acme, Contexts::Which::kActive, 100, "")->items.empty());
  EXPECT_TRUE(ids(acme, "older release").empty());
}

// A compression of a named tenant's context submits its task acting for that
// tenant: task_manager tags the task with it, only that tenant's agents take
// it, and reading it back (as the compressor must, to finish) works for that
// tenant only. The summary goes to that tenant's context, not the default one's.
TEST_F(ContextsTest, CompressionTaskIsTheContextsTenants) {
  startTasks();
  tasks_->provideFake<tenancy::Tenancy>(std::make_shared<plugin_common::TenantsByName>(), "security_manager");
  ASSERT_TRUE(openCompressor(3).ok());
  const ScopeRef acme{"acme", "project:f"};
  for (int i = 0; i < 5; ++i) add(acme, "acme entry " + std::to_string(i));
  for (int i = 0; i < 2; ++i) add(inDefault("project:f"), "default entry " + std::to_string(i));
  compressor_->check(acme);
  compressor_->check(inDefault("project:f"));  // under budget: nothing
  EXPECT_TRUE(compressor_->describe(acme).at("pending").as_bool());
  EXPECT_FALSE(compressor_->describe(inDefault("project:f")).at("pending").as_bool());
  const std::string taskId(compressor_->describe(acme).at("task_id").as_string());
  ASSERT_FALSE(taskId.empty());

  // What task_manager's routes show each tenant.
  auto provider = std::static_pointer_cast<http::RouteProvider>(
      tasks_->services().lookup(http::RouteProvider::kServiceId).front().service);
  auto taskAs = [&](const std::string& principal) {
    hive::testing::RouteClient client(provider, {.principal = principal});
    auto response = client.request("GET", "/api/v2/tasks/" + taskId);
    EXPECT_TRUE(response.ok()) << response.status().toString();
    return response.ok() ? *response : http::Response{};
  };
  http::Response seen = taskAs("acme");
  ASSERT_EQ(seen.status, 200) << seen.body;
  EXPECT_EQ(json::parse(seen.body).at("tenant"), "acme") << seen.body;
  EXPECT_EQ(taskAs("").status, 404) << "the default tenant's callers do not see acme's task";
  EXPECT_EQ(taskAs("globex").status, 404);

  auto tasks = tasks_->services().handle<tasks::TaskService>()->lease();
  EXPECT_TRUE(tasks->claim("summarizer", {"summarize"}, 10)->empty()) << "a default tenant's agent took it";
  auto claimed = tasks->claim("acme-summarizer", {"summarize", "tenant:acme"}, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status().toString();
  ASSERT_EQ(claimed->size(), 1u);
  const tasks::Assignment& assignment = claimed->front();
  EXPECT_EQ(assignment.taskId, taskId);
  EXPECT_EQ(json::parse(assignment.payload).at("scope"), "project:f");
  ASSERT_TRUE(tasks->started(assignment.taskId, assignment.leaseToken).ok());
  ASSERT_TRUE(
      tasks->succeeded(assignment.taskId, assignment.leaseToken, R"({"summary":"acme entries 0-3"})").ok());
  compressor_->advance();
  EXPECT_FALSE(compressor_->describe(acme).at("pending").as_bool());
  auto summary = contexts_->search(acme, "acme entries 0-3", 1);
  ASSERT_TRUE(summary.ok());
  ASSERT_EQ(summary->size(), 1u);
  EXPECT_EQ(summary->at(0).text, "acme entries 0-3");
  EXPECT_EQ(contexts_->get(acme, summary->at(0).id)->tenant, "acme");
  // Over 3: half the budget stays, so the 4 oldest were summarised.
  EXPECT_EQ(contexts_->list(acme, Contexts::Which::kArchived, 100, "")->items.size(), 4u);
  EXPECT_EQ(contexts_->stats(acme).entries, 2u);
  // The default tenant's project:f is untouched.
  EXPECT_EQ(contexts_->stats(inDefault("project:f")).entries, 2u);
  EXPECT_TRUE(contexts_->list(inDefault("project:f"), Contexts::Which::kArchived, 100, "")->items.empty());
  EXPECT_EQ(contexts_->get(inDefault("project:f"), summary->at(0).id).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace hive::context_manager
