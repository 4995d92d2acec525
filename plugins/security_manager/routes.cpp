#include "routes.hpp"

#include <charconv>
#include <cstdint>
#include <type_traits>

#include <boost/json.hpp>

#include "route_parts.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;

std::string operation(std::string_view summary, std::string_view id, std::string_view extra,
                      std::string_view responses) {
  return security_manager::operation("security", summary, id, extra, responses);
}

constexpr std::string_view kIdParameter =
    ",\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}]";
constexpr std::string_view kKeyResponse =
    "\"200\":{\"description\":\"The key, without its secret\",\"content\":{\"application/json\":{\"schema\":"
    "{\"$ref\":\"#/components/schemas/ApiKey\"}}}},\"404\":{\"description\":\"No such key\",\"content\":"
    "{\"application/problem+json\":{}}}";

}  // namespace

SecurityRoutes::SecurityRoutes(std::shared_ptr<KeyService> service, std::shared_ptr<ProjectService> projects)
    : service_(std::move(service)) {
  addProjectRoutes(std::move(projects));
  add({"keys.create", "POST", "/api/v2/security/keys", "security:write",
       operation("Create an API key; the key is in this answer and nowhere else", "createApiKey",
                 ",\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":"
                 "{\"$ref\":\"#/components/schemas/ApiKeySpec\"}}}}",
                 "\"201\":{\"description\":\"Created\",\"content\":{\"application/json\":{\"schema\":"
                 "{\"$ref\":\"#/components/schemas/ApiKey\"}}}},\"422\":{\"description\":\"Invalid\","
                 "\"content\":{\"application/problem+json\":{}}}"),
       std::size_t{16} * 1024},
      [this](const http::Request& request) {
        Refusal refusal;
        auto created = service_->create(request.body, request.principal, refusal);
        if (!created.ok()) {
          if (!refusal.errors.empty())
            return http::problem(422, "Unprocessable Content", refusal.status.message(), refusal.errors);
          if (refusal.status.code() == StatusCode::kInvalidArgument)
            return http::problem(400, "Bad Request", refusal.status.message());
          return http::problem(created.status());
        }
        auto body = json::parse(publicJson(created->record)).as_object();
        body["key"] = created->key;
        auto response = jsonResponse(201, json::serialize(body));
        response.headers.push_back({"location", "/api/v2/security/keys/" + created->record.id});
        // The one answer that carries a secret: no cache may keep it.
        response.headers.push_back({"cache-control", "no-store"});
        return response;
      });
  add({"keys.list", "GET", "/api/v2/security/keys", "security:read",
       operation("List API keys (never their secrets)", "listApiKeys", "",
                 "\"200\":{\"description\":\"Keys\",\"content\":{\"application/json\":{\"schema\":{\"type\":"
                 "\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"$ref\":"
                 "\"#/components/schemas/ApiKey\"}}}}}}}")},
      [this](const http::Request&) {
        auto keys = service_->list();
        if (!keys.ok()) return http::problem(keys.status());
        std::string body = "{\"items\":[";
        for (std::size_t i = 0; i < keys->size(); ++i) body += (i ? "," : "") + publicJson((*keys)[i]);
        return jsonResponse(200, body + "]}");
      });
  add({"keys.get", "GET", "/api/v2/security/keys/{id}", "security:read",
       operation("Get an API key (never its secret)", "getApiKey", kIdParameter, kKeyResponse)},
      [this](const http::Request& request) {
        auto key = service_->get(request.param("id"));
        return key.ok() ? jsonResponse(200, publicJson(*key)) : http::problem(key.status());
      });
  add({"keys.revoke", "DELETE", "/api/v2/security/keys/{id}", "security:write",
       operation("Revoke an API key: refused from now on, on every node within refresh_interval",
                 "revokeApiKey", kIdParameter,
                 "\"204\":{\"description\":\"Revoked\"},\"404\":{\"description\":\"No such key\","
                 "\"content\":{\"application/problem+json\":{}}}")},
      [this](const http::Request& request) {
        auto revoked = service_->revoke(request.param("id"), request.principal);
        if (!revoked.ok()) return http::problem(revoked.status());
        http::Response response;
        response.status = 204;
        response.contentType.clear();
        return response;
      });
  add({"roles.list", "GET", "/api/v2/security/roles", "security:read",
       operation("Roles and the permissions each grants", "listRoles", "",
                 "\"200\":{\"description\":\"Roles\",\"content\":{\"application/json\":{}}}")},
      [this](const http::Request&) {
        json::object roles;
        for (const auto& [name, permissions] : service_->roles().all()) {
          json::array granted;
          for (const auto& permission : permissions) granted.emplace_back(permission);
          roles[name] = std::move(granted);
        }
        return jsonResponse(200, json::serialize(json::object{{"roles", std::move(roles)}}));
      });
  add({"audit.list", "GET", "/api/v2/security/audit", "security:read",
       operation("Audit entries, oldest first: state-changing and refused requests, key changes", "listAudit",
                 ",\"parameters\":[{\"name\":\"after\",\"in\":\"query\",\"schema\":{\"type\":"
                 "\"integer\",\"minimum\":0}},{\"name\":\"limit\",\"in\":\"query\",\"schema\":{"
                 "\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":100}}]",
                 "\"200\":{\"description\":\"Entries and the cursor for the next page\",\"content\":"
                 "{\"application/json\":{}}},\"422\":{\"description\":\"Bad query\",\"content\":"
                 "{\"application/problem+json\":{}}}")},
      [this](const http::Request& request) {
        std::uint64_t after = 0;
        std::size_t limit = 100;
        std::vector<http::FieldError> errors;
        auto number = [&](const char* name, std::uint64_t low, std::uint64_t high, auto& out) {
          const std::string* text = request.queryParam(name);
          if (text == nullptr) return;
          std::uint64_t value = 0;
          auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
          if (error != std::errc() || end != text->data() + text->size() || value < low || value > high)
            errors.push_back(
                {name, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high)});
          else
            out = static_cast<std::remove_reference_t<decltype(out)>>(value);
        };
        number("after", 0, UINT64_MAX, after);
        number("limit", 1, 1000, limit);
        if (!errors.empty())
          return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
        (void)service_->audit().flush();  // what this node queued is in the answer
        auto events = service_->audit().read(after, limit);
        if (!events.ok()) return http::problem(events.status());
        std::string body = "{\"items\":[";
        for (std::size_t i = 0; i < events->size(); ++i) {
          const auto& event = (*events)[i];
          body += (i ? "," : "") + std::string("{\"id\":") + std::to_string(event.id) +
                  ",\"record\":" + event.body + "}";
        }
        body += "]";
        if (events->size() == limit) body += ",\"next_after\":" + std::to_string(events->back().id);
        return jsonResponse(200, body + "}");
      });
  add({"audit.verify", "GET", "/api/v2/security/audit/verify", "security:read",
       operation("Walk the audit hash chain: intact, or where it breaks", "verifyAudit", "",
                 "\"200\":{\"description\":\"{intact, entries, broken_at_event?, reason?}\",\"content\":"
                 "{\"application/json\":{}}}")},
      [this](const http::Request&) {
        (void)service_->audit().flush();
        auto verified = service_->audit().verify();
        if (!verified.ok()) return http::problem(verified.status());
        json::object body{{"intact", verified->intact}, {"entries", verified->entries}};
        if (!verified->intact) {
          body["broken_at_event"] = verified->brokenAtEvent;
          body["reason"] = verified->reason;
        }
        return jsonResponse(200, json::serialize(body));
      });
}

