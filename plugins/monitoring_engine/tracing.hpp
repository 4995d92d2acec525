// Spans of tasks, exported as OTLP/HTTP JSON (the OpenTelemetry protocol's
// JSON encoding, POST to a collector's /v1/traces) when `tracing.endpoint` is
// set. Built from the task events on the bus (docs/events.md): each task
// carries a W3C traceparent (the submitting request's, or one task_manager
// started), so its spans join the client's trace:
//
//   task <type>           submitted → final status, child of the traceparent's span
//   task.dispatch <type>  each assignment: queued → assigned to an agent, child of the task span
//   task.run <type>       each attempt that ran: running → its end, child of the task span, with the agent
//
// Span ids are derived from the task id (and attempt), so the spans of one
// task agree without shared state. Export is batched and bounded: spans wait
// in a queue of `queue` (beyond it they are dropped and counted), a thread
// posts up to `batch` every `period`, one attempt each with `timeout`; a dead
// collector costs that thread's time and a counter, nothing else.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "alert_rules.hpp"
#include "hive/config.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services/tracing.hpp"

namespace hive::monitoring_engine {

struct TracingSettings {
  Webhook collector;  // url empty: no export
  std::chrono::milliseconds period{2000};
  std::size_t batch = 512;
  std::size_t queue = 8192;
  std::string serviceName = "hive";
};

TracingSettings readTracingSettings(const ConfigNode& section, Diagnostics& diagnostics);

// One span in OTLP JSON, ready to be put in a batch.
using SpanJson = std::string;

class SpanExporter {
 public:
  SpanExporter(TracingSettings settings, Logger& log, Metrics& metrics);
  ~SpanExporter();
  SpanExporter(const SpanExporter&) = delete;
  SpanExporter& operator=(const SpanExporter&) = delete;

  void enqueue(SpanJson span);  // thread-safe; drops (counted) when the queue is full
  void stop();                  // idempotent; what is queued is dropped

 private:
  void run();
  std::string envelope(const std::deque<SpanJson>& spans) const;

  const TracingSettings settings_;
  Logger& log_;
  Counter& exported_;
  Counter& dropped_;
  Counter& failures_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<SpanJson> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// Task events → spans (thread-safe). Running attempts are followed by task id,
// at most `maxTracked`.
class TaskSpans {
 public:
  TaskSpans(std::shared_ptr<SpanExporter> exporter, std::size_t maxTracked)
      : exporter_(std::move(exporter)), maxTracked_(maxTracked) {}
  void record(std::string_view payload);

 private:
  struct Running {
    std::string agent;
    std::int64_t startedAtMs = 0;
    std::int64_t attempt = 0;
  };
  const std::shared_ptr<SpanExporter> exporter_;
  const std::size_t maxTracked_;
  std::mutex mutex_;
  std::unordered_map<std::string, Running> running_;
  // Assigned, not yet running: an attempt whose start came with its end (the
  // agent's accept and result in one burst) runs from its assignment.
  std::unordered_map<std::string, Running> assigned_;
};

// hive.tracing/1: spans other plugins made (the api's HTTP requests), exported
// with the task spans.
class ExportingSink final : public tracing::SpanSink {
 public:
  explicit ExportingSink(std::shared_ptr<SpanExporter> exporter) : exporter_(std::move(exporter)) {}
  void record(tracing::Span span) override;

 private:
  const std::shared_ptr<SpanExporter> exporter_;
};

}  // namespace hive::monitoring_engine
