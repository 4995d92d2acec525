// hive.routes/1 — HTTP and WebSocket routes a plugin serves through the `api`
// plugin, without knowing the server behind it.
//
// A provider describes its routes as plain data (no code): method, path
// template, the permission it needs and an OpenAPI fragment. The server keeps
// that description, never a function of the provider's, and calls back into
// the provider through serve() / openWebSocket() while it holds a lease on it.
// So a provider can be swapped at any time: the next request reaches the new
// generation. RouteTable below maps route ids to the provider's own handlers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::http {

struct Header {
  std::string name;  // lower case
  std::string value;
};

struct Request {
  std::string method;                                      // upper case: GET, POST, ...
  std::string path;                                        // percent-decoded path, without the query
  std::string target;                                      // the request target as received
  std::map<std::string, std::string, std::less<>> params;  // {name} segments of the template
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::vector<Header> headers;                             // names lower case
  std::string body;
  std::string requestId;      // X-Request-Id (received or generated)
  std::string principal;      // who hive.auth/1 says is calling; empty when anonymous
  std::string remoteAddress;  // "ip:port"

  const std::string* header(std::string_view name) const {
    for (const auto& h : headers)
      if (h.name == name) return &h.value;
    return nullptr;
  }
  const std::string* queryParam(std::string_view name) const {
    for (const auto& [key, value] : query)
      if (key == name) return &value;
    return nullptr;
  }
  const std::string& param(std::string_view name) const {
    static const std::string kEmpty;
    auto found = params.find(name);
    return found == params.end() ? kEmpty : found->second;
  }
};

struct Response {
  int status = 200;
  std::string contentType = "application/json";
  std::vector<Header> headers;  // extra headers; CR/LF in names or values is refused by the server
  std::string body;
};

// Completes one request. Call it exactly once, from any thread; a responder
// dropped without being called answers 500.
using Responder = std::function<void(Response)>;

// An HTTP route as plain data. `id` is the provider's own name for the route,
// passed back to serve().
struct Route {
  std::string id;
  std::string method;            // GET, POST, PUT, PATCH, DELETE
  std::string path;              // "/api/v2/tasks/{id}"; a {param} is one whole segment
  std::string permission;        // checked by hive.auth/1; empty = public
  std::string openapi;           // JSON of the OpenAPI 3.1 Operation object; empty = undocumented
  std::size_t maxBodyBytes = 0;  // 0 = the server's limit
};

// The server side of one WebSocket connection, handed to the provider.
// Thread-safe; it may outlive the connection (calls then fail / do nothing).
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  // Queues one text message. kResourceExhausted when the connection's send queue
  // is full: the message is not queued and the connection stays open (the
  // provider back-pressures, or closes it). kUnavailable when closed.
  virtual Status send(std::string text) = 0;
  virtual void close(std::uint16_t code, std::string reason) = 0;
  virtual const std::string& id() const = 0;
};

// The provider's side of one WebSocket connection. Calls for one connection
// never overlap. The server holds a lease on the provider while the connection
// is open. When the provider is about to be swapped (hive.swaps/1, SDK 2.5),
// the `api` server closes the provider's connections with 1012 "service
// restart" (onClose is called as for any close; clients reconnect to the next
// generation), so a provider need not close them itself; one that stops for
// good closes them in beginDrain() or stop().
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  virtual void onMessage(std::string_view text) = 0;
  virtual void onClose(std::uint16_t code) = 0;
};

struct WebSocketRoute {
  std::string id;
  std::string path;
  std::string permission;
  std::string subprotocol;  // required in Sec-WebSocket-Protocol when not empty
  std::string description;
};

class RouteProvider : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.routes", 1};

  virtual std::vector<Route> routes() = 0;
  virtual void serve(std::string_view routeId, Request request, Responder respond) = 0;

  virtual std::vector<WebSocketRoute> webSocketRoutes() { return {}; }
  // Accepts (a session) or refuses (a Status: kPermissionDenied → 403, kInvalidArgument
  // → 400, kResourceExhausted → 429, anything else → 503) one upgrade.
  virtual Result<std::shared_ptr<WebSocketSession>> openWebSocket(std::string_view routeId,
                                                                  const Request& request,
                                                                  std::shared_ptr<WebSocketPeer> peer) {
    (void)routeId, (void)request, (void)peer;
    return Status(StatusCode::kNotFound, "no WebSocket routes");
  }

  // JSON object merged into the document's `components.schemas`; empty = none.
  virtual std::string openapiSchemas() { return {}; }
};

