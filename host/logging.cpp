#include "host/logging.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <spdlog/details/log_msg.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include "hive/services/http.hpp"

namespace hive::host {

std::string_view logLevelName(hive::LogLevel level) noexcept {
  switch (level) {
    case hive::LogLevel::kTrace: return "trace";
    case hive::LogLevel::kDebug: return "debug";
    case hive::LogLevel::kInfo: return "info";
    case hive::LogLevel::kWarn: return "warn";
    case hive::LogLevel::kError: return "error";
    case hive::LogLevel::kCritical: return "critical";
    case hive::LogLevel::kOff: return "off";
  }
  return "off";
}

namespace {

spdlog::level::level_enum toSpdlog(hive::LogLevel level) {
  switch (level) {
    case hive::LogLevel::kTrace: return spdlog::level::trace;
    case hive::LogLevel::kDebug: return spdlog::level::debug;
    case hive::LogLevel::kInfo: return spdlog::level::info;
    case hive::LogLevel::kWarn: return spdlog::level::warn;
    case hive::LogLevel::kError: return spdlog::level::err;
    case hive::LogLevel::kCritical: return spdlog::level::critical;
    case hive::LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::off;
}

hive::LogLevel fromSpdlog(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return hive::LogLevel::kTrace;
    case spdlog::level::debug: return hive::LogLevel::kDebug;
    case spdlog::level::info: return hive::LogLevel::kInfo;
    case spdlog::level::warn: return hive::LogLevel::kWarn;
    case spdlog::level::err: return hive::LogLevel::kError;
    case spdlog::level::critical: return hive::LogLevel::kCritical;
    default: return hive::LogLevel::kOff;
  }
}

void appendHexEscape(std::string& out, const char* prefix, unsigned char byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%s%02x", prefix, byte);
  out += buffer;
}

// Text lines stay greppable: only the characters that could break or forge a line are
// escaped, everything else (including backslashes and UTF-8) is written as it came.
void appendTextEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
      appendHexEscape(out, "\\x", byte);
    } else {
      out += c;
    }
  }
}

// Writes everything or gives up silently: there is nowhere left to report a failing log.
void writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
}

class FdSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  FdSink(int fd, LogOutputFormat format) : fd_(fd), format_(format) {}

  void setOutputFormat(LogOutputFormat format) { format_.store(format, std::memory_order_relaxed); }

 protected:
  // spdlog::sinks::base_sink — called under the sink's mutex.
  void sink_it_(const spdlog::details::log_msg& message) override {
    line_.clear();
    std::string_view component(message.logger_name.data(), message.logger_name.size());
    std::string_view payload(message.payload.data(), message.payload.size());
    std::string_view level = logLevelName(fromSpdlog(message.level));
    if (format_.load(std::memory_order_relaxed) == LogOutputFormat::kJson) {
      line_ += "{\"ts\":\"";
      appendTimestamp(message.time);
      line_ += "\",\"level\":\"";
      line_ += level;
      line_ += "\",\"component\":";
      line_ += http::jsonQuote(component);
      line_ += ",\"msg\":";
      line_ += http::jsonQuote(payload);
      line_ += "}\n";
    } else {
      appendTimestamp(message.time);
      line_ += ' ';
      line_ += level;
      line_.append(level.size() < 5 ? 5 - level.size() : 0, ' ');
      line_ += " [";
      appendTextEscaped(line_, component);
      line_ += "] ";
      appendTextEscaped(line_, payload);
      line_ += '\n';
    }
    writeAll(fd_, line_);
  }

  // Every line reaches the descriptor in sink_it_; nothing is buffered here.
  void flush_() override {}

 private:
  void appendTimestamp(spdlog::log_clock::time_point time) {
    auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(time);
    if (seconds > time) seconds -= std::chrono::seconds(1);  // times before 1970 round down
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds).count();
    if (seconds != cachedSecond_ || cachedPrefix_.empty()) {
      std::time_t epoch = std::chrono::system_clock::to_time_t(seconds);
      std::tm utc{};
      gmtime_r(&epoch, &utc);
      char buffer[32];
      std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
      cachedPrefix_ = buffer;
      cachedSecond_ = seconds;
    }
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%03dZ", static_cast<int>(millis));
    line_ += cachedPrefix_;
    line_ += fraction;
  }

  const int fd_;
  std::atomic<LogOutputFormat> format_;
  std::string line_;
  std::chrono::time_point<spdlog::log_clock, std::chrono::seconds> cachedSecond_{};
  std::string cachedPrefix_;
};

// What loggers share with their LogSystem; they keep it alive.
struct LogOutput {
  std::shared_ptr<FdSink> sink;
  std::atomic<hive::LogLevel> defaultLevel;
};

class ComponentLogger final : public hive::Logger {
 public:
  ComponentLogger(std::shared_ptr<LogOutput> shared, const std::string& component,
                  std::optional<hive::LogLevel> level)
      : shared_(std::move(shared)), logger_(component, shared_->sink), level_(level) {
    // Filtering happens in enabled(), so that loggers without a level of their own
    // follow the system's default level as it changes.
    logger_.set_level(spdlog::level::trace);
  }

  // hive::Logger
  void log(hive::LogLevel level, std::string_view message) override {
    if (!enabled(level)) return;
    logger_.log(toSpdlog(level), spdlog::string_view_t(message.data(), message.size()));
  }

  bool enabled(hive::LogLevel level) const override {
    if (level == hive::LogLevel::kOff) return false;
    hive::LogLevel threshold = level_ ? *level_ : shared_->defaultLevel.load(std::memory_order_relaxed);
    return static_cast<int>(level) >= static_cast<int>(threshold);
  }

 private:
  std::shared_ptr<LogOutput> shared_;
  spdlog::logger logger_;
  const std::optional<hive::LogLevel> level_;
};

}  // namespace

struct LogSystem::Shared : LogOutput {};

LogSystem::LogSystem(LogOutputFormat format, hive::LogLevel defaultLevel, int fd)
    : shared_(std::make_shared<Shared>()) {
  shared_->sink = std::make_shared<FdSink>(fd, format);
  shared_->defaultLevel.store(defaultLevel);
}

LogSystem::~LogSystem() = default;

std::unique_ptr<hive::Logger> LogSystem::logger(const std::string& component,
                                                std::optional<hive::LogLevel> level) {
  return std::make_unique<ComponentLogger>(shared_, component, level);
}

void LogSystem::setFormat(LogOutputFormat format) { shared_->sink->setOutputFormat(format); }

void LogSystem::setDefaultLevel(hive::LogLevel level) {
  shared_->defaultLevel.store(level, std::memory_order_relaxed);
}

hive::LogLevel LogSystem::defaultLevel() const {
  return shared_->defaultLevel.load(std::memory_order_relaxed);
}

void LogSystem::flush() { shared_->sink->flush(); }

}  // namespace hive::host
