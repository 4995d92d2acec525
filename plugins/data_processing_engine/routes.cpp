#include "routes.hpp"

#include "plugin_common/admission_refusal.hpp"
#include "plugin_common/json_fields.hpp"
#include "plugin_common/page_limit.hpp"
#include "plugin_common/route_reply.hpp"
#include "plugin_common/tenant_scope.hpp"

namespace hive::data_processing_engine {

namespace json = boost::json;

namespace {

http::Response reply(int status, const json::value& body) { return plugin_common::jsonReply(status, body); }

std::string operation(const char* summary, int ok) {
  return plugin_common::operation(summary, "batches", ok);
}

std::string query(const http::Request& request, const char* name) {
  const std::string* value = request.queryParam(name);
  return value ? *value : std::string();
}

}  // namespace

void BatchRoutes::add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
  plugin_common::addBlockingRoute(table_, background_, "data_processing_engine", std::move(route),
                                  std::move(handler));
}

BatchRoutes::BatchRoutes(std::shared_ptr<Batches> batches, Background background)
    : batches_(std::move(batches)), background_(std::move(background)) {
  const Limits& limits = batches_->options().limits;
  add({"batches.create", "POST", "/api/v2/batches", "batches:write",
       operation("Start a batch: items (inline or a file under the input directory) in chunks, one task each",
                 201),
       limits.maxInputBytes},
      [this](const http::Request& r) {
        std::error_code ec;
        json::value body = json::parse(r.body, ec);
        if (ec) return http::problem(400, "Bad Request", "the body is not JSON: " + ec.message());
        // A new batch is new work: refused while the host is saturated (hive.admission/1).
        const std::string tenant = scopeOf(r).tenant;
        if (auto refused = plugin_common::admissionRefusal(batches_->services(), {"batch", tenant, {}}))
          return std::move(*refused);
        const std::string* key = r.header("idempotency-key");
        std::vector<http::FieldError> errors;
        bool replayed = false;
        Result<json::object> created =
            batches_->create(body, r.principal, tenant, key ? *key : "", errors, replayed);
        if (!errors.empty()) {
          bool tooLarge = false;
          for (const auto& error : errors)
            tooLarge |= error.message.find("more than max_") != std::string::npos;
          return http::problem(tooLarge ? 413 : 422, tooLarge ? "Content Too Large" : "Unprocessable Content",
                               created.status().message(), std::move(errors));
        }
        if (!created.ok()) return http::problem(created.status());
        http::Response response = reply(replayed ? 200 : 201, *created);
        if (replayed) response.headers.push_back({"idempotent-replayed", "true"});
        return response;
      });
  add({"batches.list", "GET", "/api/v2/batches", "batches:read",
       operation("Batches (?status=running|succeeded|failed|cancelled), with a cursor", 200)},
      [this](const http::Request& r) {
        std::vector<http::FieldError> errors;
        std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
        if (!errors.empty())
          return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
        Result<json::object> page = batches_->list(plugin_common::shownTenant(scopeOf(r), r),
                                                   query(r, "status"), query(r, "cursor"), limit);
        return page.ok() ? reply(200, *page) : http::problem(page.status());
      });
  add({"batches.get", "GET", "/api/v2/batches/{id}", "batches:read",
       operation("A batch's progress: total, done, failed items; chunks; rate and ETA", 200)},
      [this](const http::Request& r) {
        Result<json::object> batch = visible(r);
        return batch.ok() ? reply(200, *batch) : http::problem(batch.status());
      });
  add({"batches.results", "GET", "/api/v2/batches/{id}/results", "batches:read",
       operation("A batch's chunks in order with their result or error, with a cursor", 200)},
      [this](const http::Request& r) {
        std::vector<http::FieldError> errors;
        std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
        if (!errors.empty())
          return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
        if (Result<json::object> batch = visible(r); !batch.ok()) return http::problem(batch.status());
        Result<json::object> page = batches_->results(r.param("id"), query(r, "cursor"), limit);
        return page.ok() ? reply(200, *page) : http::problem(page.status());
      });
  add({"batches.output", "GET", "/api/v2/batches/{id}/output", "batches:read",
       operation("The JSON lines output of a finished batch", 200)},
      [this](const http::Request& r) {
        if (Result<json::object> batch = visible(r); !batch.ok()) return http::problem(batch.status());
        Result<std::string> output = batches_->output(r.param("id"));
        if (!output.ok()) return http::problem(output.status());
        http::Response response;
        response.contentType = "application/x-ndjson";
        response.body = std::move(*output);
        return response;
      });
  add({"batches.cancel", "POST", "/api/v2/batches/{id}/cancel", "batches:write",
       operation("Cancel a running batch and its submitted tasks", 200)},
      [this](const http::Request& r) {
        if (Result<json::object> seen = visible(r); !seen.ok()) return http::problem(seen.status());
        Result<json::object> batch = batches_->cancel(r.param("id"));
        return batch.ok() ? reply(200, *batch) : http::problem(batch.status());
      });
}

tenancy::Scope BatchRoutes::scopeOf(const http::Request& request) {
  return plugin_common::scopeOf(batches_->services(), request.principal);
}

Result<json::object> BatchRoutes::visible(const http::Request& request) {
  Result<json::object> batch = batches_->get(request.param("id"));
  if (batch.ok() && !scopeOf(request).sees(plugin_common::stringField(*batch, "tenant")))
    return notFound("no batch '" + request.param("id") + "'");
  return batch;
}

}  // namespace hive::data_processing_engine