void SecurityRoutes::add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
  table_.add(std::move(route),
             [this, handler = std::move(handler)](http::Request request, http::Responder respond) {
               service_->background([handler, request = std::move(request), respond = std::move(respond)] {
                 respond(handler(request));
               });
             });
}

std::string SecurityRoutes::openapiSchemas() {
  return R"({"ApiKey": {"type": "object", "required": ["id", "name", "role", "created_at_ms"], "properties": {
  "id": {"type": "string"}, "name": {"type": "string"}, "role": {"type": "string"},
  "tenant": {"type": "string"}, "project": {"type": "string"},
  "agent": {"type": "string", "description": "role agent: the agent name the key may connect as"},
  "created_by": {"type": "string"}, "created_at_ms": {"type": "integer"},
  "expires_at_ms": {"type": "integer"}, "revoked_at_ms": {"type": "integer"},
  "key": {"type": "string", "description": "hive_<id>_<secret>, only in the 201 of POST /api/v2/security/keys"}}},
 "ApiKeySpec": {"type": "object", "additionalProperties": false, "required": ["name", "role"], "properties": {
  "name": {"type": "string", "maxLength": 64}, "role": {"type": "string"},
  "tenant": {"type": "string", "maxLength": 64}, "project": {"type": "string", "maxLength": 64},
  "agent": {"type": "string", "maxLength": 64},
  "expires_in": {"type": "string", "description": "3600s, 90m, 12h, 30d"}}}, )" +
         projectSchemas() + "}";
}

}  // namespace hive::security_manager
