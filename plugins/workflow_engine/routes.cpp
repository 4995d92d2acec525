#include "routes.hpp"

#include <cstdlib>

#include "plugin_common/admission_refusal.hpp"
#include "plugin_common/json_fields.hpp"
#include "plugin_common/page_limit.hpp"
#include "plugin_common/tenant_scope.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;

namespace {

http::Response reply(int status, const json::value& body) {
  http::Response response;
  response.status = status;
  response.body = json::serialize(body);
  return response;
}

http::Response invalid(const Status& status, std::vector<http::FieldError> errors) {
  if (errors.empty()) return http::problem(status);
  return http::problem(422, "Unprocessable Content", status.message(), std::move(errors));
}

std::string operation(const char* summary, int ok) {
  return std::string("{\"summary\":") + http::jsonQuote(summary) +
         ",\"tags\":[\"workflows\"],\"responses\":{\"" + std::to_string(ok) +
         "\":{\"description\":\"OK\",\"content\":{\"application/json\":{}}},"
         "\"404\":{\"description\":\"Not found\",\"content\":{\"application/problem+json\":{}}},"
         "\"422\":{\"description\":\"Invalid\",\"content\":{\"application/problem+json\":{}}}}}";
}

bool isYaml(const http::Request& request) {
  const std::string* type = request.header("content-type");
  if (type == nullptr) return false;
  return type->rfind("application/yaml", 0) == 0 || type->rfind("application/x-yaml", 0) == 0 ||
         type->rfind("text/yaml", 0) == 0;
}

// A positive integer query parameter; 0 when absent.
std::int64_t positive(const http::Request& request, const char* name, std::vector<http::FieldError>& errors) {
  const std::string* value = request.queryParam(name);
  if (value == nullptr) return 0;
  char* end = nullptr;
  long long parsed = std::strtoll(value->c_str(), &end, 10);
  if (value->empty() || *end != '\0' || parsed < 1) {
    errors.push_back({name, "must be a positive integer"});
    return 0;
  }
  return parsed;
}

json::object page(const ListPage& page) {
  json::array items;
  for (const auto& item : page.items) items.push_back(item);
  json::object body{{"items", std::move(items)}};
  if (!page.nextCursor.empty()) body["next_cursor"] = page.nextCursor;
  return body;
}

}  // namespace

