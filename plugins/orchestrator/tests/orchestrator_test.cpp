// The orchestrator with the real task_manager and storage_sqlite plugins, all
// loaded from their .so files through the SDK harness. The WebSocket side of the
// API is played by a recording peer: what a remote agent would receive.
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "concurrency_limits.hpp"
#include "config.hpp"
#include "hive/callbacks.hpp"
#include "hive/services/agent_frames.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/services/tenancy.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"
#include "manual_clock.hpp"
#include "plugin.hpp"

namespace hive::orchestrator {
namespace {

namespace json = boost::json;
using testing::PluginHarness;

// The orchestrators the tests start run on this clock; each test starts it at
// the wall clock (the store stamps records with that) and moves it itself.
ManualClock& testClock() {
  static ManualClock clock;
  return clock;
}

class ClockedOrchestrator final : public OrchestratorPlugin {
 public:
  explicit ClockedOrchestrator(PluginContext& context) : OrchestratorPlugin(context, testClock()) {}
};

// The plugin linked into the test (on the manual clock), or its .so through
// the loader (on the system clock).
enum class Build { kLinked, kLibrary };

class RecordingPeer final : public http::WebSocketPeer {
 public:
  Status send(std::string text) override {
    std::lock_guard lock(mutex_);
    if (closed_) return unavailable("closed");
    // What the api answers when the agent does not read and its queue is full.
    if (full_) return resourceExhausted("send queue full");
    messages_.push_back(json::parse(text).as_object());
    texts_.push_back(std::move(text));
    return okStatus();
  }
  void close(std::uint16_t code, std::string reason) override {
    std::lock_guard lock(mutex_);
    closed_ = true;
    closeCode_ = code;
    (void)reason;
  }
  const std::string& id() const override { return id_; }

  std::vector<json::object> take(std::string_view type) {
    std::lock_guard lock(mutex_);
    std::vector<json::object> out;
    for (auto it = messages_.begin(); it != messages_.end();) {
      if (it->at("type").as_string() == type) {
        out.push_back(*it);
        it = messages_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  // Every frame as sent, in order.
  std::vector<std::string> texts() const {
    std::lock_guard lock(mutex_);
    return {texts_.begin(), texts_.end()};
  }
  void setFull(bool full) {
    std::lock_guard lock(mutex_);
    full_ = full;
  }
  std::uint16_t closeCode() const {
    std::lock_guard lock(mutex_);
    return closeCode_;
  }

 private:
  mutable std::mutex mutex_;
  std::deque<json::object> messages_;
  std::deque<std::string> texts_;
  bool closed_ = false;
  bool full_ = false;
  std::uint16_t closeCode_ = 0;
  std::string id_ = "peer";
};

class OrchestratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testClock().set(plugin_common::nowMs());
    // The real bus (local transport): task_manager publishes task events on it,
    // and the orchestrator hears cancellations there.
    bus_ = load(COMMUNICATION_ENGINE_PLUGIN);
    ASSERT_TRUE(bus_->start().ok());
    store_ = load(STORAGE_SQLITE_PLUGIN);
    ASSERT_TRUE(store_->start().ok());
    auto storeService = lookup<store::Store>(*store_);
    tasks_ = load(TASK_MANAGER_PLUGIN);
    tasks_->provideFake<store::Store>(storeService, "storage_sqlite");
    tasks_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    tasks_->setConfig(hive::testing::configFromPairs({{"retry_base", "1ms"}, {"retry_max", "2ms"}}));
    ASSERT_TRUE(tasks_->start().ok());
    taskRoutes_ = lookup<http::RouteProvider>(*tasks_);
    startOrchestrator({});
  }

  // (Re)starts the orchestrator on the same store and tasks with the test
  // settings plus `extra`.
  void startOrchestrator(const std::vector<std::pair<std::string, std::string>>& extra,
                         Build build = Build::kLinked, std::shared_ptr<Generation> generations = nullptr) {
    routes_.reset();
    orchestrator_.reset();
    orchestrator_ = build == Build::kLinked
                        ? PluginHarness::create<ClockedOrchestrator>("orchestrator", "1.0.0")
                        : load(ORCHESTRATOR_PLUGIN);
    orchestrator_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
    orchestrator_->provideFake<tasks::TaskService>(lookup<tasks::TaskService>(*tasks_), "task_manager");
    orchestrator_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    if (generations) orchestrator_->provideFake<Generation>(generations, "kernel");
    auto config = ConfigNode::map();
    std::map<std::string, std::string> settings = {{"heartbeat_interval", "100ms"},
                                                   {"missed_heartbeats", "2"},
                                                   {"failure_threshold", "2"},
                                                   {"open_for", "600ms"}};
    for (const auto& [key, value] : extra) settings[key] = value;
    for (const auto& [key, value] : settings) config.set(key, ConfigNode::scalar(value));
    orchestrator_->setConfig(std::move(config));
    Status started = orchestrator_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
    routes_ = lookup<http::RouteProvider>(*orchestrator_);
  }

  void TearDown() override {
    routes_.reset();
    taskRoutes_.reset();
    orchestrator_.reset();
    tasks_.reset();
    store_.reset();
    bus_.reset();
  }

  static std::unique_ptr<PluginHarness> load(const char* path) {
    auto loaded = PluginHarness::loadLibrary(path);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    return std::move(loaded).value();
  }

  template <class T>
  static std::shared_ptr<T> lookup(PluginHarness& harness) {
    auto leases = harness.services().lookup(T::kServiceId);
    EXPECT_FALSE(leases.empty());
    return std::static_pointer_cast<T>(leases.front().service);
  }

  // Runs what the plugins posted until `done` holds (bounded).
  template <class F>
  bool until(F done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      orchestrator_->runPending();
      tasks_->runPending();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  }

  void sweep() {
    orchestrator_->advanceTime(std::chrono::seconds(1));
    tasks_->advanceTime(std::chrono::seconds(1));
    until([] { return false; }, std::chrono::milliseconds(20));
  }

  http::Response serve(http::RouteProvider& routes, const std::string& id, http::Request request) {
    http::Response response;
    // Atomic: another thread's until() may run the plugin's pending work,
    // and so this callback (NoTaskIsAssignedBeforeTheWelcome submits from two).
    std::atomic<bool> answered{false};
    routes.serve(id, std::move(request), [&](http::Response r) {
      response = std::move(r);
      answered = true;
    });
    EXPECT_TRUE(until([&] { return answered.load(); }));
    return response;
  }

  std::string submit(const std::string& body, const std::string& principal = "") {
    http::Request request;
    request.method = "POST";
    request.body = body;
    request.principal = principal;
    auto response = serve(*taskRoutes_, "tasks.submit", request);
    EXPECT_EQ(response.status, 201) << response.body;
    return std::string(json::parse(response.body).as_object().at("id").as_string());
  }

  json::object task(const std::string& id, const std::string& principal = "") {
    return json::parse(taskText(id, principal)).as_object();
  }

  std::string taskText(const std::string& id, const std::string& principal = "") {
    http::Request request;
    request.params["id"] = id;
    request.principal = principal;
    return serve(*taskRoutes_, "tasks.get", request).body;
  }

  json::object agent(const std::string& id, const std::string& principal = "") {
    http::Request request;
    request.params["id"] = id;
    request.principal = principal;
    auto response = serve(*routes_, "agents.get", request);
    EXPECT_EQ(response.status, 200) << response.body;
    return json::parse(response.body).as_object();
  }

  struct Remote {
    std::shared_ptr<RecordingPeer> peer = std::make_shared<RecordingPeer>();
    std::shared_ptr<http::WebSocketSession> session;
    std::string id;
    std::string secret;
  };

  // A dispatch round with two agents, `leave` run between its two claims (below).
  void expectNoClaimForAgentsLeavingMidRound(const std::function<void(const Remote&, const Remote&)>& leave);

  // `principal`: who hive.auth/1 says connects ("agent:<name>" for an agent key).
  static http::Request as(const std::string& principal) {
    http::Request request;
    request.principal = principal;
    return request;
  }

  Remote connect(const std::string& hello, const std::string& principal = "") {
    Remote r;
    auto session = routes_->openWebSocket("agents.connect", as(principal), r.peer);
    EXPECT_TRUE(session.ok());
    r.session = *session;
    r.session->onMessage(hello);
    std::vector<json::object> welcome;
    EXPECT_TRUE(until([&] { return !(welcome = r.peer->take("welcome")).empty(); }));
    if (!welcome.empty()) {
      r.id = std::string(welcome[0].at("agent_id").as_string());
      if (auto* secret = welcome[0].if_contains("secret")) r.secret = std::string(secret->as_string());
    }
    return r;
  }

  // A hello that is refused: the error frame it got; the socket is closed.
  json::object refusedHello(const std::string& hello, const std::string& principal = "") {
    auto peer = std::make_shared<RecordingPeer>();
    auto session = routes_->openWebSocket("agents.connect", as(principal), peer);
    EXPECT_TRUE(session.ok());
    (*session)->onMessage(hello);
    EXPECT_TRUE(until([&] { return peer->closed(); }));
    EXPECT_EQ(peer->closeCode(), 1008);
    EXPECT_TRUE(peer->take("welcome").empty());
    auto errors = peer->take("error");
    EXPECT_EQ(errors.size(), 1u);
    return errors.empty() ? json::object{} : errors[0];
  }

  static std::string accept(const json::object& assign) {
    return R"({"type":"task.accept","task_id":)" + json::serialize(assign.at("task").as_object().at("id")) +
           R"(,"lease_token":)" + json::serialize(assign.at("lease_token")) + "}";
  }

  http::Response listAgents(std::vector<std::pair<std::string, std::string>> query) {
    http::Request request;
    for (auto& [key, value] : query) request.query.push_back({key, value});
    return serve(*routes_, "agents.list", request);
  }

  std::vector<json::object> assignments(Remote& r, std::size_t count) {
    std::vector<json::object> out;
    until([&] {
      for (auto& m : r.peer->take("task.assign")) out.push_back(m);
      return out.size() >= count;
    });
    return out;
  }

  static std::string result(const json::object& assign, const std::string& status,
                            const std::string& extra = {}) {
    return R"({"type":"task.result","task_id":)" + json::serialize(assign.at("task").as_object().at("id")) +
           R"(,"lease_token":)" + json::serialize(assign.at("lease_token")) + R"(,"status":")" + status +
           "\"" + extra + "}";
  }

