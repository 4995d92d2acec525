// What the orchestrator sends to one remote agent, in order, over a WebSocket
// whose send queue is bounded (the api's websocket.route_send_queue). When the
// agent does not read, that queue fills and the api refuses further messages
// (kResourceExhausted) without closing the connection. Then:
//
//  - the refused message and every later one wait here, in order, in a backlog
//    of at most `maxBacklog` messages, and are sent again (flush()) whenever
//    the agent shows life (any message from it) and at every sweep;
//  - while the backlog is not empty the agent is congested: the dispatcher
//    gives it no new task (an agent that does not read cannot start one);
//  - when the backlog is full too, the agent is reading nothing while sending
//    on: send() fails and the caller closes the connection, saying why.
//
// Thread-safe: sends come from the agent's session, the dispatcher and the
// cancellation path at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "hive/log.hpp"
#include "hive/services/http.hpp"

namespace hive::orchestrator {

class AgentChannel {
 public:
  AgentChannel(std::shared_ptr<http::WebSocketPeer> peer, std::size_t maxBacklog)
      : peer_(std::move(peer)), maxBacklog_(maxBacklog) {}

  // Sends `text`, or keeps it in the backlog when the socket's queue is full.
  // kResourceExhausted when the backlog is full (nothing kept), kUnavailable
  // when the connection is closed.
  Status send(std::string text);
  // send(), and when the backlog is full too, closes the connection (1008)
  // and says why in `log`: the agent reads nothing while it sends on.
  void sendOrClose(std::string text, Logger& log);
  // Sends what waits in the backlog, in order, until the socket refuses again.
  // True when the backlog is empty afterwards (the agent is not congested).
  bool flush();
  bool congested() const;
  std::size_t backlog() const;

  const std::shared_ptr<http::WebSocketPeer>& peer() const { return peer_; }

  // The connection ended (the session's onClose, at once): the agent's
  // disconnection is processed later, in order with its messages, but no
  // dispatch round claims for it meanwhile.
  void markClosed() { closed_.store(true, std::memory_order_release); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  // Under mutex_. kResourceExhausted from the socket leaves the front in place.
  Status drain();

  const std::shared_ptr<http::WebSocketPeer> peer_;
  const std::size_t maxBacklog_;
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;
  std::deque<std::string> backlog_;
};

}  // namespace hive::orchestrator
