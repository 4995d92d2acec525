// /api/v2/projects: create, list, get, export and erase a tenant's projects
// (project_service.hpp).
#include <charconv>

#include <boost/json.hpp>

#include "plugin_common/page_limit.hpp"
#include "project_service.hpp"
#include "route_parts.hpp"
#include "routes.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;

std::string operation(std::string_view summary, std::string_view id, std::string_view extra,
                      std::string_view responses) {
  return security_manager::operation("projects", summary, id, extra, responses);
}

constexpr std::string_view kTenantParameter =
    "{\"name\":\"tenant\",\"in\":\"query\",\"description\":\"For a caller that spans tenants: whose project "
    "(default: the default tenant's)\",\"schema\":{\"type\":\"string\"}}";
const std::string kNameParameters =
    std::string(",\"parameters\":[{\"name\":\"name\",\"in\":\"path\",\"required\":true,") +
    "\"schema\":{\"type\":\"string\"}}," + std::string(kTenantParameter) + "]";
constexpr std::string_view kNotFound =
    "\"404\":{\"description\":\"No such project (or another "
    "tenant's)\",\"content\":{\"application/problem+json\":{}}}";

}  // namespace

void SecurityRoutes::addProjectRoutes(std::shared_ptr<ProjectService> projects) {
  add({"projects.create", "POST", "/api/v2/projects", "projects:write",
       operation("Create a project in the caller's tenant", "createProject",
                 ",\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":"
                 "{\"$ref\":\"#/components/schemas/ProjectSpec\"}}}}",
                 "\"201\":{\"description\":\"Created\",\"content\":{\"application/json\":{\"schema\":"
                 "{\"$ref\":\"#/components/schemas/Project\"}}}},\"409\":{\"description\":\"It exists\","
                 "\"content\":{\"application/problem+json\":{}}},\"422\":{\"description\":\"Invalid\","
                 "\"content\":{\"application/problem+json\":{}}}"),
       std::size_t{16} * 1024},
      [projects](const http::Request& request) {
        Refusal refusal;
        auto created = projects->create(projects->callerOf(request.principal), request.body, refusal);
        if (!created.ok()) {
          if (!refusal.errors.empty())
            return http::problem(422, "Unprocessable Content", refusal.status.message(), refusal.errors);
          if (refusal.status.code() == StatusCode::kInvalidArgument)
            return http::problem(400, "Bad Request", refusal.status.message());
          return http::problem(created.status());
        }
        auto response = jsonResponse(201, projectJson(*created));
        response.headers.push_back({"location", "/api/v2/projects/" + created->name});
        return response;
      });
  add({"projects.list", "GET", "/api/v2/projects", "projects:read",
       operation("List the projects the caller sees", "listProjects",
                 ",\"parameters\":[" + std::string(kTenantParameter) + "]",
                 "\"200\":{\"description\":\"Projects\",\"content\":{\"application/json\":{\"schema\":{"
                 "\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"$ref\":"
                 "\"#/components/schemas/Project\"}}}}}}}")},
      [projects](const http::Request& request) {
        auto records = projects->list(projects->callerOf(request.principal), request.queryParam("tenant"));
        if (!records.ok()) return http::problem(records.status());
        std::string body = "{\"items\":[";
        for (std::size_t i = 0; i < records->size(); ++i) body += (i ? "," : "") + projectJson((*records)[i]);
        return jsonResponse(200, body + "]}");
      });
  add({"projects.get", "GET", "/api/v2/projects/{name}", "projects:read",
       operation("Get a project", "getProject", kNameParameters,
                 "\"200\":{\"description\":\"The project\",\"content\":{\"application/json\":{\"schema\":"
                 "{\"$ref\":\"#/components/schemas/Project\"}}}}," +
                     std::string(kNotFound))},
      [projects](const http::Request& request) {
        Caller caller = projects->callerOf(request.principal);
        auto record =
            projects->get(caller, ProjectService::addressedTenant(caller, request.queryParam("tenant")),
                          request.param("name"));
        return record.ok() ? jsonResponse(200, projectJson(*record)) : http::problem(record.status());
      });
  add({"projects.erase", "DELETE", "/api/v2/projects/{name}", "projects:erase",
       operation("Erase a project: its objects everywhere (tasks and their events), its keys, its record; "
                 "an audit entry records the erasure",
                 "eraseProject", kNameParameters,
                 "\"200\":{\"description\":\"Erased: what went\",\"content\":{\"application/json\":{}}}," +
                     std::string(kNotFound) +
                     ",\"409\":{\"description\":\"A part could not be erased; the project stays `erasing`: "
                     "DELETE again\",\"content\":{\"application/problem+json\":{}}}")},
      [projects](const http::Request& request) {
        Caller caller = projects->callerOf(request.principal);
        auto erased =
            projects->erase(caller, ProjectService::addressedTenant(caller, request.queryParam("tenant")),
                            request.param("name"));
        if (!erased.ok()) return http::problem(erased.status());
        json::object objects;
        for (const auto& [kind, count] : erased->objects) objects[kind] = count;
        json::object body{{"name", erased->project.name},
                          {"erased", std::move(objects)},
                          {"keys_revoked", erased->keysRevoked}};
        if (!erased->project.tenant.empty()) body["tenant"] = erased->project.tenant;
        return jsonResponse(200, json::serialize(body));
      });
  add({"projects.export", "GET", "/api/v2/projects/{name}/export", "projects:export",
       operation(
           "Export a project as JSON Lines, a page at a time: the project, then each plugin's objects "
           "(tasks, their events), then its audit entries. The Link header (rel=next) gives the next "
           "page; the last page has none.",
           "exportProject",
           ",\"parameters\":[{\"name\":\"name\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":"
           "\"string\"}}," +
               std::string(kTenantParameter) +
               ",{\"name\":\"cursor\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},{\"name\":"
               "\"limit\",\"in\":\"query\",\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":"
               "1000,\"default\":100}}]",
           "\"200\":{\"description\":\"One page of JSON Lines\",\"content\":{\"application/x-ndjson\":{}}}," +
               std::string(kNotFound))},
      [projects](const http::Request& request) {
        std::vector<http::FieldError> errors;
        std::size_t limit = plugin_common::pageLimit(request.queryParam("limit"), errors);
        if (!errors.empty())
          return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
        Caller caller = projects->callerOf(request.principal);
        const std::string* tenantParam = request.queryParam("tenant");
        std::string tenant = ProjectService::addressedTenant(caller, tenantParam);
        const std::string* cursor = request.queryParam("cursor");
        auto page = projects->exportPage(caller, tenant, request.param("name"),
                                         cursor ? *cursor : std::string(), limit);
        if (!page.ok()) return http::problem(page.status());
        http::Response response;
        response.contentType = "application/x-ndjson";
        for (const auto& line : page->lines) (response.body += line) += '\n';
        if (!page->next.empty()) {
          std::string next = request.path + "?cursor=" + page->next + "&limit=" + std::to_string(limit);
          if (tenantParam != nullptr && caller.scope.allTenants) next += "&tenant=" + *tenantParam;
          response.headers.push_back({"link", "<" + next + ">; rel=\"next\""});
        }
        response.headers.push_back({"cache-control", "no-store"});
        return response;
      });
}

std::string SecurityRoutes::projectSchemas() {
  return R"("Project": {"type": "object", "required": ["name", "created_at_ms", "state"], "properties": {
  "name": {"type": "string"}, "tenant": {"type": "string", "description": "absent for the default tenant"},
  "description": {"type": "string"}, "created_by": {"type": "string"}, "created_at_ms": {"type": "integer"},
  "state": {"type": "string", "enum": ["active", "erasing"]}, "erasing_since_ms": {"type": "integer"}}},
 "ProjectSpec": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
  "name": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$"},
  "description": {"type": "string", "maxLength": 1000},
  "tenant": {"type": "string", "maxLength": 64, "description": "only for a caller that spans tenants"}}})";
}

}  // namespace hive::security_manager
