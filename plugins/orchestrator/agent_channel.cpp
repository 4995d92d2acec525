#include "agent_channel.hpp"

namespace hive::orchestrator {

Status AgentChannel::drain() {
  while (!backlog_.empty()) {
    Status sent = peer_->send(backlog_.front());
    if (!sent.ok()) return sent;
    backlog_.pop_front();
  }
  return okStatus();
}

Status AgentChannel::send(std::string text) {
  std::lock_guard lock(mutex_);
  // Behind a backlog a message waits its turn: the agent reads in order.
  Status earlier = drain();
  if (!earlier.ok() && earlier.code() != StatusCode::kResourceExhausted) return earlier;
  if (backlog_.empty()) {
    Status sent = peer_->send(text);
    if (sent.ok() || sent.code() != StatusCode::kResourceExhausted) return sent;
  }
  if (backlog_.size() >= maxBacklog_)
    return resourceExhausted("the agent reads none of its messages: " + std::to_string(maxBacklog_) +
                             " wait for it (max_backlog)");
  backlog_.push_back(std::move(text));
  return okStatus();
}

void AgentChannel::sendOrClose(std::string text, Logger& log) {
  Status sent = send(std::move(text));
  if (sent.code() != StatusCode::kResourceExhausted) return;  // sent, kept, or closed already
  log.warn("remote agent connection " + peer_->id() + " closed: " + sent.message());
  peer_->close(1008, "not reading its messages");
}

bool AgentChannel::flush() {
  std::lock_guard lock(mutex_);
  if (backlog_.empty()) return true;
  (void)drain();
  return backlog_.empty();
}

bool AgentChannel::congested() const {
  std::lock_guard lock(mutex_);
  return !backlog_.empty();
}

std::size_t AgentChannel::backlog() const {
  std::lock_guard lock(mutex_);
  return backlog_.size();
}

}  // namespace hive::orchestrator
