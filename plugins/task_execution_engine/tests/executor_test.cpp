// task_execution_engine through its real .so, loaded by the SDK harness: each
// test configures agents, runs real child processes and checks what they did
// and what survived. Runs once per sandbox: bubblewrap (skipped, with the
// reason, where bubblewrap cannot run) and rlimits.
#include "hive/services/executor.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/config.hpp"
#include "hive/services/http.hpp"
#include "hive/testing/harness.hpp"
#include "plugin_common/cgroup_v2.hpp"

namespace {

using hive::ConfigNode;
using hive::exec::Job;
using hive::exec::Outcome;
using hive::exec::OutcomeKind;
using hive::exec::ProcessRunner;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kWait = 60s;  // bound of every wait for a job's end

struct AgentSpec {
  std::string name = "coder";
  std::vector<std::string> command;
  std::vector<std::string> capabilities;
  std::string workspace;  // default: <temp>/ws-<name>
  std::vector<std::pair<std::string, std::string>> settings;
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<std::pair<std::string, std::string>> limits;
};

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Host processes whose command line starts with `prefix` (not bwrap, whose
// arguments hold the whole script).
std::vector<int> processesWith(const std::string& prefix) {
  std::vector<int> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = readFile(entry.path() / "cmdline");
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.rfind(prefix, 0) == 0 && std::stoi(name) != getpid()) found.push_back(std::stoi(name));
  }
  return found;
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds limit = 20s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

int run(const std::string& command) { return std::system(command.c_str()); }

// Every path under `root` (not following symlinks) with a setuid or setgid bit.
std::vector<std::string> privilegedUnder(const fs::path& root) {
  std::vector<std::string> found;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(root, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    struct stat info {};
    if (lstat(it->path().c_str(), &info) == 0 && !S_ISLNK(info.st_mode) &&
        (info.st_mode & (S_ISUID | S_ISGID)))
      found.push_back(it->path().string());
  }
  return found;
}

// Host processes (threads' leaders) whose real uid is `uid`.
int processesOfUid(uid_t uid) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::istringstream status(readFile(entry.path() / "status"));
    for (std::string line; std::getline(status, line);)
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream fields(line.substr(4));
        long real = -1;
        fields >> real;
        if (real == static_cast<long>(uid)) ++count;
      }
  }
  return count;
}

