#include "routes.hpp"

#include <cstdlib>

#include "plugin_common/page_limit.hpp"
#include "plugin_common/route_reply.hpp"
#include "plugin_common/tenant_scope.hpp"

namespace hive::context_manager {

namespace json = boost::json;

namespace {

http::Response reply(int status, const json::value& body) { return plugin_common::jsonReply(status, body); }

std::string operation(const char* summary, int ok) {
  return plugin_common::operation(summary, "contexts", ok);
}

http::Response badScope(const Status& status) {
  return http::problem(422, "Unprocessable Content", status.message(), {{"scope", status.message()}});
}

// What a URL of `context` adds to its path: the tenant the request named
// with `?tenant=` (a caller that spans tenants), so that following it reads
// the same context. A checked tenant needs no escaping.
std::string tenantQuery(const http::Request& request, const ScopeRef& context) {
  const std::string* named = request.queryParam("tenant");
  if (named == nullptr || context.tenant.empty() || *named != context.tenant) return {};
  return "?tenant=" + context.tenant;
}

}  // namespace

ContextRoutes::ContextRoutes(std::shared_ptr<Contexts> contexts, std::shared_ptr<Compressor> compressor,
                             Jobs& jobs, ServiceRegistry& services)
    : contexts_(std::move(contexts)), compressor_(std::move(compressor)), jobs_(jobs), services_(services) {
  const EntryLimits& limits = contexts_->limits();
  // Room for the JSON around the text and metadata; each is checked alone.
  const std::size_t maxBody = 2 * (limits.maxTextBytes + limits.maxMetadataBytes) + 4096;
  add({"contexts.describe", "GET", "/api/v2/contexts/{scope}", "contexts:read",
       operation("A context: its active entries, estimated tokens, indexed vectors and compression", 200)},
      [this](const http::Request& r) { return describe(r); });
  add({"contexts.entries.add", "POST", "/api/v2/contexts/{scope}/entries", "contexts:write",
       operation("Add an entry: {\"text\": \"...\", \"metadata\": {...}}", 201), maxBody},
      [this](const http::Request& r) { return put(r); });
  add({"contexts.entries.list", "GET", "/api/v2/contexts/{scope}/entries", "contexts:read",
       operation("Entries, oldest first, with a cursor; ?archived=true for the summarised ones", 200)},
      [this](const http::Request& r) { return list(r); });
  add({"contexts.entries.clear", "DELETE", "/api/v2/contexts/{scope}/entries", "contexts:write",
       operation("Delete every entry of the context, archived ones too", 200)},
      [this](const http::Request& r) { return clear(r); });
  add({"contexts.entries.get", "GET", "/api/v2/contexts/{scope}/entries/{id}", "contexts:read",
       operation("One entry, active or archived", 200)},
      [this](const http::Request& r) { return get(r); });
  add({"contexts.entries.remove", "DELETE", "/api/v2/contexts/{scope}/entries/{id}", "contexts:write",
       operation("Delete one entry", 204)},
      [this](const http::Request& r) { return remove(r); });
  add({"contexts.search", "GET", "/api/v2/contexts/{scope}/search", "contexts:read",
       operation("Search: ?q=&k= (1..max_k, 10); ?mode=hybrid|lexical|semantic; items best first", 200)},
      [this](const http::Request& r) { return search(r); });
}

std::optional<ScopeRef> ContextRoutes::contextOf(const http::Request& request, http::Response& refused) {
  const std::string& scope = request.param("scope");
  if (Status valid = checkScope(scope); !valid.ok()) {
    refused = badScope(valid);
    return std::nullopt;
  }
  tenancy::Scope caller = plugin_common::scopeOf(services_, request.principal);
  // A caller of one tenant has no choice: `?tenant=` is not read (as task_manager's lists do).
  if (!caller.allTenants) return ScopeRef{caller.tenant, scope};
  const std::string* named = request.queryParam("tenant");
  if (named == nullptr) return ScopeRef{"", scope};
  if (Status valid = checkTenant(*named); !valid.ok()) {
    refused = http::problem(422, "Unprocessable Content", "bad query", {{"tenant", valid.message()}});
    return std::nullopt;
  }
  return ScopeRef{*named, scope};
}

void ContextRoutes::add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
  table_.add(
      std::move(route), [this, handler = std::move(handler)](http::Request request, http::Responder respond) {
        auto shared = std::make_shared<http::Responder>(std::move(respond));
        bool posted =
            jobs_.post([handler, request = std::move(request), shared] { (*shared)(handler(request)); });
        if (!posted) (*shared)(http::problem(503, "Service Unavailable", "context_manager is stopping"));
      });
}

http::Response ContextRoutes::clear(const http::Request& request) {
  http::Response refused;
  auto context = contextOf(request, refused);
  if (!context) return refused;
  auto removed = contexts_->clear(*context);
  return removed.ok() ? reply(200, json::object{{"removed", *removed}}) : http::problem(removed.status());
}

http::Response ContextRoutes::get(const http::Request& request) {
  http::Response refused;
  auto context = contextOf(request, refused);
  if (!context) return refused;
  auto entry = contexts_->get(*context, request.param("id"));
  return entry.ok() ? reply(200, entry->toJson()) : http::problem(entry.status());
}

http::Response ContextRoutes::remove(const http::Request& request) {
  http::Response refused;
  auto context = contextOf(request, refused);
  if (!context) return refused;
  Status removed = contexts_->remove(*context, request.param("id"));
  if (!removed.ok()) return http::problem(removed);
  http::Response response;
  response.status = 204;
  return response;
}

