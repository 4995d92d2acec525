#include "dispatcher.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <random>

#include "hive/services/tenancy.hpp"
#include "hive/services/tracing.hpp"
#include "json.hpp"

namespace hive::api {
namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool isHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// W3C trace context: version-traceid-parentid-flags, lower-case hex.
bool validTraceparent(std::string_view text) {
  if (text.size() != 55 || text[2] != '-' || text[35] != '-' || text[52] != '-') return false;
  return isHex(text.substr(0, 2)) && isHex(text.substr(3, 32)) && isHex(text.substr(36, 16)) &&
         isHex(text.substr(53, 2)) && text.substr(0, 2) != "ff";
}

bool validRequestId(std::string_view text) {
  if (text.empty() || text.size() > 128) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
  });
}

bool validResponse(const http::Response& response) {
  auto clean = [](std::string_view text) {
    return std::none_of(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
  };
  if (response.status < 100 || response.status > 599 || !clean(response.contentType)) return false;
  for (const auto& header : response.headers) {
    if (header.name.empty() || !clean(header.name) || !clean(header.value)) return false;
    for (char c : header.name)
      if (c == ':' || c == ' ' || c == '\t') return false;
  }
  return true;
}

// Owns a provider's answer: exactly one response, a 500 when dropped unanswered,
// and the lease on the provider until then.
class Completion {
 public:
  Completion(std::function<void(http::Response)> done, RouteOwner::Lease lease, Logger& log,
             std::string route)
      : done_(std::move(done)), lease_(std::move(lease)), log_(log), route_(std::move(route)) {}
  ~Completion() {
    if (!called_.exchange(true)) {
      log_.error("route " + route_ + ": responder dropped without an answer");
      done_(http::problem(500, "Internal Server Error"));
    }
  }
  void complete(http::Response response) {
    if (called_.exchange(true)) {
      log_.warn("route " + route_ + ": responder called twice; second answer ignored");
      return;
    }
    if (!validResponse(response)) {
      log_.error("route " + route_ + ": response with a bad status or CR/LF in a header refused");
      response = http::problem(500, "Internal Server Error");
    }
    auto done = std::move(done_);
    done(std::move(response));
  }

 private:
  std::function<void(http::Response)> done_;
  RouteOwner::Lease lease_;
  Logger& log_;
  std::string route_;
  std::atomic<bool> called_{false};
};

}  // namespace

std::string newRequestId() {
  static const std::uint64_t seed = std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32);
  static std::atomic<std::uint64_t> serial{0};
  std::uint64_t n = serial.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t a = splitmix(seed ^ n), b = splitmix(a ^ (n << 1));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (i * 4)) & 0xF];
    id[16 + i] = kHex[(b >> (i * 4)) & 0xF];
  }
  return id;
}

std::string_view statusPhrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 499: return "Client Closed Request";  // what kCancelled maps to (nginx's name)
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return {};
  }
}

