// Crash test for a hive.store/1 provider: store_crash_worker runs queue
// operations and logs (fsync'd) every one the store acknowledged; this test
// kill -9s it at a random moment, several times, reopens the store and checks:
//   - every acknowledged enqueue is still in the queue, or was completed (acknowledged,
//     or the complete in flight when the worker died: logged as claimed);
//   - nothing acknowledged as completed is still in the queue, nor completed twice;
//   - (SQLite) PRAGMA integrity_check is ok.
//
// Reusable for another provider: compile this file with
//   STORE_CRASH_PLUGIN  the provider's .so
//   STORE_CRASH_WORKER  the store_crash_worker executable
//   STORE_CRASH_CONFIG  "key=value|key=value": the plugin config; @DIR@ is this
//                       test's scratch directory, ${VAR} an environment variable
//   STORE_CRASH_SQLITE_FILE (optional) a database file under @DIR@ to integrity-check
// or run this build with the environment variables of the same names (they win over
// the compiled-in values; set STORE_CRASH_SQLITE_FILE= empty to skip the SQLite check):
//   STORE_CRASH_PLUGIN=storage_postgres-1.0.0.so STORE_CRASH_SQLITE_FILE=
//   STORE_CRASH_CONFIG='url=${HIVE_TEST_POSTGRES_URL}' storage_sqlite_crash_test
// Item ids are unique per test run, so a store that persists (a server) is fine;
// only the queue "crash" is used.
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

// A compiled-in setting, unless the environment variable of the same name is set.
std::string setting(const char* name, const char* compiled) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string(compiled);
}

#ifndef STORE_CRASH_SQLITE_FILE
#define STORE_CRASH_SQLITE_FILE ""
#endif

std::string pluginPath() { return setting("STORE_CRASH_PLUGIN", STORE_CRASH_PLUGIN); }
std::string workerPath() { return setting("STORE_CRASH_WORKER", STORE_CRASH_WORKER); }
std::string sqliteFile() { return setting("STORE_CRASH_SQLITE_FILE", STORE_CRASH_SQLITE_FILE); }

std::string expand(std::string text, const std::string& dir) {
  for (auto at = text.find("@DIR@"); at != std::string::npos; at = text.find("@DIR@"))
    text.replace(at, 5, dir);
  for (auto at = text.find("${"); at != std::string::npos; at = text.find("${")) {
    auto end = text.find('}', at);
    if (end == std::string::npos) break;
    const char* value = std::getenv(text.substr(at + 2, end - at - 2).c_str());
    text.replace(at, end - at + 1, value ? value : "");
  }
  return text;
}

std::vector<std::pair<std::string, std::string>> configPairs(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::stringstream all(expand(setting("STORE_CRASH_CONFIG", STORE_CRASH_CONFIG), dir));
  std::string item;
  while (std::getline(all, item, '|')) {
    auto equals = item.find('=');
    if (equals != std::string::npos) pairs.emplace_back(item.substr(0, equals), item.substr(equals + 1));
  }
  return pairs;
}

struct AckLog {
  std::set<std::string> enqueued;
  std::set<std::string> claimed;  // complete() called, maybe not returned
  std::map<std::string, int> completed;
  std::size_t lines = 0;
};

AckLog readLog(const std::string& path) {
  AckLog log;
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t start = 0;
  while (true) {
    auto end = content.find('\n', start);
    if (end == std::string::npos) break;  // a torn last line is not an acknowledgement on record
    std::string line = content.substr(start, end - start);
    start = end + 1;
    if (line.size() < 3) continue;
    ++log.lines;
    if (line[0] == 'E') log.enqueued.insert(line.substr(2));
    if (line[0] == 'C') log.claimed.insert(line.substr(2));
    if (line[0] == 'D') ++log.completed[line.substr(2)];
  }
  return log;
}

