// resource_manager: /proc reading on real processes and on a fake /proc, the
// quota checks, the config, and the real .so through the SDK harness.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "admission_gate.hpp"
#include "config.hpp"
#include "hive/services/admission.hpp"
#include "hive/services/http.hpp"
#include "hive/services/job_usage.hpp"
#include "hive/services/job_watch.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/services/tenancy.hpp"
#include "hive/testing/harness.hpp"
#include "job_tracker.hpp"
#include "load_signals.hpp"
#include "plugin_common/cgroup_v2.hpp"
#include "process_table.hpp"

namespace hive::resource_manager {
namespace {

using testing::PluginHarness;
namespace fs = std::filesystem;

class ManualClock final : public plugin_common::Clock {
 public:
  std::int64_t nowMs() const override { return now; }
  std::atomic<std::int64_t> now{1'000'000};
};

TEST(ProcessTable, ParsesStatWhoseCommandNameHoldsParenthesesAndSpaces) {
  auto stat = parseStat(
      "42 (evil) (name ) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 1 0 100 "
      "1000000 512 18446744073709551615");
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->parent, 7);
  EXPECT_EQ(stat->userTicks, 250u);
  EXPECT_EQ(stat->systemTicks, 50u);
  EXPECT_EQ(stat->childUserTicks, 30u);
  EXPECT_EQ(stat->childSystemTicks, 20u);
  EXPECT_EQ(stat->residentPages, 512u);
  EXPECT_FALSE(parseStat("42 (truncated) S 7").has_value());
}

// A supervisor (like the executor's) whose child touches `bytes` of memory
// and opens a few files, then waits to be killed.
struct RealTree {
  explicit RealTree(std::size_t bytes) {
    int ready[2];
    EXPECT_EQ(pipe(ready), 0);
    supervisor = fork();
    if (supervisor == 0) {
      pid_t child = fork();
      if (child == 0) {
        char* memory = static_cast<char*>(malloc(bytes));
        memset(memory, 1, bytes);
        for (int i = 0; i < 5; ++i) (void)!dup(0);
        pid_t self = getpid();
        (void)!write(ready[1], &self, sizeof self);
        pause();
        _exit(0);
      }
      int status = 0;
      waitpid(child, &status, 0);
      _exit(0);
    }
    close(ready[1]);
    EXPECT_EQ(read(ready[0], &command, sizeof command), static_cast<ssize_t>(sizeof command));
    close(ready[0]);
  }
  ~RealTree() {
    kill(command, SIGKILL);  // the supervisor then exits by itself
    int status = 0;
    waitpid(supervisor, &status, 0);
  }
  pid_t supervisor = 0;
  pid_t command = 0;
};

TEST(ProcessTable, MeasuresARealTreeUnderItsSupervisor) {
  RealTree tree(48u << 20);
  ProcessTable table;
  auto usage = table.treeUnder(tree.supervisor);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->processes, 1u);
  EXPECT_GE(usage->residentBytes, 48u << 20);
  EXPECT_GE(usage->openFiles, 8u);  // stdin, stdout, stderr, the pipe's ends, 5 dups
  EXPECT_EQ(table.parentOf(tree.supervisor), getpid());
  EXPECT_FALSE(table.treeUnder(999'999'999).has_value());
}

