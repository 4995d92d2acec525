#include "routes.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "json.hpp"
#include "openapi.hpp"
#include "plugin_common/admission_refusal.hpp"
#include "plugin_common/page_limit.hpp"
#include "plugin_common/tenant_scope.hpp"
#include "trace_context.hpp"

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

http::Response answer(const Result<Submitted>& submitted, std::vector<http::FieldError> errors) {
  if (!submitted.ok()) {
    if (!errors.empty())
      return http::problem(422, "Unprocessable Content", submitted.status().message(), std::move(errors));
    return http::problem(submitted.status());
  }
  bool replayed = submitted->replay == Replay::kYes;
  http::Response response = json(replayed ? 200 : 201, toApiJson(submitted->task));
  response.headers.push_back({"location", "/api/v2/tasks/" + submitted->task.id});
  if (replayed) response.headers.push_back({"idempotent-replayed", "true"});
  return response;
}

// The query parameter `name` as an integer in [low, high], into `out`; a field error otherwise.
void readNumber(const http::Request& request, const char* name, std::uint64_t low, std::uint64_t high,
                std::uint64_t& out, std::vector<http::FieldError>& errors) {
  const std::string* value = request.queryParam(name);
  if (value == nullptr) return;
  char* end = nullptr;
  unsigned long long parsed = std::strtoull(value->c_str(), &end, 10);
  if (value->empty() || *end != '\0' || parsed < low || parsed > high)
    errors.push_back(
        {name, "must be an integer between " + std::to_string(low) + " and " + std::to_string(high)});
  else
    out = parsed;
}

class TaskRoutes final : public http::RouteProvider {
 public:
  TaskRoutes(PluginContext& context, std::shared_ptr<Tasks> service, const Limits& limits,
             std::shared_ptr<std::atomic<int>> inFlight)
      : context_(context), service_(std::move(service)), limits_(limits), inFlight_(std::move(inFlight)) {
    // Submissions are committed in groups: no thread waits for each one's commit.
    table_.add({"tasks.submit", "POST", "/api/v2/tasks", "tasks:write", openapi::kSubmit, 512 * 1024},
               [this](http::Request r, http::Responder respond) { submit(r, std::move(respond)); });
    add({"tasks.list", "GET", "/api/v2/tasks", "tasks:read", openapi::kList},
        [this](http::Request r) { return list(r); });
    add({"tasks.stats", "GET", "/api/v2/tasks/stats", "tasks:read", openapi::kStats},
        [this](http::Request r) {
          // The counts span every tenant and project: not for a named tenant's callers.
          if (auto viewer = viewerOf(r); !viewer.scope.allTenants && !viewer.scope.tenant.empty())
            return http::problem(403, "Forbidden",
                                 "the counts span every tenant; tenant '" + viewer.scope.tenant +
                                     "' lists its own tasks with GET /api/v2/tasks");
          else if (!viewer.project.empty())
            return http::problem(403, "Forbidden",
                                 "the counts span every project; a key of project '" + viewer.project +
                                     "' lists its tasks with GET /api/v2/tasks");
          auto stats = service_->stats();
          return stats.ok() ? json(200, statsJson(*stats)) : http::problem(stats.status());
        });
    add({"tasks.events", "GET", "/api/v2/tasks/events", "tasks:read", openapi::kEvents},
        [this](http::Request r) { return events(r); });
    add({"tasks.get", "GET", "/api/v2/tasks/{id}", "tasks:read", openapi::kGet}, [this](http::Request r) {
      auto task = visibleTask(r);
      return task.ok() ? json(200, toApiJson(*task)) : http::problem(task.status());
    });
    add({"tasks.cancel", "POST", "/api/v2/tasks/{id}/cancel", "tasks:write", openapi::kCancel},
        [this](http::Request r) {
          if (auto visible = visibleTask(r); !visible.ok()) return http::problem(visible.status());
          auto task = service_->cancel(r.param("id"));
          return task.ok() ? json(200, toApiJson(*task)) : http::problem(task.status());
        });
  }

