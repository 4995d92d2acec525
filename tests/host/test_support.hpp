// Shared helpers for kernel tests: temp directories holding chosen test plugins.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

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

}  // namespace hive::test