// A fake /proc: each process a stat file the test writes.
class FakeProc {
 public:
  FakeProc() {
    root_ = fs::temp_directory_path() /
            ("hive-resources-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(root_);
  }
  ~FakeProc() { fs::remove_all(root_); }
  // ticks are 1/100 s on Linux (sysconf(_SC_CLK_TCK)); pages are the host's.
  void process(pid_t pid, pid_t parent, std::uint64_t ticks, std::uint64_t childTicks, std::uint64_t pages) {
    fs::create_directories(root_ / std::to_string(pid) / "fd");
    std::ofstream(root_ / std::to_string(pid) / "stat")
        << pid << " (job) S " << parent << " 1 1 0 -1 0 0 0 0 0 " << ticks << " 0 " << childTicks
        << " 0 20 0 1 0 100 1000 " << pages << " 0\n";
  }
  void openFiles(pid_t pid, int count) {
    for (int i = 0; i < count; ++i) std::ofstream(root_ / std::to_string(pid) / "fd" / std::to_string(i));
  }
  void gone(pid_t pid) { fs::remove_all(root_ / std::to_string(pid)); }
  std::string root() const { return root_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path root_;
};

TEST(CgroupV2, FindsTheCgroup2MountInMountinfoAndAProcesssPath) {
  std::string hybrid =
      "35 24 0:30 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory\n"
      "36 24 0:31 / /sys/fs/cgroup/unified rw,relatime shared:15 - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(plugin_common::cgroup2MountIn(hybrid), "/sys/fs/cgroup/unified");
  EXPECT_EQ(plugin_common::cgroup2MountIn("36 24 0:31 /sub /mnt rw - cgroup2 cgroup2 rw\n"), "")
      << "not its root";
  EXPECT_EQ(
      plugin_common::cgroup2MountIn("35 24 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"), "");
  EXPECT_EQ(plugin_common::cgroup2PathIn("4:memory:/x\n0::/hive-jobs/job-1-2\n"), "/hive-jobs/job-1-2");
  EXPECT_EQ(plugin_common::cgroup2PathIn("4:memory:/x\n"), "");
}

// A job in a cgroup of its own: CPU from the cgroup's cpu.stat (every process
// that ran in it), memory.current and memory.peak reported when present.
TEST(ProcessTable, ReadsTheJobsOwnCgroupWhenItHasOne) {
  FakeProc proc;
  fs::path cgroups = fs::path(proc.root()) / "cgroupfs";
  fs::create_directories(cgroups / "hive-jobs" / "job-7-1");
  std::ofstream(cgroups / "hive-jobs" / "job-7-1" / "cpu.stat")
      << "usage_usec 4250000\nuser_usec 4000000\nsystem_usec 250000\n";
  proc.process(10, 1, 0, 0, 1);     // the supervisor
  proc.process(11, 10, 100, 0, 2);  // the command: 1 s by its own stat
  std::ofstream(fs::path(proc.root()) / "11" / "cgroup") << "0::/hive-jobs/job-7-1\n";
  ProcessTable table(proc.root(), std::chrono::milliseconds(0), cgroups.string());
  auto usage = table.treeUnder(10);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->cgroup, "/hive-jobs/job-7-1");
  EXPECT_DOUBLE_EQ(usage->cpuSeconds, 4.25) << "the cgroup's count, exited processes included";
  EXPECT_FALSE(usage->cgroupMemoryBytes.has_value()) << "no memory controller";

  std::ofstream(cgroups / "hive-jobs" / "job-7-1" / "memory.current") << "73400320\n";
  std::ofstream(cgroups / "hive-jobs" / "job-7-1" / "memory.peak") << "80000000\n";
  usage = table.treeUnder(10);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->cgroupMemoryBytes, 73400320u);
  EXPECT_EQ(usage->cgroupPeakMemoryBytes, 80000000u);

  // A process in any other cgroup (Hive's own, a service's) is measured through /proc only.
  std::ofstream(fs::path(proc.root()) / "11" / "cgroup") << "0::/system.slice/hive.service\n";
  usage = table.treeUnder(10);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->cgroup, "");
  EXPECT_DOUBLE_EQ(usage->cpuSeconds, 1.0);
}

class JobTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.defaults.cpuSeconds = 10;
    Quota hog;
    hog.memoryBytes = 100 * pageBytes();
    hog.openFiles = 3;
    settings_.agents["hog"] = hog;
    settings_.keepFinished = 2;
    proc_.process(10, 1, 0, 0, 1);  // the supervisor
    tracker_ = std::make_shared<JobTracker>(
        settings_, harness_->metrics(),
        std::make_shared<ProcessTable>(proc_.root(), std::chrono::milliseconds(0)), clock_);
  }
  static std::uint64_t pageBytes() { return static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)); }
  double counter(const std::string& name, const MetricLabels& labels) {
    return harness_->metrics().counter(name, "", labels).value();
  }

  std::unique_ptr<PluginHarness> harness_ =
      std::move(PluginHarness::loadLibrary(RESOURCE_MANAGER_PLUGIN)).value();
  FakeProc proc_;
  Settings settings_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::shared_ptr<JobTracker> tracker_;
};