  http::Response cancel(const std::string& id) {
    http::Request request;
    request.method = "POST";
    request.params["id"] = id;
    return serve(*taskRoutes_, "tasks.cancel", request);
  }

  // The task's events from the durable log, by type.
  std::vector<std::string> eventsOf(const std::string& id) {
    http::Request request;
    request.query.push_back({"limit", "10000"});
    auto response = serve(*taskRoutes_, "tasks.events", request);
    EXPECT_EQ(response.status, 200) << response.body;
    std::vector<std::string> types;
    json::value page = json::parse(response.body);
    for (const auto& item : page.as_object().at("items").as_array()) {
      const auto& data = item.as_object().at("data").as_object();
      // A state change carries the task; a refused report only its id.
      const auto* task = data.if_contains("task");
      const auto& taskId = task ? task->as_object().at("id") : data.at("task_id");
      if (taskId.as_string() == id) types.emplace_back(item.as_object().at("type").as_string());
    }
    return types;
  }

  std::unique_ptr<PluginHarness> bus_, store_, tasks_, orchestrator_;
  std::shared_ptr<http::RouteProvider> routes_, taskRoutes_;
};

TEST(OrchestratorConfig, ProcessAgentTenantsNameATenantEachAndABadOneIsReportedAtItsPlace) {
  Diagnostics diagnostics;
  ConfigNode section = ConfigNode::map();
  ConfigNode tenants = ConfigNode::map();
  tenants.set("coder", ConfigNode::scalar("acme.corp"));
  tenants.set("builder", ConfigNode::scalar("no spaces", {"hive.yaml", 9, 16}));
  section.set("process_agent_tenants", tenants);
  Options options = readOptions(section, diagnostics);
  EXPECT_EQ(options.processAgentTenants, (std::map<std::string, std::string>{{"coder", "acme.corp"}}));
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:9:16"), std::string::npos) << text;
  EXPECT_NE(text.find("the tenant of 'builder'"), std::string::npos) << text;
}

// hive.concurrency/1 with fixed limits by agent id.
class FixedLimits final : public concurrency::Limiter {
 public:
  explicit FixedLimits(std::map<std::string, std::uint32_t> limits) : limits_(std::move(limits)) {}
  std::uint32_t limit(const std::string& agentId, std::uint32_t ceiling) override {
    auto found = limits_.find(agentId);
    return found == limits_.end() ? ceiling : std::min(found->second, ceiling);
  }

 private:
  std::map<std::string, std::uint32_t> limits_;
};

// The dispatcher's candidates under adaptive limits: offered at most their
// limit minus what they hold, and ranked by what they hold over that limit, so
// that an agent whose limit was cut (slow lately) comes after one that keeps up.
TEST_F(OrchestratorTest, AdaptiveLimitsCapWhatAnAgentIsOfferedAndRankItsLoad) {
  struct Candidate {
    std::string id;
    double load = 0;
    std::size_t free = 1, held = 0;
    std::uint32_t ceiling = 1;
  };
  // Both max_concurrency 8: fast holds 3, slow (cut to 2) holds 1, full (cut to 2) holds 2.
  std::vector<Candidate> candidates = {
      {"slow", 1.0 / 8, 7, 1, 8}, {"fast", 3.0 / 8, 5, 3, 8}, {"full", 2.0 / 8, 6, 2, 8}};
  orchestrator_->provideFake<concurrency::Limiter>(
      std::make_shared<FixedLimits>(std::map<std::string, std::uint32_t>{{"slow", 2}, {"full", 2}}),
      "optimization_engine");
  applyConcurrencyLimits(orchestrator_->services(), candidates);
  ASSERT_EQ(candidates.size(), 2u) << "an agent at its limit is not offered anything";
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& x, const Candidate& y) { return x.load < y.load; });
  EXPECT_EQ(candidates[0].id, "fast") << "3 of 8 before 1 of 2";
  EXPECT_EQ(candidates[0].free, 5u);
  EXPECT_DOUBLE_EQ(candidates[0].load, 3.0 / 8);
  EXPECT_EQ(candidates[1].id, "slow");
  EXPECT_EQ(candidates[1].free, 1u);
  EXPECT_DOUBLE_EQ(candidates[1].load, 0.5);
}

TEST_F(OrchestratorTest, RemoteAgentGetsMatchingTasksAndFinishesThem) {
  std::string python = submit(R"({"type":"a","capabilities":["python"]})");
  std::string go = submit(R"({"type":"a","capabilities":["go"]})");
  auto remote = connect(R"({"type":"hello","name":"py","capabilities":["python"],"max_concurrency":4})");
  ASSERT_FALSE(remote.id.empty());
  auto assigned = assignments(remote, 1);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].at("task").as_object().at("id").as_string(), python);
  EXPECT_TRUE(remote.peer->take("task.assign").empty()) << "the go task is not for a python agent";
  EXPECT_EQ(std::string(task(go).at("status").as_string()), "pending");

  remote.session->onMessage(R"({"type":"task.progress","task_id":")" + python + R"(","lease_token":)" +
                            json::serialize(assigned[0].at("lease_token")) + R"(,"progress":{"pct":50}})");
  remote.session->onMessage(result(assigned[0], "succeeded", R"(,"result":{"ok":1})"));
  std::vector<json::object> acks;
  ASSERT_TRUE(until([&] { return !(acks = remote.peer->take("task.ack")).empty(); }));
  EXPECT_TRUE(acks[0].at("accepted").as_bool());
  auto done = task(python);
  EXPECT_EQ(done.at("status").as_string(), "succeeded");
  EXPECT_EQ(done.at("result").as_object().at("ok").as_int64(), 1);
  EXPECT_EQ(done.at("agent").as_string(), remote.id);
  auto shown = agent(remote.id);
  EXPECT_EQ(shown.at("status").as_string(), "idle");
  EXPECT_EQ(shown.at("succeeded").as_int64(), 1);
}

// What an agent says about a task in one burst is written once: the latest.
// A progress report starts the task as its accept would, the last progress is
// the one kept, and a result stands for everything before it.
TEST_F(OrchestratorTest, ABurstOfReportsWritesOnlyTheLatestOfEachTask) {
  std::string accepted = submit(R"({"type":"a","priority":3})");
  std::string progressing = submit(R"({"type":"a","priority":2})");
  std::string finished = submit(R"({"type":"a","priority":1})");
  auto remote = connect(R"({"type":"hello","name":"w","max_concurrency":4})");
  auto assigned = assignments(remote, 3);
  ASSERT_EQ(assigned.size(), 3u);
  std::map<std::string, json::object> byId;
  for (const auto& a : assigned) byId[std::string(a.at("task").as_object().at("id").as_string())] = a;
  auto progress = [](const json::object& assign, int n) {
    return R"({"type":"task.progress","task_id":)" + json::serialize(assign.at("task").as_object().at("id")) +
           R"(,"lease_token":)" + json::serialize(assign.at("lease_token")) + R"(,"progress":{"n":)" +
           std::to_string(n) + "}}";
  };
  // One burst: nothing runs between these.
  remote.session->onMessage(accept(byId[accepted]));
  remote.session->onMessage(accept(byId[progressing]));
  remote.session->onMessage(progress(byId[progressing], 1));
  remote.session->onMessage(progress(byId[progressing], 2));
  remote.session->onMessage(accept(byId[finished]));
  remote.session->onMessage(progress(byId[finished], 1));
  remote.session->onMessage(result(byId[finished], "succeeded"));
  ASSERT_TRUE(until([&] {
    return task(finished).at("status").as_string() == "succeeded" &&
           task(progressing).at("status").as_string() == "running" &&
           task(accepted).at("status").as_string() == "running";
  }));
  EXPECT_EQ(json::serialize(task(progressing).at("progress")), R"({"n":2})");
  EXPECT_EQ(eventsOf(accepted), (std::vector<std::string>{"task.created", "task.assigned", "task.running"}));
  EXPECT_EQ(eventsOf(progressing),
            (std::vector<std::string>{"task.created", "task.assigned", "task.progress"}));
  EXPECT_EQ(eventsOf(finished),
            (std::vector<std::string>{"task.created", "task.assigned", "task.succeeded"}));
  EXPECT_EQ(json::serialize(task(finished).at("progress")), json::serialize(task(accepted).at("progress")))
      << "no progress of its own";

  // A progress report sent after its task's result, in the same burst, comes
  // after it: refused as stale, and the task stays as its result left it.
  std::string late = submit(R"({"type":"a"})");
  auto next = assignments(remote, 1);
  ASSERT_EQ(next.size(), 1u);
  remote.peer->take("task.ack");
  remote.session->onMessage(result(next[0], "succeeded"));
  remote.session->onMessage(progress(next[0], 9));
  std::vector<json::object> acks;
  ASSERT_TRUE(until([&] {
    for (auto& ack : remote.peer->take("task.ack")) acks.push_back(std::move(ack));
    return acks.size() >= 2;
  }));
  EXPECT_EQ(acks[0].at("report").as_string(), "result");
  EXPECT_TRUE(acks[0].at("accepted").as_bool());
  EXPECT_EQ(acks[1].at("report").as_string(), "progress");
  EXPECT_FALSE(acks[1].at("accepted").as_bool());
  EXPECT_EQ(task(late).at("status").as_string(), "succeeded");
  EXPECT_EQ(json::serialize(task(late).at("progress")), json::serialize(task(accepted).at("progress")));

  // A progress report Hive cannot keep as sent is refused with its reason;
  // the task keeps the progress it had.
  remote.session->onMessage(R"({"type":"task.progress","task_id":")" + progressing + R"(","lease_token":)" +
                            json::serialize(byId[progressing].at("lease_token")) +
                            R"(,"progress":{"n":1e400}})");
  acks.clear();
  ASSERT_TRUE(until([&] { return !(acks = remote.peer->take("task.ack")).empty(); }));
  EXPECT_EQ(acks[0].at("report").as_string(), "progress");
  EXPECT_FALSE(acks[0].at("accepted").as_bool());
  EXPECT_NE(std::string(acks[0].at("reason").as_string()).find("/progress/n"), std::string::npos)
      << json::serialize(acks[0]);
  EXPECT_EQ(json::serialize(task(progressing).at("progress")), R"({"n":2})");
}