WorkflowRoutes::WorkflowRoutes(std::shared_ptr<Engine> engine, std::shared_ptr<Scheduler> scheduler)
    : engine_(std::move(engine)), scheduler_(std::move(scheduler)) {
  const Limits& limits = engine_->options().limits;
  // The literal /runs routes first: a test client (and a reader) takes the first
  // route that matches, where the api plugin prefers literal segments anyway.
  add({"workflows.runs.list", "GET", "/api/v2/workflows/runs", "workflows:read",
       operation("Runs of every workflow (?workflow=, ?status=), with a cursor", 200)},
      [this](const http::Request& r) {
        const std::string* workflow = r.queryParam("workflow");
        return listRuns(r, workflow ? *workflow : std::string());
      });
  auto getRun = [this](const http::Request& r) {
    auto found = visibleRun(r);
    return found.ok() ? reply(200, *found) : http::problem(found.status());
  };
  auto cancelRun = [this](const http::Request& r) {
    if (auto found = visibleRun(r); !found.ok()) return http::problem(found.status());
    auto cancelled = engine_->cancelRun(r.param("id"));
    return cancelled.ok() ? reply(200, *cancelled) : http::problem(cancelled.status());
  };
  add({"workflows.runs.get", "GET", "/api/v2/workflows/runs/{id}", "workflows:read",
       operation("A run: its status and each step's", 200)},
      getRun);
  add({"workflows.runs.cancel", "POST", "/api/v2/workflows/runs/{id}/cancel", "workflows:write",
       operation("Cancel a run and its running tasks", 200)},
      cancelRun);
  auto runAction = [this](Result<json::object> (Engine::*action)(const std::string&)) {
    return [this, action](const http::Request& r) {
      if (auto found = visibleRun(r); !found.ok()) return http::problem(found.status());
      auto done = (engine_.get()->*action)(r.param("id"));
      return done.ok() ? reply(200, *done) : http::problem(done.status());
    };
  };
  add({"workflows.runs.retry", "POST", "/api/v2/workflows/runs/{id}/retry", "workflows:write",
       operation("Run a failed or cancelled run again from its steps that did not succeed", 200)},
      runAction(&Engine::retryRun));
  add({"workflows.runs.pause", "POST", "/api/v2/workflows/runs/{id}/pause", "workflows:write",
       operation("Pause a running run: it starts no new step until resumed", 200)},
      runAction(&Engine::pauseRun));
  add({"workflows.runs.resume", "POST", "/api/v2/workflows/runs/{id}/resume", "workflows:write",
       operation("Resume a paused run", 200)},
      runAction(&Engine::resumeRun));
  auto decision = [this](Decision decision) {
    return [this, decision](const http::Request& r) {
      std::string comment;
      if (!r.body.empty()) {
        std::error_code ec;
        json::value body = json::parse(r.body, ec);
        const json::value* text =
            !ec && body.is_object() ? body.get_object().if_contains("comment") : nullptr;
        if (ec || !body.is_object() ||
            (text != nullptr && (!text->is_string() || text->get_string().size() > 4096)))
          return http::problem(422, "Unprocessable Content", "send {\"comment\": \"...\"} or nothing",
                               {{"/comment", "must be a string of at most 4096 bytes"}});
        if (text != nullptr) comment = std::string(text->get_string());
      }
      if (auto found = visibleRun(r); !found.ok()) return http::problem(found.status());
      auto decided = engine_->decideApproval(r.param("id"), r.param("step"), decision, r.principal, comment);
      return decided.ok() ? reply(200, *decided) : http::problem(decided.status());
    };
  };
  add({"workflows.runs.approve", "POST", "/api/v2/workflows/runs/{id}/steps/{step}/approve",
       "workflows:write", operation("Approve a waiting approval step ({\"comment\"} optional)", 200)},
      decision(Decision::kApprove));
  add({"workflows.runs.reject", "POST", "/api/v2/workflows/runs/{id}/steps/{step}/reject", "workflows:write",
       operation("Reject a waiting approval step: it fails", 200)},
      decision(Decision::kReject));
  add({"workflows.apply", "POST", "/api/v2/workflows", "workflows:write",
       operation("Register a workflow definition (a new version when it differs from the latest)", 201),
       limits.maxDefinitionBytes},
      [this](const http::Request& r) { return apply(r); });
  add({"workflows.list", "GET", "/api/v2/workflows", "workflows:read",
       operation("List workflows (latest versions)", 200)},
      [this](const http::Request& r) {
        std::vector<http::FieldError> errors;
        std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
        if (!errors.empty())
          return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
        const std::string* cursor = r.queryParam("cursor");
        auto listed = engine_->definitions(shownTenant(r), limit, cursor ? *cursor : std::string());
        return listed.ok() ? reply(200, page(*listed)) : http::problem(listed.status());
      });
  add({"workflows.get", "GET", "/api/v2/workflows/{name}", "workflows:read",
       operation("A workflow definition: the latest version, or ?version=", 200)},
      [this](const http::Request& r) {
        std::vector<http::FieldError> errors;
        std::int64_t version = positive(r, "version", errors);
        if (!errors.empty())
          return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
        auto found = engine_->definition(shownTenant(r).value_or(""), r.param("name"), version);
        return found.ok() ? reply(200, *found) : http::problem(found.status());
      });
  add({"workflows.runs.start", "POST", "/api/v2/workflows/{name}/runs", "workflows:write",
       operation("Start a run: {\"params\": {...}, \"version\": n}; Idempotency-Key honoured", 201),
       1024 * 1024},
      [this](const http::Request& r) { return startRun(r); });
  add({"workflows.runs.of", "GET", "/api/v2/workflows/{name}/runs", "workflows:read",
       operation("Runs of one workflow, newest last, with a cursor", 200)},
      [this](const http::Request& r) { return listRuns(r, r.param("name")); });
  add({"workflows.runs.get_of", "GET", "/api/v2/workflows/{name}/runs/{id}", "workflows:read",
       operation("A run of this workflow: its status and each step's", 200)},
      getRun);
  add({"workflows.runs.cancel_of", "POST", "/api/v2/workflows/{name}/runs/{id}/cancel", "workflows:write",
       operation("Cancel a run of this workflow and its running tasks", 200)},
      cancelRun);
  // `workflow` empty: every schedule (/api/v2/schedules), else that workflow's.
  auto listSchedules = [this](const http::Request& r, const std::string& workflow) {
    std::vector<http::FieldError> errors;
    std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
    if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
    const std::string* cursor = r.queryParam("cursor");
    auto listed = scheduler_->list(shownTenant(r), workflow, limit, cursor ? *cursor : std::string());
    return listed.ok() ? reply(200, page(*listed)) : http::problem(listed.status());
  };
  auto removeSchedule = [this](const http::Request& r, const std::string& workflow) {
    Status removed = scheduler_->remove(shownTenant(r), workflow, r.param("id"));
    if (!removed.ok()) return http::problem(removed);
    http::Response response;
    response.status = 204;
    return response;
  };
  add({"workflows.schedules.create", "POST", "/api/v2/workflows/{name}/schedules", "workflows:write",
       operation("Attach a schedule: {\"cron\" | \"every\", \"time_zone\", \"params\", \"version\", "
                 "\"catch_up\"}",
                 201),
       64 * 1024},
      [this](const http::Request& r) {
        std::error_code ec;
        json::value body = json::parse(r.body, ec);
        if (ec) return http::problem(400, "Bad Request", "send the schedule as a JSON object");
        std::vector<http::FieldError> errors;
        auto created = scheduler_->createOf(scopeOf(r).tenant, r.param("name"), body, errors);
        if (!created.ok()) return invalid(created.status(), std::move(errors));
        http::Response response = reply(201, *created);
        response.headers.push_back({"location", "/api/v2/workflows/" + r.param("name") + "/schedules/" +
                                                    std::string((*created)["id"].as_string())});
        return response;
      });
  add({"workflows.schedules.list", "GET", "/api/v2/workflows/{name}/schedules", "workflows:read",
       operation("The schedules of a workflow, with their next fire time", 200)},
      [listSchedules](const http::Request& r) { return listSchedules(r, r.param("name")); });
  add({"workflows.schedules.delete", "DELETE", "/api/v2/workflows/{name}/schedules/{id}", "workflows:write",
       operation("Detach a schedule (not one its definition declares)", 204)},
      [removeSchedule](const http::Request& r) { return removeSchedule(r, r.param("name")); });
  add({"schedules.create", "POST", "/api/v2/schedules", "workflows:write",
       operation("Create a schedule: {\"workflow\" | \"task\", \"cron\" | \"every\", \"time_zone\", "
                 "\"params\", \"version\", \"catch_up\"}",
                 201),
       64 * 1024},
      [this](const http::Request& r) {
        std::error_code ec;
        json::value body = json::parse(r.body, ec);
        if (ec) return http::problem(400, "Bad Request", "send the schedule as a JSON object");
        std::vector<http::FieldError> errors;
        auto created = scheduler_->create(scopeOf(r).tenant, body, errors);
        if (!created.ok()) return invalid(created.status(), std::move(errors));
        http::Response response = reply(201, *created);
        response.headers.push_back(
            {"location", "/api/v2/schedules/" + std::string((*created)["id"].as_string())});
        return response;
      });
  add({"schedules.list", "GET", "/api/v2/schedules", "workflows:read",
       operation("Every schedule, of workflows and of tasks (?workflow=), with its next fire time", 200)},
      [listSchedules](const http::Request& r) {
        const std::string* workflow = r.queryParam("workflow");
        return listSchedules(r, workflow ? *workflow : std::string());
      });
  add({"schedules.get", "GET", "/api/v2/schedules/{id}", "workflows:read",
       operation("One schedule, with its next fire time and last outcome", 200)},
      [this](const http::Request& r) {
        auto found = scheduler_->get(shownTenant(r), r.param("id"));
        return found.ok() ? reply(200, *found) : http::problem(found.status());
      });
  add({"schedules.delete", "DELETE", "/api/v2/schedules/{id}", "workflows:write",
       operation("Delete a schedule (not one a workflow's definition declares)", 204)},
      [removeSchedule](const http::Request& r) { return removeSchedule(r, ""); });
  add({"workflows.runs.approve_of", "POST", "/api/v2/workflows/{name}/runs/{id}/steps/{step}/approve",
       "workflows:write", operation("Approve a waiting approval step of a run of this workflow", 200)},
      decision(Decision::kApprove));
  add({"workflows.runs.reject_of", "POST", "/api/v2/workflows/{name}/runs/{id}/steps/{step}/reject",
       "workflows:write", operation("Reject a waiting approval step of a run of this workflow", 200)},
      decision(Decision::kReject));
}