// Shmem of /proc/meminfo (tmpfs pages among them), in bytes.
std::uint64_t hostSharedMemory() {
  std::istringstream meminfo(readFile("/proc/meminfo"));
  for (std::string line; std::getline(meminfo, line);)
    if (line.rfind("Shmem:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// Starts the plugin with the given agents, or ends the test: skipped when the
// bubblewrap variant cannot run here, failed otherwise.
#define START_OR_RETURN(...)                                 \
  do {                                                       \
    if (!start(__VA_ARGS__)) {                               \
      if (!skipReason_.empty()) GTEST_SKIP() << skipReason_; \
      return;                                                \
    }                                                        \
  } while (false)

// Serves GET /api/v2/contexts/{scope}/entries as context_manager would: one
// entry in scope task:with-context, none elsewhere; records the scopes asked for.
class ContextRoutes final : public hive::http::RouteProvider {
 public:
  std::vector<hive::http::Route> routes() override {
    return {{"contexts.entries.list", "GET", "/api/v2/contexts/{scope}/entries", "contexts:read", "", 0}};
  }
  void serve(std::string_view, hive::http::Request request, hive::http::Responder respond) override {
    {
      std::lock_guard lock(mutex_);
      asked_.push_back(request.param("scope"));
    }
    hive::http::Response response;
    response.contentType = "application/json";
    response.status = 200;
    response.body =
        request.param("scope") == "task:with-context"
            ? R"({"items":[{"id":"0000000000000001","text":"the database moved to db-7"}],"next_cursor":""})"
            : R"({"items":[],"next_cursor":""})";
    respond(std::move(response));
  }
  std::vector<std::string> asked() {
    std::lock_guard lock(mutex_);
    return asked_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> asked_;
};

class ExecutorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/hive-exec-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    temp_ = pattern;
    // As an operator's /var/lib/hive: searchable, so that the sandbox uid
    // (when the test runs as root) can reach the workspaces below.
    ASSERT_EQ(chmod(temp_.c_str(), 0711), 0);
    // A unique number for `sleep`, so that processes of this test can be found by command line.
    marker_ = "1000." + std::to_string(getpid()) + std::to_string(++counter_);
  }

  void TearDown() override {
    runner_ = {};
    harness_.reset();
    std::error_code ignored;
    fs::remove_all(temp_, ignored);
  }

  bool bubblewrap() const { return GetParam() == "bubblewrap"; }

  static std::uint32_t sandboxUid() { return 1'950'000'000u + static_cast<std::uint32_t>(getpid()); }

  // The uid a job's files and processes belong to on the host.
  static uid_t jobUid() { return geteuid() == 0 ? sandboxUid() : geteuid(); }

  std::string workspaceOf(const AgentSpec& agent) const {
    return agent.workspace.empty() ? (temp_ / ("ws-" + agent.name)).string() : agent.workspace;
  }

  ConfigNode section(const std::vector<AgentSpec>& agents) const {
    ConfigNode root = ConfigNode::map();
    root.set("sandbox", ConfigNode::scalar(GetParam()));
    // A uid of this test process's own: RLIMIT_NPROC counts the processes of
    // the uid, and tests run in parallel.
    root.set("sandbox_uid", ConfigNode::scalar(std::to_string(sandboxUid())));
    root.set("sandbox_gid", ConfigNode::scalar(std::to_string(sandboxUid())));
    for (const auto& [key, value] : topLevel_) root.set(key, ConfigNode::scalar(value));
    ConfigNode list = ConfigNode::sequence();
    for (const AgentSpec& spec : agents) {
      ConfigNode agent = ConfigNode::map();
      agent.set("name", ConfigNode::scalar(spec.name));
      ConfigNode command = ConfigNode::sequence();
      for (const auto& argument : spec.command) command.push(ConfigNode::scalar(argument));
      agent.set("command", std::move(command));
      agent.set("workspace", ConfigNode::scalar(workspaceOf(spec)));
      if (!spec.capabilities.empty()) {
        ConfigNode capabilities = ConfigNode::sequence();
        for (const auto& capability : spec.capabilities) capabilities.push(ConfigNode::scalar(capability));
        agent.set("capabilities", std::move(capabilities));
      }
      for (const auto& [key, value] : spec.settings) agent.set(key, ConfigNode::scalar(value));
      if (!spec.environment.empty()) {
        ConfigNode environment = ConfigNode::map();
        for (const auto& [key, value] : spec.environment) environment.set(key, ConfigNode::scalar(value));
        agent.set("environment", std::move(environment));
      }
      if (!spec.limits.empty()) {
        ConfigNode limits = ConfigNode::map();
        for (const auto& [key, value] : spec.limits) limits.set(key, ConfigNode::scalar(value));
        agent.set("limits", std::move(limits));
      }
      list.push(std::move(agent));
    }
    root.set("agents", std::move(list));
    return root;
  }

  // Loads the .so, configures and starts it. False (with a skip or a failure
  // recorded) when the test cannot go on.
  bool start(const std::vector<AgentSpec>& agents) {
    auto loaded = hive::testing::PluginHarness::loadLibrary(TASK_EXECUTION_ENGINE_PLUGIN);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    if (!loaded.ok()) return false;
    harness_ = std::move(loaded).value();
    if (contexts_) harness_->provideFake<hive::http::RouteProvider>(contexts_, "context_manager");
    harness_->setConfig(section(agents));
    hive::Diagnostics diagnostics = harness_->configure();
    EXPECT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
    hive::Status started = harness_->start();
    if (!started.ok() && bubblewrap() &&
        started.message().find("bubblewrap is required") != std::string::npos) {
      skipReason_ = "bubblewrap does not work on this machine: " + started.toString();
      return false;
    }
    EXPECT_TRUE(started.ok()) << started.toString();
    if (!started.ok()) return false;
    auto runner = harness_->services().get<ProcessRunner>();
    EXPECT_TRUE(runner.ok()) << runner.status().toString();
    if (!runner.ok()) return false;
    runner_ = std::move(runner).value();
    EXPECT_EQ(runner_->sandbox(), GetParam());
    return true;
  }

  struct Started {
    std::shared_ptr<hive::exec::Execution> execution;
    std::future<Outcome> outcome;
  };

  Started begin(Job job) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    Started started;
    started.outcome = promise->get_future();
    auto execution =
        runner_->run(std::move(job), [promise](Outcome outcome) { promise->set_value(std::move(outcome)); });
    EXPECT_TRUE(execution.ok()) << execution.status().toString();
    if (execution.ok()) started.execution = *execution;
    return started;
  }

  static Outcome finish(Started& started) {
    if (!started.execution) return {};
    if (started.outcome.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "job did not end within " << kWait.count() << " s";
      started.execution->cancel();
      started.outcome.wait();
    }
    return started.outcome.get();
  }

  Outcome runJob(const std::string& agent, const std::string& task, const std::string& input = "{}",
                 std::chrono::milliseconds timeout = 0ms) {
    Started started = begin(Job{agent, task, input, timeout});
    return finish(started);
  }

  static std::vector<std::string> sh(const std::string& script) { return {"sh", "-c", script}; }

  fs::path temp_;
  std::string marker_;
  std::string skipReason_;
  std::vector<std::pair<std::string, std::string>> topLevel_;  // plugin-level keys besides sandbox
  static inline int counter_ = 0;
  std::unique_ptr<hive::testing::PluginHarness> harness_;
  hive::ServiceRef<ProcessRunner> runner_;
  std::shared_ptr<ContextRoutes> contexts_;  // set before start(): a context provider
};

TEST_P(ExecutorTest, SucceedsWithTheLastJsonObjectLineAsResult) {
  AgentSpec agent;
  agent.command = sh(R"(input=$(cat); pwd > where.txt; echo "working"; echo '{"progress": 1}'; )"
                     R"(printf '{"got": %s}\n' "$input"; echo done >&2)");
  START_OR_RETURN({agent});

  Outcome outcome = runJob("coder", "task-1", R"({"n": 7})");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason << "\n" << outcome.errors;
  EXPECT_EQ(outcome.exitCode, 0);
  EXPECT_EQ(outcome.result, R"({"got": {"n": 7}})");
  EXPECT_THAT(outcome.output, HasSubstr("working\n"));
  EXPECT_EQ(outcome.errors, "done\n");
  EXPECT_FALSE(outcome.outputTruncated);
  fs::path work = fs::path(workspaceOf(agent)) / "tasks" / "task-1";
  EXPECT_EQ(outcome.workDirectory, work.string());
  EXPECT_EQ(readFile(work / "where.txt"), work.string() + "\n");

  EXPECT_EQ(harness_->metrics()
                .counter("hive_executor_jobs_total", "", {{"agent", "coder"}, {"outcome", "succeeded"}})
                .value(),
            1.0);
  EXPECT_EQ(harness_->metrics().gauge("hive_executor_running_jobs", "", {{"agent", "coder"}}).value(), 0.0);
  bool logged = false;
  for (const std::string& line : harness_->logLines())
    if (line.find("info: job coder/task-1 succeeded in ") == 0) logged = true;
  EXPECT_TRUE(logged) << ::testing::PrintToString(harness_->logLines());
}

TEST_P(ExecutorTest, NonZeroExitFails) {
  AgentSpec agent;
  agent.command = sh("echo '{\"partial\": true}'; exit 3");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "t");
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_EQ(outcome.exitCode, 3);
  EXPECT_EQ(outcome.reason, "exit status 3");
  EXPECT_EQ(outcome.result, R"({"partial": true})");
  EXPECT_EQ(harness_->metrics()
                .counter("hive_executor_jobs_total", "", {{"agent", "coder"}, {"outcome", "failed"}})
                .value(),
            1.0);
}

TEST_P(ExecutorTest, SegfaultIsACrashAndTheHostCarriesOn) {
  AgentSpec crasher;
  crasher.name = "crasher";
  crasher.command = sh("kill -SEGV $$");
  AgentSpec fine;
  fine.name = "fine";
  fine.command = sh("echo '{\"ok\": true}'");
  START_OR_RETURN({crasher, fine});
  for (int attempt = 0; attempt < 3; ++attempt) {
    Outcome outcome = runJob("crasher", "poison");
    EXPECT_EQ(outcome.kind, OutcomeKind::kCrashed) << outcome.reason;
    EXPECT_EQ(outcome.signal, SIGSEGV);
    EXPECT_EQ(outcome.reason, "killed by SIGSEGV");
  }
  Outcome outcome = runJob("fine", "after");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.result, R"({"ok": true})");
}

// The job starts a process that leaves its session (setsid) and is orphaned
// by a double fork, then waits; the timeout must kill that process too.
TEST_P(ExecutorTest, TimeoutKillsATreeThatDidSetsidAndADoubleFork) {
  AgentSpec agent;
  agent.command = sh("setsid sh -c '(touch orphan-started; exec sleep " + marker_ +
                     ") & exit 0' & "
                     "while [ ! -e orphan-started ]; do sleep 0.01; done; echo waiting; exec sleep " +
                     marker_);
  START_OR_RETURN({agent});
  Started started = begin(Job{"coder", "slow", "{}", 4s});
  // Both sleeps run (the job's own and the orphan) before the timeout.
  EXPECT_TRUE(waitFor([&] { return processesWith("sleep " + marker_).size() == 2; }, 4s))
      << "the orphan never started";
  Outcome outcome = finish(started);
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut) << outcome.reason;
  EXPECT_THAT(outcome.reason, HasSubstr("timed out after 4000 ms"));
  EXPECT_EQ(outcome.output, "waiting\n");
  // Nothing of the tree is left when `done` runs: no waiting for it to die.
  EXPECT_THAT(processesWith("sleep " + marker_), ::testing::IsEmpty());
}