// The plugin as the kernel loads it: its .so through the loader, on the system clock.
TEST_F(OrchestratorTest, TheLoadedLibraryServesRemoteAgents) {
  startOrchestrator({}, Build::kLibrary);
  std::string id = submit(R"({"type":"a"})");
  auto remote = connect(R"({"type":"hello","name":"w"})");
  ASSERT_FALSE(remote.id.empty());
  auto assigned = assignments(remote, 1);
  ASSERT_EQ(assigned.size(), 1u);
  remote.session->onMessage(result(assigned[0], "succeeded"));
  EXPECT_TRUE(until([&] { return task(id).at("status").as_string() == "succeeded"; }));
  EXPECT_EQ(agent(remote.id).at("succeeded").as_int64(), 1);
}

TEST_F(OrchestratorTest, AnIdleAgentGetsANewTaskWithoutPolling) {
  auto remote = connect(R"({"type":"hello","name":"w","capabilities":[]})");
  EXPECT_TRUE(remote.peer->take("task.assign").empty());
  submit(R"({"type":"a"})");
  // Only the store's wake-up and the posted dispatch run: no timer is advanced.
  EXPECT_EQ(assignments(remote, 1).size(), 1u);
}

// Stands for a new generation of task_manager: the same tasks, its own wake-ups.
class NextGeneration final : public tasks::TaskService {
 public:
  explicit NextGeneration(std::shared_ptr<tasks::TaskService> inner) : inner_(std::move(inner)) {}
  Result<std::vector<tasks::Assignment>> claim(const std::string& a, const std::vector<std::string>& c,
                                               std::size_t m) override {
    auto claimed = inner_->claim(a, c, m);
    if (afterClaim) afterClaim(a);
    return claimed;
  }
  Status started(const std::string& t, const std::string& l) override { return inner_->started(t, l); }
  Status progress(const std::string& t, const std::string& l, const std::string& p) override {
    return inner_->progress(t, l, p);
  }
  Status succeeded(const std::string& t, const std::string& l, const std::string& r) override {
    return inner_->succeeded(t, l, r);
  }
  Status failed(const std::string& t, const std::string& l, const std::string& e, tasks::Retry r) override {
    return inner_->failed(t, l, e, r);
  }
  Status released(const std::string& t, const std::string& l, const std::string& r) override {
    return inner_->released(t, l, r);
  }
  std::unique_ptr<Subscription> onWork(std::function<void()> callback) override {
    ++subscriptions;
    return inner_->onWork(std::move(callback));
  }
  // Runs after each claim, with the agent it was for.
  std::function<void(const std::string& agentId)> afterClaim;
  Result<std::vector<tasks::QueueDepth>> depth() override { return inner_->depth(); }
  std::vector<Status> finish(const std::vector<Report>& reports) override { return inner_->finish(reports); }
  std::atomic<int> subscriptions{0};

 private:
  std::shared_ptr<tasks::TaskService> inner_;
};

TEST_F(OrchestratorTest, WakeUpsFollowTaskManagerAcrossAReplacement) {
  auto remote = connect(R"({"type":"hello","name":"w"})");
  auto next = std::make_shared<NextGeneration>(lookup<tasks::TaskService>(*tasks_));
  // task_manager swapped: the orchestrator drops its wake-up subscription and takes one from the new
  // generation.
  orchestrator_->provideFake<tasks::TaskService>(next, "task_manager");
  EXPECT_EQ(next->subscriptions.load(), 1);
  submit(R"({"type":"a"})");
  EXPECT_EQ(assignments(remote, 1).size(), 1u);
}

TEST_F(OrchestratorTest, ConcurrencyLimitIsRespected) {
  for (int i = 0; i < 5; ++i) submit(R"({"type":"a"})");
  auto remote = connect(R"({"type":"hello","name":"w","max_concurrency":2})");
  auto assigned = assignments(remote, 2);
  EXPECT_EQ(assigned.size(), 2u);
  until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_TRUE(remote.peer->take("task.assign").empty()) << "two in flight is the limit";
  remote.session->onMessage(result(assigned[0], "succeeded"));
  EXPECT_EQ(assignments(remote, 1).size(), 1u) << "a freed slot is filled";
}

TEST_F(OrchestratorTest, DispatchPrefersTheAgentWhoseRecentTasksFinishedSooner) {
  // fast: its one task took 10 ms from assignment to result.
  auto fast = connect(R"({"type":"hello","name":"fast","max_concurrency":4})");
  submit(R"({"type":"a"})");
  auto first = assignments(fast, 1);
  ASSERT_EQ(first.size(), 1u);
  testClock().advance(std::chrono::milliseconds(10));
  fast.session->onMessage(result(first[0], "succeeded"));
  // slow: not measured yet, so it is tried first; its task takes a second.
  auto slow = connect(R"({"type":"hello","name":"slow","max_concurrency":4})");
  submit(R"({"type":"a"})");
  auto tried = assignments(slow, 1);
  ASSERT_EQ(tried.size(), 1u) << "an agent with no time yet is tried";
  EXPECT_TRUE(fast.peer->take("task.assign").empty());
  testClock().advance(std::chrono::milliseconds(1000));
  slow.session->onMessage(result(tried[0], "succeeded"));
  // Idle both: the next four go to fast, one by one, for (held + 1) × 10 ms
  // stays under 1 × 1000 ms.
  for (int i = 0; i < 4; ++i) {
    submit(R"({"type":"a"})");
    ASSERT_EQ(assignments(fast, 1).size(), 1u) << "task " << i;
  }
  until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_TRUE(slow.peer->take("task.assign").empty())
      << "the slower agent idles while the faster one has room";
  // fast is full (4 of 4): the next one goes to slow.
  submit(R"({"type":"a"})");
  EXPECT_EQ(assignments(slow, 1).size(), 1u);

  // An agent whose only task failed comes after one that succeeded, however
  // slowly: failing fast is not being fast.
  auto broken = connect(R"({"type":"hello","name":"broken","max_concurrency":4})");
  submit(R"({"type":"a","max_attempts":1})");
  auto tried2 = assignments(broken, 1);
  ASSERT_EQ(tried2.size(), 1u) << "an agent nothing ended on yet is tried";
  broken.session->onMessage(result(tried2[0], "failed", R"(,"error":"no")"));
  submit(R"({"type":"a"})");
  EXPECT_EQ(assignments(slow, 1).size(), 1u) << "slow, (1 + 1) × 1000 ms, before broken";
  until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_TRUE(broken.peer->take("task.assign").empty());
}

TEST_F(OrchestratorTest, MissedHeartbeatsPutTheAgentOfflineAndItsTasksBack) {
  std::string id = submit(R"({"type":"a","max_attempts":5})");
  auto silent = connect(R"({"type":"hello","name":"silent"})");
  auto assigned = assignments(silent, 1);
  ASSERT_EQ(assigned.size(), 1u);
  testClock().advance(std::chrono::milliseconds(200));  // 2 × 100 ms heartbeats: not yet missed
  sweep();
  EXPECT_FALSE(silent.peer->closed());
  EXPECT_EQ(agent(silent.id).at("status").as_string(), "busy");
  testClock().advance(std::chrono::milliseconds(1));
  sweep();
  EXPECT_TRUE(silent.peer->closed());
  EXPECT_EQ(silent.peer->closeCode(), 4000);
  EXPECT_EQ(agent(silent.id).at("status").as_string(), "offline");
  auto healthy = connect(R"({"type":"hello","name":"healthy"})");
  auto again = assignments(healthy, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].at("task").as_object().at("id").as_string(), id);
  // The silent agent's late result is refused: the task finishes once.
  silent.session->onMessage(result(assigned[0], "succeeded"));
  healthy.session->onMessage(result(again[0], "succeeded"));
  until([&] { return task(id).at("status").as_string() == "succeeded"; });
  EXPECT_EQ(task(id).at("agent").as_string(), healthy.id);
  EXPECT_EQ(task(id).at("stale_reports").as_int64(), 1);
}

