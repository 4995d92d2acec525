// The `hive` executable, run as an operator would.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/version.h"
#include "test_support.hpp"

namespace hive::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kHive = std::string(HIVE_BINARY_DIR) + "/bin/hive";

struct Outcome {
  int exitCode = -1;
  std::string out;
  std::string err;
};

class Process {
 public:
  Process(const std::vector<std::string>& args, const fs::path& dir)
      : outPath_(dir / "out.txt"), errPath_(dir / "err.txt") {
    pid_ = ::fork();
    if (pid_ == 0) {
      int out = ::open(outPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open(errPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(kHive.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(kHive.c_str(), argv.data());
      ::_exit(127);
    }
  }
  // Waits for a text on stderr, up to `timeout`.
  bool waitForError(const std::string& text, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (readText(errPath_).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  void signal(int number) { ::kill(pid_, number); }
  Outcome wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    Outcome o;
    o.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    o.out = readText(outPath_);
    o.err = readText(errPath_);
    return o;
  }

 private:
  fs::path outPath_, errPath_;
  pid_t pid_ = -1;
};

Outcome runHive(const std::vector<std::string>& args, const fs::path& dir) {
  return Process(args, dir).wait();
}

class CliTest : public ::testing::Test {
 protected:
  std::string writeConfig(const std::string& plugins, const std::string& extraHive = "") {
    stagePlugins(dir_.path() / "plugins", {"solo-1.0.0.so", "alpha-1.0.0.so"});
    std::string path = dir_ / "hive.yaml";
    writeText(path,
              "hive:\n  plugin_dirs: [plugins]\n  data_dir: data\n" + extraHive + "plugins:\n" + plugins);
    return path;
  }
  TempDirectory dir_;
};

TEST_F(CliTest, VersionNamesTheAbi) {
  auto o = runHive({"version"}, dir_.path());
  EXPECT_EQ(o.exitCode, 0);
  EXPECT_THAT(o.out, HasSubstr("SDK ABI " + std::to_string(HIVE_SDK_ABI_MAJOR) + "." +
                               std::to_string(HIVE_SDK_ABI_MINOR)));
}

TEST_F(CliTest, CheckConfigAcceptsAGoodFile) {
  auto config = writeConfig("  solo:\n    config:\n      limit: 3\n");
  auto o = runHive({"check-config", "-c", config}, dir_.path());
  EXPECT_EQ(o.exitCode, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("OK (1 plugins enabled)"));
}

TEST_F(CliTest, CheckConfigReportsEveryErrorWithItsLocation) {
  auto config = writeConfig(
      "  solo:\n"
      "    config:\n"
      "      limit: 0\n"
      "      limt: 3\n"
      "  sollo: {}\n",
      "  io_thread: 2\n");
  auto o = runHive({"check-config", "-c", config}, dir_.path());
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_THAT(o.err, HasSubstr(config + ":4:3: error: unknown key 'io_thread' (did you mean 'io_threads'?)"));
}

TEST_F(CliTest, CheckConfigValidatesPluginSectionsAndNames) {
  auto config = writeConfig(
      "  solo:\n"
      "    config:\n"
      "      limit: 0\n"
      "      limt: 3\n"
      "  sollo: {}\n");
  auto o = runHive({"check-config", "-c", config}, dir_.path());
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_THAT(o.err, HasSubstr(config + ":7:14: error: 'limit': must be at least 1"));
  EXPECT_THAT(o.err, HasSubstr(config + ":8:7: error: unknown key 'limt' (did you mean 'limit'?)"));
  EXPECT_THAT(
      o.err, HasSubstr(config + ":9:3: warning: plugin 'sollo': not found in the plugin directories (did you "
                                "mean 'solo'?)"));
}

TEST_F(CliTest, CheckConfigRejectsBrokenYamlWithoutCrashing) {
  std::string path = dir_ / "broken.yaml";
  writeText(path, "hive:\n  plugin_dirs: [plugins\nplugins: {}\n");
  auto o = runHive({"check-config", "-c", path}, dir_.path());
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_THAT(o.err, HasSubstr(path + ":"));
  EXPECT_THAT(o.err, HasSubstr(": error: "));
}

TEST_F(CliTest, PluginsListReadsManifestsAndNamesRefusedFiles) {
  stagePlugins(dir_.path() / "p", {"beta-1.0.0.so", "abi_major-2.1.0.so"});
  writeText(dir_.path() / "p" / "junk.so", "junk");
  auto o = runHive({"plugins", "list", "--dir", (dir_.path() / "p").string()}, dir_.path());
  EXPECT_EQ(o.exitCode, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("beta"));
  EXPECT_THAT(o.out, HasSubstr("alpha ^1.0"));
  EXPECT_THAT(o.out, HasSubstr("test.counter/1"));
  EXPECT_THAT(o.out, Not(HasSubstr("abi_major ")));
  EXPECT_THAT(o.err, HasSubstr("junk.so: not an ELF file"));
  EXPECT_THAT(o.err, HasSubstr("abi_major-2.1.0.so: plugin 'abi_major' 2.1.0: built for SDK ABI"));
}

TEST_F(CliTest, RunBecomesReadyAndStopsOnSigterm) {
  auto config = writeConfig("  solo: {}\n  alpha:\n    config: {provide_counter: true}\n");
  Process hive({"run", "-c", config, "--log-format", "json"}, dir_.path());
  ASSERT_TRUE(hive.waitForError("hive ready: 2 plugins started, 0 failed"));
  hive.signal(SIGTERM);
  auto o = hive.wait();
  EXPECT_EQ(o.exitCode, 0) << o.err;
  EXPECT_THAT(o.err, HasSubstr("\"msg\":\"stopped\""));
  EXPECT_THAT(o.err, HasSubstr("\"component\":\"solo\""));
}

TEST_F(CliTest, ASecondSignalExitsAtOnce) {
  auto config = writeConfig("  solo:\n    config: {stop_delay: 20s}\n", "  drain_deadline: 60s\n");
  Process hive({"run", "-c", config}, dir_.path());
  ASSERT_TRUE(hive.waitForError("hive ready"));
  hive.signal(SIGTERM);
  ASSERT_TRUE(hive.waitForError("stopping (a second signal exits at once)"));
  auto begin = std::chrono::steady_clock::now();
  hive.signal(SIGINT);
  auto o = hive.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(10));
  EXPECT_EQ(o.exitCode, 130) << o.err;
  EXPECT_THAT(o.err, HasSubstr("second signal: exiting now"));
}

TEST_F(CliTest, AStopThatOverrunsTheDrainDeadlineExits) {
  auto config = writeConfig("  solo:\n    config: {stop_delay: 20s}\n", "  drain_deadline: 300ms\n");
  Process hive({"run", "-c", config}, dir_.path());
  ASSERT_TRUE(hive.waitForError("hive ready"));
  hive.signal(SIGTERM);
  auto o = hive.wait();
  EXPECT_EQ(o.exitCode, 1) << o.err;
  EXPECT_THAT(o.err, HasSubstr("stop deadline of 300 ms passed; exiting now"));
}

TEST_F(CliTest, RunRefusesToStartOnConfigurationErrors) {
  auto config = writeConfig("  solo:\n    config: {limit: -1}\n");
  auto o = runHive({"run", "-c", config}, dir_.path());
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_THAT(o.err, HasSubstr("'limit': must be at least 1"));
  EXPECT_THAT(o.err, HasSubstr("not starting"));
}

TEST_F(CliTest, PluginNewWritesASkeletonOnceAndValidatesTheName) {
  auto target = dir_.path() / "my_plugin";
  auto o = runHive({"plugin", "new", "my_plugin", "--dir", target.string()}, dir_.path());
  EXPECT_EQ(o.exitCode, 0) << o.err;
  EXPECT_TRUE(fs::exists(target / "CMakeLists.txt"));
  auto again = runHive({"plugin", "new", "my_plugin", "--dir", target.string()}, dir_.path());
  EXPECT_EQ(again.exitCode, 1);
  auto bad = runHive({"plugin", "new", "My-Plugin", "--dir", (dir_.path() / "x").string()}, dir_.path());
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_THAT(bad.err, HasSubstr("My-Plugin"));
}

TEST_F(CliTest, RepeatedConfigOptionsLayerFilesAndReportTheOverlaysLocation) {
  auto base = writeConfig("  solo:\n    config:\n      limit: 3\n");
  std::string overlay = dir_ / "overlay.yaml";
  writeText(overlay, "plugins:\n  solo:\n    config:\n      limit: 0\n");
  auto o = runHive({"check-config", "-c", base, "-c", overlay}, dir_.path());
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_THAT(o.err, HasSubstr(overlay + ":4:14: error: 'limit': must be at least 1"));

  writeText(overlay, "plugins:\n  solo:\n    config:\n      limit: 7\n");
  o = runHive({"check-config", "-c", base, "-c", overlay}, dir_.path());
  EXPECT_EQ(o.exitCode, 0) << o.err;
  o = runHive({"config", "show", "-c", base, "-c", overlay}, dir_.path());
  EXPECT_EQ(o.exitCode, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("limit: 7  # " + overlay + ":4:14"));
  EXPECT_THAT(o.out, HasSubstr("data_dir: data  # " + base + ":3:13"));
}

TEST_F(CliTest, ConfigShowFailsOnAnInvalidMergeButStillShowsIt) {
  auto base = writeConfig("  solo: {}\n", "  drain_deadline: 0s\n");
  auto o = runHive({"config", "show", "-c", base}, dir_.path());
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_THAT(o.out, HasSubstr("drain_deadline: 0s  # " + base));
  EXPECT_THAT(o.err, HasSubstr(base + ":4:19: error: 'drain_deadline': must be greater than 0"));
}

}  // namespace
}  // namespace hive::test
