#include "harness_context.hpp"

#include <stdlib.h>

#include <system_error>

namespace hive::testing::detail {
namespace {

std::string_view levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kCritical: return "critical";
    case LogLevel::kOff: return "off";
  }
  return "info";
}

// A fresh directory per harness, so that tests never see each other's files.
std::string makeDataDirectory(const std::string& name) {
  std::error_code error;
  std::filesystem::path base = std::filesystem::temp_directory_path(error);
  if (error) base = "/tmp";
  std::string pattern = (base / ("hive-harness-" + name + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) return (base / ("hive-harness-" + name)).string();
  return pattern;
}

}  // namespace

void RecordingLogger::log(LogLevel level, std::string_view message) {
  if (level == LogLevel::kOff) return;
  std::string line(levelName(level));
  line += ": ";
  line += message;
  std::lock_guard lock(mutex_);
  lines_.push_back(std::move(line));
}

std::vector<std::string> RecordingLogger::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

HarnessContext::HarnessContext(std::string name, std::string version, const HiveManifest* manifest)
    : name_(std::move(name)),
      version_(std::move(version)),
      pluginView_(store_, name_, manifest),
      testView_(store_, "test", nullptr),
      dataDirectory_(makeDataDirectory(name_)) {}

HarnessContext::~HarnessContext() {
  std::error_code ignored;  // a leftover temporary directory is not worth failing a test over
  std::filesystem::remove_all(dataDirectory_, ignored);
}

void HarnessContext::dropEverythingOfThePlugin() {
  io_.clear();
  blocking_.clear();
  timers_.clear();
  store_->clear();
}

}  // namespace hive::testing::detail
