#include "routes.hpp"

#include <sodium.h>

#include <boost/json.hpp>

namespace hive::security_engine {
namespace {

namespace json = boost::json;

http::Response jsonResponse(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::string operation(std::string_view summary, std::string_view id, std::string_view extra,
                      std::string_view responses) {
  return std::string("{\"summary\":") + http::jsonQuote(summary) + ",\"operationId\":" + http::jsonQuote(id) +
         ",\"tags\":[\"secrets\"]" + std::string(extra) + ",\"responses\":{" + std::string(responses) +
         ",\"401\":{\"description\":\"No or bad credentials\",\"content\":{\"application/problem+json\":{}}}"
         ",\"403\":{\"description\":\"Not allowed\",\"content\":{\"application/problem+json\":{}}}"
         ",\"503\":{\"description\":\"No master key "
         "configured\",\"content\":{\"application/problem+json\":{}}}}}";
}

constexpr std::string_view kNameParameter =
    ",\"parameters\":[{\"name\":\"name\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}"
    "]";
constexpr std::string_view kSecretResponse =
    "\"200\":{\"description\":\"The secret's metadata, never its value\",\"content\":{\"application/json\":"
    "{\"schema\":{\"$ref\":\"#/components/schemas/Secret\"}}}},\"404\":{\"description\":\"No such secret\","
    "\"content\":{\"application/problem+json\":{}}}";

// {"value": "..."} -> the value; anything else is refused with the reason.
Result<std::string> valueOf(const std::string& body) {
  boost::system::error_code error;
  json::value parsed = json::parse(body, error);
  if (error || !parsed.is_object())
    return invalidArgument("the body must be a JSON object {\"value\": \"...\"}");
  auto& object = parsed.as_object();
  for (const auto& member : object)
    if (member.key() != "value") return invalidArgument("unknown field '" + std::string(member.key()) + "'");
  json::value* value = object.if_contains("value");
  if (value == nullptr || !value->is_string()) return invalidArgument("'value' must be a string");
  std::string out(value->get_string());
  // The parsed document holds a copy of the value too.
  sodium_memzero(value->get_string().data(), value->get_string().size());
  return out;
}

// As http::problem, except that a value that does not decrypt is named (which
// secret, which key id; never a value): the operator must act on it.
http::Response refused(const Status& status) {
  if (status.code() == StatusCode::kDataLoss) return http::problem(409, "Conflict", status.message());
  return http::problem(status);
}

}  // namespace

std::string infoJson(const secrets::SecretInfo& info) {
  return json::serialize(json::object{{"name", info.name},
                                      {"version", info.version},
                                      {"key_id", info.keyId},
                                      {"created_at_ms", info.createdAtMs},
                                      {"updated_at_ms", info.updatedAtMs},
                                      {"updated_by", info.updatedBy}});
}

SecretRoutes::SecretRoutes(std::shared_ptr<Vault> vault, Executor& blocking, std::size_t maxValueBytes)
    : vault_(std::move(vault)), blocking_(blocking) {
  // JSON may escape each byte as \u00XX (6 bytes), plus the envelope.
  std::size_t maxBody = maxValueBytes * 6 + 1024;
  add({"secrets.put", "PUT", "/api/v2/secrets/{name}", "secrets:write",
       operation(
           "Set a secret (created or replaced); the value is encrypted and never answered", "putSecret",
           std::string(kNameParameter) +
               ",\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":"
               "{\"$ref\":\"#/components/schemas/SecretValue\"}}}}",
           "\"200\":{\"description\":\"Replaced\",\"content\":{\"application/json\":{\"schema\":"
           "{\"$ref\":\"#/components/schemas/Secret\"}}}},\"201\":{\"description\":\"Created\","
           "\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Secret\"}}}},"
           "\"422\":{\"description\":\"Bad name or value\",\"content\":{\"application/problem+json\":{}}},"
           "\"429\":{\"description\":\"max_secrets reached\",\"content\":{\"application/problem+json\":{}}}"),
       maxBody},
      [](Vault& vault, const http::Request& request) {
        auto value = valueOf(request.body);
        if (!value.ok()) return refused(value.status());
        bool created = false;
        auto info = vault.put(request.param("name"), *value, request.principal, created);
        sodium_memzero(value->data(), value->size());
        if (!info.ok()) return refused(info.status());
        auto response = jsonResponse(created ? 201 : 200, infoJson(*info));
        if (created) response.headers.push_back({"location", "/api/v2/secrets/" + info->name});
        return response;
      });
  add({"secrets.get", "GET", "/api/v2/secrets/{name}", "secrets:read",
       operation("A secret's metadata (never its value)", "getSecret", kNameParameter, kSecretResponse)},
      [](Vault& vault, const http::Request& request) {
        auto info = vault.describe(request.param("name"));
        return info.ok() ? jsonResponse(200, infoJson(*info)) : refused(info.status());
      });
  add({"secrets.list", "GET", "/api/v2/secrets", "secrets:read",
       operation(
           "Every secret's metadata (never a value)", "listSecrets", "",
           "\"200\":{\"description\":\"Secrets\",\"content\":{\"application/json\":{\"schema\":{\"type\":"
           "\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"$ref\":"
           "\"#/components/schemas/Secret\"}}}}}}}")},
      [](Vault& vault, const http::Request&) {
        auto all = vault.list();
        if (!all.ok()) return refused(all.status());
        std::string body = "{\"items\":[";
        for (std::size_t i = 0; i < all->size(); ++i) body += (i ? "," : "") + infoJson((*all)[i]);
        return jsonResponse(200, body + "]}");
      });
  add({"secrets.delete", "DELETE", "/api/v2/secrets/{name}", "secrets:write",
       operation("Delete a secret", "deleteSecret", kNameParameter,
                 "\"204\":{\"description\":\"Deleted\"},\"404\":{\"description\":\"No such secret\","
                 "\"content\":{\"application/problem+json\":{}}}")},
      [](Vault& vault, const http::Request& request) {
        Status removed = vault.remove(request.param("name"));
        if (!removed.ok()) return refused(removed);
        http::Response response;
        response.status = 204;
        response.contentType.clear();
        return response;
      });
  add({"secrets.rotate", "POST", "/api/v2/secrets/actions/rotate-key", "secrets:write",
       operation(
           "Re-encrypt every secret under the current master key", "rotateSecretsKey", "",
           "\"200\":{\"description\":\"{reencrypted, current}\",\"content\":{\"application/json\":{}}}")},
      [](Vault& vault, const http::Request&) {
        auto report = vault.rotateKey();
        if (!report.ok()) return refused(report.status());
        return jsonResponse(200, json::serialize(json::object{{"reencrypted", report->reencrypted},
                                                              {"current", report->current}}));
      });
}

void SecretRoutes::add(http::Route route,
                       std::function<http::Response(Vault&, const http::Request&)> handler) {
  table_.add(
      std::move(route), [this, handler = std::move(handler)](http::Request request, http::Responder respond) {
        if (!vault_) {
          respond(http::problem(
              503, "Service Unavailable",
              "no master key configured: set security_engine secrets.master_key_file or master_key_env"));
          return;
        }
        blocking_.post([self = shared_from_this(), handler, request = std::move(request),
                        respond = std::move(respond)]() mutable {
          respond(handler(*self->vault_, request));
          // The request body held the value of a PUT.
          sodium_memzero(request.body.data(), request.body.size());
        });
      });
}

std::string SecretRoutes::openapiSchemas() {
  return R"({"Secret": {"type": "object", "required": ["name", "version"], "properties": {
  "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"}, "version": {"type": "integer"},
  "key_id": {"type": "string", "description": "the master key it is encrypted under"},
  "created_at_ms": {"type": "integer"}, "updated_at_ms": {"type": "integer"},
  "updated_by": {"type": "string", "description": "the principal that last set it"}}},
 "SecretValue": {"type": "object", "additionalProperties": false, "required": ["value"], "properties": {
  "value": {"type": "string", "minLength": 1}}}})";
}

}  // namespace hive::security_engine
