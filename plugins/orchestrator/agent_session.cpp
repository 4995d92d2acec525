#include "agent_session.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "plugin_common/agent_principal.hpp"
#include "plugin_common/json_fields.hpp"
#include "plugin_common/json_text.hpp"
#include "render.hpp"

namespace hive::orchestrator {
namespace json = boost::json;
using plugin_common::stringField;
namespace {

// Why a hello was refused, for the agent's program to act on.
std::string_view refusalReason(StatusCode code) {
  switch (code) {
    case StatusCode::kPermissionDenied: return "bad_secret";
    case StatusCode::kNotFound: return "unknown_agent";
    case StatusCode::kResourceExhausted: return "full";
    case StatusCode::kInvalidArgument: return "invalid_hello";
    default: return "unavailable";
  }
}

// What a burst's reports about one attempt are filed under.
std::string leaseKey(const std::string& taskId, const std::string& token) { return taskId + '\n' + token; }

protocol::Ack refusal(const std::string& taskId, protocol::Report report, const Status& why) {
  return {taskId, report, protocol::Verdict::kRefused, why.message()};
}

}  // namespace

AgentSession::AgentSession(RemoteAgents& agents, std::shared_ptr<http::WebSocketPeer> peer,
                           std::string principal)
    : agents_(agents),
      env_(agents.environment()),
      owner_(env_.background.owner().lock()),
      principal_(std::move(principal)),
      peer_(std::move(peer)),
      channel_(std::make_shared<AgentChannel>(peer_, env_.options.maxBacklog)),
      serial_(std::make_shared<SerialQueue>(env_.background.executor())) {}

void AgentSession::onMessage(std::string_view text) {
  env_.background.hold();
  {
    std::lock_guard lock(inboxMutex_);
    inbox_.emplace_back(text);
    if (std::exchange(draining_, true)) return;
  }
  serial_->post([self = shared_from_this()] { self->drainInbox(); });
}

AgentSession::~AgentSession() {
  if (!ended_.exchange(true)) agents_.sessionEnded(this);
}

void AgentSession::onClose(std::uint16_t) {
  channel_->markClosed();
  // The api releases its lease on this generation right after this call.
  if (!ended_.exchange(true)) agents_.sessionEnded(this);
  env_.background.hold();
  serial_->post([self = shared_from_this()] {
    if (!self->agentId_.empty()) {
      self->agents_.disconnected(self->agentId_, self->peer_.get());
      self->agents_.frames().left(self->presence_, self->peer_.get());
    }
    self->env_.background.release();
  });
}

void AgentSession::fail(const std::string& why) { say(protocol::error(why, {}, env_.now())); }

void AgentSession::say(std::string text) { channel_->sendOrClose(std::move(text), env_.log()); }

void AgentSession::refuse(const std::string& why, std::string_view reason) {
  say(protocol::error(why, reason, env_.now()));
  peer_->close(1008, "hello refused");
}

void AgentSession::drainInbox() {
  for (;;) {
    std::deque<std::string> messages;
    {
      std::lock_guard lock(inboxMutex_);
      if (inbox_.empty()) {
        draining_ = false;
        return;
      }
      messages.swap(inbox_);
    }
    for (const auto& text : messages) handle(text);
    flush();
    env_.background.release(static_cast<int>(messages.size()));
  }
}

void AgentSession::flush() {
  reportStarts();
  reportResults();
  startIndex_.clear();
}

void AgentSession::reportStarts() {
  if (starts_.empty()) return;
  auto tasks = env_.tasks.lease();
  for (const auto& start : starts_) {
    if (start.taskId.empty()) continue;  // its result came in the same burst
    if (!start.progress) {
      Status s = agents_.accept(start.taskId, start.token);
      if (!s.ok()) say(protocol::ack(refusal(start.taskId, protocol::Report::kAccept, s), env_.now()));
      continue;
    }
    if (!tasks) {
      fail("tasks are unavailable");
      continue;
    }
    // Refused (a stale lease, a report too large or with a number that would
    // not read back as sent): the agent hears why, as for an accept.
    Status s = tasks->progress(start.taskId, start.token, *start.progress);
    if (!s.ok()) say(protocol::ack(refusal(start.taskId, protocol::Report::kProgress, s), env_.now()));
  }
  starts_.clear();
}

namespace {

protocol::Ack resultAck(const std::string& taskId, const Status& s) {
  if (s.code() == StatusCode::kAlreadyExists)
    return {taskId, protocol::Report::kResult, protocol::Verdict::kDuplicate, {}};
  if (!s.ok()) return refusal(taskId, protocol::Report::kResult, s);
  return {taskId, protocol::Report::kResult, protocol::Verdict::kAccepted, {}};
}

}  // namespace

void AgentSession::reportResults() {
  if (results_.empty()) return;
  std::vector<Status> statuses = agents_.report(agentId_, results_);
  for (std::size_t i = 0; i < results_.size(); ++i) {
    if (Results::transient(statuses[i])) {
      // The store is down: the result waits in the orchestrator, and the
      // agent hears about it (its ack) when the store has taken it.
      const Environment& env = env_;
      agents_.hold(
          agentId_, results_[i],
          [channel = channel_, &env, taskId = results_[i].taskId, &log = env_.log()](const Status& s) {
            channel->sendOrClose(protocol::ack(resultAck(taskId, s), env.now()), log);
          });
      continue;
    }
    say(protocol::ack(resultAck(results_[i].taskId, statuses[i]), env_.now()));
  }
  results_.clear();
}

void AgentSession::handle(const std::string& text) {
  // The agent shows life: what waits for it may fit in its socket again, and
  // once all of it does, it may take tasks again.
  if (channel_->congested() && channel_->flush()) agents_.requestDispatch();
  std::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  json::value parsed = json::parse(text, ec, {}, options);
  if (ec || !parsed.is_object()) return fail("a message must be a JSON object");
  json::object& o = parsed.as_object();
  auto* typeValue = o.if_contains("type");
  if (typeValue == nullptr || !typeValue->is_string()) return fail("a message needs a string 'type'");
  std::string type(typeValue->as_string());
  // Accepts, progress and results are handled in groups; anything else comes after them.
  if (type != "task.result" && type != "task.accept" && type != "task.progress") flush();
  if (type == "hello") return onHello(o);
  if (!greeted_) return fail("say hello first");
  if (type == "heartbeat") {
    agents_.heartbeat(agentId_);
    return say(protocol::heartbeatAck(env_.now()));
  }
  if (type != "task.accept" && type != "task.progress" && type != "task.result") {
    // Another plugin's frame type (hive.agent_frames/1), in this agent's order.
    if (agents_.frames().dispatch(agentId_, type, text)) return;
    return fail("unknown message type '" + type + "'");
  }
  onTaskMessage(type, o, text);
}

void AgentSession::onTaskMessage(const std::string& type, const json::object& o, const std::string& text) {
  std::string taskId = stringField(o, "task_id"), token = stringField(o, "lease_token");
  if (taskId.empty() || token.empty()) return fail(type + " needs task_id and lease_token");
  // Each of the three answers the assignment: the claim window is met.
  agents_.acknowledged(agentId_, taskId, token);
  if (type == "task.result") return onResult(taskId, token, o, text);
  // Recorded at the next flush, unless something later of the same lease comes
  // in the same burst: then only the latest is written (a quick task goes from
  // assigned to its end without a `running` record or a progress of its own).
  std::string key = leaseKey(taskId, token);
  if (auto known = startIndex_.find(key); known != startIndex_.end() && known->second == kReported) {
    flush();  // sent after its result: the result goes first, and this is refused as stale
  }
  auto [place, added] = startIndex_.try_emplace(std::move(key), starts_.size());
  if (added) starts_.push_back({taskId, token, std::nullopt});
  Start& same = starts_[place->second];
  if (type == "task.progress")
    same.progress = o.contains("progress")
                        // The agent's own text, not a re-serialisation: what it sent is what is kept.
                        ? std::string(plugin_common::rawMember(text, "progress").value_or("{}"))
                        : std::string("{}");
}

void AgentSession::onResult(const std::string& taskId, const std::string& token, const json::object& o,
                            const std::string& text) {
  std::string outcome = stringField(o, "status");
  if (outcome != "succeeded" && outcome != "failed")
    return fail("task.result needs status \"succeeded\" or \"failed\"");
  auto [started, added] = startIndex_.try_emplace(leaseKey(taskId, token), kReported);
  if (!added && started->second != kReported) {
    starts_[started->second] = {};  // the result stands for it
    started->second = kReported;
  }
  auto* retryable = o.if_contains("retryable");
  using Outcome = Results::Outcome;
  results_.push_back(
      {taskId, token, outcome == "succeeded" ? Outcome::kSucceeded : Outcome::kFailed,
       o.contains("result") ? std::string(plugin_common::rawMember(text, "result").value_or("{}")) : "{}",
       stringField(o, "error"),
       retryable == nullptr || !retryable->is_bool() || retryable->as_bool() ? tasks::Retry::kAllowed
                                                                             : tasks::Retry::kNever});
}

void AgentSession::onHello(json::object& o) {
  if (greeted_) return fail("hello was already said");
  std::string requested = stringField(o, "agent_id"), secret = stringField(o, "secret");
  for (std::string_view key : {"type", "agent_id", "secret", "ts", "id"}) o.erase(key);
  if (!o.contains("runtime")) o["runtime"] = "remote";
  std::vector<http::FieldError> errors;
  auto spec = parseAgentSpec(json::serialize(o), SpecUse::kRegistration, errors);
  if (!spec.ok()) {
    std::string why = spec.status().message();
    for (const auto& e : errors) why += "; " + e.field + ": " + e.message;
    return refuse(why, "invalid_hello");
  }
  // An agent key ("agent:<name>", "agent+<tenant>:<name>") registers or resumes only the agent of that name.
  std::string bound = plugin_common::agentOfPrincipal(principal_).name;
  if (!bound.empty() && spec->name && *spec->name != bound)
    return refuse("this key is for agent '" + bound + "', not '" + *spec->name + "'", "bad_secret");
  auto welcome = agents_.hello(channel_, requested, secret, *spec, bound, env_.tenantOf(principal_));
  if (!welcome.ok()) return refuse(welcome.status().message(), refusalReason(welcome.status().code()));
  agentId_ = welcome->agentId;
  greeted_ = true;
  say(protocol::welcome({agentId_, welcome->secret, env_.options.heartbeatInterval.count(),
                         env_.options.claimWindow.count(), env_.options.node},
                        env_.now()));
  presence_ = agents_.frames().arrived(agentId_);
  agents_.welcomed(agentId_);
}

}  // namespace hive::orchestrator