TEST_F(OrchestratorTest, CircuitBreakerOpensAfterConsecutiveFailuresThenProbes) {
  for (int i = 0; i < 4; ++i) submit(R"({"type":"a","max_attempts":10})");
  auto flaky = connect(R"({"type":"hello","name":"flaky","max_concurrency":1})");
  for (int i = 0; i < 2; ++i) {
    auto assigned = assignments(flaky, 1);
    ASSERT_EQ(assigned.size(), 1u);
    flaky.session->onMessage(result(assigned[0], "failed", R"(,"error":"boom")"));
    until([&] { return !flaky.peer->take("task.ack").empty(); });
  }
  EXPECT_EQ(agent(flaky.id).at("circuit_breaker").as_object().at("state").as_string(), "open");
  EXPECT_EQ(agent(flaky.id).at("status").as_string(), "failed");
  // The agent keeps its heartbeats while open_for (600 ms) passes.
  auto tick = [&](std::chrono::milliseconds by) {
    flaky.session->onMessage(R"({"type":"heartbeat"})");
    ASSERT_TRUE(until([&] { return !flaky.peer->take("heartbeat.ack").empty(); }));
    testClock().advance(by);
    sweep();
  };
  for (auto by : {150, 150, 150, 149}) tick(std::chrono::milliseconds(by));
  EXPECT_TRUE(flaky.peer->take("task.assign").empty()) << "no work while the breaker is open";
  EXPECT_EQ(agent(flaky.id).at("circuit_breaker").as_object().at("state").as_string(), "open");
  tick(std::chrono::milliseconds(1));
  auto probe = assignments(flaky, 1);
  ASSERT_EQ(probe.size(), 1u) << "one probe when half open: " << json::serialize(agent(flaky.id));
  flaky.session->onMessage(result(probe[0], "succeeded"));
  until(
      [&] { return agent(flaky.id).at("circuit_breaker").as_object().at("state").as_string() == "closed"; });
  EXPECT_EQ(agent(flaky.id).at("circuit_breaker").as_object().at("state").as_string(), "closed");
}

TEST_F(OrchestratorTest, DrainStopsNewAssignmentsAndTellsTheAgent) {
  auto remote = connect(R"({"type":"hello","name":"w"})");
  http::Request request;
  request.params["id"] = remote.id;
  auto drained = serve(*routes_, "agents.drain", request);
  EXPECT_EQ(drained.status, 200);
  EXPECT_TRUE(until([&] { return !remote.peer->take("drain").empty(); }));
  submit(R"({"type":"a"})");
  until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_TRUE(remote.peer->take("task.assign").empty());
  EXPECT_EQ(agent(remote.id).at("status").as_string(), "draining");
}

TEST_F(OrchestratorTest, RestRegistersValidatesAndDeletesAgents) {
  http::Request create;
  create.body = R"({"name":"builder","capabilities":["go"],"max_concurrency":3})";
  auto created = serve(*routes_, "agents.create", create);
  ASSERT_EQ(created.status, 201) << created.body;
  auto createdBody = json::parse(created.body).as_object();
  std::string id(createdBody.at("id").as_string());
  std::string secret(createdBody.at("secret").as_string());
  EXPECT_EQ(secret.size(), 64u) << "32 random bytes, hex";
  EXPECT_FALSE(agent(id).contains("secret")) << "shown once, in the 201";
  EXPECT_EQ(agent(id).at("status").as_string(), "offline");
  http::Request bad;
  bad.body = R"({"name":"","max_concurrency":0,"colour":"red"})";
  auto refused = serve(*routes_, "agents.create", bad);
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(json::parse(refused.body).as_object().at("errors").as_array().size(), 3u);
  // A registered agent connects under its id.
  auto remote = connect(R"({"type":"hello","name":"builder","agent_id":")" + id + R"(","secret":")" + secret +
                        R"(","capabilities":["go"]})");
  EXPECT_EQ(remote.id, id);
  EXPECT_EQ(agent(id).at("status").as_string(), "idle");
  http::Request list;
  list.query = {{"status", "idle"}};
  auto listed = serve(*routes_, "agents.list", list);
  EXPECT_EQ(json::parse(listed.body).as_object().at("items").as_array().size(), 1u);
  http::Request remove;
  remove.params["id"] = id;
  EXPECT_EQ(serve(*routes_, "agents.delete", remove).status, 204);
  EXPECT_TRUE(remote.peer->closed());
  EXPECT_EQ(serve(*routes_, "agents.get", remove).status, 404);
  auto status = serve(*routes_, "coordination.status", {});
  EXPECT_EQ(status.status, 200);
  EXPECT_TRUE(json::parse(status.body).as_object().contains("agents_by_status"));
}

TEST_F(OrchestratorTest, BadMessagesGetAnErrorAndChangeNothing) {
  auto remote = connect(R"({"type":"hello","name":"w"})");
  remote.session->onMessage("not json");
  remote.session->onMessage(R"({"type":"task.result"})");
  remote.session->onMessage(R"({"type":"nonsense"})");
  std::vector<json::object> errors;
  until([&] {
    for (auto& e : remote.peer->take("error")) errors.push_back(e);
    return errors.size() >= 3;
  });
  EXPECT_EQ(errors.size(), 3u);
  EXPECT_FALSE(remote.peer->closed());
  auto bad = std::make_shared<RecordingPeer>();
  auto session = routes_->openWebSocket("agents.connect", {}, bad);
  ASSERT_TRUE(session.ok());
  (*session)->onMessage(R"({"type":"hello","capabilities":["Not Valid"]})");
  EXPECT_TRUE(until([&] { return bad->closed(); }));
  EXPECT_EQ(bad->closeCode(), 1008);
}

// Issue 14: an agent key (principal "agent:<name>") speaks for that agent only:
// it registers or resumes the agent of its name, never another one, even with
// that agent's secret; other principals (admin keys, no auth) are not bound.
TEST_F(OrchestratorTest, AnAgentKeyRegistersAndResumesOnlyTheAgentOfItsName) {
  auto alpha = connect(R"({"type":"hello","name":"alpha","capabilities":["python"]})", "agent:alpha");
  ASSERT_FALSE(alpha.id.empty()) << "an agent key registers the agent of its name";
  auto other = refusedHello(R"({"type":"hello","name":"beta","capabilities":["python"]})", "agent:alpha");
  EXPECT_EQ(other.at("reason").as_string(), "bad_secret") << json::serialize(other);
  EXPECT_NE(std::string(other.at("message").as_string()).find("alpha"), std::string::npos);

  auto beta = connect(R"({"type":"hello","name":"beta","capabilities":["python"]})", "agent:beta");
  // With beta's own id and secret, alpha's key still cannot take beta over.
  auto takeover = refusedHello(
      R"({"type":"hello","name":"alpha","agent_id":")" + beta.id + R"(","secret":")" + beta.secret + R"("})",
      "agent:alpha");
  EXPECT_EQ(takeover.at("reason").as_string(), "bad_secret") << json::serialize(takeover);
  EXPECT_FALSE(beta.peer->closed()) << "the refused takeover leaves beta connected";
  EXPECT_EQ(agent(beta.id).at("name").as_string(), "beta");

  // An operator's key is not bound to a name.
  auto any = connect(R"({"type":"hello","name":"gamma"})", "key:0123456789abcdef");
  EXPECT_FALSE(any.id.empty());
}

// hive.tenancy/1 as security_manager answers it: "key:<tenant>" is of that tenant.
class TenantOfKey final : public tenancy::Tenancy {
 public:
  tenancy::Scope scopeOf(std::string_view principal) override {
    if (principal.rfind("key:", 0) == 0) return {std::string(principal.substr(4)), false};
    if (principal == "admin") return tenancy::Scope::everything();
    return {};
  }
};

// Issue 14: an agent belongs to the tenant of the key that registered it and
// runs that tenant's tasks only; a key of another tenant cannot resume it.
TEST_F(OrchestratorTest, AnAgentRunsOnlyItsTenantsTasksAndAnotherTenantsKeyCannotResumeIt) {
  auto tenancy = std::make_shared<TenantOfKey>();
  tasks_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  orchestrator_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  auto acme = connect(R"({"type":"hello","name":"acme-1","capabilities":["python"],"max_concurrency":4})",
                      "key:acme");
  auto plain = connect(R"({"type":"hello","name":"plain-1","capabilities":["python"],"max_concurrency":4})");
  ASSERT_FALSE(acme.id.empty());
  EXPECT_EQ(agent(acme.id, "admin").at("tenant").as_string(), "acme");
  EXPECT_EQ(agent(acme.id, "key:acme").at("id").as_string(), acme.id);
  EXPECT_FALSE(agent(plain.id).contains("tenant")) << "the default tenant's agent";
  // Another tenant's agent is not found, listed, changed or drained.
  for (const char* route : {"agents.get", "agents.drain", "agents.delete"}) {
    http::Request request = as("key:globex");
    request.params["id"] = acme.id;
    EXPECT_EQ(serve(*routes_, route, request).status, 404) << route;
  }
  http::Request listing = as("key:globex");
  EXPECT_EQ(serve(*routes_, "agents.list", listing).body.find(acme.id), std::string::npos);
  listing.principal = "key:acme";
  EXPECT_NE(serve(*routes_, "agents.list", listing).body.find(acme.id), std::string::npos);
  EXPECT_EQ(serve(*routes_, "coordination.status", as("key:acme")).status, 403) << "it spans tenants";
  EXPECT_EQ(serve(*routes_, "coordination.status", as("admin")).status, 200);

  std::string acmeTask = submit(R"({"type":"a","capabilities":["python"]})", "key:acme");
  std::string globexTask = submit(R"({"type":"a","capabilities":["python"]})", "key:globex");
  std::string plainTask = submit(R"({"type":"a","capabilities":["python"]})");
  auto toAcme = assignments(acme, 1);
  auto toPlain = assignments(plain, 1);
  ASSERT_EQ(toAcme.size(), 1u);
  ASSERT_EQ(toPlain.size(), 1u);
  EXPECT_EQ(json::serialize(toAcme[0].at("task").as_object().at("id")), "\"" + acmeTask + "\"");
  EXPECT_EQ(json::serialize(toPlain[0].at("task").as_object().at("id")), "\"" + plainTask + "\"");
  EXPECT_FALSE(until(
      [&] { return !acme.peer->take("task.assign").empty() || !plain.peer->take("task.assign").empty(); },
      std::chrono::milliseconds(300)))
      << "globex's task waits for an agent of globex";
  EXPECT_EQ(task(globexTask, "key:globex").at("status").as_string(), "pending");

  // globex's key, with acme's agent id and secret, is refused; acme's stays connected.
  auto takeover = refusedHello(
      R"({"type":"hello","name":"acme-1","agent_id":")" + acme.id + R"(","secret":")" + acme.secret + R"("})",
      "key:globex");
  EXPECT_EQ(takeover.at("reason").as_string(), "bad_secret") << json::serialize(takeover);
  EXPECT_NE(std::string(takeover.at("message").as_string()).find("another tenant"), std::string::npos);
  EXPECT_FALSE(acme.peer->closed());
  auto globex = connect(R"({"type":"hello","name":"globex-1","capabilities":["python"]})", "key:globex");
  auto toGlobex = assignments(globex, 1);
  ASSERT_EQ(toGlobex.size(), 1u);
  EXPECT_EQ(toGlobex[0].at("task").as_object().at("id").as_string(), globexTask);
}

