// The middleware chain between the wire and a route provider, on plain SDK
// types: request id, traceparent, CORS (preflight included), routing with
// 404/405, the hive.auth/1 hook, metrics and one access-log line per request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/auth.hpp"
#include "hive/services/http.hpp"
#include "router.hpp"
#include "swap_gate.hpp"

namespace hive::api {

// A request head as read from the wire (names lower case).
struct Head {
  std::string method;
  std::string target;
  std::vector<http::Header> headers;
  std::string remoteAddress;
};

// A request being served: the SDK request plus what the middleware decided.
struct Exchange {
  http::Request request;
  std::shared_ptr<const Table> table;  // keeps `entry` alive
  const RouteEntry* entry = nullptr;
  std::string routeTemplate;            // for metrics and logs: the template, never the raw path
  std::optional<http::Response> early;  // answered without reading the body or calling a provider
  std::size_t bodyLimit = 0;
  std::string origin;       // allowed CORS origin, echoed back; empty when none
  std::string traceparent;  // passed through when well formed
  // The server span of a request that carries a sampled traceparent while a
  // hive.tracing/1 provider runs: providers see it as the parent (their
  // request's traceparent names it), finish() records it.
  std::string spanId;
  std::int64_t startUnixNano = 0;
  std::chrono::steady_clock::time_point started;
};

class Dispatcher {
 public:
  Dispatcher(PluginContext& context, const Settings& settings, TableHolder& table);

  // After the head: routing, CORS preflight; sets `early` when no body is needed.
  Exchange prepare(Head head) const;

  // After the body: auth, then the provider (through a lease held until it
  // answers). `done` gets the response exactly once, on any thread.
  void dispatch(Exchange& exchange, std::string body, std::function<void(http::Response)> done);

  // Route providers being swapped (hive.swaps/1): requests for them wait here.
  SwapGate& swaps() { return swaps_; }

  // Before writing: request id, CORS and trace headers; metrics and the access log.
  void finish(const Exchange& exchange, http::Response& response, std::size_t bodyBytes);

  // Rejections before an exchange exists (malformed head, limits).
  void countRejection(int status, const std::string& remoteAddress);

  // Follows hive.auth/1 (call from start(); the subscription ends in stop()).
  void watchAuthenticator();
  void stopWatching();
  bool hasAuthenticator() const;
  // From now on a route that names a permission answers 503 while no
  // hive.auth/1 provider runs, instead of being served to anyone: set when
  // listening beyond loopback, and by itself once a provider was seen (its
  // removal must not open the API up).
  void requireAuthenticator() { authRequired_ = true; }
  // The local token, checked while no hive.auth/1 provider runs (set before
  // the server accepts requests; without it, its routes answer 503).
  void useLocalToken(std::shared_ptr<const LocalToken> token) { localToken_ = std::move(token); }

  // Whether `origin` may open a WebSocket or read responses.
  bool originAllowed(const std::string& origin) const;

  // Calls hive.auth/1 for `request` when one is present; a refusal as a problem response.
  std::optional<http::Response> authorize(http::Request& request, const std::string& permission);

 private:
  // The request's server span (hive.tracing/1): opened in prepare(), recorded in finish().
  void openSpan(Exchange& exchange) const;
  void closeSpan(const Exchange& exchange, int status) const;
  // Takes a lease on the route's provider and calls it, or waits for its swap.
  void serve(Exchange& exchange, std::function<void(http::Response)> done);
  void refreshAuthenticator();
  // Without a hive.auth/1 provider: the local token, where settings_.localToken asks for it.
  std::optional<http::Response> checkLocalToken(http::Request& request, const std::string& permission);
  struct RouteSeries {
    Counter* requests = nullptr;
    Histogram* duration = nullptr;
  };
  // hive_http_requests_total and hive_http_request_duration_seconds for one
  // route template, method and status; the registry's lookup (labels sorted,
  // keys built) runs once per combination.
  RouteSeries& series(std::string_view route, std::string_view method, int status);

  PluginContext& context_;
  const Settings& settings_;
  TableHolder& table_;
  mutable std::mutex authMutex_;
  ServiceHandle<auth::Authenticator> authenticator_;
  SwapGate swaps_;
  std::unique_ptr<Subscription> authWatch_;
  std::atomic<bool> authRequired_{false};
  std::shared_ptr<const LocalToken> localToken_;
  std::mutex countersMutex_;
  std::map<std::tuple<std::string, std::string, int>, RouteSeries, std::less<>> counters_;
};

// A fresh request id (128 random bits, hex).
std::string newRequestId();
// The RFC 9110 phrase of an HTTP status ("Unprocessable Content"); empty when unknown.
std::string_view statusPhrase(int status);
// Whether `text` may be echoed into a header: visible ASCII only, bounded.
bool safeHeaderValue(std::string_view text, std::size_t maxBytes = 256);

}  // namespace hive::api
