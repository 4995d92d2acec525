// The kernel's log output: one line per message, text or JSON, on one file descriptor.
// spdlog does the work underneath; it stays out of this header so that code including
// it (and every plugin, through hive::Logger) never depends on spdlog or fmt.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "hive/log.hpp"

namespace hive::host {

// hive::host::LogFormat belongs to the kernel configuration; this is the output side.
enum class LogOutputFormat { kText, kJson };

// "trace", "debug", "info", "warn", "error", "critical", "off".
std::string_view logLevelName(hive::LogLevel level) noexcept;

// Text:  2026-11-29T02:44:31.123Z info  [component] message
// JSON:  {"ts":"2026-11-29T02:44:31.123Z","level":"info","component":"x","msg":"..."}
// Timestamps are UTC with milliseconds. Each message is written with one write(2) under a
// lock, so lines from different threads never interleave. Control characters in a message
// are escaped in both formats: a message can never forge a second line.
//
// Thread-safe. Loggers handed out share the output with the LogSystem and stay usable
// after it is destroyed. `fd` is not owned and must stay open while any logger lives.
class LogSystem {
 public:
  LogSystem(LogOutputFormat format, hive::LogLevel defaultLevel, int fd = 2);
  ~LogSystem();
  LogSystem(const LogSystem&) = delete;
  LogSystem& operator=(const LogSystem&) = delete;

  // One logger per plugin or kernel component. Without `level` the logger follows the
  // default level, including later setDefaultLevel() calls; with it, the level is fixed.
  std::unique_ptr<hive::Logger> logger(const std::string& component,
                                       std::optional<hive::LogLevel> level = {});

  void setFormat(LogOutputFormat format);
  void setDefaultLevel(hive::LogLevel level);
  hive::LogLevel defaultLevel() const;
  void flush();

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace hive::host