// Issue 11: `hello` with another agent's id (GET /api/v2/agents lists them)
// took the agent over. Now it needs the reconnect secret from `welcome`.
TEST_F(OrchestratorTest, ImpersonationIsRefusedAndTheVictimKeepsItsConnectionAndTasks) {
  auto victim = connect(R"({"type":"hello","name":"victim","capabilities":["python"]})");
  ASSERT_EQ(victim.secret.size(), 64u) << "welcome carries the reconnect secret";
  for (const std::string& attempt :
       {R"({"type":"hello","name":"evil","capabilities":["python","go"],"agent_id":")" + victim.id + "\"}",
        R"({"type":"hello","name":"evil","agent_id":")" + victim.id + R"(","secret":")" +
            std::string(64, '0') + "\"}",
        R"({"type":"hello","name":"evil","agent_id":")" + victim.id + R"(","secret":")" +
            victim.secret.substr(0, 63) + "\"}"}) {
    auto error = refusedHello(attempt);
    EXPECT_EQ(error.at("reason").as_string(), "bad_secret") << json::serialize(error);
    EXPECT_NE(std::string(error.at("message").as_string()).find(victim.id), std::string::npos);
    EXPECT_EQ(std::string(error.at("message").as_string()).find(victim.secret), std::string::npos);
  }
  EXPECT_FALSE(victim.peer->closed()) << "a refused impersonation does not kick the real agent";
  auto shown = agent(victim.id);
  EXPECT_EQ(shown.at("name").as_string(), "victim");
  EXPECT_EQ(shown.at("capabilities").as_array().size(), 1u);
  EXPECT_EQ(shown.at("status").as_string(), "idle");
  EXPECT_FALSE(shown.contains("secret_sha256")) << "the digest stays in the store";
  std::string id = submit(R"({"type":"a","capabilities":["python"],"payload":{"private":1}})");
  auto assigned = assignments(victim, 1);
  ASSERT_EQ(assigned.size(), 1u) << "the victim still gets its tasks";
  EXPECT_EQ(assigned[0].at("task").as_object().at("id").as_string(), id);

  // The real agent, reconnecting with its secret, comes back under its id; no new secret is issued.
  auto again = connect(R"({"type":"hello","name":"victim","capabilities":["python"],"agent_id":")" +
                       victim.id + R"(","secret":")" + victim.secret + "\"}");
  EXPECT_EQ(again.id, victim.id);
  EXPECT_TRUE(again.secret.empty());
  EXPECT_TRUE(victim.peer->closed()) << "the older connection of the same agent gives way";
}

// Issue 11: 10,000 hellos filled max_agents with records of agents that had
// left (kept 90 s for a reconnect) and every new agent was refused. Scaled
// down: max_agents 5.
TEST_F(OrchestratorTest, AgentsThatLeftDoNotLockNewOnesOut) {
  startOrchestrator({{"max_agents", "5"}});
  std::vector<Remote> gone;
  for (int i = 0; i < 5; ++i) {
    gone.push_back(connect(R"({"type":"hello","name":"flood"})"));
    ASSERT_FALSE(gone.back().id.empty());
    gone.back().session->onClose(1006);
  }
  until([] { return false; }, std::chrono::milliseconds(20));
  auto fresh = connect(R"({"type":"hello","name":"fresh"})");
  EXPECT_FALSE(fresh.id.empty()) << "a node full of agents that left still takes a new one";
  // The one that gave its place up can still come back (another place is freed for it).
  auto back = connect(R"({"type":"hello","name":"flood","agent_id":")" + gone[0].id + R"(","secret":")" +
                      gone[0].secret + "\"}");
  EXPECT_EQ(back.id, gone[0].id);
  // Five connected agents are the limit: the sixth is told so.
  std::vector<Remote> connected;
  for (int i = 0; i < 3; ++i) connected.push_back(connect(R"({"type":"hello","name":"busy"})"));
  auto error = refusedHello(R"({"type":"hello","name":"one-too-many"})");
  EXPECT_EQ(error.at("reason").as_string(), "full");
  EXPECT_NE(std::string(error.at("message").as_string()).find("max_agents"), std::string::npos);
}

TEST_F(OrchestratorTest, TheRegistryIsBoundedAndOfflineRecordsArePurgedAfterTheRetention) {
  startOrchestrator(
      {{"max_registered_agents", "3"}, {"agent_retention", "10s"}, {"heartbeat_interval", "10s"}});
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    http::Request create;
    create.body = R"({"name":"r)" + std::to_string(i) + "\"}";
    auto created = serve(*routes_, "agents.create", create);
    ASSERT_EQ(created.status, 201) << created.body;
    ids.emplace_back(json::parse(created.body).as_object().at("id").as_string());
  }
  http::Request create;
  create.body = R"({"name":"r3"})";
  auto full = serve(*routes_, "agents.create", create);
  EXPECT_EQ(full.status, 429) << full.body;
  EXPECT_NE(full.body.find("max_registered_agents"), std::string::npos) << full.body;
  auto error = refusedHello(R"({"type":"hello","name":"new"})");
  EXPECT_EQ(error.at("reason").as_string(), "full");

  // Within the retention, the records stay. (The store stamps them with the
  // wall clock, written just now.)
  testClock().set(plugin_common::nowMs());
  testClock().advance(std::chrono::seconds(9));
  sweep();
  for (const auto& id : ids) {
    http::Request get;
    get.params["id"] = id;
    EXPECT_EQ(serve(*routes_, "agents.get", get).status, 200) << id << " kept";
  }
  // Past the retention, the sweep deletes the records nobody connected to.
  testClock().advance(std::chrono::seconds(2));
  sweep();
  for (const auto& id : ids) {
    http::Request get;
    get.params["id"] = id;
    EXPECT_EQ(serve(*routes_, "agents.get", get).status, 404) << id << " purged";
  }
  auto connected = connect(R"({"type":"hello","name":"new"})");
  EXPECT_FALSE(connected.id.empty()) << "room again";
  // A connected agent is never purged, however long it stays (its heartbeats
  // allow 20 s of silence).
  testClock().advance(std::chrono::seconds(15));
  sweep();
  EXPECT_EQ(agent(connected.id).at("status").as_string(), "idle");
}

TEST_F(OrchestratorTest, TheAgentListIsPaginatedLikeTheTaskList) {
  std::set<std::string> registered;
  for (int i = 0; i < 5; ++i) {
    http::Request create;
    create.body = R"({"name":"p)" + std::to_string(i) + "\"}";
    auto created = serve(*routes_, "agents.create", create);
    ASSERT_EQ(created.status, 201);
    registered.emplace(json::parse(created.body).as_object().at("id").as_string());
  }
  auto first = listAgents({});
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(json::parse(first.body).as_object().at("items").as_array().size(), 5u) << "default limit 100";
  EXPECT_FALSE(json::parse(first.body).as_object().contains("next_cursor"));
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    std::vector<std::pair<std::string, std::string>> query = {{"limit", "2"}};
    if (!cursor.empty()) query.emplace_back("cursor", cursor);
    auto page = listAgents(query);
    ASSERT_EQ(page.status, 200) << page.body;
    auto body = json::parse(page.body).as_object();
    EXPECT_LE(body.at("items").as_array().size(), 2u);
    for (const auto& item : body.at("items").as_array())
      EXPECT_TRUE(seen.emplace(item.as_object().at("id").as_string()).second) << "no agent twice";
    cursor = body.contains("next_cursor") ? std::string(body.at("next_cursor").as_string()) : "";
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(seen, registered);
  EXPECT_EQ(pages, 3);
  for (const char* bad : {"0", "1001", "x", ""}) EXPECT_EQ(listAgents({{"limit", bad}}).status, 422);
}

