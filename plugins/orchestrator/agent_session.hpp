// One remote agent's WebSocket. Messages are handled in order, off the I/O
// thread, because every one of them may block on storage. Messages wait in an
// inbox; one drain at a time handles all that came, so that a burst of
// results is reported together (one store transaction) and an accept whose
// result came in the same burst is not written on its own.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

#include "agent_channel.hpp"
#include "hive/services/http.hpp"
#include "remote_agents.hpp"
#include "serial_queue.hpp"

namespace hive::orchestrator {

class AgentSession final : public http::WebSocketSession, public std::enable_shared_from_this<AgentSession> {
 public:
  AgentSession(RemoteAgents& agents, std::shared_ptr<http::WebSocketPeer> peer, std::string principal = {});
  ~AgentSession() override;

  // http::WebSocketSession
  void onMessage(std::string_view text) override;
  void onClose(std::uint16_t code) override;

 private:
  void drainInbox();
  // What was collected from the inbox: the accepts and progress reports whose
  // result did not come with them, then the results, reported together and
  // acknowledged in order.
  void flush();
  void reportStarts();
  void reportResults();
  void handle(const std::string& text);
  void onHello(boost::json::object& hello);
  void onTaskMessage(const std::string& type, const boost::json::object& message, const std::string& text);
  void onResult(const std::string& taskId, const std::string& token, const boost::json::object& message,
                const std::string& text);

  void fail(const std::string& why);
  void say(std::string text);
  // A refused hello: an error frame saying why, then the socket closes.
  void refuse(const std::string& why, std::string_view reason);

  RemoteAgents& agents_;
  Environment& env_;
  std::shared_ptr<void> owner_;  // keeps the orchestrator alive while the session lives
  std::string principal_;        // from hive.auth/1; "agent:<name>" binds the session to that name
  std::shared_ptr<http::WebSocketPeer> peer_;
  std::shared_ptr<AgentChannel> channel_;
  std::shared_ptr<SerialQueue> serial_;
  std::mutex inboxMutex_;
  std::deque<std::string> inbox_;
  bool draining_ = false;
  std::vector<Results::Report> results_;  // collected from the inbox, not reported yet
  // An accept or progress report collected from the inbox, not recorded yet.
  // A task has at most one: a progress report stands for the accept before it
  // (it starts the task too) and for the progress before it (the latest is what
  // is kept); the task's result stands for both.
  struct Start {
    std::string taskId;
    std::string token;
    std::optional<std::string> progress;  // none: an accept
  };
  std::vector<Start> starts_;  // in arrival order; a superseded one is empty
  // Task id + lease token → its place in starts_, or kReported once its result is in results_.
  std::unordered_map<std::string, std::size_t> startIndex_;
  static constexpr std::size_t kReported = static_cast<std::size_t>(-1);
  std::string agentId_;
  agents::AgentPresence presence_;  // told to hive.agent_frames/1 consumers at hello; serial queue only
  bool greeted_ = false;            // only touched in the serial queue
  std::atomic<bool> ended_{false};  // told RemoteAgents it is over
};

}  // namespace hive::orchestrator