TEST_F(JobTrackerTest, AJobOverItsMemoryQuotaIsToldWhyNamingTheQuota) {
  proc_.process(11, 10, 0, 0, 60);  // the command
  proc_.process(12, 11, 0, 0, 30);  // its child
  jobs::WatchedJob job{"hog", "t1", 11, clock_->now};
  EXPECT_EQ(tracker_->check(job), "") << "90 pages of 100";
  proc_.process(13, 10, 0, 0, 20);  // an orphan, reparented to the supervisor: still the job's
  std::string why = tracker_->check(job);
  EXPECT_NE(why.find("memory quota exceeded"), std::string::npos) << why;
  EXPECT_NE(why.find(std::to_string(110 * pageBytes()) + " bytes"), std::string::npos) << why;
  EXPECT_NE(why.find("memory_bytes is " + std::to_string(100 * pageBytes())), std::string::npos) << why;
  EXPECT_NE(why.find("'hog'"), std::string::npos) << why;
  EXPECT_EQ(counter("hive_resource_quota_kills_total", {{"agent", "hog"}, {"quota", "memory_bytes"}}), 1);
  EXPECT_EQ(harness_->metrics().gauge("hive_resource_job_resident_bytes", "", {{"agent", "hog"}}).value(),
            static_cast<double>(110 * pageBytes()));

  tracker_->ended(job);
  auto summary = tracker_->find("t1");
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->peakResidentBytes, 110 * pageBytes());
  EXPECT_EQ(summary->stoppedFor, why);
  EXPECT_EQ(summary->usage.processes, 3u);
  EXPECT_TRUE(tracker_->running().empty());
  EXPECT_EQ(harness_->metrics().gauge("hive_resource_job_resident_bytes", "", {{"agent", "hog"}}).value(), 0);
}

TEST_F(JobTrackerTest, CpuCountsReapedChildrenAndNeverGoesBack) {
  proc_.process(21, 10, 300, 0, 1);                      // 3 s
  jobs::WatchedJob job{"other", "t2", 21, clock_->now};  // the defaults: cpu_seconds 10
  EXPECT_EQ(tracker_->check(job), "");
  proc_.process(10, 1, 0, 500, 1);  // a child used 5 s and was reaped by the supervisor
  proc_.gone(21);                   // the command exited, not waited for yet
  EXPECT_EQ(tracker_->check(job), "");
  EXPECT_DOUBLE_EQ(tracker_->find("t2")->usage.cpuSeconds, 5.0);
  proc_.process(22, 10, 600, 0, 1);
  std::string why = tracker_->check(job);
  EXPECT_NE(why.find("CPU quota exceeded: its processes used 11.0 s"), std::string::npos) << why;
  EXPECT_NE(why.find("cpu_seconds is 10"), std::string::npos) << why;
  EXPECT_EQ(counter("hive_resource_job_cpu_seconds_total", {{"agent", "other"}}), 11.0);
}

TEST_F(JobTrackerTest, OpenFilesAndWallTimeQuotas) {
  proc_.process(31, 10, 0, 0, 1);
  proc_.openFiles(31, 4);
  std::string why = tracker_->check({"hog", "t3", 31, clock_->now});
  EXPECT_NE(
      why.find("open files quota exceeded: its processes held 4 file descriptors, the limit open_files is 3"),
      std::string::npos)
      << why;

  settings_.defaults.wallTime = std::chrono::seconds(2);
  JobTracker timed(settings_, harness_->metrics(), std::make_shared<ProcessTable>(proc_.root()), clock_);
  jobs::WatchedJob job{"other", "t4", 31, clock_->now};
  EXPECT_EQ(timed.check(job), "");
  clock_->now += 2500;
  EXPECT_NE(timed.check(job).find("wall time quota exceeded: it ran 2500 ms, the limit wall_time is 2000 ms"),
            std::string::npos);
}

