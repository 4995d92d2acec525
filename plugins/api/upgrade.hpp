// Internal to server.cpp and websocket.cpp: hands an upgraded connection from
// the HTTP session to a WebSocket connection. The only header with Beast types.
#pragma once

#include <memory>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "hive/services/http.hpp"
#include "router.hpp"
#include "shared.hpp"
#include "transport.hpp"

namespace hive::api {

struct Upgrade {
  // Null for the event hub at /api/v2/ws; otherwise a provider's route.
  const WebSocketEntry* entry = nullptr;
  std::shared_ptr<const Table> table;  // keeps `entry` alive
  http::Request request;               // as providers see it (params, principal, request id)
  std::string subprotocol;             // echoed in the handshake when not empty
  AddressSlot addressSlot;             // the connection's place under the per-address limit
};

// Takes over `stream` (its first request `head` already read) and completes or
// refuses the upgrade.
void startWebSocket(std::shared_ptr<Shared> shared, WebSocketTransport stream,
                    boost::beast::http::request<boost::beast::http::string_body> head, Upgrade upgrade);

}  // namespace hive::api