TEST_P(ExecutorTest, CancelKillsTheWholeTree) {
  AgentSpec agent;
  agent.command = sh("setsid sh -c '(exec sleep " + marker_ + ") & exit 0' & exec sleep " + marker_);
  START_OR_RETURN({agent});
  Started started = begin(Job{"coder", "cancel-me", "{}", 0ms});
  ASSERT_TRUE(started.execution);
  EXPECT_TRUE(waitFor([&] { return processesWith("sleep " + marker_).size() == 2; })) << "tree never started";
  EXPECT_GT(started.execution->pid(), 0);
  started.execution->cancel();
  started.execution->cancel();  // idempotent
  Outcome outcome = finish(started);
  EXPECT_EQ(outcome.kind, OutcomeKind::kCancelled) << outcome.reason;
  EXPECT_THAT(processesWith("sleep " + marker_), ::testing::IsEmpty());
  EXPECT_EQ(kill(static_cast<pid_t>(started.execution->pid()), 0), -1);
}

TEST_P(ExecutorTest, EachJobRunsInACgroupOfItsOwnRemovedWhenItEnds) {
  AgentSpec agent;
  agent.command = sh("setsid sh -c '(exec sleep " + marker_ + ") & exit 0' & exec sleep " + marker_);
  START_OR_RETURN({agent});
  for (const std::string& line : harness_->logLines())
    if (line.find("job cgroups: not used") != std::string::npos) GTEST_SKIP() << line;
  Started started = begin(Job{"coder", "grouped", "{}", 0ms});
  ASSERT_TRUE(started.execution);
  ASSERT_TRUE(waitFor([&] { return processesWith("sleep " + marker_).size() == 2; })) << "tree never started";
  std::string path = hive::plugin_common::cgroup2PathIn(
      readFile("/proc/" + std::to_string(started.execution->pid()) + "/cgroup"));
  EXPECT_THAT(path, HasSubstr("/hive-jobs/job-")) << "the job's command";
  fs::path directory = hive::plugin_common::cgroup2MountIn(readFile("/proc/self/mountinfo")) + path;
  // Both sleeps (the orphan too) are in it, and nothing else of the host.
  std::vector<int> members;
  std::istringstream procs(readFile(directory / "cgroup.procs"));
  for (int pid; procs >> pid;) members.push_back(pid);
  for (int pid : processesWith("sleep " + marker_))
    EXPECT_THAT(members, ::testing::Contains(pid)) << "sleep " << pid << " is not in " << directory;
  EXPECT_THAT(members, ::testing::Not(::testing::Contains(static_cast<int>(getpid()))));
  started.execution->cancel();
  Outcome outcome = finish(started);
  EXPECT_EQ(outcome.kind, OutcomeKind::kCancelled) << outcome.reason;
  EXPECT_THAT(processesWith("sleep " + marker_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(directory)) << directory << " is left behind";
}

TEST_P(ExecutorTest, TheChildSeesOnlyTheConfiguredEnvironment) {
  ASSERT_EQ(setenv("HIVE_TEST_SECRET", "hunter2-secret", 1), 0);
  AgentSpec agent;
  agent.command = {"env"};
  agent.environment = {{"AGENT_TOKEN", "given"}};
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "env");
  unsetenv("HIVE_TEST_SECRET");
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason << outcome.errors;
  std::set<std::string> names;
  std::istringstream lines(outcome.output);
  for (std::string line; std::getline(lines, line);) names.insert(line.substr(0, line.find('=')));
  names.erase("PWD");  // bubblewrap sets it to the directory it starts the child in
  EXPECT_EQ(names, (std::set<std::string>{"AGENT_TOKEN", "HOME", "LANG", "PATH"})) << outcome.output;
  EXPECT_THAT(outcome.output, HasSubstr("AGENT_TOKEN=given\n"));
  EXPECT_THAT(outcome.output, HasSubstr("HOME=" + workspaceOf(agent) + "/tasks/env\n"));
  EXPECT_THAT(outcome.output, Not(HasSubstr("hunter2")));
}

// The task's context (scope task:<id>, from context_manager's route) is a file
// in the work directory, named by HIVE_CONTEXT_FILE, readable by the job
// (the sandbox uid) and no one else. (Without a context plugin, no file and no
// variable: TheChildSeesOnlyTheConfiguredEnvironment.)
TEST_P(ExecutorTest, TheTasksContextIsAFileInItsWorkDirectory) {
  contexts_ = std::make_shared<ContextRoutes>();
  AgentSpec agent;
  agent.command = sh(
      R"(if [ -n "$HIVE_CONTEXT_FILE" ]; then stat -c '%a %u' "$HIVE_CONTEXT_FILE"; stat -c '%u' .; cat "$HIVE_CONTEXT_FILE"; else echo no-context; fi)");
  START_OR_RETURN({agent});
  // A link an earlier attempt left under the file's name is replaced, not written through.
  fs::path work = fs::path(workspaceOf(agent)) / "tasks" / "with-context";
  fs::create_directories(work);
  fs::path target = temp_ / "outside";
  std::ofstream(target) << "untouched";
  fs::create_symlink(target, work / ".hive-context.json");
  if (geteuid() == 0) {
    ASSERT_EQ(chown(work.c_str(), jobUid(), jobUid()), 0);
  }

  Outcome outcome = runJob("coder", "with-context");
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason << outcome.errors;
  // Mode 0600, and the owner of the work directory (the job's uid, as the
  // sandbox's user namespace shows it).
  std::istringstream lines(outcome.output);
  std::string file, directory;
  std::getline(lines, file);
  std::getline(lines, directory);
  EXPECT_EQ(file, "600 " + directory) << outcome.output;
  if (!bubblewrap()) EXPECT_EQ(directory, std::to_string(jobUid()));
  EXPECT_THAT(outcome.output, HasSubstr("the database moved to db-7"));
  std::ifstream kept(target);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "untouched");

  Outcome empty = runJob("coder", "without");
  ASSERT_EQ(empty.kind, OutcomeKind::kSucceeded) << empty.reason << empty.errors;
  EXPECT_THAT(empty.output, HasSubstr(R"({"items":[],"next_cursor":""})"));
  EXPECT_EQ(contexts_->asked(), (std::vector<std::string>{"task:with-context", "task:without"}));
}