TEST_F(JobTrackerTest, KeepsTheMostRecentFinishedJobsOnly) {
  for (int n = 1; n <= 3; ++n) {
    proc_.process(40 + n, 10, 0, 0, 1);
    jobs::WatchedJob job{"other", "f" + std::to_string(n), 40 + n, clock_->now};
    (void)tracker_->check(job);
    tracker_->ended(job);
  }
  auto finished = tracker_->finished();
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(finished[0].job.taskId, "f3");
  EXPECT_EQ(finished[1].job.taskId, "f2");
  EXPECT_FALSE(tracker_->find("f1").has_value());
}

TEST(ResourceManagerConfig, AgentQuotasOverrideTheDefaultsKeyByKeyAndBadValuesAreReported) {
  Diagnostics diagnostics;
  ConfigNode section = ConfigNode::map();
  ConfigNode defaults = ConfigNode::map();
  defaults.set("memory_bytes", ConfigNode::scalar("1048576"));
  defaults.set("cpu_seconds", ConfigNode::scalar("60"));
  section.set("defaults", defaults);
  ConfigNode agents = ConfigNode::map();
  ConfigNode coder = ConfigNode::map();
  coder.set("cpu_seconds", ConfigNode::scalar("600"));
  agents.set("coder", coder);
  ConfigNode bad = ConfigNode::map();
  bad.set("memory_bytes", ConfigNode::scalar("-1"));
  agents.set("bad name", bad);
  ConfigNode typo = ConfigNode::map();
  typo.set("memory_byte", ConfigNode::scalar("1"));
  agents.set("typo", typo);
  section.set("agents", agents);
  Settings settings = readSettings(section, diagnostics);
  EXPECT_EQ(quotaFor(settings, "coder").memoryBytes, 1048576u);
  EXPECT_EQ(quotaFor(settings, "coder").cpuSeconds, 600u);
  EXPECT_EQ(quotaFor(settings, "anyone").cpuSeconds, 60u);
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("'bad name' is not a process agent name"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown key 'memory_byte'"), std::string::npos) << text;
}

LoadSignals signalsOf(std::uint64_t waiting, double ageSeconds, std::uint64_t availableBytes, double load1) {
  LoadSignals signals;
  signals.waiting = waiting;
  signals.queueAgeSeconds = ageSeconds;
  signals.host.cpus = 2;
  signals.host.load = {load1, 0, 0};
  signals.host.memoryTotalBytes = 8ull << 30;
  signals.host.memoryAvailableBytes = availableBytes;
  return signals;
}

TEST(AdmissionLimits, EachLimitIsCrossedAtItsFigureAndNamedWithTheFigures) {
  AdmissionLimits limits;
  LoadSignals calm = signalsOf(1000, 600, 1ull << 20, 50);
  EXPECT_FALSE(crossedLimit(limits, calm)) << "no limit set: nothing is checked";

  limits.maxWaiting = 100;
  limits.maxQueueAge = std::chrono::seconds(30);
  limits.minMemoryAvailableBytes = 512ull << 20;
  limits.maxLoadPerCpu = 4;
  EXPECT_FALSE(crossedLimit(limits, signalsOf(99, 29.9, 512ull << 20, 7.9)));

  auto waiting = crossedLimit(limits, signalsOf(100, 0, 1ull << 30, 0));
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->limit, "max_waiting");
  EXPECT_EQ(waiting->reason, "100 tasks wait to be claimed, the limit (max_waiting) is 100");
  auto age = crossedLimit(limits, signalsOf(0, 31.25, 1ull << 30, 0));
  ASSERT_TRUE(age);
  EXPECT_EQ(age->reason, "the oldest claimable task has waited 31.2 s, the limit (max_queue_age) is 30.0 s");
  auto memory = crossedLimit(limits, signalsOf(0, 0, 256ull << 20, 0));
  ASSERT_TRUE(memory);
  EXPECT_EQ(
      memory->reason,
      "the host has 256.0 MiB of memory available, the limit (min_memory_available_bytes) is 512.0 MiB");
  auto load = crossedLimit(limits, signalsOf(0, 0, 1ull << 30, 9));
  ASSERT_TRUE(load);
  EXPECT_EQ(
      load->reason,
      "the host's 1-minute load is 9.00 on 2 CPUs (4.50 per CPU), the limit (max_load_per_cpu) is 4.00");
  EXPECT_EQ(crossedLimit(limits, signalsOf(500, 500, 1, 100))->limit, "max_waiting") << "the first crossed";
}

