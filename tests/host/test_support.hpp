// Shared helpers for kernel tests: temp directories holding chosen test plugins.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "hive/log.hpp"

namespace hive::test {

namespace fs = std::filesystem;

// A fresh directory removed at the end of the test.
class TempDirectory {
 public:
  TempDirectory() {
    static int serial = 0;
    path_ = fs::temp_directory_path() /
            ("hive-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// The path of a built test plugin, e.g. testPlugin("alpha-1.0.0.so").
inline fs::path testPlugin(const std::string& file) { return fs::path(HIVE_TEST_PLUGIN_DIR) / file; }

// A plugin directory holding copies of the given test plugin files.
inline void stagePlugins(const fs::path& directory, std::initializer_list<std::string> files) {
  fs::create_directories(directory);
  for (const auto& f : files)
    fs::copy_file(testPlugin(f), directory / f, fs::copy_options::overwrite_existing);
}

inline std::string readText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void writeText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A Logger that keeps what it was told, for assertions on log lines.
class RecordingLogger final : public Logger {
 public:
  void log(LogLevel level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(level, std::string(message));
  }
  bool enabled(LogLevel) const override { return true; }

  std::vector<std::string> messages() const {
    return select([](LogLevel) { return true; });
  }
  std::vector<std::string> errors() const {
    return select([](LogLevel level) { return level == LogLevel::kError; });
  }

 private:
  template <typename Keep>
  std::vector<std::string> select(Keep keep) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> result;
    for (const auto& [level, message] : lines_)
      if (keep(level)) result.push_back(message);
    return result;
  }

  mutable std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

}  // namespace hive::test
