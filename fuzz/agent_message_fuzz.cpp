// Agent-protocol messages (docs/agent-protocol.md) as the orchestrator's
// WebSocket session handles them, without a socket: the input is up to 16 text
// messages, one per line, delivered in order to a freshly connected session of
// a fresh Orchestrator, then the connection closes. The orchestrator runs on the SDK
// harness (manual executors, run to completion after each message) with the
// real SQLite store; hive.tasks/1 is scripted: it hands out one task, "t1" with
// lease "L1", and accepts reports that carry exactly that lease.
//
// Properties checked, beyond "no sanitizer report" and "no exception escapes":
// - everything sent to the agent is a JSON object with a string "type";
// - nothing is sent after the session closed the connection.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "agent_frames.hpp"
#include "hive/plugin.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/testing/harness.hpp"
#include "orchestrator.hpp"
#include "storage_sqlite_plugin.hpp"

namespace {

namespace json = boost::json;
using hive::Status;
using hive::testing::PluginHarness;

[[noreturn]] void broken(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "agent_message_fuzz: %s %.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// Owns the orchestrator's context in the harness; does nothing itself.
class ContextOnly final : public hive::Plugin {
 public:
  explicit ContextOnly(hive::PluginContext&) {}
  void configure(const hive::ConfigNode&, hive::Diagnostics&) override {}
  Status start() override { return hive::okStatus(); }
  void stop() override {}
};

class ScriptedTasks final : public hive::tasks::TaskService {
 public:
  void reset() {
    std::lock_guard lock(mutex_);
    handedOut_ = false;
  }
  hive::Result<std::vector<hive::tasks::Assignment>> claim(const std::string&,
                                                           const std::vector<std::string>&,
                                                           std::size_t max) override {
    std::lock_guard lock(mutex_);
    std::vector<hive::tasks::Assignment> out;
    if (handedOut_ || max == 0) return out;
    handedOut_ = true;
    hive::tasks::Assignment a;
    a.taskId = "t1";
    a.leaseToken = "L1";
    a.type = "fuzz";
    a.payload = "{\"n\":1}";
    a.timeout = std::chrono::milliseconds(60'000);
    a.taskJson = R"({"id":"t1","type":"fuzz","payload":{"n":1}})";
    out.push_back(std::move(a));
    return out;
  }
  Status started(const std::string& task, const std::string& lease) override { return check(task, lease); }
  Status progress(const std::string& task, const std::string& lease, const std::string& progress) override {
    return valid(progress) ? check(task, lease) : hive::invalidArgument("progress is not JSON");
  }
  Status succeeded(const std::string& task, const std::string& lease, const std::string& result) override {
    return valid(result) ? check(task, lease) : hive::invalidArgument("result is not JSON");
  }
  Status failed(const std::string& task, const std::string& lease, const std::string&,
                hive::tasks::Retry) override {
    return check(task, lease);
  }
  Status released(const std::string& task, const std::string& lease, const std::string&) override {
    return check(task, lease);
  }
  std::unique_ptr<hive::Subscription> onWork(std::function<void()>) override {
    return std::make_unique<hive::Subscription>();
  }
  hive::Result<std::vector<hive::tasks::QueueDepth>> depth() override {
    return std::vector<hive::tasks::QueueDepth>{};
  }
  // The orchestrator reports an agent's results in groups: each as alone.
  std::vector<Status> finish(const std::vector<Report>& reports) override {
    std::vector<Status> out;
    for (const auto& r : reports) {
      switch (r.outcome) {
        case Outcome::kSucceeded: out.push_back(succeeded(r.taskId, r.leaseToken, r.result)); break;
        case Outcome::kFailed: out.push_back(failed(r.taskId, r.leaseToken, r.error, r.retry)); break;
        case Outcome::kReleased: out.push_back(released(r.taskId, r.leaseToken, r.error)); break;
      }
    }
    return out;
  }

 private:
  static Status check(const std::string& task, const std::string& lease) {
    if (task == "t1" && lease == "L1") return hive::okStatus();
    return hive::failedPrecondition("stale lease");
  }
  // What the orchestrator forwards must be JSON: task_manager stores it as is.
  static bool valid(const std::string& text) {
    std::error_code ec;
    (void)json::parse(text, ec);
    return !ec;
  }
  std::mutex mutex_;
  bool handedOut_ = false;
};

class CheckingPeer final : public hive::http::WebSocketPeer {
 public:
  Status send(std::string text) override {
    std::lock_guard lock(mutex_);
    if (closed_) broken("a message sent after close:", text);
    std::error_code ec;
    json::value message = json::parse(text, ec);
    if (ec || !message.is_object()) broken("a message that is not a JSON object:", text);
    const json::value* type = message.as_object().if_contains("type");
    if (type == nullptr || !type->is_string()) broken("a message without a string type:", text);
    return hive::okStatus();
  }
  void close(std::uint16_t, std::string) override {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  const std::string& id() const override { return id_; }
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  mutable std::mutex mutex_;
  bool closed_ = false;
  std::string id_ = "fuzz-peer";
};

// The store and the orchestrator's context. Rebuilt every kRounds inputs, so
// that agents registered by earlier inputs do not fill the store's limits.
struct Fixture {
  static constexpr int kRounds = 500;

  Fixture() {
    store = PluginHarness::create<hive::storage_sqlite::StorageSqlitePlugin>("storage_sqlite");
    store->setConfig(hive::testing::configFromPairs({{"synchronous", "normal"}}));
    Status started = store->start();
    if (!started.ok()) broken("the store did not start:", started.toString());
    auto leases = store->services().lookup(hive::store::Store::kServiceId);
    if (leases.empty()) broken("no store service");
    host = PluginHarness::create<ContextOnly>("orchestrator");
    host->provideFake<hive::store::Store>(
        std::static_pointer_cast<hive::store::Store>(leases.front().service), "storage_sqlite");
    host->provideFake<hive::tasks::TaskService>(tasks, "task_manager");
    frames = std::make_unique<hive::orchestrator::FrameHandlers>(host->context().services(),
                                                                 host->context().log());
  }
  ~Fixture() {
    frames.reset();
    host.reset();
    store.reset();
  }
  void runPending() {
    host->runPending();
    store->runPending();
  }

  std::unique_ptr<PluginHarness> store;
  std::unique_ptr<PluginHarness> host;
  // Other plugins' frame handlers (hive.agent_frames/1): owned by the plugin, so here by the fixture.
  std::unique_ptr<hive::orchestrator::FrameHandlers> frames;
  std::shared_ptr<ScriptedTasks> tasks = std::make_shared<ScriptedTasks>();
  int rounds = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::unique_ptr<Fixture> fixture;
  if (!fixture || ++fixture->rounds > Fixture::kRounds) {
    fixture.reset();
    fixture = std::make_unique<Fixture>();
  }
  fixture->tasks->reset();
  auto& services = fixture->host->context().services();
  auto tasks = services.handle<hive::tasks::TaskService>();
  auto store = services.handle<hive::store::Store>();
  if (!tasks.ok() || !store.ok()) broken("no service handles");

  hive::orchestrator::Options options;
  options.node = "fuzz";
  static const hive::orchestrator::SystemClock clock;
  auto core = hive::orchestrator::Orchestrator::create(fixture->host->context(), clock, options,
                                                       std::move(tasks).value(), std::move(store).value(),
                                                       *fixture->frames);
  Status opened = core->open();
  if (!opened.ok()) broken("the orchestrator did not open:", opened.toString());
  auto peer = std::make_shared<CheckingPeer>();
  auto connected = core->remoteAgents().connect(peer);
  if (!connected.ok()) broken("the session did not open:", connected.status().toString());
  auto session = *connected;

  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int i = 0; i < 16 && !rest.empty() && !peer->closed(); ++i) {
    std::size_t end = rest.find('\n');
    session->onMessage(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    fixture->runPending();
  }
  session->onClose(1000);
  fixture->runPending();
  core->close();
  fixture->runPending();
  return 0;
}