TEST(AdmissionLimits, ASignalThatCouldNotBeReadRefusesNothing) {
  AdmissionLimits limits;
  limits.maxWaiting = 1;
  limits.maxQueueAge = std::chrono::seconds(1);
  limits.minMemoryAvailableBytes = 1ull << 40;
  LoadSignals unknown;  // no task service, no queue age series, an unreadable /proc
  EXPECT_FALSE(crossedLimit(limits, unknown));
}

TEST(AdmissionGate, RefusesWhileALimitIsCrossedCountsEachRefusalAndOpensAgain) {
  auto harness = std::move(PluginHarness::loadLibrary(RESOURCE_MANAGER_PLUGIN)).value();  // for its metrics
  AdmissionLimits limits;
  limits.maxWaiting = 10;
  limits.retryAfter = std::chrono::seconds(7);
  AdmissionGate gate(limits, harness->metrics());
  admission::Work work{"task", "", {"shell"}};
  EXPECT_TRUE(gate.admit(work).admitted) << "admitting before the first sample";

  EXPECT_TRUE(gate.update(signalsOf(12, 0, 1ull << 30, 0), 5000)) << "the door closed";
  admission::Verdict verdict = gate.admit(work);
  EXPECT_FALSE(verdict.admitted);
  EXPECT_EQ(verdict.reason, "Hive is saturated: 12 tasks wait to be claimed, the limit (max_waiting) is 10");
  EXPECT_EQ(verdict.retryAfter, std::chrono::seconds(7));
  (void)gate.admit(work);
  EXPECT_EQ(
      harness->metrics().counter("hive_admission_refused_total", "", {{"limit", "max_waiting"}}).value(), 2);
  EXPECT_EQ(harness->metrics().gauge("hive_admission_closed", "").value(), 1);
  auto status = gate.status();
  EXPECT_FALSE(status["open"].as_bool());
  EXPECT_EQ(status["limit"].as_string(), "max_waiting");
  EXPECT_EQ(status["closed_since_ms"].as_int64(), 5000);
  EXPECT_EQ(status["signals"].as_object()["waiting"].to_number<std::int64_t>(), 12);

  EXPECT_FALSE(gate.update(signalsOf(11, 0, 1ull << 30, 0), 6000)) << "still closed";
  EXPECT_TRUE(gate.update(signalsOf(9, 0, 1ull << 30, 0), 7000)) << "the door opened";
  EXPECT_TRUE(gate.admit(work).admitted);
  EXPECT_EQ(harness->metrics().gauge("hive_admission_closed", "").value(), 0);
  EXPECT_TRUE(gate.status()["open"].as_bool());
}

