// The routing table: every provider's routes as plain data plus a handle on
// the provider, rebuilt (copy-on-write) whenever a provider comes, goes or is
// swapped, and swapped in atomically. Never holds a provider's code.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services.hpp"
#include "hive/services/http.hpp"

namespace hive::api {

// Who serves a route: a provider plugin, followed through a slot across its
// swaps, or the api plugin itself (its kernel routes).
struct RouteOwner {
  std::string name;  // provider plugin name ("api" for the kernel routes)
  ServiceHandle<http::RouteProvider> handle;
  http::RouteProvider* local = nullptr;  // the api plugin's own routes; outlives every table

  // A lease for one request: either the provider's current generation or the local one.
  struct Lease {
    ServiceRef<http::RouteProvider> ref;
    http::RouteProvider* local = nullptr;
    http::RouteProvider* get() const { return local != nullptr ? local : (ref ? &*ref : nullptr); }
  };
  Lease lease() const {
    Lease lease;
    if (local != nullptr)
      lease.local = local;
    else
      lease.ref = handle.lease();
    return lease;
  }
};

struct Segment {
  std::string text;
  bool parameter = false;  // "{text}"
};

struct RouteEntry {
  http::Route route;
  std::vector<Segment> segments;
  std::shared_ptr<const RouteOwner> owner;
};

struct WebSocketEntry {
  http::WebSocketRoute route;
  std::vector<Segment> segments;
  std::shared_ptr<const RouteOwner> owner;
};

class Table {
 public:
  // Adds one provider's routes; a route whose method+template is already taken
  // is refused (returned as a problem line).
  std::vector<std::string> add(const std::shared_ptr<const RouteOwner>& owner,
                               std::vector<http::Route> routes,
                               std::vector<http::WebSocketRoute> webSocketRoutes, std::string schemas);

  struct Match {
    const RouteEntry* entry = nullptr;
    std::map<std::string, std::string, std::less<>> params;
    std::vector<std::string> allowed;  // methods of the path when the method did not match
  };
  // `segments` are the decoded path segments.
  Match match(std::string_view method, const std::vector<std::string>& segments) const;
  const WebSocketEntry* matchWebSocket(const std::vector<std::string>& segments,
                                       std::map<std::string, std::string, std::less<>>& params) const;

  const std::vector<RouteEntry>& routes() const { return routes_; }
  const std::vector<WebSocketEntry>& webSocketRoutes() const { return webSocketRoutes_; }
  // provider name -> its JSON object of schemas
  const std::map<std::string, std::string>& schemas() const { return schemas_; }

 private:
  std::vector<RouteEntry> routes_;
  std::vector<WebSocketEntry> webSocketRoutes_;
  std::map<std::string, std::string> schemas_;
};

// "/a/{b}/c" -> segments; nullopt when the template is malformed.
std::optional<std::vector<Segment>> parseTemplate(std::string_view path);

// Splits and percent-decodes a request path; nullopt for a malformed path
// (no leading '/', a bad or NUL escape, an encoded '/').
std::optional<std::vector<std::string>> splitPath(std::string_view path);

// Decodes application/x-www-form-urlencoded query text; nullopt when malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parseQuery(std::string_view query);

// Whether a browser's `origin` ("http://host:port") names the server it
// connects to (`host`, the Host header): a page the server itself served (the
// dashboard), which needs no entry in cors.allow_origins for its WebSocket.
bool sameOrigin(std::string_view origin, std::string_view host);

// The API key or token a browser offers as the subprotocol "hive.bearer.<token>"
// in Sec-WebSocket-Protocol (a browser cannot set Authorization on a
// WebSocket); nullopt when none is offered. Never echoed back.
std::optional<std::string> bearerSubprotocol(std::string_view offered);

// The current table; readers take a snapshot, the writer swaps a new one in.
class TableHolder {
 public:
  std::shared_ptr<const Table> get() const {
    std::lock_guard lock(mutex_);
    return table_;
  }
  void set(std::shared_ptr<const Table> table) {
    std::lock_guard lock(mutex_);
    table_.swap(table);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Table> table_ = std::make_shared<Table>();
};

}  // namespace hive::api