pid_t spawnWorker(const std::string& dir, const std::string& logPath, const std::string& run, int items) {
  std::string worker = workerPath();
  std::vector<std::string> args = {worker, "--plugin", pluginPath(),         "--log", logPath, "--run",
                                   run,    "--items",  std::to_string(items)};
  for (const auto& [key, value] : configPairs(dir)) {
    args.push_back("--config");
    args.push_back(key + "=" + value);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, worker.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

class StoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "store_crash_test.XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    logPath_ = dir_ + "/ack.log";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Reopens the store in this process and checks it against the log.
  void verify(const std::string& when) {
    SCOPED_TRACE(when);
    AckLog log = readLog(logPath_);
    auto loaded = hive::testing::PluginHarness::loadLibrary(pluginPath());
    ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
    auto harness = std::move(loaded).value();
    auto config = hive::ConfigNode::map();
    for (const auto& [key, value] : configPairs(dir_)) config.set(key, hive::ConfigNode::scalar(value));
    harness->setConfig(std::move(config));
    hive::Status started = harness->start();
    ASSERT_TRUE(started.ok()) << "the store does not reopen after kill -9: " << started.toString();
    {
      auto store = harness->services().get<hive::store::Store>();
      ASSERT_TRUE(store.ok()) << store.status().toString();
      std::size_t lost = 0, resurrected = 0, twice = 0, inFlight = 0;
      for (const auto& [id, times] : log.completed) {
        if (times > 1 && ++twice <= 5)
          ADD_FAILURE() << id << " acknowledged as completed " << times << " times";
        auto item = (*store)->peek("crash", id);
        if (item.ok() && ++resurrected <= 5)
          ADD_FAILURE() << id << " was completed but is still in the queue";
        if (!item.ok() && item.status().code() != hive::StatusCode::kNotFound)
          ADD_FAILURE() << "peek " << id << ": " << item.status().toString();
      }
      for (const auto& id : log.enqueued) {
        if (log.completed.count(id) != 0) continue;
        auto item = (*store)->peek("crash", id);
        if (!item.ok() && item.status().code() == hive::StatusCode::kNotFound && log.claimed.count(id) != 0) {
          ++inFlight;  // completed by the worker, killed before it logged the acknowledgement
          continue;
        }
        if (!item.ok() && ++lost <= 5)
          ADD_FAILURE() << id << " was acknowledged as enqueued but is gone: " << item.status().toString();
      }
      EXPECT_EQ(lost, 0u);
      EXPECT_LE(inFlight, kills_) << "a killed worker has at most one complete in flight";
      EXPECT_EQ(resurrected, 0u);
      EXPECT_EQ(twice, 0u);
      checked_ += log.enqueued.size();
    }
    harness.reset();
    if (sqliteFile().empty()) return;
    sqlite3* db = nullptr;
    std::string file = dir_ + "/" + sqliteFile();
    ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "ok");
    sqlite3_finalize(statement);
    sqlite3_close(db);
  }

  std::string dir_;
  std::string logPath_;
  std::size_t checked_ = 0;
  std::size_t kills_ = 0;
};

TEST_F(StoreCrashTest, KillNineMidWayLosesNothingAcknowledged) {
  constexpr int kRounds = 4;
  constexpr int kItems = 3334;  // ~10,000 queue operations per round
  std::mt19937 random(std::random_device{}());
  std::string run = "r" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  int killed = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::size_t linesBefore = readLog(logPath_).lines;
    pid_t pid = spawnWorker(dir_, logPath_, run + "-" + std::to_string(round), kItems);
    ASSERT_GT(pid, 0) << "cannot start " << workerPath();
    // Wait until the worker is well under way, then kill it at a random moment.
    std::size_t startAfter = linesBefore + 100 + random() % 4000;
    auto deadline = std::chrono::steady_clock::now() + 120s;
    int status = 0;
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (readLog(logPath_).lines >= startAfter) break;
      std::this_thread::sleep_for(5ms);
    }
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (WIFSIGNALED(status)) ++killed;
      ++kills_;
    } else {
      ADD_FAILURE() << "the worker ended before it could be killed (status " << status << ")";
    }
    std::size_t linesAfter = readLog(logPath_).lines;
    std::printf("round %d: killed after %zu acknowledged operations\n", round, linesAfter - linesBefore);
    ASSERT_GT(linesAfter, linesBefore) << "the worker made no progress";
    verify("after kill -9 number " + std::to_string(round + 1));
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(killed, kRounds);

  // A last run to the end: the store still works after all that, and items left
  // leased by the killed workers are claimed and completed again.
  pid_t pid = spawnWorker(dir_, logPath_, run + "-final", 50);
  ASSERT_GT(pid, 0);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0) << "final worker status " << status;
  verify("after the final run");
  EXPECT_GT(checked_, 0u);
}

}  // namespace
