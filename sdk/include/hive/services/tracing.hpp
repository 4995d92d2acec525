// hive.tracing/1 (SDK 2.9) — where a plugin hands finished spans of a trace
// for export (OpenTelemetry's model: a trace id, a span id, its parent, a
// name, start and end, a status, string attributes). Provided by the plugin
// that exports traces (monitoring_engine, only while `tracing.endpoint` is
// set); the api records the span of each HTTP request that carries a sampled
// W3C `traceparent`.
//
//   auto sink = context.services().get<hive::tracing::SpanSink>();
//   if (sink.ok()) (*sink)->record(std::move(span));
//
// Without a provider there is nowhere to send spans: do not make them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hive/services.hpp"

namespace hive::tracing {

struct Attribute {
  std::string key;
  std::string value;
};

struct Span {
  std::string traceId;       // 32 lower-case hex digits, not all zero
  std::string spanId;        // 16 lower-case hex digits, not all zero
  std::string parentSpanId;  // 16 hex digits; empty for a trace's root
  std::string name;          // low cardinality: "POST /api/v2/tasks", a route template, not a path
  std::int64_t startUnixNano = 0;
  std::int64_t endUnixNano = 0;
  bool server = false;  // a span of a request this process served (SPAN_KIND_SERVER), else internal
  bool ok = true;
  std::string error;  // why it failed, when !ok
  std::vector<Attribute> attributes;
};

class SpanSink : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.tracing", 1};

  // Takes a finished span for export. Never blocks (queued; dropped and
  // counted when the exporter is behind); thread-safe. A span with a
  // malformed id is dropped.
  virtual void record(Span span) = 0;
};

}  // namespace hive::tracing
