// task_manager: tasks over REST, stored through hive.store/1, published on
// hive.bus/1, handed to the orchestrator through hive.tasks/1.
#include <atomic>
#include <memory>

#include "hive/plugin.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "openapi.hpp"
#include "plugin_common/page_limit.hpp"
#include "task_core.hpp"

namespace hive::task_manager {
namespace {

std::string digest(std::string_view body) {
  // Two FNV-1a passes with different bases and the length: enough to tell a
  // replayed request body from another one.
  std::uint64_t a = 1469598103934665603ull, b = 0x84222325cbf29ce4ull;
  for (unsigned char c : body) {
    a = (a ^ c) * 1099511628211ull;
    b = (b ^ c) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%016llx%016llx-%zu", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b), body.size());
  return buffer;
}

bool isIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

http::Response json(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

class TaskRoutes final : public http::RouteProvider {
 public:
  TaskRoutes(PluginContext& context, std::shared_ptr<TaskCore> core,
             std::shared_ptr<std::atomic<int>> inFlight)
      : context_(context), core_(std::move(core)), inFlight_(std::move(inFlight)) {
    // Submissions are committed in groups: no thread waits for each one's commit.
    table_.add({"tasks.submit", "POST", "/api/v2/tasks", "tasks:write", openapi::kSubmit, 512 * 1024},
               [this](http::Request r, http::Responder respond) { submit(r, std::move(respond)); });
    add({"tasks.list", "GET", "/api/v2/tasks", "tasks:read", openapi::kList},
        [this](http::Request r) { return list(r); });
    add({"tasks.stats", "GET", "/api/v2/tasks/stats", "tasks:read", openapi::kStats}, [this](http::Request) {
      auto stats = core_->stats();
      return stats.ok() ? json(200, *stats) : http::problem(stats.status());
    });
    add({"tasks.events", "GET", "/api/v2/tasks/events", "tasks:read", openapi::kEvents},
        [this](http::Request r) { return events(r); });
    add({"tasks.get", "GET", "/api/v2/tasks/{id}", "tasks:read", openapi::kGet}, [this](http::Request r) {
      auto task = core_->get(r.param("id"));
      return task.ok() ? json(200, toApiJson(*task)) : http::problem(task.status());
    });
    add({"tasks.cancel", "POST", "/api/v2/tasks/{id}/cancel", "tasks:write", openapi::kCancel},
        [this](http::Request r) {
          auto task = core_->cancel(r.param("id"));
          return task.ok() ? json(200, toApiJson(*task)) : http::problem(task.status());
        });
  }

  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override { return openapi::kSchemas; }

 private:
  // Every handler blocks on storage: it runs on the blocking executor.
  void add(http::Route route, std::function<http::Response(http::Request)> handler) {
    table_.add(std::move(route),
               [this, handler = std::move(handler)](http::Request request, http::Responder respond) {
                 ++*inFlight_;
                 context_.blocking().post([handler, inFlight = inFlight_, request = std::move(request),
                                           respond = std::move(respond)]() mutable {
                   respond(handler(std::move(request)));
                   --*inFlight;
                 });
               });
  }

  void submit(const http::Request& request, http::Responder respond) {
    if (const std::string* type = request.header("content-type");
        type != nullptr && type->rfind("application/json", 0) != 0)
      return respond(http::problem(415, "Unsupported Media Type", "send the task as application/json"));
    std::string key;
    if (const std::string* header = request.header("idempotency-key")) {
      key = *header;
      if (!isIdempotencyKey(key))
        return respond(http::problem(422, "Unprocessable Content", "invalid Idempotency-Key",
                                     {{"Idempotency-Key", "must be 1-128 printable ASCII characters"}}));
    }
    std::vector<http::FieldError> errors;
    auto task = parseSubmission(request.body, limits_, errors);
    if (!task.ok()) {
      if (errors.empty()) return respond(http::problem(400, "Bad Request", task.status().message()));
      return respond(http::problem(422, "Unprocessable Content", "the task is not valid", std::move(errors)));
    }
    ++*inFlight_;
    core_->submitAsync(std::move(task).value(), key, digest(request.body),
                       [respond = std::move(respond), inFlight = inFlight_](
                           Result<TaskCore::Submitted> submitted, std::vector<http::FieldError> errors) {
                         respond(answer(submitted, std::move(errors)));
                         --*inFlight;
                       });
  }

  static http::Response answer(const Result<TaskCore::Submitted>& submitted,
                               std::vector<http::FieldError> errors) {
    if (!submitted.ok()) {
      if (!errors.empty())
        return http::problem(422, "Unprocessable Content", submitted.status().message(), std::move(errors));
      return http::problem(submitted.status());
    }
    http::Response response = json(submitted->replayed ? 200 : 201, toApiJson(submitted->task));
    response.headers.push_back({"location", "/api/v2/tasks/" + submitted->task.id});
    if (submitted->replayed) response.headers.push_back({"idempotent-replayed", "true"});
    return response;
  }

  // The durable log of every task state change, resumable by id.
  http::Response events(const http::Request& request) {
    std::uint64_t after = 0;
    std::size_t limit = 1000;
    std::vector<http::FieldError> errors;
    auto number = [&](const char* name, std::uint64_t low, std::uint64_t high, std::uint64_t& out) {
      const std::string* value = request.queryParam(name);
      if (value == nullptr) return;
      char* end = nullptr;
      unsigned long long parsed = std::strtoull(value->c_str(), &end, 10);
      if (value->empty() || *end != '\0' || parsed < low || parsed > high)
        errors.push_back(
            {name, "must be an integer between " + std::to_string(low) + " and " + std::to_string(high)});
      else
        out = parsed;
    };
    std::uint64_t limitValue = limit;
    number("after", 0, ~0ull >> 1, after);
    number("limit", 1, 10000, limitValue);
    if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
    auto read = core_->events(after, static_cast<std::size_t>(limitValue));
    if (!read.ok()) return http::problem(read.status());
    std::string body = "{\"items\":[";
    std::uint64_t last = after;
    for (std::size_t i = 0; i < read->size(); ++i) {
      const auto& e = (*read)[i];
      body += std::string(i ? "," : "") + "{\"id\":" + std::to_string(e.id) +
              ",\"type\":" + http::jsonQuote(e.type) + ",\"ts\":" + std::to_string(e.timestampMs) +
              ",\"data\":" + e.body + "}";
      last = e.id;
    }
    return json(200, body + "],\"last_id\":" + std::to_string(last) + "}");
  }

  http::Response list(const http::Request& request) {
    std::map<std::string, std::string> equals;
    std::vector<http::FieldError> errors;
    for (const char* field : {"status", "type", "agent"})
      if (const std::string* value = request.queryParam(field)) equals[field] = *value;
    if (const std::string* value = request.queryParam("capability")) equals["capabilities"] = *value;
    if (equals.count("status") && !parseStatus(equals["status"]))
      errors.push_back(
          {"status", "must be one of pending, assigned, running, succeeded, failed, cancelled, dead"});
    std::size_t limit = plugin_common::pageLimit(request.queryParam("limit"), errors);
    if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
    const std::string* cursor = request.queryParam("cursor");
    auto page = core_->list(equals, limit, cursor ? *cursor : std::string());
    if (!page.ok()) return http::problem(page.status());
    std::string body = "{\"items\":[";
    for (std::size_t i = 0; i < page->items.size(); ++i) body += (i ? "," : "") + toApiJson(page->items[i]);
    body += "]";
    if (!page->nextCursor.empty()) body += ",\"next_cursor\":" + http::jsonQuote(page->nextCursor);
    return json(200, body + "}");
  }

  PluginContext& context_;
  std::shared_ptr<TaskCore> core_;
  std::shared_ptr<std::atomic<int>> inFlight_;
  Limits limits_;
  http::RouteTable table_;
};

class TaskManagerPlugin final : public Plugin {
 public:
  explicit TaskManagerPlugin(PluginContext& context) : context_(context) {}

  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    ConfigReader reader(section, diagnostics);
    Options o;
    o.retryBase = reader.get<std::chrono::milliseconds>("retry_base", o.retryBase);
    o.retryMax = reader.get<std::chrono::milliseconds>("retry_max", o.retryMax);
    o.aging = reader.get<std::chrono::milliseconds>("aging", o.aging);
    o.claimLease = reader.get<std::chrono::milliseconds>("claim_lease", o.claimLease);
    o.sweepPeriod = reader.get<std::chrono::milliseconds>("sweep_period", o.sweepPeriod);
    o.limits.maxPayloadBytes =
        static_cast<std::size_t>(reader.get<std::int64_t>("max_payload_bytes", o.limits.maxPayloadBytes));
    o.limits.maxAttempts = static_cast<std::uint32_t>(reader.get<std::int64_t>("max_attempts_limit", 20));
    o.limits.maxTimeout = reader.get<std::chrono::milliseconds>("max_timeout", o.limits.maxTimeout);
    o.retention = reader.get<std::chrono::milliseconds>("retention", o.retention);
    if (o.retention < std::chrono::seconds(1) || o.retention > std::chrono::hours(24 * 3650))
      reader.reject("retention", "must be between 1s and 87600h (10 years)");
    if (const ConfigNode& byType = reader.child("retention_by_type"); !byType.isNull()) {
      if (!byType.isMap()) {
        reader.reject("retention_by_type", "expected a map of task type to duration");
      } else {
        ConfigReader types(byType, diagnostics);
        for (const auto& entry : byType.entries()) {
          auto retention = types.get<std::chrono::milliseconds>(entry.key, o.retention);
          if (retention < std::chrono::seconds(1) || retention > std::chrono::hours(24 * 3650))
            types.reject(entry.key, "must be between 1s and 87600h (10 years)");
          o.retentionByType[entry.key] = retention;
        }
        types.finish();
      }
    }
    o.retentionBatch = static_cast<std::size_t>(
        reader.get<std::int64_t>("retention_batch", static_cast<std::int64_t>(o.retentionBatch)));
    if (o.retentionBatch < 1 || o.retentionBatch > 1000)
      reader.reject("retention_batch", "must be between 1 and 1000");
    o.retentionPeriod = reader.get<std::chrono::milliseconds>("retention_period", o.retentionPeriod);
    if (o.retentionPeriod < std::chrono::seconds(1) || o.retentionPeriod > std::chrono::hours(24))
      reader.reject("retention_period", "must be between 1s and 24h");
    // Upper bounds too: every duration here is added to clock readings.
    if (o.limits.maxTimeout < std::chrono::seconds(1) || o.limits.maxTimeout > std::chrono::hours(24 * 30))
      reader.reject("max_timeout", "must be between 1s and 720h");
    if (o.retryMax > std::chrono::hours(24)) reader.reject("retry_max", "must be at most 24h");
    if (o.claimLease > std::chrono::hours(24)) reader.reject("claim_lease", "must be at most 24h");
    if (o.sweepPeriod > std::chrono::hours(1)) reader.reject("sweep_period", "must be at most 1h");
    if (o.aging > std::chrono::hours(24 * 30)) reader.reject("aging", "must be at most 720h");
    if (o.retryBase.count() < 1) reader.reject("retry_base", "must be at least 1ms");
    if (o.retryMax < o.retryBase) reader.reject("retry_max", "must not be shorter than retry_base");
    if (o.claimLease.count() < 100) reader.reject("claim_lease", "must be at least 100ms");
    if (o.sweepPeriod.count() < 10) reader.reject("sweep_period", "must be at least 10ms");
    if (o.limits.maxPayloadBytes < 1024 || o.limits.maxPayloadBytes > 16 * 1024 * 1024)
      reader.reject("max_payload_bytes", "must be between 1024 and 16777216");
    if (o.limits.maxAttempts < 1 || o.limits.maxAttempts > 1000)
      reader.reject("max_attempts_limit", "must be between 1 and 1000");
    reader.finish();
    options_ = o;
  }

  Status start() override {
    auto store = HIVE_TRY(context_.services().handle<store::Store>(), "task_manager needs hive.store/1");
    core_ = std::make_shared<TaskCore>(context_, std::move(store), options_);
    HIVE_TRY(core_->open(), "opening the task collections");
    HIVE_TRY(context_.services().provide<tasks::TaskService>(core_));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(
        std::make_shared<TaskRoutes>(context_, core_, inFlight_)));
    sweeper_ = context_.timers().every(options_.sweepPeriod, [this] {
      if (sweepQueued_.exchange(true)) return;
      ++*inFlight_;
      context_.blocking().post([this] {
        core_->sweep();
        sweepQueued_ = false;
        --*inFlight_;
      });
    });
    context_.log().info("started");
    return okStatus();
  }

  void stop() override {
    sweeper_.reset();
    if (core_) core_->close();
  }

  Status health() override { return core_ ? okStatus() : unavailable("not started"); }
  bool drained() const override { return *inFlight_ == 0 && (!core_ || core_->idle()); }

 private:
  PluginContext& context_;
  Options options_;
  std::shared_ptr<TaskCore> core_;
  std::shared_ptr<std::atomic<int>> inFlight_ = std::make_shared<std::atomic<int>>(0);
  std::atomic<bool> sweepQueued_{false};
  std::unique_ptr<Timer> sweeper_;
};

}  // namespace
}  // namespace hive::task_manager

HIVE_PLUGIN(hive::task_manager::TaskManagerPlugin, .name = "task_manager", .version = "1.0.0",
            .description = "Tasks: REST API, durable queue with leases, retries, dependencies, events",
            .provides = {hive::http::RouteProvider::kServiceId, hive::tasks::TaskService::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
