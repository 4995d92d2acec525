// Assembles one OpenAPI 3.1 document from every provider's route fragments.
#include <set>

#include <boost/json.hpp>

#include "kernel_routes.hpp"

namespace hive::api {
namespace {

namespace json = boost::json;

std::optional<json::value> parseFragment(std::string_view text) {
  if (text.empty()) return std::nullopt;
  boost::system::error_code error;
  json::parse_options options;
  options.max_depth = 64;
  json::value value = json::parse(text, error, {}, options);
  if (error) return std::nullopt;
  return value;
}

std::string lowerMethod(std::string method) {
  for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return method;
}

std::string operationId(const std::string& provider, const std::string& id) {
  std::string out = provider + "." + id;
  for (auto& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  return out;
}

json::object problemResponse() {
  return json::object{
      {"description", "Problem details (RFC 9457)"},
      {"content",
       json::object{{"application/problem+json",
                     json::object{{"schema", json::object{{"$ref", "#/components/schemas/Problem"}}}}}}}};
}

}  // namespace

std::string buildOpenApi(const Table& table, const std::string& version) {
  json::object paths;
  std::set<std::string> operationIds;
  for (const auto& entry : table.routes()) {
    json::object operation;
    if (auto fragment = parseFragment(entry.route.openapi); fragment && fragment->is_object())
      operation = std::move(fragment->as_object());
    std::string id = operationId(entry.owner->name, entry.route.id);
    while (!operationIds.insert(id).second) id += "_";
    operation["operationId"] = id;
    if (!operation.contains("summary")) operation["summary"] = entry.route.method + " " + entry.route.path;
    if (!operation.contains("tags")) operation["tags"] = json::array{json::value(entry.owner->name)};
    // Path parameters must be declared; the template names them.
    json::array parameters;
    if (auto* existing = operation.if_contains("parameters"); existing && existing->is_array())
      parameters = existing->as_array();
    for (const auto& segment : entry.segments) {
      if (!segment.parameter) continue;
      bool declared = false;
      for (const auto& p : parameters)
        if (const auto* object = p.if_object())
          if (const auto* name = object->if_contains("name");
              name && name->is_string() && name->as_string() == segment.text)
            declared = true;
      if (!declared)
        parameters.push_back(json::object{{"name", segment.text},
                                          {"in", "path"},
                                          {"required", true},
                                          {"schema", json::object{{"type", "string"}}}});
    }
    if (!parameters.empty()) operation["parameters"] = std::move(parameters);
    json::object* responses = nullptr;
    if (auto* r = operation.if_contains("responses"); r && r->is_object()) responses = &r->as_object();
    if (responses == nullptr) {
      operation["responses"] = json::object{{"200", json::object{{"description", "OK"}}}};
      responses = &operation["responses"].as_object();
    }
    bool has4xx = false;
    for (const auto& [code, value] : *responses)
      if (code.size() == 3 && code[0] == '4') has4xx = true;
    if (!has4xx) (*responses)["400"] = problemResponse();
    if (!entry.route.permission.empty()) {
      // `responses` points into `operation`: finish with it before adding keys there.
      if (!responses->contains("401")) (*responses)["401"] = problemResponse();
      if (!responses->contains("403")) (*responses)["403"] = problemResponse();
      operation["security"] = json::array{json::object{{"bearer", json::array{}}}};
      operation["x-hive-permission"] = entry.route.permission;
    } else {
      operation["security"] = json::array{};
    }
    auto& item = paths[entry.route.path];
    if (!item.is_object()) item = json::object{};
    item.as_object()[lowerMethod(entry.route.method)] = std::move(operation);
  }

  json::object schemas;
  for (const auto& [provider, text] : table.schemas()) {
    auto fragment = parseFragment(text);
    if (!fragment || !fragment->is_object()) continue;
    for (auto& [name, schema] : fragment->as_object())
      if (!schemas.contains(name)) schemas[name] = schema;
  }
  if (!schemas.contains("Problem")) schemas["Problem"] = json::object{{"type", "object"}};

  json::object document{
      {"openapi", "3.1.0"},
      {"info",
       json::object{{"title", "Hive API"},
                    {"version", version},
                    {"description", "Routes served by the api plugin, assembled from every route provider."},
                    {"license", json::object{{"name", "Proprietary"}, {"identifier", "LicenseRef-Hive"}}}}},
      {"servers", json::array{json::object{{"url", "/"}}}},
      {"paths", std::move(paths)},
      {"components",
       json::object{{"schemas", std::move(schemas)},
                    {"securitySchemes",
                     json::object{{"bearer", json::object{{"type", "http"}, {"scheme", "bearer"}}}}}}}};
  return json::serialize(document);
}

}  // namespace hive::api