// What only bubblewrap isolates (rlimits mode shares the host's file system,
// network and pid namespace; see docs/process-agents.md).
using IsolationTest = ExecutorTest;

TEST_P(IsolationTest, ProcessOneOfTheSandboxHoldsNoSecrets) {
  ASSERT_EQ(setenv("HIVE_TEST_SECRET", "hunter2-secret", 1), 0);
  AgentSpec agent;
  agent.command = sh("cat /proc/1/environ | tr '\\0' '\\n'; cat /etc/shadow; ls /proc | grep -c '^[0-9]'");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "probe");
  unsetenv("HIVE_TEST_SECRET");
  EXPECT_THAT(outcome.output, Not(HasSubstr("hunter2")));
  EXPECT_THAT(outcome.output, Not(HasSubstr("root:")));  // /etc/shadow is masked
  EXPECT_THAT(outcome.output, HasSubstr("PATH=/usr/local/bin:/usr/bin:/bin\n"));
}

// Listens on a loopback port; the child tries to connect to it.
class LoopbackListener {
 public:
  LoopbackListener() {
    socket_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(socket_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(socket_, 8);
    socklen_t length = sizeof address;
    getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackListener() { close(socket_); }
  int port() const { return port_; }

 private:
  int socket_ = -1;
  int port_ = 0;
};

TEST_P(IsolationTest, NetworkIsDeniedUnlessAllowed) {
  LoopbackListener listener;
  std::string probe = "cat /proc/net/dev; if bash -c 'echo hi > /dev/tcp/127.0.0.1/" +
                      std::to_string(listener.port()) +
                      "' 2>/dev/null; then echo CONNECTED; else echo REFUSED; fi";
  AgentSpec denied;
  denied.name = "offline";
  denied.command = sh(probe);
  AgentSpec allowed;
  allowed.name = "online";
  allowed.command = sh(probe);
  allowed.settings = {{"network", "true"}};
  START_OR_RETURN({denied, allowed});

  Outcome offline = runJob("offline", "n1");
  ASSERT_EQ(offline.kind, OutcomeKind::kSucceeded) << offline.reason << offline.errors;
  EXPECT_THAT(offline.output, HasSubstr("REFUSED"));
  std::set<std::string> interfaces;
  std::istringstream lines(offline.output);
  for (std::string line; std::getline(lines, line);)
    if (auto colon = line.find(':'); colon != std::string::npos && line.find('|') == std::string::npos) {
      std::string name = line.substr(0, colon);
      name.erase(0, name.find_first_not_of(' '));
      interfaces.insert(name);
    }
  EXPECT_EQ(interfaces, std::set<std::string>{"lo"});

  Outcome online = runJob("online", "n2");
  ASSERT_EQ(online.kind, OutcomeKind::kSucceeded) << online.reason << online.errors;
  EXPECT_THAT(online.output, HasSubstr("CONNECTED"));
}

TEST_P(IsolationTest, WritesOutsideTheWorkDirectoryDoNotReachTheHost) {
  fs::path outside = temp_ / "outside";
  fs::create_directories(outside);
  std::string hostFile = "/usr/local/hive-escape-" + marker_;
  AgentSpec agent;
  agent.command =
      sh("echo in > inside.txt; echo out > " + (outside / "escape.txt").string() +
         "; echo ws > ../../escape.txt; echo usr > " + hostFile +
         "; echo etc > /etc/hive-escape; echo tmp > /tmp/private.txt; cat /tmp/private.txt; true");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "w");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason;
  EXPECT_EQ(readFile(fs::path(workspaceOf(agent)) / "tasks" / "w" / "inside.txt"), "in\n");
  EXPECT_FALSE(fs::exists(outside / "escape.txt"));
  EXPECT_FALSE(fs::exists(fs::path(workspaceOf(agent)) / "escape.txt"));
  EXPECT_FALSE(fs::exists(hostFile));
  EXPECT_FALSE(fs::exists("/etc/hive-escape"));
  EXPECT_FALSE(fs::exists("/tmp/private.txt"));
  EXPECT_THAT(outcome.output, HasSubstr("tmp\n"));  // its own /tmp works
  EXPECT_THAT(outcome.errors, HasSubstr("Read-only file system"));
}

TEST_P(ExecutorTest, OutputIsCappedAndMarkedTruncated) {
  AgentSpec agent;
  agent.command =
      sh("head -c 10485760 /dev/zero | tr '\\0' 'a'; echo; head -c 3000000 /dev/zero >&2; "
         "echo '{\"done\": true}'");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "loud");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason;
  EXPECT_EQ(outcome.output.size(), 1u << 20);
  EXPECT_EQ(outcome.output.find_first_not_of('a'), std::string::npos);
  EXPECT_EQ(outcome.errors.size(), 1u << 20);
  EXPECT_TRUE(outcome.outputTruncated);
  EXPECT_EQ(outcome.result, R"({"done": true})");
}

TEST_P(ExecutorTest, FileSizeLimitIsALimitExceeded) {
  AgentSpec agent;
  agent.command = sh("exec head -c 1000000 /dev/zero > big.bin");
  agent.limits = {{"file_size_bytes", "65536"}};
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "fill");
  EXPECT_EQ(outcome.kind, OutcomeKind::kLimitExceeded) << outcome.reason;
  EXPECT_EQ(outcome.signal, SIGXFSZ);
  EXPECT_EQ(fs::file_size(fs::path(workspaceOf(agent)) / "tasks" / "fill" / "big.bin"), 65536u);
}

TEST_P(ExecutorTest, CpuTimeLimitIsALimitExceeded) {
  AgentSpec agent;
  agent.command = sh("exec sh -c 'while :; do :; done'");
  agent.limits = {{"cpu_seconds", "1"}};
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "spin");
  EXPECT_EQ(outcome.kind, OutcomeKind::kLimitExceeded) << outcome.reason;
  EXPECT_EQ(outcome.signal, SIGXCPU);
  EXPECT_EQ(outcome.reason, "CPU time limit exceeded (SIGXCPU)");
}

