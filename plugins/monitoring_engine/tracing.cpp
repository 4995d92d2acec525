#include "tracing.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include <boost/json.hpp>

#include "plugin_common/task_event.hpp"
#include "webhook_sender.hpp"

namespace hive::monitoring_engine {

namespace {

namespace json = boost::json;

// FNV-1a: a stable 64-bit span id from the task id (and attempt); never 0.
std::string spanId(std::string_view key) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : key) hash = (hash ^ c) * 1099511628211ull;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash | 1));
  return text;
}

bool isHex(std::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// version-traceid-parentid-flags, as the api checks it.
bool splitTraceparent(const std::string& header, std::string& traceId, std::string& parentId) {
  if (header.size() != 55 || header[2] != '-' || header[35] != '-' || header[52] != '-') return false;
  traceId = header.substr(3, 32);
  parentId = header.substr(36, 16);
  return isHex(traceId) && isHex(parentId) && traceId != std::string(32, '0') &&
         parentId != std::string(16, '0');
}

json::object attribute(std::string_view key, std::string_view value) {
  return json::object{{"key", key}, {"value", json::object{{"stringValue", value}}}};
}

// One span in OTLP JSON: the task spans and what hive.tracing/1 is handed.
SpanJson spanJson(const tracing::Span& span) {
  json::array attributes;
  for (const auto& each : span.attributes) attributes.push_back(attribute(each.key, each.value));
  json::object status{{"code", span.ok ? 1 : 2}};
  if (!span.ok && !span.error.empty()) status["message"] = span.error.substr(0, 1024);
  json::object out{{"traceId", span.traceId},
                   {"spanId", span.spanId},
                   {"name", span.name.substr(0, 256)},
                   {"kind", span.server ? 2 : 1},  // SPAN_KIND_SERVER, SPAN_KIND_INTERNAL
                   {"startTimeUnixNano", std::to_string(span.startUnixNano)},
                   {"endTimeUnixNano", std::to_string(std::max(span.startUnixNano, span.endUnixNano))},
                   {"attributes", std::move(attributes)},
                   {"status", std::move(status)}};
  if (!span.parentSpanId.empty()) out["parentSpanId"] = span.parentSpanId;
  return json::serialize(out);
}

// A task span, its times in ms.
SpanJson span(const std::string& traceId, const std::string& id, const std::string& parent, std::string name,
              std::int64_t startMs, std::int64_t endMs, bool ok, std::vector<tracing::Attribute> attributes,
              const std::string& error) {
  return spanJson({.traceId = traceId,
                   .spanId = id,
                   .parentSpanId = parent,
                   .name = std::move(name),
                   .startUnixNano = startMs * 1'000'000,
                   .endUnixNano = endMs * 1'000'000,
                   .ok = ok,
                   .error = ok ? std::string() : error,
                   .attributes = std::move(attributes)});
}

}  // namespace

TracingSettings readTracingSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  TracingSettings settings;
  settings.collector.name = "otlp";
  settings.collector.url = reader.get<std::string>("endpoint", "");
  readWebhookUrl(reader, "endpoint", settings.collector);
  settings.collector.timeout = reader.getInRange<std::chrono::milliseconds>(
      "timeout", settings.collector.timeout, std::chrono::milliseconds(100), std::chrono::minutes(1));
  settings.collector.retries = 0;  // the next batch is the retry; a dead collector must not pile up work
  settings.period = reader.getInRange<std::chrono::milliseconds>(
      "period", settings.period, std::chrono::milliseconds(100), std::chrono::hours(1));
  settings.batch = static_cast<std::size_t>(
      reader.getInRange<std::int64_t>("batch", static_cast<std::int64_t>(settings.batch), 1, 100000));
  settings.queue = static_cast<std::size_t>(
      reader.getInRange<std::int64_t>("queue", static_cast<std::int64_t>(settings.queue), 1, 1000000));
  settings.serviceName = reader.get<std::string>("service_name", settings.serviceName);
  reader.finish();
  return settings;
}

SpanExporter::SpanExporter(TracingSettings settings, Logger& log, Metrics& metrics)
    : settings_(std::move(settings)),
      log_(log),
      exported_(metrics.counter("hive_trace_spans_exported_total", "Spans the OTLP collector accepted")),
      dropped_(
          metrics.counter("hive_trace_spans_dropped_total",
                          "Spans not exported: the queue was full or the collector refused their batch")),
      failures_(metrics.counter(
          "hive_trace_export_failures_total",
          "Batches of spans the OTLP collector did not accept (refused, timed out, not 2xx)")),
      thread_([this] { run(); }) {}

SpanExporter::~SpanExporter() { stop(); }

void SpanExporter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SpanExporter::enqueue(SpanJson span) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < settings_.queue) {
      queue_.push_back(std::move(span));
      if (queue_.size() >= settings_.batch) wake_.notify_one();
      return;
    }
  }
  dropped_.increment();
}