bool safeHeaderValue(std::string_view text, std::size_t maxBytes) {
  if (text.size() > maxBytes) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

Dispatcher::Dispatcher(PluginContext& context, const Settings& settings, TableHolder& table)
    : context_(context), settings_(settings), table_(table) {}

bool Dispatcher::originAllowed(const std::string& origin) const {
  for (const auto& allowed : settings_.corsOrigins)
    if (allowed == "*" || allowed == origin) return true;
  return false;
}

Exchange Dispatcher::prepare(Head head) const {
  Exchange exchange;
  exchange.started = std::chrono::steady_clock::now();
  auto& request = exchange.request;
  request.method = std::move(head.method);
  request.target = std::move(head.target);
  request.headers = std::move(head.headers);
  request.remoteAddress = std::move(head.remoteAddress);
  exchange.bodyLimit = settings_.bodyBytes;

  const std::string* id = request.header("x-request-id");
  request.requestId = id != nullptr && validRequestId(*id) ? *id : newRequestId();
  if (const std::string* trace = request.header("traceparent");
      trace != nullptr && validTraceparent(*trace)) {
    exchange.traceparent = *trace;
    openSpan(exchange);
  }
  if (const std::string* origin = request.header("origin");
      origin != nullptr && originAllowed(*origin) && safeHeaderValue(*origin))
    exchange.origin = *origin;

  std::string_view target = request.target;
  std::size_t question = target.find('?');
  std::string_view rawPath = target.substr(0, question);
  auto segments = splitPath(rawPath);
  std::optional<std::vector<std::pair<std::string, std::string>>> query;
  if (question != std::string_view::npos)
    query = parseQuery(target.substr(question + 1));
  else
    query.emplace();
  if (!segments || !query) {
    exchange.routeTemplate = "(malformed)";
    exchange.early = http::problem(400, "Bad Request", "malformed request target");
    return exchange;
  }
  request.query = std::move(*query);
  request.path = "/";
  for (std::size_t i = 0; i < segments->size(); ++i) request.path += (i ? "/" : "") + (*segments)[i];

  exchange.table = table_.get();
  bool preflight = request.method == "OPTIONS";
  // HEAD is served by the GET route; the session sends the head without the body.
  std::string_view method = preflight                  ? std::string_view("\x01")
                            : request.method == "HEAD" ? std::string_view("GET")
                                                       : std::string_view(request.method);
  auto match = exchange.table->match(method, *segments);
  if (match.entry != nullptr) {
    exchange.entry = match.entry;
    exchange.routeTemplate = match.entry->route.path;
    request.params = std::move(match.params);
    if (match.entry->route.maxBodyBytes != 0)
      exchange.bodyLimit = std::min(exchange.bodyLimit, match.entry->route.maxBodyBytes);
    return exchange;
  }
  if (match.allowed.empty()) {
    exchange.routeTemplate = "(unmatched)";
    exchange.early = http::problem(404, "Not Found", "no route for " + request.path);
    return exchange;
  }
  std::string allow;
  for (const auto& allowed : match.allowed) allow += (allow.empty() ? "" : ", ") + allowed;
  if (std::find(match.allowed.begin(), match.allowed.end(), "GET") != match.allowed.end()) allow += ", HEAD";
  allow += ", OPTIONS";
  exchange.routeTemplate = "(preflight)";
  if (preflight) {
    http::Response response;
    response.status = 204;
    response.contentType.clear();
    response.headers.push_back({"allow", allow});
    const std::string* wanted = request.header("access-control-request-method");
    if (!exchange.origin.empty() && wanted != nullptr) {
      response.headers.push_back({"access-control-allow-methods", allow});
      const std::string* headers = request.header("access-control-request-headers");
      response.headers.push_back(
          {"access-control-allow-headers", headers != nullptr && safeHeaderValue(*headers, 1024)
                                               ? *headers
                                               : std::string("content-type, authorization, x-request-id")});
      response.headers.push_back({"access-control-max-age", "600"});
    }
    exchange.early = std::move(response);
    return exchange;
  }
  exchange.routeTemplate = "(method not allowed)";
  auto problem =
      http::problem(405, "Method Not Allowed", request.method + " is not allowed on " + request.path);
  problem.headers.push_back({"allow", allow});
  exchange.early = std::move(problem);
  return exchange;
}

void Dispatcher::watchAuthenticator() {
  refreshAuthenticator();
  authWatch_ = context_.services().watch(auth::Authenticator::kServiceId,
                                         [this](const ServiceEvent&) { refreshAuthenticator(); });
}

void Dispatcher::stopWatching() {
  authWatch_.reset();
  std::lock_guard lock(authMutex_);
  authenticator_ = {};
}

void Dispatcher::refreshAuthenticator() {
  auto handle = context_.services().handle<auth::Authenticator>();
  if (handle.ok()) authRequired_ = true;
  std::lock_guard lock(authMutex_);
  authenticator_ = handle.ok() ? *handle : ServiceHandle<auth::Authenticator>();
}

bool Dispatcher::hasAuthenticator() const {
  return !context_.services().lookup(auth::Authenticator::kServiceId).empty();
}

namespace {

// A provider's rate-limit refusal (429). hive.auth/1's Decision has no
// headers yet: its reason is the detail on the first line, then "name: value"
// lines, of which Retry-After and RateLimit-* are sent (security_manager's
// rate limits, docs/security.md).
http::Response rateLimited(std::string_view reason) {
  std::size_t end = reason.find('\n');
  auto refused =
      http::problem(429, "Too Many Requests", end == std::string_view::npos ? reason : reason.substr(0, end));
  while (end != std::string_view::npos) {
    std::size_t start = end + 1;
    end = reason.find('\n', start);
    std::string_view line =
        reason.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    if (name == "retry-after" || name.starts_with("ratelimit-"))
      refused.headers.push_back({std::string(name), std::string(line.substr(colon + 2))});
  }
  return refused;
}

}  // namespace

std::optional<http::Response> Dispatcher::authorize(http::Request& request, const std::string& permission) {
  ServiceHandle<auth::Authenticator> handle;
  {
    std::lock_guard lock(authMutex_);
    handle = authenticator_;
  }
  auto authenticator = handle.lease();
  if (!authenticator) {
    if (permission.empty()) return std::nullopt;
    // A route that needs a permission is never served without someone to check it.
    if (handle || authRequired_)
      return http::problem(503, "Service Unavailable", "the authenticator is not available");
    return checkLocalToken(request, permission);
  }
  auth::Decision decision = authenticator->authorize(request, permission);
  // "plugin:..." names a plugin acting for a tenant (hive.tenancy/1); no HTTP
  // caller may be given that name, whatever the provider says.
  if (tenancy::actingScope(decision.principal)) {
    context_.log().error("the hive.auth/1 provider named a caller '" + decision.principal +
                         "'; names starting with 'plugin:' are reserved; refused");
    return http::problem(401, "Unauthorized", "authentication required");
  }
  request.principal = decision.principal;
  if (decision.allowed || permission.empty()) return std::nullopt;
  if (decision.code == StatusCode::kPermissionDenied)
    return http::problem(403, "Forbidden", decision.reason.empty() ? "permission denied" : decision.reason);
  if (decision.code == StatusCode::kResourceExhausted) return rateLimited(decision.reason);
  if (decision.code == StatusCode::kInvalidArgument)
    return http::problem(422, "Unprocessable Content", decision.reason.empty() ? "refused" : decision.reason);
  if (decision.code == StatusCode::kUnavailable)
    return http::problem(503, "Service Unavailable", decision.reason.empty() ? "try again" : decision.reason);
  auto refused = http::problem(401, "Unauthorized",
                               decision.reason.empty() ? "authentication required" : decision.reason);
  refused.headers.push_back({"www-authenticate", "Bearer"});
  return refused;
}

std::optional<http::Response> Dispatcher::checkLocalToken(http::Request& request,
                                                          const std::string& permission) {
  // Known on every route, so that the dashboard can tell it was opened with it.
  const bool presented = localToken_ && localToken_->accepts(request.header("authorization"));
  if (presented) request.principal = "local-token";
  if (!LocalToken::required(settings_.localToken, request.method, permission) || presented)
    return std::nullopt;
  if (!localToken_)
    return http::problem(503, "Service Unavailable",
                         "no hive.auth/1 provider runs, and the local token this route needs could not be "
                         "written at start (hive's log says why)");
  auto refused = http::problem(
      401, "Unauthorized",
      "no hive.auth/1 provider runs, and this route needs the local token: send 'Authorization: Bearer "
      "<token>' with the token in " +
          localToken_->path() +
          " (readable by the user running hive; `hive dashboard` prints a link with it)");
  refused.headers.push_back({"www-authenticate", "Bearer"});
  return refused;
}

void Dispatcher::dispatch(Exchange& exchange, std::string body, std::function<void(http::Response)> done) {
  // The authenticator sees the body too (security_manager has it scanned for secrets).
  exchange.request.body = std::move(body);
  if (auto refused = authorize(exchange.request, exchange.entry->route.permission)) {
    done(std::move(*refused));
    return;
  }
  serve(exchange, std::move(done));
}

void Dispatcher::serve(Exchange& exchange, std::function<void(http::Response)> done) {
  const RouteOwner& owner = *exchange.entry->owner;
  RouteOwner::Lease lease;
  // `exchange` lives in the connection, which `done` keeps alive.
  bool now = swaps_.admit(
      owner.name, [&] { lease = owner.lease(); },
      [this, &exchange, done](bool proceed) mutable {
        if (proceed)
          serve(exchange, std::move(done));
        else
          done(http::problem(503, "Service Unavailable", "the server is stopping"));
      });
  if (!now) return;
  http::RouteProvider* provider = lease.get();
  if (provider == nullptr) {
    done(http::problem(503, "Service Unavailable", "the provider of this route is not available"));
    return;
  }
  auto completion =
      std::make_shared<Completion>(std::move(done), lease, context_.log(), exchange.entry->route.path);
  std::string routeId = exchange.entry->route.id;
  try {
    // The provider gets the request; the exchange keeps what the access log needs.
    http::Request request = std::move(exchange.request);
    exchange.request = http::Request{};
    exchange.request.method = request.method;
    exchange.request.path = request.path;
    exchange.request.requestId = request.requestId;
    exchange.request.remoteAddress = request.remoteAddress;
    exchange.request.principal = request.principal;
    provider->serve(routeId, std::move(request),
                    [completion](http::Response response) { completion->complete(std::move(response)); });
  } catch (const std::exception& e) {
    context_.log().error("route " + exchange.routeTemplate + ": exception escaped serve(): " + e.what());
    completion->complete(http::problem(500, "Internal Server Error"));
  } catch (...) {
    context_.log().error("route " + exchange.routeTemplate + ": exception escaped serve()");
    completion->complete(http::problem(500, "Internal Server Error"));
  }
}

void Dispatcher::openSpan(Exchange& exchange) const {
  const std::string& trace = exchange.traceparent;
  const bool sampled = (std::stoi(trace.substr(53, 2), nullptr, 16) & 1) != 0;
  if (!sampled || trace.substr(3, 32) == std::string(32, '0')) return;
  if (!context_.services().get<tracing::SpanSink>().ok()) return;  // nowhere to send it: no span
  thread_local std::mt19937_64 random{std::random_device{}()};
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random() | 1));
  exchange.spanId = id;
  exchange.startUnixNano = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  // The provider's work (a task, say) becomes a child of this request's span.
  for (auto& header : exchange.request.headers)
    if (header.name == "traceparent") header.value = trace.substr(0, 36) + exchange.spanId + trace.substr(52);
}