// Jobs started from `done` callbacks, four at a time, on several threads.
TEST_P(ExecutorTest, ManyJobsRunInParallelAndAllReport) {
  AgentSpec agent;
  agent.command = sh(R"(read task; printf '{"task": "%s"}\n' "$task")");
  agent.settings = {{"max_concurrency", "4"}};
  START_OR_RETURN({agent});
  constexpr int kJobs = 40;
  std::mutex mutex;
  std::condition_variable finished;
  std::vector<Outcome> outcomes;
  std::atomic<int> next{0};
  std::function<void()> launch = [&] {
    int number = next.fetch_add(1);
    if (number >= kJobs) return;
    std::string task = "job-" + std::to_string(number);
    auto started = runner_->run(Job{"coder", task, task + "\n", 0ms}, [&](Outcome outcome) {
      {
        std::lock_guard lock(mutex);
        outcomes.push_back(std::move(outcome));
        finished.notify_all();
      }
      launch();  // the slot is free again when `done` runs
    });
    EXPECT_TRUE(started.ok()) << started.status().toString();
  };
  for (int i = 0; i < 4; ++i) launch();
  std::unique_lock lock(mutex);
  ASSERT_TRUE(finished.wait_for(lock, kWait, [&] { return outcomes.size() == kJobs; })) << outcomes.size();
  std::set<std::string> results;
  for (const Outcome& outcome : outcomes) {
    EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason << outcome.errors;
    results.insert(outcome.result);
  }
  EXPECT_EQ(results.size(), static_cast<std::size_t>(kJobs));
  EXPECT_TRUE(results.count(R"({"task": "job-39"})"));
  lock.unlock();
  EXPECT_TRUE(waitFor([&] { return harness_->plugin().drained(); }));
  EXPECT_EQ(harness_->metrics()
                .counter("hive_executor_jobs_total", "", {{"agent", "coder"}, {"outcome", "succeeded"}})
                .value(),
            kJobs);
}

TEST_P(ExecutorTest, MemoryLimitStopsAnAllocation) {
  AgentSpec agent;
  // 64 MiB of address space: a 256 MiB allocation (python's bytearray) must fail.
  agent.command = {"/usr/bin/python3", "-c", "bytearray(256 * 1024 * 1024)"};
  agent.limits = {{"memory_bytes", "67108864"}};
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "hog");
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed) << outcome.reason;
  EXPECT_THAT(outcome.errors, HasSubstr("MemoryError"));
}

TEST_P(ExecutorTest, ConcurrencyLimitPerAgent) {
  AgentSpec agent;
  agent.command = sh("exec sleep " + marker_);
  agent.settings = {{"max_concurrency", "2"}};
  START_OR_RETURN({agent});
  Started first = begin(Job{"coder", "a", "{}", 0ms});
  Started second = begin(Job{"coder", "b", "{}", 0ms});
  auto third = runner_->run(Job{"coder", "c", "{}", 0ms}, [](Outcome) {});
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), hive::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("running 2 of its 2 jobs"));
  EXPECT_FALSE(harness_->plugin().drained());
  ASSERT_TRUE(first.execution && second.execution);
  first.execution->cancel();
  EXPECT_EQ(finish(first).kind, OutcomeKind::kCancelled);
  Started fourth = begin(Job{"coder", "d", "{}", 0ms});  // a slot is free again
  ASSERT_TRUE(fourth.execution);
  second.execution->cancel();
  fourth.execution->cancel();
  EXPECT_EQ(finish(second).kind, OutcomeKind::kCancelled);
  EXPECT_EQ(finish(fourth).kind, OutcomeKind::kCancelled);
  EXPECT_TRUE(waitFor([&] { return harness_->plugin().drained(); }));
}

TEST_P(ExecutorTest, StopCancelsRunningJobs) {
  AgentSpec agent;
  agent.command = sh("exec sleep " + marker_);
  START_OR_RETURN({agent});
  Started started = begin(Job{"coder", "long", "{}", 0ms});
  EXPECT_TRUE(waitFor([&] { return processesWith("sleep " + marker_).size() == 1; }));
  harness_->stop();
  ASSERT_EQ(started.outcome.wait_for(0s), std::future_status::ready) << "stop() returned before `done` ran";
  Outcome outcome = started.outcome.get();
  EXPECT_EQ(outcome.kind, OutcomeKind::kCancelled);
  EXPECT_EQ(outcome.reason, "cancelled: task_execution_engine is stopping");
  EXPECT_TRUE(harness_->plugin().drained());
  EXPECT_THAT(processesWith("sleep " + marker_), ::testing::IsEmpty());
  auto refused = runner_->run(Job{"coder", "late", "{}", 0ms}, [](Outcome) {});
  EXPECT_EQ(refused.status().code(), hive::StatusCode::kUnavailable);
}

TEST_P(ExecutorTest, RejectsUnknownAgentsBadTaskIdsAndMissingCommands) {
  AgentSpec agent;
  agent.command = sh("true");
  agent.capabilities = {"shell", "review"};
  agent.settings = {{"max_concurrency", "3"}};
  AgentSpec missing;
  missing.name = "missing";
  missing.command = {"no-such-program-hive"};
  START_OR_RETURN({agent, missing});
  auto unknown = runner_->run(Job{"nobody", "t", "{}", 0ms}, [](Outcome) {});
  EXPECT_EQ(unknown.status().code(), hive::StatusCode::kNotFound);
  for (const char* bad : {"", "../etc", "a/b", "x y", "ü"}) {
    auto refused = runner_->run(Job{"coder", bad, "{}", 0ms}, [](Outcome) {});
    EXPECT_EQ(refused.status().code(), hive::StatusCode::kInvalidArgument) << bad;
  }
  Outcome outcome = runJob("missing", "t");
  EXPECT_EQ(outcome.kind, OutcomeKind::kStartFailed);
  EXPECT_THAT(outcome.reason, HasSubstr("'no-such-program-hive' not found"));
  auto agents = runner_->agents();
  ASSERT_EQ(agents.size(), 2u);
  EXPECT_EQ(agents[0].name, "coder");
  EXPECT_EQ(agents[0].capabilities, (std::vector<std::string>{"shell", "review"}));
  EXPECT_EQ(agents[0].maxConcurrency, 3u);
  EXPECT_EQ(agents[1].name, "missing");
}

TEST_P(ExecutorTest, ASymlinkedTaskDirectoryIsRefused) {
  AgentSpec agent;
  agent.command = sh("echo x > planted.txt");
  fs::path target = temp_ / "elsewhere";
  fs::create_directories(target);
  fs::create_directories(fs::path(workspaceOf(agent)) / "tasks");
  fs::create_directory_symlink(target, fs::path(workspaceOf(agent)) / "tasks" / "link");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "link");
  EXPECT_EQ(outcome.kind, OutcomeKind::kStartFailed);
  EXPECT_THAT(outcome.reason, HasSubstr("is not a directory (a symlink?)"));
  EXPECT_FALSE(fs::exists(target / "planted.txt"));
}

