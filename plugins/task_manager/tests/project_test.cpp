// Projects: a task's project (hive.projects/1), what a key bound to a project
// sees, and the tasks' part of a project's export and erasure
// (hive.project_data/1) on the real storage_sqlite and its hive.store_erasure/1.
#include <set>

#include "fixture.hpp"
#include "hive/services/projects.hpp"
#include "hive/services/store_erasure.hpp"
#include "hive/services/tenancy.hpp"

namespace hive::task_manager::testing {
namespace {

// Principals "<tenant>" and "<tenant>#<project>" (a key bound to a project);
// "admin" spans tenants. The projects that exist are the test's.
class KeysByName final : public tenancy::Tenancy, public projects::Projects {
 public:
  std::set<std::pair<std::string, std::string>> existing;

  tenancy::Scope scopeOf(std::string_view principal) override {
    if (auto acting = tenancy::actingScope(principal)) return *acting;
    if (principal == "admin") return tenancy::Scope::everything();
    return {std::string(principal.substr(0, principal.find('#'))), false};
  }
  std::string boundProject(std::string_view principal) override {
    std::size_t hash = principal.find('#');
    return hash == std::string_view::npos ? std::string() : std::string(principal.substr(hash + 1));
  }
  bool exists(std::string_view tenant, std::string_view name) override {
    return existing.count({std::string(tenant), std::string(name)}) != 0;
  }
};

// The real store's hive.store_erasure/1, as task_manager finds it: beside its store.
class ForwardedErasure final : public store::Erasure {
 public:
  explicit ForwardedErasure(ServiceRef<store::Erasure> real) : real_(std::move(real)) {}
  Result<std::uint64_t> eraseEvents(const std::string& stream,
                                    const std::vector<std::uint64_t>& ids) override {
    return real_->eraseEvents(stream, ids);
  }

 private:
  ServiceRef<store::Erasure> real_;
};

class ProjectTest : public TaskManagerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(TaskManagerTest::SetUp());
    keys_->existing = {{"acme", "site"}, {"acme", "other"}, {"globex", "site"}};
    harness_->provideFake<tenancy::Tenancy>(std::static_pointer_cast<tenancy::Tenancy>(keys_));
    harness_->provideFake<projects::Projects>(std::static_pointer_cast<projects::Projects>(keys_));
  }
  void TearDown() override {
    data_ = {};
    TaskManagerTest::TearDown();
  }
  // Whether the erasure can reach the store's events (as it can under the kernel).
  void provideErasure() {
    auto real = storeHarness_->services().get<store::Erasure>();
    ASSERT_TRUE(real.ok()) << real.status().toString();
    harness_->provideFake<store::Erasure>(std::make_shared<ForwardedErasure>(*real), "storage_sqlite");
  }
  projects::ProjectData& data() {
    if (!data_) {
      auto found = harness_->services().get<projects::ProjectData>();
      EXPECT_TRUE(found.ok()) << found.status().toString();
      data_ = *found;
    }
    return *data_;
  }
  std::vector<std::string> listed(const std::string& query = "") {
    auto response = call("GET", "/api/v2/tasks" + query);
    EXPECT_EQ(response.status, 200) << response.body;
    std::vector<std::string> ids;
    json::value page = json::parse(response.body);
    for (const auto& item : page.as_object().at("items").as_array())
      ids.emplace_back(item.as_object().at("id").as_string());
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  // Every line of the export of `project`, page by page.
  std::vector<json::object> exported(const std::string& tenant, const std::string& project,
                                     std::size_t limit) {
    std::vector<json::object> lines;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto got = data().exportPage(tenant, project, cursor, limit);
      EXPECT_TRUE(got.ok()) << got.status().toString();
      if (!got.ok()) break;
      EXPECT_LE(got->lines.size(), limit);
      for (const auto& line : got->lines) lines.push_back(json::parse(line).as_object());
      if (got->next.empty()) return lines;
      cursor = got->next;
    }
    ADD_FAILURE() << "the export did not end";
    return lines;
  }