// Issue 11: an agent that never reports hoarded its tasks for their whole timeout.
TEST_F(OrchestratorTest, AnAgentThatNeverAcceptsHoldsNoTaskPastTheClaimWindow) {
  startOrchestrator({{"claim_window", "200ms"}, {"heartbeat_interval", "10s"}});
  std::string first = submit(R"({"type":"a","max_attempts":5})");
  auto mute = connect(R"({"type":"hello","name":"mute","max_concurrency":8})");
  auto assigned = assignments(mute, 1);
  ASSERT_EQ(assigned.size(), 1u);
  sweep();
  testClock().advance(std::chrono::milliseconds(199));
  sweep();
  EXPECT_EQ(task(first).at("status").as_string(), "assigned") << "within the claim window it is the agent's";
  testClock().advance(std::chrono::milliseconds(1));
  sweep();
  auto released = task(first);
  EXPECT_EQ(released.at("status").as_string(), "pending") << json::serialize(released);
  EXPECT_NE(std::string(released.at("error").as_string()).find("claim window"), std::string::npos);
  EXPECT_TRUE(agent(mute.id).at("in_flight").as_array().empty());
  // Held: no more assignments until it answers one.
  until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_TRUE(mute.peer->take("task.assign").empty());
  // Another agent that does accept gets it and keeps it past the window.
  auto prompt = connect(R"({"type":"hello","name":"prompt"})");
  auto again = assignments(prompt, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].at("task").as_object().at("id").as_string(), first);
  prompt.session->onMessage(accept(again[0]));
  EXPECT_TRUE(until([&] { return task(first).at("status").as_string() == "running"; }));
  testClock().advance(std::chrono::milliseconds(250));
  sweep();
  EXPECT_EQ(task(first).at("status").as_string(), "running");
  EXPECT_EQ(task(first).at("agent").as_string(), prompt.id);
  // The mute agent's late accept is refused, and lifts its hold.
  mute.session->onMessage(accept(assigned[0]));
  std::vector<json::object> acks;
  ASSERT_TRUE(until([&] { return !(acks = mute.peer->take("task.ack")).empty(); }));
  EXPECT_FALSE(acks[0].at("accepted").as_bool());
  EXPECT_EQ(acks[0].at("report").as_string(), "accept");
  submit(R"({"type":"a"})");
  EXPECT_EQ(assignments(mute, 1).size(), 1u) << "it answers again: it gets work again";
}

TEST_F(OrchestratorTest, ClosingAnAgentPutsItsUnacceptedTasksBackAtOnce) {
  std::string accepted = submit(R"({"type":"a","priority":9})");
  std::string unanswered = submit(R"({"type":"a","priority":1})");
  auto slow = connect(R"({"type":"hello","name":"slow","max_concurrency":2})");
  auto assigned = assignments(slow, 2);
  ASSERT_EQ(assigned.size(), 2u);
  ASSERT_EQ(assigned[0].at("task").as_object().at("id").as_string(), accepted);
  slow.session->onMessage(accept(assigned[0]));
  EXPECT_TRUE(until([&] { return task(accepted).at("status").as_string() == "running"; }));
  EXPECT_EQ(task(unanswered).at("status").as_string(), "assigned");
  slow.session->onClose(1006);  // e.g. closed by the API as a slow reader
  // No sweep, no timer: the close itself puts the unanswered task back.
  EXPECT_TRUE(until([&] { return task(unanswered).at("status").as_string() == "pending"; }));
  EXPECT_EQ(task(accepted).at("status").as_string(), "running") << "kept for a reconnect";
}

// Issue 11: a result sent again (its ack lost with the connection) was refused
// as stale, like a late result from an agent that lost its lease.
TEST_F(OrchestratorTest, TheSameResultSentTwiceIsAcknowledgedAsADuplicate) {
  std::string id = submit(R"({"type":"a"})");
  auto remote = connect(R"({"type":"hello","name":"w"})");
  auto assigned = assignments(remote, 1);
  ASSERT_EQ(assigned.size(), 1u);
  std::vector<json::object> acks;
  auto nextAck = [&] {
    acks.clear();
    EXPECT_TRUE(until([&] { return !(acks = remote.peer->take("task.ack")).empty(); }));
    return acks.empty() ? json::object{} : acks[0];
  };
  remote.session->onMessage(result(assigned[0], "succeeded", R"(,"result":{"n":1})"));
  auto firstAck = nextAck();
  EXPECT_TRUE(firstAck.at("accepted").as_bool());
  EXPECT_FALSE(firstAck.contains("duplicate"));
  remote.session->onMessage(result(assigned[0], "succeeded", R"(,"result":{"n":1})"));
  auto second = nextAck();
  EXPECT_TRUE(second.at("accepted").as_bool()) << json::serialize(second);
  EXPECT_TRUE(second.contains("duplicate") && second.at("duplicate").as_bool());
  EXPECT_EQ(task(id).at("stale_reports").as_int64(), 0) << "a retransmission is not a stale report";
  EXPECT_EQ(agent(remote.id).at("succeeded").as_int64(), 1) << "counted once";
  // Another result for the same lease is not a retransmission: refused.
  remote.session->onMessage(result(assigned[0], "succeeded", R"(,"result":{"n":2})"));
  auto other = nextAck();
  EXPECT_FALSE(other.at("accepted").as_bool());
  EXPECT_EQ(task(id).at("stale_reports").as_int64(), 1);
  EXPECT_EQ(task(id).at("result").as_object().at("n").as_int64(), 1);
}

// Issue 11: a timed-out task said only "gave up after 1 attempts".
TEST_F(OrchestratorTest, ATimedOutTaskSaysWhyItsAttemptEnded) {
  startOrchestrator({{"heartbeat_interval", "10s"}});
  std::string id = submit(R"({"type":"a","timeout_seconds":1,"max_attempts":1})");
  auto slow = connect(R"({"type":"hello","name":"slow"})");
  auto assigned = assignments(slow, 1);
  ASSERT_EQ(assigned.size(), 1u);
  slow.session->onMessage(accept(assigned[0]));
  EXPECT_TRUE(until([&] { return task(id).at("status").as_string() == "running"; }));
  // Whoever sees the expired lease first (a claim by the next agent, or the sweep) says the same.
  // The lease is task_manager's, on its own clock (the wall clock here): waited for, bounded.
  auto next = connect(R"({"type":"hello","name":"next"})");
  EXPECT_TRUE(until(
      [&] {
        sweep();
        return task(id).at("status").as_string() == "dead";
      },
      std::chrono::seconds(10)));
  auto dead = task(id);
  EXPECT_EQ(dead.at("status").as_string(), "dead");
  EXPECT_EQ(
      dead.at("error").as_string(),
      "gave up after 1 attempt; last error: timed out after 1s (attempt 1 of 1, agent " + slow.id + ")");
}

// Bytes in = bytes out across the agent protocol: the payload reaches the
// agent as the client wrote it, a result with a number Hive cannot keep is
// refused naming its place (and changes nothing), and the agent's own result
// text is what the task then shows.
TEST_F(OrchestratorTest, PayloadsAndResultsCrossTheAgentProtocolByteForByte) {
  const std::string payload = R"({"ratio": 1.0, "big": 18446744073709551615, "e": 1E2})";
  std::string id = submit(R"({"type":"a","capabilities":["python"],"payload":)" + payload + "}");
  auto remote = connect(R"({"type":"hello","name":"py","capabilities":["python"]})");
  ASSERT_FALSE(remote.id.empty());
  auto assigned = assignments(remote, 1);
  ASSERT_EQ(assigned.size(), 1u);
  bool exact = false;
  for (const auto& text : remote.peer->texts())
    if (text.find("\"task.assign\"") != std::string::npos)
      exact = text.find(R"("payload":)" + payload) != std::string::npos;
  EXPECT_TRUE(exact) << "task.assign does not carry the payload as sent";

  remote.session->onMessage(result(assigned[0], "succeeded", R"(,"result":{"v":[1,-1e400]})"));
  std::vector<json::object> acks;
  ASSERT_TRUE(until([&] { return !(acks = remote.peer->take("task.ack")).empty(); }));
  EXPECT_FALSE(acks[0].at("accepted").as_bool());
  EXPECT_NE(std::string(acks[0].at("reason").as_string()).find("/result/v/1"), std::string::npos)
      << json::serialize(acks[0]);
  EXPECT_NE(std::string(task(id).at("status").as_string()), "succeeded")
      << "a refused result changes nothing";

  const std::string good = R"({"v": 2.50, "n": 12345678901234567890})";
  remote.session->onMessage(result(assigned[0], "succeeded", R"(,"result":)" + good));
  std::string shown;
  ASSERT_TRUE(until([&] {
    return (shown = taskText(id)).find(R"("status":"succeeded")") != std::string::npos;
  })) << shown;
  EXPECT_NE(shown.find(R"("result":)" + good), std::string::npos) << shown;
}