TEST_P(ExecutorTest, GitWorktreeOnItsOwnBranch) {
  fs::path repository = temp_ / "repo";
  fs::create_directories(repository);
  // The repository's .git is given to the sandbox uid when the test runs as
  // root: the test's own git (as root) must accept it.
  std::string git =
      "git -C " + repository.string() + " -c safe.directory='*' -c user.email=t@example.com -c user.name=t ";
  ASSERT_EQ(run(git + "init -q -b main"), 0);
  std::ofstream(repository / "README") << "hello\n";
  ASSERT_EQ(run(git + "add README"), 0);
  ASSERT_EQ(run(git + "commit -q -m initial"), 0);

  AgentSpec agent;
  agent.workspace = repository.string();
  agent.settings = {{"git_worktree", "true"}};
  agent.command =
      sh("git rev-parse --abbrev-ref HEAD; cat README; echo change > change.txt; git add change.txt; "
         "git -c user.email=a@example.com -c user.name=agent commit -q -m 'agent work' && echo COMMITTED");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "t42");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason << "\n" << outcome.errors;
  EXPECT_EQ(outcome.workDirectory, (repository / "tasks" / "t42").string());
  EXPECT_THAT(outcome.output, HasSubstr("agent/coder/t42\nhello\n"));
  EXPECT_THAT(outcome.output, HasSubstr("COMMITTED"));
  // The commit is on the task's branch in the workspace repository; main is untouched.
  EXPECT_EQ(run(git + "log -1 --format=%s agent/coder/t42 | grep -qx 'agent work'"), 0);
  EXPECT_EQ(run(git + "log -1 --format=%s main | grep -qx initial"), 0);

  // A retry of the same task reuses its worktree.
  Outcome again = runJob("coder", "t42");
  EXPECT_EQ(again.workDirectory, outcome.workDirectory);
  EXPECT_THAT(again.output, HasSubstr("agent/coder/t42\n"));
}

TEST_P(ExecutorTest, GitWorktreeFallsBackToAPlainDirectoryOutsideARepository) {
  AgentSpec agent;
  agent.settings = {{"git_worktree", "true"}};
  agent.command = sh("git rev-parse --is-inside-work-tree 2>/dev/null || echo NOT-A-REPO");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "plain");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason;
  EXPECT_THAT(outcome.output, HasSubstr("NOT-A-REPO"));
}

// The host process dies with SIGKILL (no stop(), no destructors) while a job
// runs: the job's tree, orphan included, must not outlive it.
TEST_P(ExecutorTest, NothingSurvivesTheHostBeingKilled) {
  AgentSpec agent;
  agent.command = sh("setsid sh -c '(exec sleep " + marker_ + ") & exit 0' & exec sleep " + marker_);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t host = fork();
  ASSERT_GE(host, 0);
  if (host == 0) {  // the doomed host: loads the plugin, starts the job, reports, waits to be killed
    close(ready[0]);
    bool ok = start({agent});
    Started started;
    if (ok) started = begin(Job{"coder", "orphaned", "{}", 0ms});
    ok = ok && started.execution && waitFor([&] { return processesWith("sleep " + marker_).size() == 2; });
    char answer = ok ? 'y' : 'n';
    (void)!write(ready[1], &answer, 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char answer = 'n';
  ASSERT_EQ(read(ready[0], &answer, 1), 1);
  close(ready[0]);
  ASSERT_EQ(answer, 'y') << "the job did not start in the child host";
  ASSERT_EQ(kill(host, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(host, &status, 0), host);
  EXPECT_TRUE(waitFor([&] { return processesWith("sleep " + marker_).empty(); }, 20s))
      << "left behind: " << ::testing::PrintToString(processesWith("sleep " + marker_));
}

TEST_P(ExecutorTest, InputTheChildDoesNotReadDoesNotBlockTheJob) {
  AgentSpec agent;
  agent.command = sh("echo '{\"ignored\": true}'; exit 0");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "deaf", std::string(8u << 20, 'x'));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason;
  EXPECT_EQ(outcome.result, R"({"ignored": true})");
}

TEST_P(ExecutorTest, LargeInputReachesTheChild) {
  AgentSpec agent;
  agent.command = sh("printf '{\"bytes\": %s}\\n' $(wc -c)");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "big", std::string(3u << 20, 'x'));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason;
  EXPECT_EQ(outcome.result, R"({"bytes": 3145728})");
}

// The attack of issue 11: a job makes a setuid copy of a shell in its work
// directory. Nothing with a setuid or setgid bit may exist under the
// workspace afterwards, and the directory must be the job's alone.
TEST_P(ExecutorTest, NoSetuidFileCanBeMadeOrSurvive) {
  AgentSpec agent;
  std::string python =
      fs::exists("/usr/bin/python3")
          ? "python3 -c \"import os, shutil; shutil.copy('/bin/sh', 'q'); os.chmod('q', 0o4755)\"; "
            "python3 -c \"import os; os.close(os.open('r', os.O_CREAT | os.O_WRONLY, 0o6755))\"; "
          : "";
  agent.command =
      sh("cp /bin/sh ./p; chmod 4755 ./p; chmod u+s ./p; chmod g+s ./p; mkdir -p d/e; cp /bin/sh d/e/s; "
         "chmod 6755 d/e/s; chmod g+s d; " +
         python + "ls -ln; echo '{\"ran\": true}'");
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "setuid");
  EXPECT_EQ(outcome.result, R"({"ran": true})") << outcome.reason << outcome.errors;
  EXPECT_THAT(outcome.errors, HasSubstr("Operation not permitted"));  // the seccomp filter refused
  EXPECT_THAT(privilegedUnder(workspaceOf(agent)), ::testing::IsEmpty());

  fs::path work = fs::path(workspaceOf(agent)) / "tasks" / "setuid";
  struct stat info {};
  ASSERT_EQ(lstat(work.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0700u);
  EXPECT_EQ(info.st_uid, jobUid());
  ASSERT_EQ(lstat((work / "p").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, jobUid());
  if (geteuid() == 0) {
    EXPECT_NE(info.st_uid, 0u) << "a root Hive's job must not own files as root";
  }
  // tasks/: no one but Hive and the sandbox group passes through.
  ASSERT_EQ(lstat(work.parent_path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0007, 0u);
}

// The bounded version of a fork bomb: it counts how many background
// processes it got. RLIMIT_NPROC on the job's uid stops it, and the job ends.
TEST_P(ExecutorTest, ForkingStopsAtTheProcessLimit) {
  AgentSpec agent;
  agent.command = sh("n=0; while [ $n -lt 300 ]; do sleep " + marker_ +
                     " & n=$((n+1)); echo $n > started; done; echo all");
  agent.limits = {{"processes", "24"}};
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "forks");
  EXPECT_NE(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_THAT(outcome.output, Not(HasSubstr("all")));
  EXPECT_THAT(outcome.errors, HasSubstr("fork"));
  int started = std::stoi("0" + readFile(fs::path(workspaceOf(agent)) / "tasks" / "forks" / "started"));
  EXPECT_GT(started, 5);
  EXPECT_LT(started, 24);
  EXPECT_THAT(processesWith("sleep " + marker_), ::testing::IsEmpty());
}

// A fork bomb that never gives up (every process forks in a loop, whatever
// fails): it stays under the limit, the timeout ends the job, nothing of it
// is left, and the host can still fork.
TEST_P(ExecutorTest, AForkBombStaysUnderTheLimitAndEnds) {
  AgentSpec agent;
  agent.command = {"/bin/bash", "-c", "bomb() { while :; do bomb & done; }; bomb 2>/dev/null"};
  agent.limits = {{"processes", "40"}};
  START_OR_RETURN({agent});
  Started started = begin(Job{"coder", "bomb", "{}", 2s});
  int most = 0;
  while (started.outcome.wait_for(50ms) != std::future_status::ready && most < 10'000) {
    if (geteuid() == 0) most = std::max(most, processesOfUid(jobUid()));
  }
  Outcome outcome = finish(started);
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut) << outcome.reason;
  std::printf("most processes of the job's uid seen at once: %d (limit 40)\n", most);
  if (geteuid() == 0) {
    EXPECT_LE(most, 40);
    EXPECT_GT(most, 0);
    EXPECT_EQ(processesOfUid(jobUid()), 0);
  }
  EXPECT_EQ(run("true"), 0);
}

// Disk use of the work directory is measured while the job runs.
TEST_P(ExecutorTest, DiskQuotaEndsTheJobAsLimitExceeded) {
  AgentSpec agent;
  agent.command =
      sh("i=0; while [ $i -lt 200 ]; do head -c 1048576 /dev/zero > f$i; i=$((i+1)); sleep 0.05; done");
  agent.limits = {{"disk_bytes", "4194304"}};
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "fill");
  EXPECT_EQ(outcome.kind, OutcomeKind::kLimitExceeded) << outcome.reason;
  EXPECT_THAT(outcome.reason, HasSubstr("disk quota exceeded"));
  EXPECT_THAT(outcome.reason, HasSubstr("the limit (disk_bytes) is 4194304"));
  EXPECT_FALSE(fs::exists(fs::path(workspaceOf(agent)) / "tasks" / "fill" / "f100"));
}

// A job that fills its directory faster than the measuring interval and
// exits is measured once more at its end.
TEST_P(ExecutorTest, DiskQuotaIsCheckedWhenTheJobEnds) {
  AgentSpec agent;
  agent.command = sh("for i in 1 2 3 4 5 6; do head -c 1048576 /dev/zero > f$i; done");
  agent.limits = {{"disk_bytes", "4194304"}};
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "quick");
  EXPECT_EQ(outcome.kind, OutcomeKind::kLimitExceeded) << outcome.reason;
  EXPECT_THAT(outcome.reason, HasSubstr("disk quota exceeded"));
}