void WorkflowRoutes::add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
  table_.add(std::move(route), [this, handler = std::move(handler)](http::Request request,
                                                                    http::Responder respond) {
    auto shared = std::make_shared<http::Responder>(std::move(respond));
    bool posted =
        engine_->background([handler, request = std::move(request), shared] { (*shared)(handler(request)); });
    if (!posted) (*shared)(http::problem(503, "Service Unavailable", "workflow_engine is stopping"));
  });
}

http::Response WorkflowRoutes::apply(const http::Request& request) {
  std::vector<http::FieldError> errors;
  json::value document;
  if (request.body.size() > engine_->options().limits.maxDefinitionBytes)
    return http::problem(413, "Content Too Large", "the definition is larger than max_definition_bytes");
  std::map<std::string, std::string> locations;
  if (isYaml(request)) {
    auto parsed = yamlToJson(request.body, &locations);
    if (!parsed.ok())
      return http::problem(400, "Bad Request", "the definition is not YAML: " + parsed.status().message());
    document = std::move(parsed).value();
  } else {
    std::error_code ec;
    document = json::parse(request.body, ec);
    if (ec) return http::problem(400, "Bad Request", "the definition is not JSON: " + ec.message());
  }
  auto applied = engine_->apply(scopeOf(request).tenant, document, errors);
  if (!applied.ok()) {
    locate(errors, locations);  // YAML: "line:column: " before each message
    return invalid(applied.status(), std::move(errors));
  }
  http::Response response = reply(applied->created ? 201 : 200, applied->record);
  response.headers.push_back(
      {"location", "/api/v2/workflows/" + std::string(applied->record["name"].as_string()) +
                       "?version=" + std::to_string(applied->record["version"].as_int64())});
  return response;
}