// Issue 12: cancelling a running task did not reach the agent that ran it.
// Now the agent gets task.cancel with the lease it holds, its slot is free at
// once, and what it still sends about the task is refused: the task ends
// cancelled once, with no later transition and no retry.
TEST_F(OrchestratorTest, CancellingARunningTaskSendsTaskCancelAndRefusesItsLateResult) {
  std::string id = submit(R"({"type":"a","max_attempts":3})");
  auto remote = connect(R"({"type":"hello","name":"w","max_concurrency":1})");
  auto assigned = assignments(remote, 1);
  ASSERT_EQ(assigned.size(), 1u);
  remote.session->onMessage(accept(assigned[0]));
  ASSERT_TRUE(until([&] { return task(id).at("status").as_string() == "running"; }));

  auto cancelled = cancel(id);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  std::vector<json::object> cancels;
  ASSERT_TRUE(until([&] { return !(cancels = remote.peer->take("task.cancel")).empty(); }))
      << "the agent never heard of the cancellation";
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].at("task_id").as_string(), id);
  EXPECT_EQ(cancels[0].at("lease_token"), assigned[0].at("lease_token"));
  EXPECT_TRUE(until([&] { return agent(remote.id).at("in_flight").as_array().empty(); }))
      << "the cancelled task still takes the agent's slot";
  // The log line about it names the task's trace (task_manager gave it one).
  const std::string trace = std::string(task(id).at("traceparent").as_string()).substr(3, 32);
  auto lines = orchestrator_->logLines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.find("task " + id + " cancelled: task.cancel sent") != std::string::npos &&
           line.find("trace_id=" + trace) != std::string::npos;
  })) << ::testing::PrintToString(lines);

  // The agent's slot is free: the next task goes to it although the cancelled
  // one was never reported.
  std::string next = submit(R"({"type":"a"})");
  auto more = assignments(remote, 1);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].at("task").as_object().at("id").as_string(), next);

  // The result it sends anyway (it had finished already) is refused, and changes nothing.
  remote.session->onMessage(result(assigned[0], "succeeded", R"(,"result":{"late":true})"));
  remote.session->onMessage(result(assigned[0], "failed", R"(,"error":"stopped")"));
  std::vector<json::object> acks;
  ASSERT_TRUE(until([&] {
    for (auto& ack : remote.peer->take("task.ack")) acks.push_back(ack);
    return acks.size() >= 2;
  }));
  for (const auto& ack : acks) EXPECT_FALSE(ack.at("accepted").as_bool()) << json::serialize(ack);
  sweep();
  auto shown = task(id);
  EXPECT_EQ(shown.at("status").as_string(), "cancelled");
  EXPECT_EQ(shown.at("stale_reports").as_int64(), 2);
  auto types = eventsOf(id);
  EXPECT_EQ(std::count(types.begin(), types.end(), "task.cancelled"), 1);
  for (const char* never : {"task.succeeded", "task.failed", "task.retrying", "task.dead", "task.pending"})
    EXPECT_EQ(std::count(types.begin(), types.end(), never), 0) << never;
  EXPECT_EQ(agent(remote.id).at("failed").as_int64(), 0) << "a cancellation is not the agent's failure";
}

// What the kernel's hive.generation/1 keeps for a plugin: objects its
// generations share by name (the pin is not needed here).
class SharedObjects final : public Generation {
 public:
  std::shared_ptr<const void> pin() override { return nullptr; }
  void* share(std::string_view name, std::string_view type, void* candidate) override {
    std::lock_guard lock(mutex_);
    auto [it, added] = entries_.try_emplace(std::string(name), Entry{std::string(type), candidate, 0});
    if (!added && it->second.type != type) return nullptr;
    ++it->second.holders;
    return it->second.object;
  }
  bool unshare(std::string_view name, void* object) override {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(name));
    if (it == entries_.end() || it->second.object != object || --it->second.holders > 0) return false;
    entries_.erase(it);
    return true;
  }

 private:
  struct Entry {
    std::string type;
    void* object = nullptr;
    std::size_t holders = 0;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

// Issue 13: with agents connected, a swap of the orchestrator waited for their
// WebSockets (the api holds a lease on the provider for each) until the drain
// deadline, then failed. The next generation, once configured (before the
// kernel waits for leases), has the serving one hand its agents over: their
// sockets close with 1001, new sessions are refused, unanswered assignments go
// back to the queue and the records are written. A swap that fails (the staged
// generation is destroyed) gives the serving one its sessions back.
TEST_F(OrchestratorTest, AStagedGenerationTakesTheAgentsOverBeforeTheSwapWaitsForThem) {
  auto generations = std::make_shared<SharedObjects>();
  startOrchestrator({}, Build::kLinked, generations);
  std::string id = submit(R"({"type":"a"})");
  auto remote = connect(R"({"type":"hello","name":"w","max_concurrency":1})");
  ASSERT_EQ(assignments(remote, 1).size(), 1u);

  auto next = PluginHarness::create<ClockedOrchestrator>("orchestrator", "1.0.0");
  next->provideFake<Generation>(generations, "kernel");
  // The recording peer never reports its close: the wait for it is cut short.
  next->setConfig(hive::testing::configFromPairs({{"handover_wait", "50ms"}}));
  ASSERT_FALSE(next->configure().hasErrors());
  EXPECT_TRUE(remote.peer->closed());
  EXPECT_EQ(remote.peer->closeCode(), 1001);
  auto refused = routes_->openWebSocket("agents.connect", {}, std::make_shared<RecordingPeer>());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << "the api answers 503; the agent retries";
  EXPECT_TRUE(until([&] { return task(id).at("status").as_string() == "pending"; }))
      << "its unanswered assignment is back in the queue";
  EXPECT_EQ(agent(remote.id).at("status").as_string(), "offline");

  next.reset();  // the swap failed: the staged generation goes
  auto back = connect(R"({"type":"hello","name":"w","agent_id":")" + remote.id + R"(","secret":")" +
                      remote.secret + "\"}");
  EXPECT_EQ(back.id, remote.id) << "the serving generation takes sessions again";
  EXPECT_EQ(assignments(back, 1).size(), 1u);
}

// A dispatch round claims for its candidates one after another; an agent that
// left meanwhile is not claimed for. It was: the task went to it, came back
// ("disconnected before the assignment") and lost an attempt, once per stale
// candidate. Two agents connect; the round claims in id order, the first can
// do nothing, the second the task; `leave` runs after the first claim, before
// the second.
void OrchestratorTest::expectNoClaimForAgentsLeavingMidRound(
    const std::function<void(const Remote&, const Remote&)>& leave) {
  auto one = connect(R"({"type":"hello","name":"one"})");
  auto two = connect(R"({"type":"hello","name":"two"})");
  const Remote& first = one.id < two.id ? one : two;
  const Remote& second = one.id < two.id ? two : one;
  http::Request patch;
  patch.params["id"] = second.id;
  patch.body = R"({"capabilities":["y"]})";
  ASSERT_EQ(serve(*routes_, "agents.patch", patch).status, 200);
  auto tasks = std::make_shared<NextGeneration>(lookup<tasks::TaskService>(*tasks_));
  orchestrator_->provideFake<tasks::TaskService>(tasks, "task_manager");
  // The dispatches asked for so far (the patch, the new provider) run first:
  // the round under test is the one the submission wakes.
  orchestrator_->runPending();
  tasks_->runPending();
  bool left = false;
  tasks->afterClaim = [&](const std::string& agentId) {
    if (agentId != first.id || std::exchange(left, true)) return;
    leave(first, second);
  };
  std::string id = submit(R"({"type":"a","capabilities":["y"],"max_attempts":3})");
  ASSERT_TRUE(until([&] { return left; }));
  sweep();
  auto shown = task(id);
  EXPECT_EQ(shown.at("status").as_string(), "pending") << json::serialize(shown);
  EXPECT_EQ(shown.at("attempts").as_int64(), 0) << "no attempt lost to an agent that had left";
  EXPECT_TRUE(second.peer->take("task.assign").empty());
  tasks->afterClaim = nullptr;
}

TEST_F(OrchestratorTest, ADispatchRoundDoesNotClaimForAnAgentThatLeftDuringIt) {
  // Here: every agent, handed over to a staged generation.
  auto generations = std::make_shared<SharedObjects>();
  startOrchestrator({}, Build::kLinked, generations);
  auto next = PluginHarness::create<ClockedOrchestrator>("orchestrator", "1.0.0");
  next->provideFake<Generation>(generations, "kernel");
  next->setConfig(hive::testing::configFromPairs({{"handover_wait", "10ms"}}));
  expectNoClaimForAgentsLeavingMidRound(
      [&](const Remote&, const Remote&) { ASSERT_FALSE(next->configure().hasErrors()); });
}

// The same with an ordinary close: the session's end is processed later, in
// order with its messages, but the round stops claiming for the agent at once.
TEST_F(OrchestratorTest, ADispatchRoundDoesNotClaimForAnAgentWhoseSocketClosedDuringIt) {
  expectNoClaimForAgentsLeavingMidRound([](const Remote& first, const Remote& second) {
    first.session->onClose(1006);
    second.session->onClose(1006);
  });
}

// Issue 13: the cancellation watch follows hive.bus/1 (hive::ServiceFollower).
// After the bus is replaced, a cancellation published on the new one reaches
// the agent; the old one's subscription is gone.
TEST_F(OrchestratorTest, CancellationsFollowTheBusAcrossAReplacement) {
  std::string id = submit(R"({"type":"a"})");
  auto remote = connect(R"({"type":"hello","name":"w","max_concurrency":1})");
  auto assigned = assignments(remote, 1);
  ASSERT_EQ(assigned.size(), 1u);
  auto next = std::make_shared<hive::testing::MemoryBus>();
  orchestrator_->provideFake<bus::Bus>(next, "communication_engine");
  ASSERT_TRUE(next->publish("tasks", R"({"event":"task.cancelled","task":{"id":")" + id + R"("}})").ok());
  ASSERT_TRUE(next->drain());
  std::vector<json::object> cancels;
  ASSERT_TRUE(until([&] { return !(cancels = remote.peer->take("task.cancel")).empty(); }))
      << "the cancellation on the new bus was not heard";
  EXPECT_EQ(cancels[0].at("task_id").as_string(), id);
}

// The cancellation of a task that is not handed out, or an event that merely
// quotes "task.cancelled", sends nothing to the agent.
TEST_F(OrchestratorTest, ACancellationReachesOnlyTheAgentHoldingTheTask) {
  auto remote = connect(R"({"type":"hello","name":"w","capabilities":["x"]})");
  std::string waiting = submit(R"({"type":"a","capabilities":["y"]})");
  std::string mine = submit(R"({"type":"task.cancelled","capabilities":["x"]})");
  auto assigned = assignments(remote, 1);
  ASSERT_EQ(assigned.size(), 1u);
  remote.session->onMessage(R"({"type":"task.progress","task_id":")" + mine + R"(","lease_token":)" +
                            json::serialize(assigned[0].at("lease_token")) +
                            R"(,"progress":{"event":"task.cancelled"}})");
  ASSERT_EQ(cancel(waiting).status, 200);
  sweep();
  EXPECT_TRUE(remote.peer->take("task.cancel").empty());
  EXPECT_EQ(task(mine).at("status").as_string(), "running");
  ASSERT_EQ(cancel(mine).status, 200);
  std::vector<json::object> cancels;
  ASSERT_TRUE(until([&] { return !(cancels = remote.peer->take("task.cancel")).empty(); }));
  EXPECT_EQ(cancels[0].at("task_id").as_string(), mine);
}