TEST_P(ExecutorTest, RetentionZeroRemovesTheDirectoryWhenTheJobEnds) {
  AgentSpec agent;
  agent.command = sh("echo x > file; mkdir -p a/b; echo '{\"ok\": 1}'");
  topLevel_ = {{"workspace_retention", "0s"}};
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "gone");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason;
  EXPECT_EQ(outcome.result, R"({"ok": 1})");
  EXPECT_FALSE(fs::exists(fs::path(workspaceOf(agent)) / "tasks" / "gone"));
}

TEST_P(ExecutorTest, RetentionRemovesOldTaskDirectoriesInTheBackground) {
  AgentSpec agent;
  agent.command = sh("echo fresh > file");
  topLevel_ = {{"workspace_retention", "1h"}};
  fs::path tasks = fs::path(workspaceOf(agent)) / "tasks";
  fs::create_directories(tasks / "old" / "deep");
  std::ofstream(tasks / "old" / "deep" / "file") << "stale";
  fs::create_directories(temp_ / "outside");
  fs::create_directory_symlink(temp_ / "outside", tasks / "old" / "link");
  // Finished two hours ago.
  ASSERT_EQ(run("touch -h -d '2 hours ago' " + (tasks / "old").string()), 0);
  START_OR_RETURN({agent});
  Outcome outcome = runJob("coder", "fresh");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason;
  EXPECT_TRUE(waitFor([&] { return !fs::exists(tasks / "old"); }, 10s)) << "the old directory stayed";
  EXPECT_TRUE(fs::exists(tasks / "fresh" / "file"));
  EXPECT_TRUE(fs::exists(temp_ / "outside"));
}