  // http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override { return openapi::kSchemas; }

 private:
  // Whose tasks the caller sees (hive.tenancy/1, hive.projects/1); everything without a provider.
  plugin_common::Viewer viewerOf(const http::Request& request) {
    return plugin_common::viewerOf(context_.services(), request.principal);
  }
  // Task {id} when the caller may see it; another tenant's or project's is
  // "not found", as a missing one.
  Result<Task> visibleTask(const http::Request& request) {
    const std::string& id = request.param("id");
    auto task = service_->get(id);
    if (task.ok() && !viewerOf(request).sees(task->tenant, task->project)) return notFound("no task " + id);
    return task;
  }
  // The project a new task joins: the one the caller's key is bound to, or
  // the one it names, which must exist in its tenant. A field error otherwise.
  std::optional<http::FieldError> placeInProject(const plugin_common::Viewer& viewer, Task& task) {
    if (!viewer.project.empty()) {
      if (!task.project.empty() && task.project != viewer.project)
        return http::FieldError{"/project", "this key is for project '" + viewer.project + "' only"};
      task.project = viewer.project;
    }
    if (task.project.empty()) return std::nullopt;
    auto projects = context_.services().get<projects::Projects>();
    if (!projects.ok())
      return http::FieldError{"/project",
                              "there are no projects: no hive.projects/1 provider (security_manager) runs"};
    if (!(*projects)->exists(task.tenant, task.project))
      return http::FieldError{"/project",
                              "no project '" + task.project + "'" +
                                  (task.tenant.empty() ? "" : " in tenant '" + task.tenant + "'")};
    return std::nullopt;
  }

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
    plugin_common::Viewer viewer = viewerOf(request);
    const tenancy::Scope& scope = viewer.scope;
    std::string key;
    if (const std::string* header = request.header("idempotency-key")) {
      key = *header;
      if (!isIdempotencyKey(key))
        return respond(http::problem(422, "Unprocessable Content", "invalid Idempotency-Key",
                                     {{"Idempotency-Key", "must be 1-128 printable ASCII characters"}}));
      // Keys are per tenant: "~<tenant>~<key>" ('~' starts no client's key, and no tenant name holds one).
      if (key.front() == '~')
        return respond(http::problem(422, "Unprocessable Content", "invalid Idempotency-Key",
                                     {{"Idempotency-Key", "must not start with '~' (reserved)"}}));
      if (!scope.tenant.empty()) {
        key = "~" + scope.tenant + "~" + key;
        if (!isIdempotencyKey(key))
          return respond(http::problem(
              422, "Unprocessable Content", "invalid Idempotency-Key",
              {{"Idempotency-Key", "must be at most " + std::to_string(126 - scope.tenant.size()) +
                                       " characters for tenant '" + scope.tenant + "'"}}));
      }
    }
    std::vector<http::FieldError> errors;
    auto task = parseSubmission(request.body, limits_, errors);
    if (!task.ok()) {
      if (errors.empty()) return respond(http::problem(400, "Bad Request", task.status().message()));
      return respond(http::problem(422, "Unprocessable Content", "the task is not valid", std::move(errors)));
    }
    task->traceparent = traceparentOf(request);
    task->clientTraced =
        request.header("traceparent") != nullptr && *request.header("traceparent") == task->traceparent;
    task->tenant = scope.tenant;
    if (auto refused = placeInProject(viewer, *task))
      return respond(
          http::problem(422, "Unprocessable Content", "the task is not valid", {std::move(*refused)}));
    // New work from a client is refused while the host is saturated
    // (hive.admission/1). Another plugin's submissions in process (a
    // workflow's steps, a batch's chunks: no remote address) are work admitted
    // at that plugin's own door already.
    if (!request.remoteAddress.empty())
      if (auto refused = plugin_common::admissionRefusal(context_.services(),
                                                         {"task", task->tenant, task->capabilities}))
        return respond(std::move(*refused));
    ++*inFlight_;
    service_->submit(std::move(task).value(), key, digest(request.body),
                     [respond = std::move(respond), inFlight = inFlight_](
                         Result<Submitted> submitted, std::vector<http::FieldError> errors) {
                       respond(answer(submitted, std::move(errors)));
                       --*inFlight;
                     });
  }

  // The durable log of every task state change, resumable by id.
  http::Response events(const http::Request& request) {
    std::uint64_t after = 0, limit = 1000;
    std::vector<http::FieldError> errors;
    readNumber(request, "after", 0, ~0ull >> 1, after, errors);
    readNumber(request, "limit", 1, 10000, limit, errors);
    if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
    auto read = service_->events(after, static_cast<std::size_t>(limit));
    if (!read.ok()) return http::problem(read.status());
    std::uint64_t lastId = read->empty() ? after : read->back().id;
    // Ids have no holes but the trimmed ones (an erased event is a tombstone).
    bool trimmed = after > 0 && !read->empty() && read->front().id > after + 1;
    if (auto viewer = viewerOf(request); !viewer.scope.allTenants || !viewer.project.empty())
      std::erase_if(*read, [&](const store::Event& e) {
        EventOwner owner = eventOwner(e.body);
        return !viewer.sees(owner.tenant, owner.project);
      });
    return json(200, eventPageJson(*read, lastId, trimmed));
  }

  http::Response list(const http::Request& request) {
    std::map<std::string, std::string> equals;
    std::vector<http::FieldError> errors;
    for (const char* field : {"status", "type", "agent"})
      if (const std::string* value = request.queryParam(field)) equals[field] = *value;
    if (const std::string* value = request.queryParam("capability")) equals["capabilities"] = *value;
    plugin_common::Viewer viewer = viewerOf(request);
    const tenancy::Scope& scope = viewer.scope;
    // A named tenant's or project's tasks are found by their index. The
    // default tenant ("") and "no project" are not indexed (records.cpp): they
    // are read unfiltered and the page loses the others (it may hold fewer than `limit`).
    bool defaultTenantOnly = false, noProjectOnly = false;
    auto filter = [&](const char* field, const std::string& value, bool& emptyOnly) {
      if (value.empty())
        emptyOnly = true;
      else
        equals[field] = value;
    };
    if (!scope.allTenants && !scope.tenant.empty())
      equals["tenant"] = scope.tenant;
    else if (const std::string* value = request.queryParam("tenant"); value != nullptr && scope.allTenants)
      filter("tenant", *value, defaultTenantOnly);
    // A key bound to a project lists that project's; another caller may name one.
    if (!viewer.project.empty())
      equals["project"] = viewer.project;
    else if (const std::string* value = request.queryParam("project"))
      filter("project", *value, noProjectOnly);
    if (equals.count("status") && !parseStatus(equals["status"]))
      errors.push_back(
          {"status", "must be one of pending, assigned, running, succeeded, failed, cancelled, dead"});
    std::size_t limit = plugin_common::pageLimit(request.queryParam("limit"), errors);
    if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
    const std::string* cursor = request.queryParam("cursor");
    auto page = service_->list(equals, limit, cursor ? *cursor : std::string());
    if (!page.ok()) return http::problem(page.status());
    std::erase_if(page->items, [&](const Task& task) {
      return (!scope.allTenants && !viewer.sees(task.tenant, task.project)) ||
             (defaultTenantOnly && !task.tenant.empty()) || (noProjectOnly && !task.project.empty());
    });
    return json(200, taskPageJson(*page));
  }

  PluginContext& context_;
  std::shared_ptr<Tasks> service_;
  Limits limits_;
  std::shared_ptr<std::atomic<int>> inFlight_;
  http::RouteTable table_;
};

}  // namespace

std::shared_ptr<http::RouteProvider> makeRoutes(PluginContext& context, std::shared_ptr<Tasks> service,
                                                const Limits& limits,
                                                std::shared_ptr<std::atomic<int>> inFlight) {
  return std::make_shared<TaskRoutes>(context, std::move(service), limits, std::move(inFlight));
}

}  // namespace hive::task_manager