  std::shared_ptr<KeysByName> keys_ = std::make_shared<KeysByName>();
  ServiceRef<projects::ProjectData> data_;
};

std::vector<std::string> sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_F(ProjectTest, ATaskJoinsAProjectOfItsTenantAndAKeyBoundToAProjectSeesAndMakesOnlyThatProjectsTasks) {
  principal_ = "acme";
  std::string site = submit(R"({"type":"x","project":"site"})");
  std::string other = submit(R"({"type":"x","project":"other"})");
  std::string loose = submit(R"({"type":"x"})");
  EXPECT_EQ(task(site).at("project").as_string(), "site");
  EXPECT_FALSE(task(loose).contains("project"));
  auto unknown = call("POST", "/api/v2/tasks", R"({"type":"x","project":"nope"})");
  EXPECT_EQ(unknown.status, 422);
  EXPECT_NE(unknown.body.find("no project 'nope' in tenant 'acme'"), std::string::npos) << unknown.body;
  EXPECT_EQ(call("POST", "/api/v2/tasks", R"({"type":"x","project":"bad name"})").status, 422);
  principal_ = "initech";
  EXPECT_EQ(call("POST", "/api/v2/tasks", R"({"type":"x","project":"site"})").status, 422)
      << "another tenant's project of the same name is not this tenant's";
  principal_ = "globex";
  std::string globexSite = submit(R"({"type":"x","project":"site"})");

  principal_ = "acme#site";
  std::string bound = submit(R"({"type":"x"})");
  EXPECT_EQ(task(bound).at("project").as_string(), "site") << "a bound key's task joins its project";
  auto elsewhere = call("POST", "/api/v2/tasks", R"({"type":"x","project":"other"})");
  EXPECT_EQ(elsewhere.status, 422);
  EXPECT_NE(elsewhere.body.find("for project 'site' only"), std::string::npos) << elsewhere.body;
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + other).status, 404);
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + loose).status, 404);
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + globexSite).status, 404);
  EXPECT_EQ(call("POST", "/api/v2/tasks/" + other + "/cancel").status, 404);
  EXPECT_EQ(listed(), sorted({site, bound}));
  EXPECT_EQ(listed("?project=other"), sorted({site, bound})) << "a bound key cannot list another project";
  EXPECT_EQ(call("GET", "/api/v2/tasks/stats").status, 403);
  json::value eventPage = json::parse(call("GET", "/api/v2/tasks/events").body);
  const auto& events = eventPage.as_object().at("items").as_array();
  ASSERT_FALSE(events.empty());
  for (const auto& event : events)
    EXPECT_EQ(event.as_object().at("data").as_object().at("project").as_string(), "site") << event;

  principal_ = "acme";
  EXPECT_EQ(listed("?project=site"), sorted({site, bound}));
  EXPECT_EQ(listed(), sorted({site, other, loose, bound}));
  principal_ = "admin";
  EXPECT_EQ(listed("?project=site"), sorted({site, bound, globexSite}));

  // The default tenant and "no project" are not indexed (most tasks have
  // them); their lists still hold exactly theirs.
  principal_ = "";
  std::string plain = submit(R"({"type":"x"})");
  principal_ = "acme";
  EXPECT_EQ(listed("?project="), sorted({loose}));
  principal_ = "admin";
  EXPECT_EQ(listed("?tenant="), sorted({plain}));
  EXPECT_EQ(listed("?tenant=acme&project="), sorted({loose}));
}