TEST(AdmissionGate, ATenantOrCapabilityAtItsLimitOfWaitingTasksIsRefusedAndTheOthersAreNot) {
  auto harness = std::move(PluginHarness::loadLibrary(RESOURCE_MANAGER_PLUGIN)).value();  // for its metrics
  AdmissionLimits limits;
  limits.maxWaitingPerTenant = 3;
  limits.maxWaitingByCapability = {{"gpu", 2}};
  AdmissionGate gate(limits, harness->metrics());
  LoadSignals signals = signalsOf(6, 0, 1ull << 30, 0);
  signals.waitingByTenant = {{"acme", 3}, {"", 1}, {"globex", 2}};
  signals.waitingByCapability = {{"gpu", 2}};
  EXPECT_FALSE(gate.update(signals, 1000)) << "the door stays open: no host limit is crossed";

  admission::Verdict acme = gate.admit({"task", "acme", {"shell"}});
  EXPECT_FALSE(acme.admitted);
  EXPECT_EQ(acme.reason,
            "tenant 'acme' has 3 tasks waiting to be claimed, the limit (max_waiting_per_tenant) is 3");
  EXPECT_TRUE(gate.admit({"task", "globex", {"shell"}}).admitted) << "2 of 3";
  EXPECT_TRUE(gate.admit({"task", "initech", {"shell"}}).admitted) << "none waiting";
  admission::Verdict gpu = gate.admit({"batch", "", {"gpu", "shell"}});
  EXPECT_FALSE(gpu.admitted);
  EXPECT_EQ(gpu.reason,
            "2 tasks needing capability 'gpu' wait to be claimed, the limit "
            "(max_waiting_by_capability.gpu) is 2");
  EXPECT_TRUE(gate.admit({"task", "", {"shell"}}).admitted);
  EXPECT_EQ(harness->metrics()
                .counter("hive_admission_refused_total", "", {{"limit", "max_waiting_per_tenant"}})
                .value(),
            1);
  EXPECT_EQ(harness->metrics()
                .counter("hive_admission_refused_total", "", {{"limit", "max_waiting_by_capability"}})
                .value(),
            1);
  EXPECT_EQ(harness->metrics().gauge("hive_admission_closed", "").value(), 0);
  auto status = gate.status();
  EXPECT_TRUE(status["open"].as_bool());
  EXPECT_EQ(status["signals"].as_object()["waiting_by_tenant"].as_object()["acme"].to_number<std::int64_t>(),
            3);
  EXPECT_EQ(
      status["limits"].as_object()["max_waiting_by_capability"].as_object()["gpu"].to_number<std::int64_t>(),
      2);
}

// hive.tenancy/1 as security_manager answers it: principal "key:<tenant>" is of that tenant.
class TenantOfKey final : public tenancy::Tenancy {
 public:
  tenancy::Scope scopeOf(std::string_view principal) override {
    if (principal.rfind("key:", 0) == 0) return {std::string(principal.substr(4)), false};
    return {};
  }
};

// The real task_manager on the real store: its queues' waiting tasks are
// counted by their submitter's tenant (the queue's tenant:<name> capability)
// and by each limited capability.
TEST(LoadSignals, CountTheRealTaskManagersWaitingTasksByTenantAndCapability) {
  const std::string path =
      std::filesystem::temp_directory_path() / ("rm-signals-" + std::to_string(::getpid()));
  auto store = std::move(PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN)).value();
  store->setConfig(hive::testing::configFromPairs({{"path", path}}));
  ASSERT_TRUE(store->start().ok());
  auto tasks = std::move(PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN)).value();
  tasks->provideFake<store::Store>(std::static_pointer_cast<store::Store>(
                                       store->services().lookup(store::Store::kServiceId).front().service),
                                   "storage_sqlite");
  tasks->provideFake<tenancy::Tenancy>(std::make_shared<TenantOfKey>(), "security_manager");
  ASSERT_TRUE(tasks->start().ok());
  auto routes = std::static_pointer_cast<http::RouteProvider>(
      tasks->services().lookup(http::RouteProvider::kServiceId).front().service);
  auto submit = [&](const std::string& principal, const std::string& body) {
    http::Request request;
    request.method = "POST";
    request.body = body;
    request.principal = principal;
    std::optional<http::Response> answer;
    routes->serve("tasks.submit", request, [&](http::Response r) { answer = std::move(r); });
    for (int i = 0; i < 5000 && !answer; ++i) {
      tasks->runPending();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status, 201) << answer->body;
  };
  submit("key:acme", R"({"type":"t","capabilities":["gpu"]})");
  submit("key:acme", R"({"type":"t","capabilities":["gpu","shell"]})");
  submit("key:globex", R"({"type":"t","capabilities":["shell"]})");
  submit("", R"({"type":"t","capabilities":["shell"]})");

  auto manager = std::move(PluginHarness::loadLibrary(RESOURCE_MANAGER_PLUGIN)).value();
  manager->provideFake<tasks::TaskService>(
      std::static_pointer_cast<tasks::TaskService>(
          tasks->services().lookup(tasks::TaskService::kServiceId).front().service),
      "task_manager");
  AdmissionLimits limits;
  limits.maxWaitingPerTenant = 2;
  limits.maxWaitingByCapability = {{"gpu", 2}};
  LoadSignals signals = readLoadSignals(manager->context(), limits);
  EXPECT_EQ(signals.unreadable, "");
  EXPECT_EQ(signals.waiting, 4u);
  EXPECT_EQ(signals.waitingByTenant,
            (std::map<std::string, std::uint64_t>{{"", 1}, {"acme", 2}, {"globex", 1}}));
  EXPECT_EQ(signals.waitingByCapability, (std::map<std::string, std::uint64_t>{{"gpu", 2}}));
  tasks->stop();
  store->stop();
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