void Dispatcher::closeSpan(const Exchange& exchange, int status) const {
  auto sink = context_.services().get<tracing::SpanSink>();
  if (!sink.ok()) return;
  tracing::Span span;
  span.traceId = exchange.traceparent.substr(3, 32);
  span.spanId = exchange.spanId;
  span.parentSpanId = exchange.traceparent.substr(36, 16);
  span.name = exchange.request.method + " " + exchange.routeTemplate;
  span.startUnixNano = exchange.startUnixNano;
  span.endUnixNano = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  span.server = true;
  span.ok = status < 500;
  if (!span.ok) span.error = "HTTP " + std::to_string(status);
  span.attributes = {{"http.request.method", exchange.request.method},
                     {"http.route", exchange.routeTemplate},
                     {"http.response.status_code", std::to_string(status)},
                     {"hive.request_id", exchange.request.requestId}};
  (*sink)->record(std::move(span));
}

void Dispatcher::finish(const Exchange& exchange, http::Response& response, std::size_t bodyBytes) {
  const auto& request = exchange.request;
  response.headers.push_back({"x-request-id", request.requestId});
  if (!exchange.traceparent.empty()) response.headers.push_back({"traceparent", exchange.traceparent});
  if (!exchange.origin.empty()) {
    response.headers.push_back({"access-control-allow-origin", exchange.origin});
    response.headers.push_back({"access-control-expose-headers", "x-request-id"});
    response.headers.push_back({"vary", "Origin"});
  }
  setProblemTitle(response, statusPhrase(response.status));
  if (response.status >= 500 && response.contentType == "application/problem+json" &&
      response.body.find("\"requestId\"") == std::string::npos && !response.body.empty() &&
      response.body.back() == '}') {
    response.body.pop_back();
    response.body += ",\"requestId\":" + http::jsonQuote(request.requestId) + "}";
  }
  if (!exchange.spanId.empty()) closeSpan(exchange, response.status);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - exchange.started).count();
  RouteSeries& measured = series(exchange.routeTemplate, request.method, response.status);
  measured.duration->observe(seconds);
  measured.requests->increment();
  if (settings_.accessLog && context_.log().enabled(LogLevel::kInfo)) {
    std::string path = request.path.empty() ? "(malformed)" : request.path;
    context_.log().info(
        "access method=" + http::jsonQuote(request.method) + " path=" + http::jsonQuote(path) +
        " route=" + http::jsonQuote(exchange.routeTemplate) + " status=" + std::to_string(response.status) +
        " bytes=" + std::to_string(bodyBytes) +
        " duration_us=" + std::to_string(static_cast<long long>(seconds * 1e6)) +
        " request_id=" + request.requestId + " remote=" + request.remoteAddress +
        (request.principal.empty() ? "" : " principal=" + http::jsonQuote(request.principal)));
  }
}