// Issue 12: an agent that does not read (its WebSocket send queue is full)
// is back-pressured: what it was sent waits, in order; it gets no new task
// meanwhile, the tasks go to others, and its connection stays open. When it
// reads again, it gets everything in order and takes tasks again.
TEST_F(OrchestratorTest, AnAgentThatDoesNotReadGetsNoNewTaskAndLosesNoMessage) {
  auto slow = connect(R"({"type":"hello","name":"slow","max_concurrency":8})");
  slow.peer->setFull(true);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(submit(R"({"type":"a"})"));
  sweep();
  EXPECT_TRUE(slow.peer->take("task.assign").empty());
  auto shown = agent(slow.id);
  EXPECT_EQ(shown.at("in_flight").as_array().size(), 1u) << "one assignment waits; no more were made";
  slow.session->onMessage(R"({"type":"heartbeat"})");
  sweep();
  EXPECT_FALSE(slow.peer->closed()) << "a slow agent is not closed";

  auto other = connect(R"({"type":"hello","name":"other","max_concurrency":8})");
  EXPECT_EQ(assignments(other, 3).size(), 3u) << "the rest went to an agent that reads";

  slow.peer->setFull(false);
  sweep();
  std::vector<std::string> kinds;
  for (const auto& text : slow.peer->texts())
    kinds.emplace_back(json::parse(text).as_object().at("type").as_string());
  ASSERT_GE(kinds.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(kinds.end() - 2, kinds.end()),
            (std::vector<std::string>{"task.assign", "heartbeat.ack"}))
      << "the waiting assignment, then the heartbeat's ack, in order";
  auto assigned = assignments(slow, 1);
  ASSERT_EQ(assigned.size(), 1u);
  slow.session->onMessage(accept(assigned[0]));
  slow.session->onMessage(result(assigned[0], "succeeded"));
  EXPECT_TRUE(until([&] {
    return task(std::string(assigned[0].at("task").at("id").as_string())).at("status").as_string() ==
           "succeeded";
  }));
  std::string fresh = submit(R"({"type":"a"})");
  EXPECT_TRUE(until([&] {
    for (auto& m : slow.peer->take("task.assign"))
      if (m.at("task").at("id").as_string() == fresh) return true;
    return task(fresh).at("agent").as_string() == other.id;
  })) << "the slow agent takes tasks again";
  EXPECT_FALSE(slow.peer->closed());
}

// One that reads nothing while sending on is closed once max_backlog messages
// wait for it, saying why: its backlog stays bounded.
TEST_F(OrchestratorTest, AnAgentThatReadsNothingWhileSendingIsClosedAtItsBacklog) {
  startOrchestrator({{"max_backlog", "3"}});
  auto deaf = connect(R"({"type":"hello","name":"deaf"})");
  deaf.peer->setFull(true);
  for (int i = 0; i < 3; ++i) deaf.session->onMessage(R"({"type":"heartbeat"})");
  until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_FALSE(deaf.peer->closed()) << "3 messages wait: within max_backlog";
  deaf.session->onMessage(R"({"type":"heartbeat"})");
  EXPECT_TRUE(until([&] { return deaf.peer->closed(); }));
  EXPECT_EQ(deaf.peer->closeCode(), 1008);
}

// hive.agent_frames/1 from the loaded library: another plugin's frame types
// reach its handler in the agent's order, its frames reach the agent, and it
// hears agents come and go; dropping the handler makes the type unknown again.
TEST_F(OrchestratorTest, AgentFramesCarryAnotherPluginsFrameTypesBothWays) {
  startOrchestrator({}, Build::kLibrary);
  auto frames = lookup<agents::AgentFrames>(*orchestrator_);
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> received;
  std::vector<agents::AgentPresence> presences;
  auto presence = frames->onPresence([&](const agents::AgentPresence& p) {
    std::lock_guard lock(mutex);
    presences.push_back(p);
  });
  auto handler = frames->onFrames("message.", [&](const std::string& agent, const std::string& frame) {
    std::lock_guard lock(mutex);
    received.emplace_back(agent, frame);
  });
  ASSERT_TRUE(handler.ok()) << handler.status().toString();
  EXPECT_EQ(frames->onFrames("task.", [](const std::string&, const std::string&) {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(frames->onFrames("Message", [](const std::string&, const std::string&) {}).status().code(),
            StatusCode::kInvalidArgument);

  auto remote = connect(R"({"type":"hello","name":"w","role":"writer"})");
  ASSERT_FALSE(remote.id.empty());
  ASSERT_TRUE(until([&] {
    std::lock_guard lock(mutex);
    return !presences.empty();
  }));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(presences[0].agentId, remote.id);
    EXPECT_EQ(presences[0].role, "writer");
    EXPECT_TRUE(presences[0].connected);
  }
  ASSERT_EQ(frames->connected().size(), 1u);
  remote.session->onMessage(R"({"type":"message.send","n":1})");
  remote.session->onMessage(R"({"type":"message.ack","n":2})");
  remote.session->onMessage(R"({"type":"context.put"})");
  ASSERT_TRUE(until([&] {
    std::lock_guard lock(mutex);
    return received.size() >= 2;
  }));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].first, remote.id);
    EXPECT_EQ(received[0].second, R"({"type":"message.send","n":1})");
    EXPECT_EQ(received[1].second, R"({"type":"message.ack","n":2})");
  }
  EXPECT_TRUE(until([&] { return remote.peer->take("error").size() == 1; }));  // context.* is nobody's

  ASSERT_TRUE(frames->send(remote.id, R"({"type":"message","id":"m1"})").ok());
  auto delivered = remote.peer->take("message");
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].at("id").as_string(), "m1");
  EXPECT_TRUE(delivered[0].contains("ts"));
  EXPECT_EQ(frames->send("a-nobody", R"({"type":"message"})").code(), StatusCode::kNotFound);
  EXPECT_EQ(frames->send(remote.id, "not json").code(), StatusCode::kInvalidArgument);

  handler->reset();
  remote.session->onMessage(R"({"type":"message.send","n":3})");
  EXPECT_TRUE(until([&] { return remote.peer->take("error").size() == 1; }));
  remote.session->onClose(1000);
  EXPECT_TRUE(until([&] {
    std::lock_guard lock(mutex);
    return presences.size() == 2;
  }));
  std::lock_guard lock(mutex);
  ASSERT_EQ(presences.size(), 2u);
  EXPECT_FALSE(presences[1].connected);
  EXPECT_EQ(presences[1].agentId, remote.id);
}

// Two handlers of one prefix (a consumer swapped: both generations registered
// for a moment): only the newest gets a frame, and the older one gets it again
// once the newest is gone.
TEST_F(OrchestratorTest, AgentFramesGoToTheNewestHandlerOfAPrefix) {
  auto frames = lookup<agents::AgentFrames>(*orchestrator_);
  std::atomic<int> older{0}, newer{0};
  auto first = frames->onFrames("message.", [&](const std::string&, const std::string&) { ++older; });
  auto second = frames->onFrames("message.", [&](const std::string&, const std::string&) { ++newer; });
  ASSERT_TRUE(first.ok() && second.ok());
  auto remote = connect(R"({"type":"hello","name":"w"})");
  remote.session->onMessage(R"({"type":"message.send"})");
  ASSERT_TRUE(until([&] { return newer == 1; }));
  EXPECT_EQ(older, 0);
  second->reset();
  remote.session->onMessage(R"({"type":"message.send"})");
  ASSERT_TRUE(until([&] { return older == 1; }));
  EXPECT_EQ(newer, 1);
}

// A hello admits the agent before its welcome is sent: a dispatch round in
// between must not give it a task, or the agent hears task.assign before it
// knows its id (the Python agent then reconnects under a new one).
TEST_F(OrchestratorTest, NoTaskIsAssignedBeforeTheWelcome) {
  for (int i = 0; i < 20; ++i) submit(R"({"type":"a"})");
  std::atomic<bool> stop{false};
  std::thread submitter([&] {
    while (!stop) {  // each submission wakes a dispatch round
      http::Request request;
      request.method = "POST";
      request.body = R"({"type":"a"})";
      (void)serve(*taskRoutes_, "tasks.submit", request);
    }
  });
  std::vector<std::shared_ptr<RecordingPeer>> peers;
  std::vector<std::shared_ptr<http::WebSocketSession>> sessions;
  for (int i = 0; i < 30; ++i) {
    auto peer = std::make_shared<RecordingPeer>();
    auto session = routes_->openWebSocket("agents.connect", as(""), peer);
    ASSERT_TRUE(session.ok());
    (*session)->onMessage(R"({"type":"hello","name":"eager","max_concurrency":4})");
    peers.push_back(peer);
    sessions.push_back(*session);
  }
  for (auto& peer : peers) EXPECT_TRUE(until([&] { return !peer->texts().empty(); }));
  stop = true;
  submitter.join();
  int assigned = 0;
  for (auto& peer : peers) {
    auto texts = peer->texts();
    ASSERT_FALSE(texts.empty());
    EXPECT_EQ(json::parse(texts.front()).as_object().at("type").as_string(), "welcome") << texts.front();
    for (const auto& text : texts) assigned += text.find("\"task.assign\"") != std::string::npos;
  }
  EXPECT_GT(assigned, 0);  // the agents did get work, after their welcome
}

}  // namespace
}  // namespace hive::orchestrator