TEST(ResourceManagerConfig, AdmissionLimitsAreReadWithTheirRanges) {
  Diagnostics diagnostics;
  ConfigNode section = ConfigNode::map();
  ConfigNode admission = ConfigNode::map();
  admission.set("max_waiting", ConfigNode::scalar("5000"));
  admission.set("max_queue_age", ConfigNode::scalar("90s"));
  admission.set("max_load_per_cpu", ConfigNode::scalar("2.5"));
  admission.set("retry_after_seconds", ConfigNode::scalar("0", {"hive.yaml", 7, 28}));
  admission.set("max_waiting_per_tenant", ConfigNode::scalar("100"));
  ConfigNode byCapability = ConfigNode::map();
  byCapability.set("gpu", ConfigNode::scalar("20"));
  byCapability.set("GPU!", ConfigNode::scalar("20"));
  admission.set("max_waiting_by_capability", byCapability);
  section.set("admission", admission);
  Settings settings = readSettings(section, diagnostics);
  EXPECT_EQ(settings.admission.maxWaitingPerTenant, 100u);
  EXPECT_EQ(settings.admission.maxWaitingByCapability, (std::map<std::string, std::uint64_t>{{"gpu", 20}}));
  EXPECT_EQ(settings.admission.maxWaiting, 5000u);
  EXPECT_EQ(settings.admission.maxQueueAge, std::chrono::seconds(90));
  EXPECT_DOUBLE_EQ(settings.admission.maxLoadPerCpu, 2.5);
  EXPECT_TRUE(settings.admission.any());
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:7:28"), std::string::npos) << text;
  EXPECT_NE(text.find("retry_after_seconds"), std::string::npos) << text;
  EXPECT_NE(text.find("'GPU!' is not a capability"), std::string::npos) << text;
  EXPECT_FALSE(readSettings(ConfigNode::map(), diagnostics).admission.any()) << "off by default";
}