std::string SpanExporter::envelope(const std::deque<SpanJson>& spans) const {
  std::string list;
  for (const auto& s : spans) {
    if (!list.empty()) list += ',';
    list += s;  // each already serialised by Boost.JSON
  }
  json::object resource{{"attributes", json::array{attribute("service.name", settings_.serviceName)}}};
  json::object scope{{"name", "hive.monitoring_engine"}};
  // The spans go in as serialised text: wrap around a placeholder.
  std::string body = json::serialize(json::object{
      {"resourceSpans",
       json::array{json::object{
           {"resource", resource},
           {"scopeSpans", json::array{json::object{{"scope", scope}, {"spans", "@SPANS@"}}}}}}}});
  body.replace(body.find("\"@SPANS@\""), 9, "[" + list + "]");
  return body;
}

void SpanExporter::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, settings_.period, [this] { return stopping_ || queue_.size() >= settings_.batch; });
    if (stopping_) break;
    if (queue_.empty()) continue;
    std::deque<SpanJson> batch;
    while (!queue_.empty() && batch.size() < settings_.batch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    Status posted = postJson(settings_.collector, envelope(batch));
    if (posted.ok()) {
      exported_.increment(static_cast<double>(batch.size()));
    } else {
      failures_.increment();
      dropped_.increment(static_cast<double>(batch.size()));
      log_.debug("spans not exported: " + posted.message());  // the URL's path may carry a token: not logged
    }
    lock.lock();
  }
}

void TaskSpans::record(std::string_view payload) {
  auto task = plugin_common::readTaskEvent(payload);
  std::string traceId, parentId;
  if (!task || !splitTraceparent(task->traceparent, traceId, parentId)) return;
  const std::string taskSpan = spanId(task->id);
  Running ran;
  bool attemptEnded = false;
  if (task->event == "assigned") {
    // Dispatch: from the moment the attempt could be claimed (queued; after a
    // retry's backoff) to its assignment to an agent.
    const std::int64_t queued = task->queuedAtMs != 0 ? task->queuedAtMs : task->createdAtMs;
    exporter_->enqueue(span(traceId, spanId(task->id + "/dispatch/" + std::to_string(task->attempts)),
                            taskSpan, "task.dispatch " + task->type, std::min(queued, task->updatedAtMs),
                            task->updatedAtMs, true,
                            {{"hive.task.id", task->id},
                             {"hive.agent", task->agent},
                             {"hive.task.attempt", std::to_string(task->attempts)}},
                            ""));
  }
  {
    std::lock_guard lock(mutex_);
    if (task->event == "assigned" && (assigned_.count(task->id) != 0 || assigned_.size() < maxTracked_))
      assigned_[task->id] = {task->agent, task->updatedAtMs, task->attempts};
    auto assigned = assigned_.find(task->id);
    if (task->status == "running") {
      if (assigned != assigned_.end()) assigned_.erase(assigned);
      if (running_.count(task->id) != 0 || running_.size() < maxTracked_)
        running_[task->id] = {task->agent, task->startedAtMs, task->attempts};
      return;
    }
    if (assigned != assigned_.end() && task->event != "assigned") {
      // Ended without a `running` of its own: a run from its assignment when
      // the agent reported its outcome.
      attemptEnded = task->event == "succeeded" || task->event == "failed";
      if (attemptEnded) ran = std::move(assigned->second);
      assigned_.erase(assigned);
    } else if (auto found = running_.find(task->id); found != running_.end()) {
      ran = std::move(found->second);
      running_.erase(found);
      attemptEnded = task->event != "assigned";
    }
  }
  if (attemptEnded) {
    bool ok = task->event == "succeeded";
    exporter_->enqueue(span(traceId, spanId(task->id + "/" + std::to_string(ran.attempt)), taskSpan,
                            "task.run " + task->type, ran.startedAtMs, task->updatedAtMs, ok,
                            {{"hive.task.id", task->id},
                             {"hive.agent", ran.agent},
                             {"hive.task.attempt", std::to_string(ran.attempt)},
                             {"hive.task.outcome", task->event}},
                            task->error));
  }
  bool final = task->status == "succeeded" || task->status == "failed" || task->status == "cancelled" ||
               task->status == "dead";
  if (final)
    exporter_->enqueue(span(traceId, taskSpan, parentId, "task " + task->type, task->createdAtMs,
                            task->finishedAtMs != 0 ? task->finishedAtMs : task->updatedAtMs,
                            task->status == "succeeded",
                            {{"hive.task.id", task->id},
                             {"hive.task.status", task->status},
                             {"hive.task.attempts", std::to_string(task->attempts)}},
                            task->error));
}

void ExportingSink::record(tracing::Span span) {
  auto id = [](const std::string& text, std::size_t size) {
    return text.size() == size && isHex(text) && text != std::string(size, '0');
  };
  if (!id(span.traceId, 32) || !id(span.spanId, 16) ||
      (!span.parentSpanId.empty() && !id(span.parentSpanId, 16)))
    return;
  exporter_->enqueue(spanJson(span));
}

}  // namespace hive::monitoring_engine