http::Response WorkflowRoutes::startRun(const http::Request& request) {
  std::vector<http::FieldError> errors;
  json::value params = json::object{};
  std::int64_t version = 0;
  if (!request.body.empty()) {
    std::error_code ec;
    json::value body = json::parse(request.body, ec);
    if (ec || !body.is_object()) return http::problem(400, "Bad Request", "send {\"params\": {...}} as JSON");
    for (const auto& [key, value] : body.get_object())
      if (key != "params" && key != "version") errors.push_back({"/" + std::string(key), "unknown field"});
    if (const json::value* given = body.get_object().if_contains("params")) params = *given;
    if (const json::value* given = body.get_object().if_contains("version")) {
      if (!given->is_int64() || given->get_int64() < 1)
        errors.push_back({"/version", "must be a positive integer"});
      else
        version = given->get_int64();
    }
    if (!errors.empty())
      return http::problem(422, "Unprocessable Content", "the run is not valid", std::move(errors));
  }
  std::string key;
  if (const std::string* header = request.header("idempotency-key")) {
    key = *header;
    bool ok = !key.empty() && key.size() <= 128;
    for (char c : key) ok = ok && c >= 0x21 && c <= 0x7e;
    if (!ok)
      return http::problem(422, "Unprocessable Content", "invalid Idempotency-Key",
                           {{"Idempotency-Key", "must be 1-128 printable ASCII characters"}});
    if (key.front() == '~')  // a named tenant's keys are kept as "~<tenant>~<key>" (runKeyId)
      return http::problem(422, "Unprocessable Content", "invalid Idempotency-Key",
                           {{"Idempotency-Key", "must not start with '~' (reserved)"}});
  }
  const std::string tenant = scopeOf(request).tenant;
  // A new run is new work: refused while the host is saturated (hive.admission/1).
  if (auto refused = plugin_common::admissionRefusal(engine_->services(), {"workflow_run", tenant, {}}))
    return std::move(*refused);
  auto started = engine_->startRun(tenant, request.param("name"), version, params, key, errors);
  if (!started.ok()) return invalid(started.status(), std::move(errors));
  http::Response response = reply(started->replayed ? 200 : 201, started->run);
  response.headers.push_back(
      {"location", "/api/v2/workflows/runs/" + std::string(started->run["id"].as_string())});
  if (started->replayed) response.headers.push_back({"idempotent-replayed", "true"});
  return response;
}

http::Response WorkflowRoutes::listRuns(const http::Request& request, const std::string& workflow) {
  std::vector<http::FieldError> errors;
  std::size_t limit = plugin_common::pageLimit(request.queryParam("limit"), errors);
  std::string status;
  if (const std::string* value = request.queryParam("status")) {
    status = *value;
    if (status != "running" && status != "paused" && status != "succeeded" && status != "failed" &&
        status != "cancelled")
      errors.push_back({"status", "must be one of running, paused, succeeded, failed, cancelled"});
  }
  if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
  const std::string* cursor = request.queryParam("cursor");
  auto listed =
      engine_->runs(shownTenant(request), workflow, status, limit, cursor ? *cursor : std::string());
  return listed.ok() ? reply(200, page(*listed)) : http::problem(listed.status());
}

tenancy::Scope WorkflowRoutes::scopeOf(const http::Request& request) {
  return plugin_common::scopeOf(engine_->services(), request.principal);
}

std::optional<std::string> WorkflowRoutes::shownTenant(const http::Request& request) {
  return plugin_common::shownTenant(scopeOf(request), request);
}

Result<json::object> WorkflowRoutes::visibleRun(const http::Request& request) {
  const std::string& id = request.param("id");
  auto found = engine_->run(id);
  if (!found.ok()) return found.status();
  if (!scopeOf(request).sees(plugin_common::stringField(*found, "tenant")))
    return notFound("no workflow run '" + id + "'");
  if (request.params.count("name") && (*found)["workflow"] != json::value(request.param("name")))
    return notFound("no run '" + id + "' of workflow '" + request.param("name") + "'");
  return found;
}

}  // namespace hive::workflow_engine