// The real .so on this host's /proc: asking for more available memory than
// any host has closes the door within one interval.
TEST(ResourceManagerPlugin, RefusesNewTasksWhenTheHostHasLessMemoryAvailableThanTheLimit) {
  auto loaded = PluginHarness::loadLibrary(RESOURCE_MANAGER_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto harness = std::move(loaded).value();
  ConfigNode section = ConfigNode::map();
  ConfigNode admission = ConfigNode::map();
  admission.set("min_memory_available_bytes", ConfigNode::scalar(std::to_string(std::int64_t{1} << 50)));
  admission.set("interval", ConfigNode::scalar("200ms"));
  section.set("admission", admission);
  harness->setConfig(section);
  ASSERT_FALSE(harness->configure().hasErrors());
  ASSERT_TRUE(harness->start().ok());
  auto gate = harness->services().get<admission::Gate>();
  ASSERT_TRUE(gate.ok());
  EXPECT_TRUE((*gate)->admit({"task", "", {}}).admitted) << "before the first sample";

  harness->advanceTime(std::chrono::milliseconds(200));
  harness->runPending();
  admission::Verdict verdict = (*gate)->admit({"task", "", {}});
  EXPECT_FALSE(verdict.admitted);
  EXPECT_NE(verdict.reason.find("the limit (min_memory_available_bytes) is 1073741824.0 MiB"),
            std::string::npos)
      << verdict.reason;
  EXPECT_EQ(verdict.retryAfter, std::chrono::seconds(5));
  bool warned = false;
  for (const auto& line : harness->logLines())
    warned = warned || line.find("admission control refuses new tasks: the host has") != std::string::npos;
  EXPECT_TRUE(warned);

  auto routes = harness->services().get<http::RouteProvider>();
  ASSERT_TRUE(routes.ok());
  std::optional<http::Response> answer;
  (*routes)->serve("resources", http::Request{}, [&](http::Response r) { answer = std::move(r); });
  ASSERT_TRUE(answer.has_value());
  auto body = boost::json::parse(answer->body).as_object();
  auto state = body["admission"].as_object();
  EXPECT_FALSE(state["open"].as_bool());
  EXPECT_EQ(state["limit"].as_string(), "min_memory_available_bytes");
  harness->stop();
}

TEST(ResourceManagerPlugin, ProvidesTheWatcherAndServesUsageToObservabilityReaders) {
  auto loaded = PluginHarness::loadLibrary(RESOURCE_MANAGER_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto harness = std::move(loaded).value();
  ASSERT_TRUE(harness->start().ok());
  auto watcher = harness->services().get<jobs::JobWatcher>();
  ASSERT_TRUE(watcher.ok());
  RealTree tree(8u << 20);
  pid_t command = tree.command;
  EXPECT_EQ((*watcher)->check({"proc0", "t9", command, 0}), "") << "no quota configured";

  auto routes = harness->services().get<http::RouteProvider>();
  ASSERT_TRUE(routes.ok());
  for (const auto& route : (*routes)->routes())
    EXPECT_EQ(route.permission, "observability:read") << route.path;
  std::optional<http::Response> answer;
  (*routes)->serve("resources", http::Request{}, [&](http::Response r) { answer = std::move(r); });
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->status, 200);
  auto body = boost::json::parse(answer->body).as_object();
  EXPECT_GT(body["host"].as_object()["memory_total_bytes"].as_int64(), 0);
  ASSERT_EQ(body["jobs"].as_array().size(), 1u);
  auto job = body["jobs"].as_array()[0].as_object();
  EXPECT_EQ(job["task_id"].as_string(), "t9");
  EXPECT_GE(job["resident_bytes"].as_int64(), 8 << 20);

  http::Request missing;
  missing.params["id"] = "nope";
  (*routes)->serve("resources.task", missing, [&](http::Response r) { answer = std::move(r); });
  EXPECT_EQ(answer->status, 404);
  (*watcher)->ended({"proc0", "t9", command, 0});
  http::Request kept;
  kept.params["id"] = "t9";
  (*routes)->serve("resources.task", kept, [&](http::Response r) { answer = std::move(r); });
  EXPECT_EQ(answer->status, 200);
  EXPECT_NE(answer->body.find("\"ended_at_ms\""), std::string::npos) << answer->body;

  // hive.job_usage/1 gives the same figures, for the orchestrator to put on the task.
  auto usage = harness->services().get<jobs::UsageReader>();
  ASSERT_TRUE(usage.ok());
  auto figures = boost::json::parse((*usage)->usage("t9")).as_object();
  EXPECT_EQ(figures["task_id"].as_string(), "t9");
  EXPECT_GE(figures["peak_resident_bytes"].as_int64(), 8 << 20);
  EXPECT_TRUE(figures.contains("ended_at_ms"));
  EXPECT_EQ((*usage)->usage("nope"), "");
  harness->stop();
}

}  // namespace
}  // namespace hive::resource_manager