// ---- RFC 9457 problem details -------------------------------------------------

struct FieldError {
  std::string field;    // JSON pointer or dotted path, e.g. "/priority"
  std::string message;  // "must be between 1 and 10"
};

// JSON string literal of `text`, with quotes; invalid UTF-8 bytes become U+FFFD.
inline std::string jsonQuote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = bytes[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      // The two-character escapes where JSON has them (RFC 8259 section 7): logs stay readable.
      static constexpr char kHex[] = "0123456789abcdef";
      static constexpr char kShort[] = "btnvfr";  // \b \t \n (\v has none) \f \r
      if (c >= '\b' && c <= '\r' && c != '\v') {
        out += '\\';
        out += kShort[c - '\b'];
      } else {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      }
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      std::size_t length = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
      bool valid = length != 0 && i + length <= text.size();
      for (std::size_t k = 1; valid && k < length; ++k) valid = (bytes[i + k] & 0xC0) == 0x80;
      if (valid && length == 3) {
        unsigned second = bytes[i + 1];
        valid = !(c == 0xE0 && second < 0xA0) && !(c == 0xED && second >= 0xA0);
      }
      if (valid && length == 4) {
        unsigned second = bytes[i + 1];
        valid = !(c == 0xF0 && second < 0x90) && !(c == 0xF4 && second >= 0x90);
      }
      if (valid) {
        out.append(text.substr(i, length));
        i += length;
      } else {
        out += "\xEF\xBF\xBD";
        ++i;
      }
    }
  }
  out += '"';
  return out;
}

// An application/problem+json response. `type` defaults to "about:blank".
inline Response problem(int status, std::string_view title, std::string_view detail = {},
                        std::vector<FieldError> errors = {}, std::string_view type = {}) {
  Response response;
  response.status = status;
  response.contentType = "application/problem+json";
  std::string body = "{\"type\":" + jsonQuote(type.empty() ? std::string_view("about:blank") : type) +
                     ",\"title\":" + jsonQuote(title) + ",\"status\":" + std::to_string(status);
  if (!detail.empty()) body += ",\"detail\":" + jsonQuote(detail);
  if (!errors.empty()) {
    body += ",\"errors\":[";
    for (std::size_t i = 0; i < errors.size(); ++i) {
      if (i != 0) body += ',';
      body +=
          "{\"field\":" + jsonQuote(errors[i].field) + ",\"message\":" + jsonQuote(errors[i].message) + "}";
    }
    body += ']';
  }
  body += '}';
  response.body = std::move(body);
  return response;
}

// The HTTP status a Status maps to (kNotFound → 404, kAborted → 409, ...).
inline int httpStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 422;
    case StatusCode::kOutOfRange: return 422;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kAborted: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kCancelled: return 499;
    default: return 500;
  }
}

// A problem response for a failed Status. 5xx answers carry no internals: the
// message is for the log, not the client.
inline Response problem(const Status& status) {
  int code = httpStatus(status.code());
  if (code >= 500 && code != 503 && code != 504) return problem(code, "Internal Server Error");
  std::string title(statusCodeName(status.code()));
  return problem(code, title, status.message());
}

// A provider's routes and their handlers, kept inside the provider:
//   table_.add({.id = "tasks.get", .method = "GET", .path = "/api/v2/tasks/{id}"},
//              [this](Request r, Responder done) { ... });
//   std::vector<Route> routes() override { return table_.routes(); }
//   void serve(std::string_view id, Request r, Responder done) override {
//     table_.serve(id, std::move(r), std::move(done));
//   }
class RouteTable {
 public:
  using Handler = std::function<void(Request, Responder)>;

  void add(Route route, Handler handler) {
    handlers_.emplace(route.id, std::move(handler));
    routes_.push_back(std::move(route));
  }
  const std::vector<Route>& routes() const { return routes_; }
  void serve(std::string_view id, Request request, Responder respond) const {
    auto found = handlers_.find(id);
    if (found == handlers_.end()) {
      respond(problem(404, "Not Found", "no route " + std::string(id)));
      return;
    }
    found->second(std::move(request), std::move(respond));
  }

 private:
  std::vector<Route> routes_;
  std::map<std::string, Handler, std::less<>> handlers_;
};

}  // namespace hive::http
