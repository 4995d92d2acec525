#include "task_gateway.hpp"

#include <algorithm>
#include <memory>

#include "hive/services/http.hpp"
#include "plugin_common/fnv.hpp"
#include "plugin_common/route_call.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;

namespace {

Status failure(const http::Response& response) {
  std::string detail = response.body;
  std::error_code ec;
  json::value problem = json::parse(response.body, ec);
  if (!ec && problem.is_object()) {
    detail.clear();
    if (const json::value* text = problem.get_object().if_contains("detail"); text && text->is_string())
      detail = std::string(text->get_string());
    if (const json::value* errors = problem.get_object().if_contains("errors"); errors && errors->is_array())
      detail += (detail.empty() ? "" : ": ") + json::serialize(*errors);
  }
  std::string message = "task_manager answered " + std::to_string(response.status) + ": " + detail;
  if (response.status == 404) return notFound(std::move(message));
  if (response.status >= 400 && response.status < 500 && response.status != 408 && response.status != 429)
    return invalidArgument(std::move(message));
  return unavailable(std::move(message));
}

// task_manager keeps a named tenant's Idempotency-Key as "~<tenant>~<key>", at
// most 128 characters: a longer key (a map item's of a long step name) is sent
// as its hash, the same every time.
std::string keyFor(const std::string& tenant, const std::string& key) {
  const std::size_t limit = tenant.empty() ? 128 : 126 - std::min<std::size_t>(tenant.size(), 126);
  return key.size() <= limit ? key : "workflow:" + plugin_common::fnvName(key);
}

}  // namespace

void RouteTaskGateway::submit(const std::string& tenant, const std::string& idempotencyKey,
                              const std::string& body, Submitted done) {
  http::Request request;
  request.path = request.target = "/api/v2/tasks";
  request.headers.push_back({"content-type", "application/json"});
  request.headers.push_back({"idempotency-key", keyFor(tenant, idempotencyKey)});
  request.body = body;
  plugin_common::callRoute(
      services_, self_, "POST", "/api/v2/tasks", std::move(request),
      [done = std::move(done)](Result<http::Response> response) {
        if (!response.ok()) return done(response.status());
        if (response->status != 200 && response->status != 201) return done(failure(*response));
        std::error_code ec;
        json::value task = json::parse(response->body, ec);
        const json::value* id = !ec && task.is_object() ? task.get_object().if_contains("id") : nullptr;
        if (id == nullptr || !id->is_string())
          return done(unavailable("task_manager answered without a task id"));
        done(std::string(id->get_string()));
      },
      tenant);
}

void RouteTaskGateway::read(const std::string& tenant, const std::string& taskId, Read done) {
  http::Request request;
  request.path = request.target = "/api/v2/tasks/" + taskId;
  request.params["id"] = taskId;
  plugin_common::callRoute(
      services_, self_, "GET", "/api/v2/tasks/{id}", std::move(request),
      [done = std::move(done)](Result<http::Response> response) {
        if (!response.ok()) return done(response.status());
        if (response->status != 200) return done(failure(*response));
        std::error_code ec;
        json::value task = json::parse(response->body, ec);
        if (ec || !task.is_object()) return done(unavailable("task_manager answered with no task"));
        done(std::move(task.get_object()));
      },
      tenant);
}

void RouteTaskGateway::cancel(const std::string& tenant, const std::string& taskId, Cancelled done) {
  http::Request request;
  request.path = request.target = "/api/v2/tasks/" + taskId + "/cancel";
  request.params["id"] = taskId;
  plugin_common::callRoute(
      services_, self_, "POST", "/api/v2/tasks/{id}/cancel", std::move(request),
      [done = std::move(done)](Result<http::Response> response) {
        if (!response.ok()) return done(response.status());
        // 409: it had finished already, which is as good as cancelled here.
        if (response->status == 200 || response->status == 409) return done(okStatus());
        done(failure(*response));
      },
      tenant);
}

}  // namespace hive::workflow_engine