TEST_F(ProjectTest, AProjectsTasksAndTheirEventsAreExportedAndErasedAndNothingElseIs) {
  ASSERT_NO_FATAL_FAILURE(provideErasure());
  principal_ = "acme";
  std::vector<std::string> site;
  for (int i = 0; i < 40; ++i)
    site.push_back(submit(R"({"type":"x","project":"site","payload":{"m":"payload-of-site"}})"));
  std::string other = submit(R"({"type":"x","project":"other"})");
  principal_ = "globex";
  std::string globexSite = submit(R"({"type":"x","project":"site"})");
  principal_ = "admin";

  // One of site's tasks finished with a result, one runs: the erasure takes both.
  auto held = claim("acme-agent", {"tenant:acme"}, 2);
  ASSERT_EQ(held.size(), 2u);
  ASSERT_TRUE(tasks_->succeeded(held[0].taskId, held[0].leaseToken, R"({"r":"result-of-site"})").ok());
  ASSERT_TRUE(tasks_->started(held[1].taskId, held[1].leaseToken).ok());
  for (const auto& h : held) ASSERT_NE(std::find(site.begin(), site.end(), h.taskId), site.end());

  auto lines = exported("acme", "site", 7);
  std::set<std::string> tasksExported;
  std::size_t events = 0;
  bool resultExported = false;
  for (const auto& line : lines) {
    if (line.at("kind") == "task") {
      tasksExported.emplace(line.at("task").as_object().at("id").as_string());
      EXPECT_EQ(line.at("task").as_object().at("project"), "site");
      resultExported = resultExported || json::serialize(line).find("result-of-site") != std::string::npos;
    } else {
      ASSERT_EQ(line.at("kind"), "task_event") << line;
      ++events;
      EXPECT_EQ(line.at("event").as_object().at("project"), "site");
      EXPECT_EQ(line.at("event").as_object().at("tenant"), "acme");
    }
  }
  EXPECT_EQ(tasksExported, std::set<std::string>(site.begin(), site.end()));
  EXPECT_GE(events, site.size() + 3) << "created, assigned, started, succeeded";
  EXPECT_TRUE(resultExported);

  auto erased = data().erase("acme", "site");
  ASSERT_TRUE(erased.ok()) << erased.status().toString();
  EXPECT_EQ(*erased, site.size());
  for (const auto& id : site) EXPECT_EQ(call("GET", "/api/v2/tasks/" + id).status, 404) << id;
  EXPECT_EQ(status(other), "pending");
  EXPECT_EQ(status(globexSite), "pending");
  EXPECT_FALSE(tasks_->succeeded(held[1].taskId, held[1].leaseToken, "{}").ok())
      << "the agent of a task that was erased cannot report it";
  auto log = realStore_->read("tasks", 0, 10000);
  ASSERT_TRUE(log.ok()) << log.status().toString();
  std::size_t tombstones = 0;
  for (const auto& event : *log) {
    EXPECT_EQ(event.body.find("result-of-site"), std::string::npos) << event.body;
    if (event.type == "erased") {
      EXPECT_EQ(event.body, "{}");
      ++tombstones;
      continue;
    }
    auto body = json::parse(event.body).as_object();
    EXPECT_FALSE(body.contains("project") && body.at("project") == "site" && body.contains("tenant") &&
                 body.at("tenant") == "acme")
        << "an event of acme's site is left: " << event.body;
  }
  EXPECT_GE(tombstones, events);
  EXPECT_TRUE(exported("acme", "site", 100).empty()) << "nothing left to export";
  EXPECT_EQ(exported("globex", "site", 100).size(), 2u) << "globex's site: its task and its event";
  auto again = data().erase("acme", "site");
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(*again, 0u);
}

TEST_F(ProjectTest, WithoutAStoreThatErasesEventsTheErasureSaysSo) {
  principal_ = "acme";
  std::string id = submit(R"({"type":"x","project":"site"})");
  auto erased = data().erase("acme", "site");
  EXPECT_EQ(erased.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(erased.status().message().find("no hive.store_erasure/1"), std::string::npos)
      << erased.status().toString();
  EXPECT_EQ(status(id), "pending") << "a refused erasure changes nothing";
}

}  // namespace
}  // namespace hive::task_manager::testing
