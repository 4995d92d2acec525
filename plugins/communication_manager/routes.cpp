#include "routes.hpp"

#include <functional>

#include <boost/json.hpp>

#include "plugin_common/page_limit.hpp"
#include "plugin_common/tenant_scope.hpp"

namespace hive::communication_manager {
namespace json = boost::json;
namespace {

http::Response answer(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::string operation(std::string_view summary, std::string_view id, std::string_view extra = {}) {
  std::string text = R"({"summary":)" + http::jsonQuote(summary) + R"(,"operationId":)" +
                     http::jsonQuote(id) +
                     R"(,"tags":["messages"],"responses":{"200":{"description":"OK"},)"
                     R"("4XX":{"description":"Refused","content":{"application/problem+json":{}}}})";
  if (!extra.empty()) text += "," + std::string(extra);
  return text + "}";
}

std::string query(const http::Request& request, std::string_view name) {
  const std::string* value = request.queryParam(name);
  return value != nullptr ? *value : std::string();
}

class MessageRoutes final : public http::RouteProvider {
 public:
  explicit MessageRoutes(std::shared_ptr<Messenger> messenger) : messenger_(std::move(messenger)) {
    add({"messages.send", "POST", "/api/v2/messages", "messages:write",
         operation(
             "Send a message to an agent, a role or a topic", "sendMessage",
             R"("requestBody":{"required":true,"content":{"application/json":{"schema":{"type":"object",)"
             R"("required":["to","body"],"properties":{"to":{"type":"string"},"body":{},)"
             R"("correlation_id":{"type":"string"},"ttl_ms":{"type":"integer"}}}}}})")},
        [this](const http::Request& r) { return send(r); });
    add({"messages.list", "GET", "/api/v2/messages", "messages:read",
         operation(
             "Recent messages, of one agent (sent or received) or all", "listMessages",
             R"("parameters":[{"name":"agent","in":"query","schema":{"type":"string"}},)"
             R"({"name":"cursor","in":"query","schema":{"type":"string"}},)"
             R"({"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000}}])")},
        [this](const http::Request& r) { return list(r); });
    add({"messages.dlq.list", "GET", "/api/v2/messages/dlq", "messages:read",
         operation(
             "Dead letters: messages delivered max_deliveries times without an ack", "listDeadLetters",
             R"("parameters":[{"name":"agent","in":"query","schema":{"type":"string"}},)"
             R"({"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000}}])")},
        [this](const http::Request& r) { return deadLetters(r); });
    add({"messages.dlq.replay", "POST", "/api/v2/messages/dlq/{id}/replay", "messages:write",
         operation("Queue a dead letter for its recipient again", "replayDeadLetter")},
        [this](const http::Request& r) {
          return done(messenger_->replayDeadLetter(scopeOf(r), r.param("id")), 202);
        });
    add({"messages.dlq.discard", "DELETE", "/api/v2/messages/dlq/{id}", "messages:write",
         operation("Discard a dead letter", "discardDeadLetter")},
        [this](const http::Request& r) {
          return done(messenger_->discardDeadLetter(scopeOf(r), r.param("id")), 204);
        });
  }

  // http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  // Handlers block on the bus and the store: on the blocking pool, counted.
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
    table_.add(std::move(route),
               [this, handler = std::move(handler)](http::Request request, http::Responder respond) {
                 messenger_->post([handler, request = std::move(request), respond = std::move(respond)] {
                   respond(handler(request));
                 });
               });
  }

  tenancy::Scope scopeOf(const http::Request& request) {
    return plugin_common::scopeOf(messenger_->services(), request.principal);
  }

  static http::Response done(const Status& status, int okStatus) {
    if (!status.ok()) return http::problem(status);
    return answer(okStatus, okStatus == 204 ? std::string() : R"({"status":"queued"})");
  }

  http::Response send(const http::Request& r) {
    std::vector<http::FieldError> errors;
    std::string ref;
    auto request = parseSendRequest(r.body, messenger_->options(), errors, ref);
    if (!request.ok()) {
      if (request.status().code() == StatusCode::kResourceExhausted)
        return http::problem(413, "Content Too Large", request.status().message());
      if (errors.empty()) return http::problem(400, "Bad Request", request.status().message());
      return http::problem(422, "Unprocessable Content", request.status().message(), std::move(errors));
    }
    std::string from = "client:" + (r.principal.empty() ? std::string("anonymous") : r.principal);
    if (!messenger_->withinRate(from)) {
      auto refused =
          http::problem(429, "Too Many Requests",
                        from + " sends more than " +
                            std::to_string(static_cast<long long>(messenger_->options().ratePerSecond)) +
                            " messages a second (rate_per_second): not accepted, send it again later");
      refused.headers.push_back({"retry-after", "1"});
      return refused;
    }
    auto accepted = messenger_->send(from, scopeOf(r), *request);
    if (!accepted.ok()) return http::problem(accepted.status());
    json::array recipients, full;
    for (const auto& a : accepted->recipients) recipients.emplace_back(a);
    for (const auto& a : accepted->full) full.emplace_back(a);
    return answer(
        202, json::serialize(json::object{
                 {"id", accepted->id}, {"recipients", std::move(recipients)}, {"full", std::move(full)}}));
  }

  http::Response list(const http::Request& r) {
    std::vector<http::FieldError> errors;
    std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
    if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
    auto page = messenger_->recent(scopeOf(r), query(r, "agent"), query(r, "cursor"), limit);
    if (!page.ok()) {
      if (page.status().code() == StatusCode::kOutOfRange)
        return http::problem(410, "Gone", page.status().message());
      return http::problem(page.status());
    }
    std::string body = R"({"items":[)";
    for (std::size_t i = 0; i < page->items.size(); ++i) body += (i ? "," : "") + page->items[i];
    body += R"(],"next_cursor":)" + http::jsonQuote(page->nextCursor) + "}";
    return answer(200, std::move(body));
  }

  http::Response deadLetters(const http::Request& r) {
    std::vector<http::FieldError> errors;
    std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
    if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
    auto letters = messenger_->deadLetters(scopeOf(r), query(r, "agent"), limit);
    if (!letters.ok()) return http::problem(letters.status());
    std::string body = R"({"items":[)";
    for (std::size_t i = 0; i < letters->size(); ++i) {
      const auto& v = (*letters)[i];
      json::object o{{"id", v.key},
                     {"agent", v.agentId},
                     {"original_id", v.letter.originalId},
                     {"reason", v.letter.reason},
                     {"deliveries", v.letter.deliveries}};
      std::string item = json::serialize(o);
      item.pop_back();
      // The stored message as it was queued (its body byte for byte).
      item += R"(,"message":)" + (v.letter.payload.empty() ? std::string("null") : v.letter.payload) + "}";
      body += (i ? "," : "") + item;
    }
    return answer(200, body + "]}");
  }

  std::shared_ptr<Messenger> messenger_;
  http::RouteTable table_;
};

}  // namespace

std::shared_ptr<http::RouteProvider> makeMessageRoutes(std::shared_ptr<Messenger> messenger) {
  return std::make_shared<MessageRoutes>(std::move(messenger));
}

}  // namespace hive::communication_manager
