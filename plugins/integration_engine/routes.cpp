#include "routes.hpp"

#include "plugin_common/page_limit.hpp"
#include "plugin_common/route_reply.hpp"
#include "plugin_common/tenant_scope.hpp"

namespace hive::integration_engine {

namespace json = boost::json;

namespace {

http::Response reply(int status, const json::value& body) { return plugin_common::jsonReply(status, body); }

std::string operation(const char* summary, int ok) {
  return plugin_common::operation(summary, "integrations", ok);
}

std::string cursorOf(const http::Request& request) {
  const std::string* cursor = request.queryParam("cursor");
  return cursor ? *cursor : std::string();
}

}  // namespace

void IntegrationRoutes::add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
  plugin_common::addBlockingRoute(table_, background_, "integration_engine", std::move(route),
                                  std::move(handler));
}

IntegrationRoutes::IntegrationRoutes(std::shared_ptr<InboundWebhooks> inbound, std::shared_ptr<Outbox> outbox,
                                     Background background, Hold hold)
    : inbound_(std::move(inbound)),
      outbox_(std::move(outbox)),
      background_(std::move(background)),
      hold_(std::move(hold)) {
  // Public: the sender (GitHub, a CI) has no Hive key; the HMAC signature of
  // the body with the endpoint's secret is what authenticates it.
  auto deliver = [this](http::Request request, http::Responder respond) {
    inbound_->handle(std::move(request), std::move(respond), background_, hold_());
  };
  const std::size_t limit = inbound_->maxBodyBytes();
  table_.add(
      {"webhooks.deliver", "POST", "/api/v2/integrations/webhooks/{name}", "",
       operation("Deliver a signed webhook (HMAC-SHA256): starts the configured run or task", 202), limit},
      deliver);
  table_.add({"hooks.deliver", "POST", "/api/v2/hooks/{name}", "",
              operation("Same as POST /api/v2/integrations/webhooks/{name}", 202), limit},
             deliver);
  add({"webhooks.list", "GET", "/api/v2/integrations/webhooks", "integrations:read",
       operation("Inbound webhook endpoints as configured (no secrets)", 200)},
      [this](const http::Request&) {
        return reply(200, json::object{{"items", inbound_->describe()}});
      });

  add({"subscriptions.create", "POST", "/api/v2/integrations/subscriptions", "integrations:write",
       operation("Subscribe a URL to event topics; the answer holds the signing secret, shown once", 201)},
      [this](const http::Request& r) {
        std::error_code ec;
        json::value body = json::parse(r.body, ec);
        if (ec) return http::problem(400, "Bad Request", "the body is not JSON: " + ec.message());
        std::vector<http::FieldError> errors;
        Result<json::object> created = outbox_->subscribe(
            body, r.principal, plugin_common::scopeOf(outbox_->services(), r.principal), errors);
        if (!errors.empty())
          return http::problem(422, "Unprocessable Content", created.status().message(), std::move(errors));
        return created.ok() ? reply(201, *created) : http::problem(created.status());
      });
  add({"subscriptions.list", "GET", "/api/v2/integrations/subscriptions", "integrations:read",
       operation("Outbound webhook subscriptions", 200)},
      [this](const http::Request& r) {
        tenancy::Scope scope = plugin_common::scopeOf(outbox_->services(), r.principal);
        json::array items;
        for (const WebhookSubscription& subscription : outbox_->subscriptions())
          if (scope.sees(subscription.tenant)) items.push_back(subscription.toJson());
        return reply(200, json::object{{"items", std::move(items)}});
      });
  add({"subscriptions.get", "GET", "/api/v2/integrations/subscriptions/{id}", "integrations:read",
       operation("One subscription", 200)},
      [this](const http::Request& r) {
        if (auto refused = hidden(r)) return std::move(*refused);
        Result<WebhookSubscription> found = outbox_->subscription(r.param("id"));
        return found.ok() ? reply(200, found->toJson()) : http::problem(found.status());
      });
  add({"subscriptions.delete", "DELETE", "/api/v2/integrations/subscriptions/{id}", "integrations:write",
       operation("Remove a subscription; its undelivered events are no longer sent", 204)},
      [this](const http::Request& r) {
        if (auto refused = hidden(r)) return std::move(*refused);
        Status removed = outbox_->unsubscribe(r.param("id"));
        if (!removed.ok()) return http::problem(removed);
        http::Response response;
        response.status = 204;
        return response;
      });
  auto paged = [this](auto method) {
    return [this, method](const http::Request& r) {
      if (auto refused = hidden(r)) return std::move(*refused);
      std::vector<http::FieldError> errors;
      std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
      if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
      Result<json::object> page = ((*outbox_).*method)(r.param("id"), cursorOf(r), limit);
      return page.ok() ? reply(200, *page) : http::problem(page.status());
    };
  };
  add({"subscriptions.deliveries", "GET", "/api/v2/integrations/subscriptions/{id}/deliveries",
       "integrations:read",
       operation("The delivery log of a subscription (last outcome of each event), with a cursor", 200)},
      paged(&Outbox::deliveries));
  add({"subscriptions.dead_letters", "GET", "/api/v2/integrations/subscriptions/{id}/dead-letters",
       "integrations:read", operation("Deliveries given up after max_attempts, with a cursor", 200)},
      paged(&Outbox::deadLetters));
  add({"subscriptions.replay", "POST", "/api/v2/integrations/subscriptions/{id}/dead-letters/replay",
       "integrations:write", operation("Queue dead letters again ({\"ids\": [...]}, or all)", 200)},
      [this](const http::Request& r) {
        if (auto refused = hidden(r)) return std::move(*refused);
        std::vector<std::string> ids;
        if (!r.body.empty()) {
          std::error_code ec;
          json::value body = json::parse(r.body, ec);
          const json::value* list = !ec && body.is_object() ? body.as_object().if_contains("ids") : nullptr;
          if (ec || !body.is_object() || (list != nullptr && !list->is_array()))
            return http::problem(422, "Unprocessable Content", "expected {\"ids\": [\"...\"]}");
          if (list != nullptr)
            for (const json::value& id : list->as_array()) {
              if (!id.is_string())
                return http::problem(422, "Unprocessable Content", "expected {\"ids\": [\"...\"]}");
              ids.emplace_back(id.as_string());
            }
        }
        Result<std::size_t> replayed = outbox_->replay(r.param("id"), ids);
        return replayed.ok() ? reply(200, json::object{{"replayed", *replayed}})
                             : http::problem(replayed.status());
      });
}

std::optional<http::Response> IntegrationRoutes::hidden(const http::Request& request) {
  Result<WebhookSubscription> found = outbox_->subscription(request.param("id"));
  if (found.ok() && plugin_common::scopeOf(outbox_->services(), request.principal).sees(found->tenant))
    return std::nullopt;
  return http::problem(found.ok() ? notFound("no subscription '" + request.param("id") + "'")
                                  : found.status());
}

}  // namespace hive::integration_engine