// During a hot swap two generations of the plugin run side by side, each
// with its janitor: the new one must not remove the directory of a job the
// old one is still running (the job holds a flock on it).
TEST_P(ExecutorTest, AnotherGenerationsJanitorLeavesARunningJobsDirectoryAlone) {
  AgentSpec agent;
  agent.command = sh("echo kept > mine; sleep 2.5; cat mine");
  topLevel_ = {{"workspace_retention", "0s"}};
  START_OR_RETURN({agent});
  Started started = begin(Job{"coder", "shared", "{}", 0ms});
  fs::path mine = fs::path(workspaceOf(agent)) / "tasks" / "shared" / "mine";
  ASSERT_TRUE(waitFor([&] { return fs::exists(mine); }, 10s));

  auto loaded = hive::testing::PluginHarness::loadLibrary(TASK_EXECUTION_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  auto next = std::move(loaded).value();
  next->setConfig(section({agent}));
  ASSERT_FALSE(next->configure().hasErrors());
  ASSERT_TRUE(next->start().ok());  // its janitor sweeps at once, then every second
  Outcome outcome = finish(started);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.reason << outcome.errors;
  EXPECT_EQ(outcome.output, "kept\n");
  next->stop();
}

// A root Hive refuses to start jobs as a uid that an account owns, in every
// mode, and says why in one line.
TEST_P(ExecutorTest, RefusesAUidThatAnAccountOwns) {
  if (geteuid() != 0) GTEST_SKIP() << "only a root Hive switches to the sandbox uid";
  AgentSpec agent;
  agent.command = sh("true");
  auto loaded = hive::testing::PluginHarness::loadLibrary(TASK_EXECUTION_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  harness_ = std::move(loaded).value();
  ConfigNode config = section({agent});
  config.set("sandbox_uid", ConfigNode::scalar("1"));  // daemon on Debian
  harness_->setConfig(std::move(config));
  ASSERT_FALSE(harness_->configure().hasErrors());
  hive::Status started = harness_->start();
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.message(), HasSubstr("sandbox_uid 1 is user '"));
  EXPECT_THAT(started.message(), HasSubstr("jobs need a uid that no account uses"));
  EXPECT_EQ(started.message().find('\n'), std::string::npos) << started.message();
}

// A workspace the sandbox uid cannot walk down to fails every job: refused at
// start, in one line that names the directory, instead.
TEST_P(ExecutorTest, RefusesAWorkspaceTheSandboxUidCannotReach) {
  if (geteuid() != 0) GTEST_SKIP() << "only a root Hive switches to the sandbox uid";
  fs::path closed = temp_ / "closed";
  fs::create_directories(closed);
  fs::permissions(closed, fs::perms::owner_all, fs::perm_options::replace);
  AgentSpec agent;
  agent.command = sh("true");
  agent.workspace = (closed / "inside" / "ws").string();
  auto loaded = hive::testing::PluginHarness::loadLibrary(TASK_EXECUTION_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  harness_ = std::move(loaded).value();
  harness_->setConfig(section({agent}));
  ASSERT_FALSE(harness_->configure().hasErrors());
  hive::Status started = harness_->start();
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.message(), HasSubstr("process agent 'coder'"));
  EXPECT_THAT(started.message(), HasSubstr(closed.string() + " is mode 0700"));
  EXPECT_EQ(started.message().find('\n'), std::string::npos) << started.message();
}

// /tmp and /dev/shm are tmpfs, whose pages are host RAM outside the job's
// address-space limit: both are size-limited.
TEST_P(IsolationTest, TmpIsSizeLimitedAndHostMemoryDoesNotGrow) {
  AgentSpec agent;
  agent.command =
      sh("head -c 2000000000 /dev/zero > /tmp/big; echo tmp=$?; head -c 2000000000 /dev/zero > "
         "/dev/shm/big; echo shm=$?; stat -c 'size=%s' /tmp/big /dev/shm/big; echo x > /dev/file; "
         "touch written; exec sleep " +
         marker_);
  agent.limits = {{"memory_bytes", "536870912"}};
  START_OR_RETURN({agent});
  std::uint64_t before = hostSharedMemory();
  Started started = begin(Job{"coder", "tmp", "{}", 0ms});
  fs::path written = fs::path(workspaceOf(agent)) / "tasks" / "tmp" / "written";
  ASSERT_TRUE(waitFor([&] { return fs::exists(written); }, 30s));
  std::uint64_t during = hostSharedMemory();
  started.execution->cancel();
  Outcome outcome = finish(started);
  EXPECT_THAT(outcome.output, HasSubstr("tmp=1\n"));
  EXPECT_THAT(outcome.output, HasSubstr("shm=1\n"));
  EXPECT_THAT(outcome.output, HasSubstr("size=67108864\n"));  // min(memory_bytes, 64 MiB)
  EXPECT_THAT(outcome.errors, HasSubstr("No space left on device"));
  EXPECT_THAT(outcome.errors, HasSubstr("Read-only file system"));  // /dev itself
  std::int64_t growth = static_cast<std::int64_t>(during) - static_cast<std::int64_t>(before);
  std::printf("host Shmem growth while the job held full /tmp and /dev/shm: %lld bytes\n",
              static_cast<long long>(growth));
  EXPECT_LT(growth, std::int64_t{512} << 20);
}

INSTANTIATE_TEST_SUITE_P(Sandboxes, ExecutorTest, ::testing::Values("bubblewrap", "rlimits"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Sandboxes, IsolationTest, ::testing::Values("bubblewrap"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// sandbox: auto picks bubblewrap exactly when a bwrap run like the engine's works here.
TEST(ExecutorSandbox, AutoPicksBubblewrapWhenItWorks) {
  bool works = std::system(
                   "bwrap --unshare-all --unshare-user --uid 65534 --gid 65534 --cap-drop ALL "
                   "--die-with-parent --new-session --ro-bind / / --proc /proc --dev /dev true "
                   ">/dev/null 2>&1") == 0;
  auto loaded = hive::testing::PluginHarness::loadLibrary(TASK_EXECUTION_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  auto harness = std::move(loaded).value();
  harness->setConfig(ConfigNode::map());  // no agents, sandbox: auto
  ASSERT_TRUE(harness->start().ok());
  auto runner = harness->services().get<ProcessRunner>();
  ASSERT_TRUE(runner.ok());
  EXPECT_EQ((*runner)->sandbox(), works ? "bubblewrap" : "rlimits");
  std::string expected = works ? "info: sandbox: bubblewrap" : "warn: sandbox: WEAKER SANDBOX";
  bool logged = false;
  for (const std::string& line : harness->logLines()) logged = logged || line.rfind(expected, 0) == 0;
  EXPECT_TRUE(logged) << ::testing::PrintToString(harness->logLines());
  std::printf("sandbox on this machine: %s\n", (*runner)->sandbox().c_str());
}

// Configuration errors through the real .so: located, and the plugin does not start.
TEST(ExecutorConfig, ErrorsCarryTheirLocation) {
  auto loaded = hive::testing::PluginHarness::loadLibrary(TASK_EXECUTION_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  auto harness = std::move(loaded).value();
  EXPECT_EQ(std::string(harness->manifest()->name), "task_execution_engine");

  ConfigNode root = ConfigNode::map({"hive.yaml", 10, 5});
  root.set("sandbox", ConfigNode::scalar("jail", {"hive.yaml", 11, 16}), {"hive.yaml", 11, 7});
  ConfigNode agents = ConfigNode::sequence({"hive.yaml", 12, 7});
  ConfigNode agent = ConfigNode::map({"hive.yaml", 13, 11});
  agent.set("name", ConfigNode::scalar("coder", {"hive.yaml", 13, 17}), {"hive.yaml", 13, 11});
  ConfigNode command = ConfigNode::sequence({"hive.yaml", 14, 20});
  command.push(ConfigNode::scalar("sh", {"hive.yaml", 14, 21}));
  agent.set("command", std::move(command), {"hive.yaml", 14, 11});
  agent.set("workspace", ConfigNode::scalar("/tmp/x", {"hive.yaml", 15, 22}), {"hive.yaml", 15, 11});
  agent.set("timeout", ConfigNode::scalar("5 minutes", {"hive.yaml", 16, 20}), {"hive.yaml", 16, 11});
  agent.set("max_concurency", ConfigNode::scalar("2", {"hive.yaml", 17, 27}), {"hive.yaml", 17, 11});
  agents.push(std::move(agent));
  root.set("agents", std::move(agents), {"hive.yaml", 12, 7});
  harness->setConfig(std::move(root));

  hive::Diagnostics diagnostics = harness->configure();
  std::string text = diagnostics.toString();
  EXPECT_THAT(
      text, HasSubstr("hive.yaml:11:16: error: 'sandbox': must be auto, bubblewrap or rlimits, got 'jail'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:16:20: error: 'timeout': expected a duration such as 250ms"));
  EXPECT_THAT(
      text,
      HasSubstr("hive.yaml:17:11: error: unknown key 'max_concurency' (did you mean 'max_concurrency'?)"));
  EXPECT_EQ(diagnostics.errorCount(), 3u) << text;
  EXPECT_FALSE(harness->start().ok());
}

}  // namespace