Dispatcher::RouteSeries& Dispatcher::series(std::string_view route, std::string_view method, int status) {
  // A method label from the wire is one of the standard ones: clients cannot
  // grow the number of series.
  static constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST",  "PUT",     "PATCH",
                                                  "DELETE", "OPTIONS", "TRACE", "CONNECT", "(unparsed)"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) method = "OTHER";
  std::lock_guard lock(countersMutex_);
  auto found = counters_.find(std::tuple(route, method, status));
  if (found != counters_.end()) return found->second;
  RouteSeries made;
  made.requests = &context_.metrics().counter(
      "hive_http_requests_total", "HTTP requests by route template, method and status",
      {{"route", std::string(route)}, {"method", std::string(method)}, {"status", std::to_string(status)}});
  // Not by status: a histogram is 17 series, and the status is in the counter.
  made.duration =
      &context_.metrics().histogram("hive_http_request_duration_seconds",
                                    "Time from request head to response, by route template and method", {},
                                    {{"route", std::string(route)}, {"method", std::string(method)}});
  return counters_.emplace(std::tuple(std::string(route), std::string(method), status), made).first->second;
}

void Dispatcher::countRejection(int status, const std::string& remoteAddress) {
  series("(rejected)", "(unparsed)", status).requests->increment();
  if (settings_.accessLog)
    context_.log().info("access rejected status=" + std::to_string(status) + " remote=" + remoteAddress);
}

}  // namespace hive::api