http::Response ContextRoutes::put(const http::Request& request) {
  http::Response refused;
  auto context = contextOf(request, refused);
  if (!context) return refused;
  std::error_code ec;
  json::value body = json::parse(request.body, ec);
  if (ec || !body.is_object())
    return http::problem(400, "Bad Request", "send {\"text\": \"...\", \"metadata\": {...}} as JSON");
  std::vector<http::FieldError> errors;
  const json::value* text = nullptr;
  json::value metadata = json::object{};
  for (const auto& [key, value] : body.get_object()) {
    if (key == "text") {
      text = &value;
    } else if (key == "metadata") {
      metadata = value;
    } else {
      errors.push_back({"/" + std::string(key), "unknown field"});
    }
  }
  if (text == nullptr || !text->is_string() || text->get_string().empty())
    errors.push_back({"/text", "required, a non-empty string"});
  if (!metadata.is_object()) errors.push_back({"/metadata", "must be an object"});
  if (!errors.empty())
    return http::problem(422, "Unprocessable Content", "the entry is not valid", std::move(errors));
  const EntryLimits& limits = contexts_->limits();
  if (text->get_string().size() > limits.maxTextBytes)
    return http::problem(413, "Content Too Large", "the text is larger than max_text_bytes",
                         {{"/text", "at most " + std::to_string(limits.maxTextBytes) + " bytes"}});
  if (json::serialize(metadata).size() > limits.maxMetadataBytes)
    return http::problem(
        413, "Content Too Large", "the metadata is larger than max_metadata_bytes",
        {{"/metadata", "at most " + std::to_string(limits.maxMetadataBytes) + " bytes as JSON"}});
  std::string author = request.principal.empty() ? "anonymous" : request.principal;
  auto entry = contexts_->put(*context, std::string(text->get_string()), metadata, author);
  if (!entry.ok()) return http::problem(entry.status());
  if (compressor_) compressor_->check(*context);
  http::Response response = reply(201, entry->toJson());
  response.headers.push_back({"location", "/api/v2/contexts/" + context->scope + "/entries/" + entry->id +
                                              tenantQuery(request, *context)});
  return response;
}

http::Response ContextRoutes::list(const http::Request& request) {
  http::Response refused;
  auto context = contextOf(request, refused);
  if (!context) return refused;
  std::vector<http::FieldError> errors;
  std::size_t limit = plugin_common::pageLimit(request.queryParam("limit"), errors);
  Contexts::Which which = Contexts::Which::kActive;
  if (const std::string* archived = request.queryParam("archived")) {
    if (*archived == "true") {
      which = Contexts::Which::kArchived;
    } else if (*archived != "false") {
      errors.push_back({"archived", "must be true or false"});
    }
  }
  if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
  const std::string* cursor = request.queryParam("cursor");
  auto page = contexts_->list(*context, which, limit, cursor ? *cursor : std::string());
  if (!page.ok()) {
    if (page.status().code() == StatusCode::kInvalidArgument)  // the scope was checked: the cursor
      return http::problem(422, "Unprocessable Content", "bad cursor", {{"cursor", page.status().message()}});
    return http::problem(page.status());
  }
  json::array items;
  for (const Entry& entry : page->items) items.push_back(entry.toJson());
  json::object out{{"items", std::move(items)}};
  if (!page->nextCursor.empty()) out["next_cursor"] = page->nextCursor;
  return reply(200, out);
}

http::Response ContextRoutes::search(const http::Request& request) {
  http::Response refused;
  auto context = contextOf(request, refused);
  if (!context) return refused;
  std::vector<http::FieldError> errors;
  const std::string* query = request.queryParam("q");
  if (query == nullptr || query->empty()) errors.push_back({"q", "required, a non-empty string"});
  std::size_t k = 10;
  const std::size_t maxK = contexts_->limits().maxK;
  if (const std::string* value = request.queryParam("k")) {
    char* end = nullptr;
    long parsed = std::strtol(value->c_str(), &end, 10);
    if (value->empty() || *end != '\0' || parsed < 1 || static_cast<std::size_t>(parsed) > maxK)
      errors.push_back({"k", "must be an integer between 1 and " + std::to_string(maxK)});
    else
      k = static_cast<std::size_t>(parsed);
  }
  Ranking ranking = Ranking::kHybrid;
  if (const std::string* mode = request.queryParam("mode")) {
    if (*mode == "lexical") {
      ranking = Ranking::kLexical;
    } else if (*mode == "semantic") {
      ranking = Ranking::kSemantic;
    } else if (*mode != "hybrid") {
      errors.push_back({"mode", "must be hybrid, lexical or semantic"});
    }
  }
  if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
  auto hits = contexts_->search(*context, *query, k, ranking);
  if (!hits.ok()) return http::problem(hits.status());
  json::array items;
  for (const Hit& hit : *hits)
    items.push_back(json::object{{"id", hit.id}, {"text", hit.text}, {"score", hit.score}});
  return reply(200, json::object{{"items", std::move(items)}});
}

http::Response ContextRoutes::describe(const http::Request& request) {
  http::Response refused;
  auto context = contextOf(request, refused);
  if (!context) return refused;
  ScopeStats stats = contexts_->stats(*context);
  json::object out{{"scope", context->scope},
                   {"entries", stats.entries},
                   {"tokens", stats.tokens},
                   {"vectors", stats.vectors}};
  if (!context->tenant.empty()) out["tenant"] = context->tenant;
  if (compressor_) out["compression"] = compressor_->describe(*context);
  return reply(200, out);
}

}  // namespace hive::context_manager
