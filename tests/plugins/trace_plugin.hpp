// A configurable plugin for kernel tests. It appends "<event> <name>" lines to
// its `trace_file` so a test can see the order of lifecycle calls across
// plugins, and can be told to fail at each step.
//
// config:
//   trace_file: /tmp/x     where to append events (optional)
//   fail_start: false      start() returns an error
//   provide_counter: false provides test.counter/1 (must be in the manifest)
//   use_counter: false     start() looks up test.counter/1 and calls it
//   provide_undeclared: false  tries to provide a service its manifest lacks
//   stop_delay: 0ms        stop() sleeps this long (slow shutdowns)
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "counter_service.hpp"
#include "hive/plugin.hpp"

namespace hive::test {

class Counter final : public CounterService {
 public:
  std::int64_t next() override { return ++value_; }

 private:
  std::atomic<std::int64_t> value_{0};
};

class UndeclaredService : public Service {
 public:
  static constexpr ServiceId kServiceId{"test.undeclared", 1};
};

class TracePlugin : public Plugin {
 public:
  explicit TracePlugin(PluginContext& context) : context_(context) {}
  ~TracePlugin() override { trace("destroy"); }

  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    ConfigReader reader(section, diagnostics);
    traceFile_ = reader.get<std::string>("trace_file", "");
    failStart_ = reader.get<bool>("fail_start", false);
    provideCounter_ = reader.get<bool>("provide_counter", false);
    useCounter_ = reader.get<bool>("use_counter", false);
    provideUndeclared_ = reader.get<bool>("provide_undeclared", false);
    stopDelay_ = reader.get<std::chrono::milliseconds>("stop_delay", std::chrono::milliseconds(0));
    int limit = reader.get<int>("limit", 10);
    if (limit < 1) reader.reject("limit", "must be at least 1");
    reader.finish();
    trace("configure");
  }

  Status start() override {
    trace("start");
    if (failStart_) return unavailable("told to fail");
    if (provideCounter_) HIVE_TRY(context_.services().provide<CounterService>(std::make_shared<Counter>()));
    if (provideUndeclared_)
      HIVE_TRY(context_.services().provide<UndeclaredService>(std::make_shared<UndeclaredService>()));
    if (useCounter_) {
      auto counter = HIVE_TRY(context_.services().get<CounterService>());
      trace("counter " + std::to_string(counter->next()));
    }
    context_.log().info("started");
    return okStatus();
  }

  void stop() override {
    trace("stop");
    std::this_thread::sleep_for(stopDelay_);
  }

 private:
  void trace(const std::string& event) {
    if (traceFile_.empty()) return;
    std::ofstream out(traceFile_, std::ios::app);
    out << event << " " << context_.pluginName() << "\n";
  }

  PluginContext& context_;
  std::string traceFile_;
  bool failStart_ = false;
  bool provideCounter_ = false;
  bool useCounter_ = false;
  bool provideUndeclared_ = false;
  std::chrono::milliseconds stopDelay_{0};
};

}  // namespace hive::test
