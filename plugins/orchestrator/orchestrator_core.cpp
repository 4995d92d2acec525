#include "orchestrator_core.hpp"

#include <algorithm>
#include <deque>
#include <mutex>
#include <optional>

#include <boost/json.hpp>

#include "agent_secret.hpp"
#include "plugin_common/json_text.hpp"

namespace hive::orchestrator {
namespace json = boost::json;
namespace {

constexpr const char* kAgents = "agents";

store::Document toDocument(const Agent& agent) {
  store::Document d;
  d.id = agent.id;
  d.body = toStoredJson(agent);
  d.index = {{"status", std::string(statusName(agent.status))}, {"name", agent.name}};
  return d;
}

std::string message(std::string_view type, json::object fields = {}) {
  fields["type"] = type;
  fields["ts"] = nowMs();
  return json::serialize(fields);
}

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

// "60s" for whole seconds, "1500ms" otherwise.
std::string duration(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + "s" : std::to_string(d.count()) + "ms";
}

Status refused(std::string why) { return Status(StatusCode::kPermissionDenied, std::move(why)); }

constexpr std::size_t kPurgeBatch = 256;  // records looked at per sweep

}  // namespace

void SerialQueue::post(std::function<void()> work) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(work));
  if (running_) return;
  running_ = true;
  executor_.post([self = shared_from_this()] { self->drain(); });
}

void SerialQueue::drain() {
  for (;;) {
    std::function<void()> work;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) {
        running_ = false;
        return;
      }
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

// One remote agent's WebSocket. Messages are handled in order, off the I/O
// thread, because every one of them may block on storage.
class AgentSession final : public http::WebSocketSession, public std::enable_shared_from_this<AgentSession> {
 public:
  AgentSession(std::shared_ptr<Core> core, std::shared_ptr<http::WebSocketPeer> peer)
      : core_(std::move(core)),
        peer_(std::move(peer)),
        channel_(std::make_shared<AgentChannel>(peer_, core_->options_.maxBacklog)),
        serial_(std::make_shared<SerialQueue>(core_->context_.blocking())) {}

  // Messages wait in the inbox; one drain at a time handles all that came,
  // so that a burst of results is reported together.
  void onMessage(std::string_view text) override {
    ++core_->inFlight_;
    {
      std::lock_guard lock(inboxMutex_);
      inbox_.emplace_back(text);
      if (std::exchange(draining_, true)) return;
    }
    serial_->post([self = shared_from_this()] { self->drainInbox(); });
  }

  void onClose(std::uint16_t code) override {
    (void)code;
    ++core_->inFlight_;
    serial_->post([self = shared_from_this()] {
      if (!self->agentId_.empty()) self->core_->disconnected(self->agentId_, self->peer_.get());
      --self->core_->inFlight_;
    });
  }

 private:
  void fail(const std::string& why) { say(message("error", {{"message", why}})); }
  void say(std::string text) { core_->sendTo(channel_, std::move(text)); }
  // A refused hello: an error frame saying why, then the socket closes.
  void refuse(const std::string& why, std::string_view reason) {
    say(message("error", {{"message", why}, {"reason", reason}}));
    peer_->close(1008, "hello refused");
  }

  void drainInbox() {
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
      core_->inFlight_ -= static_cast<int>(messages.size());
    }
  }

  // What was collected from the inbox: the accepts whose result did not come
  // with them, then the results, reported together and acknowledged in order.
  void flush() {
    for (const auto& [taskId, token] : accepts_) {
      Status s = core_->accept(taskId, token);
      if (!s.ok())
        say(message(
            "task.ack",
            {{"task_id", taskId}, {"report", "accept"}, {"accepted", false}, {"reason", s.message()}}));
    }
    accepts_.clear();
    reportResults();
  }

  void reportResults() {
    if (results_.empty()) return;
    std::vector<Status> statuses = core_->reportMany(agentId_, results_);
    for (std::size_t i = 0; i < results_.size(); ++i) {
      const Status& s = statuses[i];
      // The same result again for the same lease (sent again after a reconnect
      // because its ack was lost): it was accepted the first time.
      bool duplicate = s.code() == StatusCode::kAlreadyExists;
      json::object ack{
          {"task_id", results_[i].taskId}, {"report", "result"}, {"accepted", s.ok() || duplicate}};
      if (duplicate) ack["duplicate"] = true;
      if (!s.ok() && !duplicate) ack["reason"] = s.message();
      say(message("task.ack", std::move(ack)));
    }
    results_.clear();
  }

  void handle(const std::string& text) {
    // The agent shows life: what waits for it may fit in its socket again, and
    // once all of it does, it may take tasks again.
    if (channel_->congested() && channel_->flush()) core_->requestDispatch();
    std::error_code ec;
    json::parse_options options;
    options.max_depth = 64;
    json::value parsed = json::parse(text, ec, {}, options);
    if (ec || !parsed.is_object()) return fail("a message must be a JSON object");
    json::object& o = parsed.as_object();
    auto* typeValue = o.if_contains("type");
    if (typeValue == nullptr || !typeValue->is_string()) return fail("a message needs a string 'type'");
    std::string type(typeValue->as_string());
    // Accepts and results are handled in groups; anything else comes after them.
    if (type != "task.result" && type != "task.accept") flush();
    if (type == "hello") return onHello(o);
    if (!greeted_) return fail("say hello first");
    if (type == "heartbeat") {
      core_->heartbeat(agentId_);
      say(message("heartbeat.ack"));
      return;
    }
    auto field = [&](std::string_view key) -> std::string {
      auto* v = o.if_contains(key);
      return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    std::string taskId = field("task_id"), token = field("lease_token");
    if (type != "task.accept" && type != "task.progress" && type != "task.result")
      return fail("unknown message type '" + type + "'");
    if (taskId.empty() || token.empty()) return fail(type + " needs task_id and lease_token");
    // Each of the three answers the assignment: the claim window is met.
    core_->acknowledged(agentId_, taskId, token);
    if (type == "task.accept") {
      // Recorded at the next flush, unless its result comes in the same burst:
      // then the result alone is written (a quick task goes from assigned to
      // its end without a `running` record of its own).
      accepts_.emplace_back(taskId, token);
      return;
    }
    if (type == "task.progress") {
      auto* progress = o.if_contains("progress");
      auto tasks = core_->tasks_.lease();
      if (!tasks) return fail("tasks are unavailable");
      // The agent's own text, not a re-serialisation: what it sent is what is kept.
      Status s = tasks->progress(
          taskId, token,
          progress ? std::string(plugin_common::rawMember(text, "progress").value_or("{}")) : "{}");
      if (!s.ok() && s.code() == StatusCode::kFailedPrecondition)
        say(message(
            "task.ack",
            {{"task_id", taskId}, {"report", "progress"}, {"accepted", false}, {"reason", s.message()}}));
      return;
    }
    if (type == "task.result") {
      std::string outcome = field("status");
      if (outcome != "succeeded" && outcome != "failed")
        return fail("task.result needs status \"succeeded\" or \"failed\"");
      std::erase(accepts_, std::make_pair(taskId, token));
      auto* result = o.if_contains("result");
      auto* retryable = o.if_contains("retryable");
      using Outcome = tasks::TaskService::Outcome;
      results_.push_back(
          {taskId, token, outcome == "succeeded" ? Outcome::kSucceeded : Outcome::kFailed,
           result ? std::string(plugin_common::rawMember(text, "result").value_or("{}")) : "{}",
           field("error"),
           retryable == nullptr || !retryable->is_bool() || retryable->as_bool() ? tasks::Retry::kAllowed
                                                                                 : tasks::Retry::kNever});
      return;
    }
  }

  void onHello(json::object& o) {
    if (greeted_) return fail("hello was already said");
    std::string requested, secret;
    if (auto* v = o.if_contains("agent_id"); v && v->is_string()) requested = std::string(v->as_string());
    if (auto* v = o.if_contains("secret"); v && v->is_string()) secret = std::string(v->as_string());
    o.erase("type");
    o.erase("agent_id");
    o.erase("secret");
    o.erase("ts");
    o.erase("id");
    if (!o.contains("runtime")) o["runtime"] = "remote";
    std::vector<http::FieldError> errors;
    auto spec = parseAgentSpec(json::serialize(o), false, errors);
    if (!spec.ok()) {
      std::string why = spec.status().message();
      for (const auto& e : errors) why += "; " + e.field + ": " + e.message;
      return refuse(why, "invalid_hello");
    }
    auto welcome = core_->hello(channel_, requested, secret, *spec);
    if (!welcome.ok()) return refuse(welcome.status().message(), refusalReason(welcome.status().code()));
    agentId_ = welcome->agentId;
    greeted_ = true;
    json::object fields{{"agent_id", agentId_},
                        {"heartbeat_interval_ms", core_->options_.heartbeatInterval.count()},
                        {"claim_window_ms", core_->options_.claimWindow.count()},
                        {"node", core_->options_.node}};
    if (!welcome->secret.empty()) fields["secret"] = welcome->secret;
    say(message("welcome", std::move(fields)));
    core_->requestDispatch();
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<http::WebSocketPeer> peer_;
  std::shared_ptr<AgentChannel> channel_;
  std::shared_ptr<SerialQueue> serial_;
  std::mutex inboxMutex_;
  std::deque<std::string> inbox_;
  bool draining_ = false;
  std::vector<tasks::TaskService::Report> results_;           // collected from the inbox, not reported yet
  std::vector<std::pair<std::string, std::string>> accepts_;  // task id, lease token: not recorded yet
  std::string agentId_;
  bool greeted_ = false;  // only touched in the serial queue
};

Core::Core(PluginContext& context, ServiceHandle<tasks::TaskService> tasks, ServiceHandle<store::Store> store,
           Options options)
    : context_(context), tasks_(std::move(tasks)), store_(std::move(store)), options_(std::move(options)) {}

void Core::background(std::function<void()> work) {
  ++inFlight_;
  context_.blocking().post([self = shared_from_this(), work = std::move(work)] {
    work();
    --self->inFlight_;
  });
}

Status Core::open() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  HIVE_TRY(store->declareCollection({kAgents, {"status", "name"}}));
  if (!tasks_.lease()) return unavailable("no hive.tasks/1 provider is running");
  registered_ = HIVE_TRY(countRegistered(), "counting the agent registry");
  lastCountMs_ = nowMs();
  open_ = true;
  std::weak_ptr<Core> weak = weak_from_this();
  cancelWatch_ = std::make_unique<CancelWatch>(context_, [weak](const std::string& taskId) {
    auto self = weak.lock();
    if (!self || !self->open_) return;
    // Off the bus thread: persisting the agent blocks on storage.
    self->background([self, taskId] { self->taskCancelled(taskId); });
  });
  cancelWatch_->start();
  work_ = std::make_unique<ServiceFollower<tasks::TaskService>>(
      context_.services(), [weak](tasks::TaskService& tasks) -> std::unique_ptr<Subscription> {
        auto self = weak.lock();
        return self ? self->subscribeToWork(tasks) : nullptr;
      });
  (void)work_->start();  // checked above: hive.tasks/1 runs
  loadProcessAgents();
  return okStatus();
}

std::unique_ptr<Subscription> Core::subscribeToWork(tasks::TaskService& tasks) {
  std::weak_ptr<Core> weak = weak_from_this();
  auto subscription = tasks.onWork([weak] {
    if (auto self = weak.lock()) self->requestDispatch();
  });
  // Work may have come while nobody listened (a new provider, or none).
  requestDispatch();
  return subscription;
}

void Core::close() {
  open_ = false;
  if (cancelWatch_) cancelWatch_->stop();
  if (work_) work_->stop();  // waits for a running callback
  std::vector<std::shared_ptr<http::WebSocketPeer>> peers;
  std::vector<std::shared_ptr<exec::Execution>> executions;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, local] : agents_) {
      if (local.peer) peers.push_back(local.peer);
      for (auto& [task, execution] : local.executions) executions.push_back(execution);
    }
  }
  for (auto& peer : peers) peer->close(1001, "orchestrator going away; reconnect");
  // Process jobs end with this generation; their leases expire and the tasks
  // are retried (a process cannot be handed to the next generation).
  for (auto& execution : executions) execution->cancel();
  persistUnsaved();
}

void Core::refreshStatus(Agent& agent) const {
  if (agent.runtime == Runtime::kRemote && agent.node.empty()) {
    agent.status = AgentStatus::kOffline;
  } else if (agent.circuit == Circuit::kOpen) {
    agent.status = AgentStatus::kFailed;
  } else if (agent.draining) {
    agent.status = AgentStatus::kDraining;
  } else {
    agent.status = agent.inFlight.empty() ? AgentStatus::kIdle : AgentStatus::kBusy;
  }
  agent.updatedAtMs = nowMs();
}

void Core::persistUnsaved() {
  std::vector<Agent> agents;
  {
    std::lock_guard lock(mutex_);
    for (const auto& id : unsaved_)
      if (auto found = agents_.find(id); found != agents_.end()) agents.push_back(found->second.agent);
    unsaved_.clear();
  }
  for (const auto& agent : agents) persist(agent);
}

void Core::persist(const Agent& agent) {
  auto store = store_.lease();
  if (!store) return;
  auto put = store->put(kAgents, toDocument(agent), store::kAnyVersion);
  if (!put.ok()) context_.log().warn("agent " + agent.id + " not saved: " + put.status().message());
}

void Core::loadProcessAgents() {
  if (processAgentsLoaded_) return;
  auto runner = context_.services().get<exec::ProcessRunner>();
  if (!runner.ok()) return;
  processAgentsLoaded_ = true;
  for (const auto& spec : (*runner)->agents()) {
    Agent agent;
    // One id per node: each hive process runs its own process agents.
    agent.id = "process-" + spec.name + "." + options_.node;
    agent.name = spec.name;
    agent.role = "process";
    agent.capabilities = spec.capabilities;
    std::sort(agent.capabilities.begin(), agent.capabilities.end());
    agent.runtime = Runtime::kProcess;
    agent.maxConcurrency = std::max<std::uint32_t>(1, spec.maxConcurrency);
    agent.node = options_.node;
    agent.createdAtMs = agent.lastHeartbeatMs = nowMs();
    refreshStatus(agent);
    {
      std::lock_guard lock(mutex_);
      agents_[agent.id].agent = agent;
    }
    persist(agent);
    context_.log().info("process agent " + agent.name + " (" + (*runner)->sandbox() + " sandbox)");
  }
  requestDispatch();
}

// ---- dispatch ----

void Core::requestDispatch() {
  if (!open_) return;
  dispatchPending_ = true;
  if (dispatching_.exchange(true)) return;
  background([self = shared_from_this()] { self->dispatchLoop(); });
}

void Core::dispatchLoop() {
  for (;;) {
    while (open_ && dispatchPending_.exchange(false)) {
      for (int round = 0; round < 100000 && open_ && dispatchRound(); ++round) {
      }
    }
    dispatching_ = false;
    // A request that came after the last check but before the flag dropped.
    if (!dispatchPending_ || !open_ || dispatching_.exchange(true)) return;
  }
}

// At most this many tasks go to one agent per dispatch round, so that a burst
// is spread over the least loaded agents rather than taken by the first.
constexpr std::size_t kClaimsPerRound = 16;

std::vector<Core::Candidate> Core::candidates() {
  std::vector<Candidate> out;
  std::int64_t now = nowMs();
  std::lock_guard lock(mutex_);
  for (auto& [id, local] : agents_) {
    Agent& a = local.agent;
    if (a.runtime == Runtime::kRemote && !local.peer) continue;
    if (a.draining || local.held) continue;
    // It does not read what it was sent: it could not start a new task anyway.
    if (local.channel && local.channel->congested()) continue;
    // An agent holds at most this many assignments it has not answered.
    if (local.unacknowledged.size() >= options_.maxUnacknowledged) continue;
    std::size_t capacity = a.maxConcurrency;
    if (a.circuit == Circuit::kOpen) {
      if (now - a.circuitOpenedMs < options_.openFor.count()) continue;
      a.circuit = Circuit::kHalfOpen;
    }
    if (a.circuit == Circuit::kHalfOpen) capacity = 1;  // one probe at a time
    if (a.inFlight.size() >= capacity) continue;
    std::size_t free = capacity - a.inFlight.size();
    if (a.runtime == Runtime::kRemote)
      free = std::min(free, options_.maxUnacknowledged - local.unacknowledged.size());
    out.push_back({id, a.capabilities, static_cast<double>(a.inFlight.size()) / a.maxConcurrency,
                   std::min(free, kClaimsPerRound)});
  }
  // Least loaded first.
  std::stable_sort(out.begin(), out.end(),
                   [](const Candidate& x, const Candidate& y) { return x.load < y.load; });
  return out;
}

bool Core::dispatchRound() {
  auto tasks = tasks_.lease();
  if (!tasks) return false;
  bool assigned = false;
  for (const auto& candidate : candidates()) {
    // Several at once when it has room: one claim is one store transaction
    // whatever its size, and a burst fills agents in a few rounds.
    auto claimed = tasks->claim(candidate.id, candidate.capabilities, candidate.free);
    if (!claimed.ok()) {
      context_.log().warn("claim for agent " + candidate.id + " failed: " + claimed.status().message());
      return false;
    }
    for (const auto& assignment : *claimed) {
      deliver(candidate.id, assignment);
      assigned = true;
    }
  }
  return assigned;
}

void Core::deliver(const std::string& agentId, const tasks::Assignment& a) {
  // Claimed just before its cancellation committed: the lease is void already,
  // there is nothing to hand out or to release.
  if (cancelWatch_->recentlyCancelled(a.taskId)) return;
  std::shared_ptr<AgentChannel> channel;
  Runtime runtime = Runtime::kRemote;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    auto found = agents_.find(agentId);
    if (found != agents_.end()) {
      found->second.agent.inFlight[a.taskId] = a.leaseToken;
      if (found->second.agent.runtime == Runtime::kRemote)
        found->second.unacknowledged[a.taskId] = nowMs() + options_.claimWindow.count();
      refreshStatus(found->second.agent);
      channel = found->second.channel;
      runtime = found->second.agent.runtime;
      name = found->second.agent.name;
    }
  }
  auto tasks = tasks_.lease();
  if (!tasks) return;
  auto undo = [&](const std::string& why) {
    {
      std::lock_guard lock(mutex_);
      if (auto found = agents_.find(agentId); found != agents_.end()) {
        found->second.agent.inFlight.erase(a.taskId);
        found->second.unacknowledged.erase(a.taskId);
        refreshStatus(found->second.agent);
      }
    }
    (void)tasks->released(a.taskId, a.leaseToken, why);
  };
  if (runtime == Runtime::kRemote) {
    if (!channel) return undo("agent " + agentId + " disconnected before the assignment");
    // The task as task_manager wrote it, spliced in rather than re-serialised:
    // the agent gets the payload byte for byte as the client sent it.
    // A full socket keeps it in the channel's backlog, in order, within the
    // claim window like any assignment.
    Status sent = channel->send(plugin_common::withRawMembers(
        message("task.assign",
                {{"lease_token", a.leaseToken}, {"attempt", a.attempt}, {"deadline_ms", a.leaseExpiresMs}}),
        {{"task", a.taskJson}}));
    if (!sent.ok()) undo("agent " + agentId + " unreachable: " + sent.message());
    return;
  }
  auto runner = context_.services().get<exec::ProcessRunner>();
  if (!runner.ok()) return undo("no hive.executor/1 provider for process agent " + name);
  std::weak_ptr<Core> weak = weak_from_this();
  std::string taskId = a.taskId, token = a.leaseToken;
  auto execution = (*runner)->run(
      exec::Job{name, a.taskId, a.taskJson, a.timeout},
      [weak, agentId, taskId, token](exec::Outcome outcome) {
        auto self = weak.lock();
        if (!self) return;
        self->background([self, agentId, taskId, token, outcome = std::move(outcome)]() mutable {
          self->processDone(agentId, taskId, token, std::move(outcome));
        });
      });
  if (!execution.ok()) {
    (void)report(agentId, a.taskId, a.leaseToken, false, {},
                 "could not start: " + execution.status().message(), tasks::Retry::kAllowed);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(agentId); found != agents_.end())
      found->second.executions[a.taskId] = *execution;
  }
  // A cancellation heard while the job was starting found no execution to stop.
  if (cancelWatch_->recentlyCancelled(a.taskId)) return (*execution)->cancel();
  (void)tasks->started(a.taskId, a.leaseToken);
}

void Core::taskCancelled(const std::string& taskId) {
  std::string agentId, leaseToken;
  std::shared_ptr<AgentChannel> channel;
  std::shared_ptr<exec::Execution> execution;
  Agent snapshot;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, local] : agents_) {
      auto leased = local.agent.inFlight.find(taskId);
      if (leased == local.agent.inFlight.end()) continue;
      agentId = id;
      leaseToken = leased->second;
      if (local.agent.runtime == Runtime::kProcess) {
        // Its slot is freed when the job reports kCancelled (processDone).
        if (auto running = local.executions.find(taskId); running != local.executions.end())
          execution = running->second;
      } else {
        local.agent.inFlight.erase(leased);
        local.unacknowledged.erase(taskId);
        refreshStatus(local.agent);
        channel = local.channel;
        snapshot = local.agent;
      }
      break;
    }
  }
  if (agentId.empty()) return;  // handed out by another node, or already over
  if (execution) {
    execution->cancel();
    context_.log().info("task " + taskId + " cancelled: its job on process agent " + agentId + " is killed");
    return;
  }
  if (snapshot.id.empty()) return;  // a process job that has not started yet: deliver() stops it
  // Not connected right now: the agent learns it when it reports (refused as stale).
  if (channel) sendTo(channel, message("task.cancel", {{"task_id", taskId}, {"lease_token", leaseToken}}));
  context_.log().info("task " + taskId + " cancelled: task.cancel sent to agent " + agentId);
  persist(snapshot);
  requestDispatch();  // its slot is free
}

void Core::processDone(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                       exec::Outcome outcome) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(agentId); found != agents_.end()) found->second.executions.erase(taskId);
  }
  if (outcome.kind == exec::OutcomeKind::kCancelled) {
    // Cancelled by us (the task was cancelled, or this generation stops): the
    // lease decides what happens next.
    {
      std::lock_guard lock(mutex_);
      if (auto found = agents_.find(agentId); found != agents_.end()) {
        found->second.agent.inFlight.erase(taskId);
        refreshStatus(found->second.agent);
      }
    }
    requestDispatch();  // its slot is free
    return;
  }
  bool ok = outcome.kind == exec::OutcomeKind::kSucceeded;
  std::string result = outcome.result.empty() ? "{}" : outcome.result;
  std::string error = ok ? std::string() : (outcome.reason.empty() ? "process failed" : outcome.reason);
  Status reported = report(agentId, taskId, leaseToken, ok, result, error, tasks::Retry::kAllowed);
  // A result Hive cannot keep exactly (a number beyond a double, say) is
  // refused; the process will not answer again, so the attempt fails saying why.
  if (ok && reported.code() == StatusCode::kInvalidArgument)
    (void)report(agentId, taskId, leaseToken, false, {}, "result refused: " + reported.message(),
                 tasks::Retry::kNever);
}

Status Core::report(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                    bool succeeded, const std::string& result, const std::string& error, tasks::Retry retry) {
  using Outcome = tasks::TaskService::Outcome;
  return reportMany(agentId, {{taskId, leaseToken, succeeded ? Outcome::kSucceeded : Outcome::kFailed, result,
                               error, retry}})
      .front();
}

std::vector<Status> Core::reportMany(const std::string& agentId,
                                     const std::vector<tasks::TaskService::Report>& reports) {
  auto tasks = tasks_.lease();
  if (!tasks) return std::vector<Status>(reports.size(), unavailable("tasks are unavailable"));
  std::vector<Status> reported = tasks->finish(reports);
  Agent snapshot;
  bool known = false, changed = false;
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(agentId); found != agents_.end()) {
      Agent& a = found->second.agent;
      Circuit circuit = a.circuit;
      AgentStatus status = a.status;
      for (std::size_t i = 0; i < reports.size(); ++i) {
        const auto& r = reports[i];
        auto inFlight = a.inFlight.find(r.taskId);
        bool mine = inFlight != a.inFlight.end() && inFlight->second == r.leaseToken;
        if (mine) {
          a.inFlight.erase(inFlight);
          found->second.unacknowledged.erase(r.taskId);
        }
        if (!reported[i].ok() && !mine) continue;
        if (r.outcome == tasks::TaskService::Outcome::kSucceeded) {
          ++a.succeeded;
          a.consecutiveFailures = 0;
          a.circuit = Circuit::kClosed;
        } else {
          ++a.failed;
          ++a.consecutiveFailures;
          if (a.circuit == Circuit::kHalfOpen || a.consecutiveFailures >= options_.failureThreshold) {
            if (a.circuit != Circuit::kOpen)
              context_.log().warn("agent " + a.id + ": circuit breaker opens after " +
                                  std::to_string(a.consecutiveFailures) + " consecutive failures");
            a.circuit = Circuit::kOpen;
            a.circuitOpenedMs = nowMs();
          }
        }
      }
      refreshStatus(a);
      snapshot = a;
      known = true;
      // The record is written at once when its state changed; its counters
      // alone wait for the next sweep (a write per result was a commit per task).
      changed = a.circuit != circuit || a.status != status;
      if (!changed) unsaved_.insert(agentId);
    }
  }
  if (known && changed) persist(snapshot);
  requestDispatch();
  return reported;
}

void Core::releaseAll(Local& local, const std::string& reason) {
  release(Leases(local.agent.inFlight.begin(), local.agent.inFlight.end()), reason);
  local.agent.inFlight.clear();
  local.unacknowledged.clear();
}

void Core::release(const Leases& leases, const std::string& reason) {
  if (leases.empty()) return;
  auto tasks = tasks_.lease();
  if (!tasks) return;  // the leases expire and the task sweep puts them back
  for (const auto& [task, token] : leases) {
    Status released = tasks->released(task, token, reason);
    if (!released.ok() && released.code() != StatusCode::kFailedPrecondition)
      context_.log().warn("task " + task + " not released (" + reason + "): " + released.message());
  }
  requestDispatch();
}

Core::Leases Core::takeUnacknowledged(Local& local) {
  Leases out;
  for (const auto& [task, deadline] : local.unacknowledged) {
    auto leased = local.agent.inFlight.find(task);
    if (leased == local.agent.inFlight.end()) continue;
    out.emplace_back(task, leased->second);
    local.agent.inFlight.erase(leased);
  }
  local.unacknowledged.clear();
  return out;
}

// ---- remote agents ----

std::shared_ptr<http::WebSocketSession> Core::connect(std::shared_ptr<http::WebSocketPeer> peer) {
  return std::make_shared<AgentSession>(shared_from_this(), std::move(peer));
}

Result<Core::Welcome> Core::hello(const std::shared_ptr<AgentChannel>& channel,
                                  const std::string& requestedId, const std::string& secret,
                                  const AgentSpec& spec) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  Agent agent;
  Welcome welcome;
  bool reserved = false;
  if (!requestedId.empty()) {
    auto stored = store->get(kAgents, requestedId);
    if (stored.ok()) {
      auto parsed = fromJson(stored->body);
      if (!parsed.ok()) return parsed.status();
      agent = *parsed;
    } else if (stored.status().code() != StatusCode::kNotFound) {
      return stored.status();
    } else {
      return notFound("no agent " + requestedId +
                      " (deleted, or purged after agent_retention): say hello without agent_id to register");
    }
    if (agent.runtime != Runtime::kRemote)
      return invalidArgument("agent " + requestedId + " is not a remote agent");
    // Checked before anything changes: a refused hello leaves the agent that
    // holds this id connected, with its capabilities and its tasks.
    if (agent.secretDigest.empty())
      return refused("agent " + requestedId +
                     " has no reconnect secret (registered before Hive issued them): say hello "
                     "without agent_id to register anew");
    if (secret.empty()) return refused("agent " + requestedId + " exists: hello needs its secret");
    if (!secretMatches(secret, agent.secretDigest)) return refused("wrong secret for agent " + requestedId);
  } else {
    HIVE_TRY(reserveRegistration());
    reserved = true;
    agent.id = newAgentId();
    agent.createdAtMs = nowMs();
    welcome.secret = newAgentSecret();
    agent.secretDigest = secretDigest(welcome.secret);
  }
  apply(spec, agent);
  agent.runtime = Runtime::kRemote;
  agent.node = options_.node;
  agent.lastHeartbeatMs = nowMs();
  std::shared_ptr<http::WebSocketPeer> previous;
  Leases unanswered;
  std::optional<Local> evicted;
  Agent snapshot;
  {
    std::lock_guard lock(mutex_);
    if (agents_.size() >= options_.maxAgents && agents_.count(agent.id) == 0) {
      // Full. A record kept for an agent that may reconnect gives its place up
      // (the oldest first): otherwise agents that said hello and left would
      // lock every new one out until their reconnect time ran out.
      auto oldest = agents_.end();
      for (auto it = agents_.begin(); it != agents_.end(); ++it)
        if (it->second.agent.runtime == Runtime::kRemote && !it->second.peer &&
            (oldest == agents_.end() || it->second.disconnectedAtMs < oldest->second.disconnectedAtMs))
          oldest = it;
      if (oldest == agents_.end()) {
        if (reserved) --registered_;
        return resourceExhausted("this node serves its maximum of " + std::to_string(options_.maxAgents) +
                                 " connected agents (max_agents)");
      }
      evicted = std::move(oldest->second);
      agents_.erase(oldest);
    }
    Local& local = agents_[agent.id];
    // A reconnect keeps the tasks still leased to it: their results are welcome.
    // Assignments the previous connection did not answer go back to the queue.
    unanswered = takeUnacknowledged(local);
    agent.inFlight = local.agent.inFlight;
    if (local.agent.id.empty()) agent.inFlight.clear();
    previous = local.peer;
    local.agent = agent;
    local.peer = channel->peer();
    local.channel = channel;
    local.disconnectedAtMs = 0;
    local.held = false;
    refreshStatus(local.agent);
    snapshot = local.agent;
  }
  if (previous && previous != channel->peer()) previous->close(1008, "the same agent connected again");
  if (evicted) {
    context_.log().info("agent " + evicted->agent.id + " forgotten by this node to make room for a new one");
    releaseAll(*evicted, "agent " + evicted->agent.id + " did not reconnect before its place was needed");
  }
  release(unanswered, "agent " + agent.id + " reconnected without answering the assignment");
  persist(snapshot);
  context_.log().info("agent " + agent.id + " (" + agent.name + ") connected");
  welcome.agentId = agent.id;
  return welcome;
}

void Core::unregistered() {
  std::size_t count = registered_.load();
  while (count > 0 && !registered_.compare_exchange_weak(count, count - 1)) {
  }
}

Status Core::reserveRegistration() {
  std::size_t count = registered_.load();
  while (count < options_.maxRegisteredAgents)
    if (registered_.compare_exchange_weak(count, count + 1)) return okStatus();
  // Full as far as this node knows: count again (other nodes purge too), at
  // most once per sweep period so that a flood of hellos cannot turn into a
  // flood of full scans.
  std::int64_t now = nowMs(), last = lastCountMs_.load();
  if (now - last >= options_.sweepPeriod.count() && lastCountMs_.compare_exchange_strong(last, now)) {
    auto counted = countRegistered();
    if (counted.ok()) registered_ = *counted;
  }
  count = registered_.load();
  while (count < options_.maxRegisteredAgents)
    if (registered_.compare_exchange_weak(count, count + 1)) return okStatus();
  return resourceExhausted("the agent registry is full (" + std::to_string(options_.maxRegisteredAgents) +
                           " agents, max_registered_agents): delete agents or wait for offline ones to be "
                           "purged after agent_retention");
}

Result<std::size_t> Core::countRegistered() {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  std::size_t count = 0;
  std::string cursor;
  do {
    auto page = store->list({kAgents, {}, 1000, cursor});
    if (!page.ok()) return page.status();
    count += page->items.size();
    cursor = page->nextCursor;
  } while (!cursor.empty());
  return count;
}

void Core::acknowledged(const std::string& agentId, const std::string& taskId,
                        const std::string& leaseToken) {
  bool freed = false;
  {
    std::lock_guard lock(mutex_);
    auto found = agents_.find(agentId);
    if (found == agents_.end()) return;
    Local& local = found->second;
    // Even an answer about a task it already lost shows that it reads its
    // assignments again: the hold ends.
    freed = local.held;
    local.held = false;
    auto leased = local.agent.inFlight.find(taskId);
    if (leased != local.agent.inFlight.end() && leased->second == leaseToken)
      freed = local.unacknowledged.erase(taskId) > 0 || freed;
  }
  if (freed) requestDispatch();  // it may take more now
}

Status Core::accept(const std::string& taskId, const std::string& leaseToken) {
  auto tasks = tasks_.lease();
  if (!tasks) return unavailable("tasks are unavailable");
  return tasks->started(taskId, leaseToken);
}

void Core::heartbeat(const std::string& agentId) {
  std::lock_guard lock(mutex_);
  if (auto found = agents_.find(agentId); found != agents_.end())
    found->second.agent.lastHeartbeatMs = nowMs();
}

void Core::sendTo(const std::shared_ptr<AgentChannel>& channel, std::string text) {
  Status sent = channel->send(std::move(text));
  if (sent.code() != StatusCode::kResourceExhausted) return;  // sent, kept, or closed already
  context_.log().warn("remote agent connection " + channel->peer()->id() + " closed: " + sent.message());
  channel->peer()->close(1008, "not reading its messages");
}

void Core::disconnected(const std::string& agentId, const http::WebSocketPeer* peer) {
  Agent snapshot;
  Leases unanswered;
  {
    std::lock_guard lock(mutex_);
    auto found = agents_.find(agentId);
    if (found == agents_.end() || found->second.peer.get() != peer) return;
    // Assignments it never answered may never have reached it (a slow reader
    // closed with frames still queued): back to the queue now, not when the
    // reconnect time runs out. Accepted ones stay leased to it for a reconnect.
    unanswered = takeUnacknowledged(found->second);
    found->second.peer.reset();
    found->second.channel.reset();
    found->second.disconnectedAtMs = nowMs();
    found->second.agent.node.clear();
    refreshStatus(found->second.agent);
    snapshot = found->second.agent;
  }
  release(unanswered, "agent " + agentId + " disconnected before accepting the task");
  persist(snapshot);
  context_.log().info("agent " + agentId + " disconnected");
}

// ---- sweep ----

void Core::sweep() {
  if (!open_) return;
  loadProcessAgents();
  std::int64_t now = nowMs();
  std::int64_t silence = options_.heartbeatInterval.count() * options_.missedHeartbeats;
  std::vector<std::shared_ptr<http::WebSocketPeer>> toClose;
  std::vector<Local> gone;
  std::vector<Agent> changed;
  std::vector<std::shared_ptr<AgentChannel>> flushing;
  {
    std::lock_guard lock(mutex_);
    for (auto it = agents_.begin(); it != agents_.end();) {
      Local& local = it->second;
      Agent& a = local.agent;
      bool lost = false;
      std::string why;
      if (a.runtime == Runtime::kRemote && local.peer && now - a.lastHeartbeatMs > silence) {
        why = "agent " + a.id + " missed " + std::to_string(options_.missedHeartbeats) + " heartbeats";
        toClose.push_back(local.peer);
        lost = true;
      } else if (a.runtime == Runtime::kRemote && !local.peer && now - local.disconnectedAtMs > silence) {
        why = "agent " + a.id + " did not come back within " + std::to_string(silence) + " ms";
        lost = true;
      }
      if (lost) {
        context_.log().warn(why + ": it is offline, its tasks go back to the queue");
        local.peer.reset();
        local.channel.reset();
        a.node.clear();
        a.status = AgentStatus::kOffline;
        gone.push_back(std::move(local));
        gone.back().agent.lastHeartbeatMs = a.lastHeartbeatMs;
        it = agents_.erase(it);
        continue;
      }
      // A congested agent that sends nothing is given its backlog here.
      if (local.channel && local.channel->congested()) flushing.push_back(local.channel);
      if (a.circuit == Circuit::kOpen && now - a.circuitOpenedMs >= options_.openFor.count()) {
        a.circuit = Circuit::kHalfOpen;
        refreshStatus(a);
        changed.push_back(a);
      }
      ++it;
    }
  }
  for (auto& peer : toClose) peer->close(4000, "heartbeats missed");
  for (auto& channel : flushing) (void)channel->flush();  // the dispatch below follows
  for (auto& local : gone) {
    releaseAll(local, "agent " + local.agent.id + " went offline");
    refreshStatus(local.agent);
    persist(local.agent);
  }
  for (auto& agent : changed) persist(agent);
  persistUnsaved();
  expireClaims(now);
  purgeOldRecords(now);
  // Also the safety net for wake-ups nobody sent (a retry whose backoff ended).
  requestDispatch();
}

void Core::expireClaims(std::int64_t now) {
  std::vector<std::pair<std::string, Leases>> expired;  // agent, its tasks
  std::vector<Agent> changed;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, local] : agents_) {
      Leases late;
      for (auto it = local.unacknowledged.begin(); it != local.unacknowledged.end();) {
        auto leased = local.agent.inFlight.find(it->first);
        if (it->second > now && leased != local.agent.inFlight.end()) {
          ++it;
          continue;
        }
        if (leased != local.agent.inFlight.end()) {
          late.emplace_back(it->first, leased->second);
          local.agent.inFlight.erase(leased);
        }
        it = local.unacknowledged.erase(it);
      }
      if (late.empty()) continue;
      local.held = true;
      refreshStatus(local.agent);
      changed.push_back(local.agent);
      expired.emplace_back(id, std::move(late));
    }
  }
  for (auto& [agentId, leases] : expired) {
    context_.log().warn("agent " + agentId + " did not answer " + std::to_string(leases.size()) +
                        " assignment(s) within the claim window: they go back to the queue, and it gets "
                        "no more until it answers");
    release(leases, "agent " + agentId + " did not accept the task within the claim window (" +
                        duration(options_.claimWindow) + ")");
  }
  for (auto& agent : changed) persist(agent);
}

void Core::purgeOldRecords(std::int64_t now) {
  auto store = store_.lease();
  if (!store) return;
  // One page per sweep, resuming where the last one stopped: the work per
  // sweep is bounded whatever the size of the registry.
  auto page = store->list({kAgents, {}, kPurgeBatch, purgeCursor_});
  if (!page.ok()) {
    purgeCursor_.clear();  // e.g. a cursor from a store that was since replaced
    return;
  }
  purgeCursor_ = page->nextCursor;
  std::size_t purged = 0;
  for (const auto& document : page->items) {
    if (now - document.updatedAtMs < options_.agentRetention.count()) continue;
    auto agent = fromJson(document.body);
    if (!agent.ok() || agent->runtime != Runtime::kRemote) continue;
    // A record another node keeps up to date is connected there (its status is
    // not offline); one naming this node but unknown here was left by an
    // earlier run of this node.
    if (agent->status != AgentStatus::kOffline && agent->node != options_.node) continue;
    {
      std::lock_guard lock(mutex_);
      if (agents_.count(document.id) != 0) continue;
    }
    // The version check loses to an agent that reconnects meanwhile.
    if (!store->remove(kAgents, document.id, document.version).ok()) continue;
    ++purged;
    unregistered();
  }
  if (purged > 0)
    context_.log().info("purged " + std::to_string(purged) + " agent record(s) not connected for " +
                        duration(options_.agentRetention) + " (agent_retention)");
}

// ---- REST ----

Result<Core::Registered> Core::registerAgent(const AgentSpec& spec) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  HIVE_TRY(reserveRegistration());
  Registered out;
  Agent& agent = out.agent;
  agent.id = newAgentId();
  agent.createdAtMs = agent.updatedAtMs = nowMs();
  apply(spec, agent);
  agent.runtime = Runtime::kRemote;
  out.secret = newAgentSecret();
  agent.secretDigest = secretDigest(out.secret);
  refreshStatus(agent);
  auto put = store->put(kAgents, toDocument(agent), store::kMustNotExist);
  if (!put.ok()) {
    unregistered();
    return put.status();
  }
  return out;
}

Result<Agent> Core::get(const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(id); found != agents_.end()) return found->second.agent;
  }
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  auto stored = store->get(kAgents, id);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) return notFound("no agent " + id);
    return stored.status();
  }
  return fromJson(stored->body);
}

Result<AgentPage> Core::list(const std::string& status, const std::string& capability, std::size_t limit,
                             const std::string& cursor) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  std::map<std::string, std::string> equals;
  if (!status.empty()) equals["status"] = status;
  auto page = store->list({kAgents, equals, limit, cursor});
  if (!page.ok()) return page.status();
  AgentPage out;
  out.nextCursor = page->nextCursor;
  for (const auto& d : page->items) {
    auto agent = fromJson(d.body);
    if (!agent.ok()) continue;
    {
      std::lock_guard lock(mutex_);
      if (auto found = agents_.find(agent->id); found != agents_.end()) *agent = found->second.agent;
    }
    if (!status.empty() && statusName(agent->status) != status) continue;
    if (!capability.empty() && std::find(agent->capabilities.begin(), agent->capabilities.end(),
                                         capability) == agent->capabilities.end())
      continue;
    out.items.push_back(std::move(agent).value());
  }
  return out;
}

Result<Agent> Core::patch(const std::string& id, const AgentSpec& spec) {
  auto current = HIVE_TRY(get(id));
  if (current.runtime == Runtime::kProcess && (spec.capabilities || spec.maxConcurrency))
    return failedPrecondition("process agents are configured in task_execution_engine's section");
  apply(spec, current);
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(id); found != agents_.end()) {
      apply(spec, found->second.agent);
      refreshStatus(found->second.agent);
      current = found->second.agent;
    }
  }
  persist(current);
  requestDispatch();
  return current;
}

Status Core::remove(const std::string& id) {
  auto current = HIVE_TRY(get(id));
  if (current.runtime == Runtime::kProcess)
    return failedPrecondition("process agents are configured in task_execution_engine's section");
  Local local;
  bool connected = false;
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(id); found != agents_.end()) {
      local = std::move(found->second);
      agents_.erase(found);
      connected = true;
    }
  }
  if (connected) {
    if (local.peer) local.peer->close(1000, "agent deleted");
    releaseAll(local, "agent " + id + " was deleted");
  }
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  Status removed = store->remove(kAgents, id);
  if (removed.ok()) unregistered();
  return removed;
}

Result<Agent> Core::drain(const std::string& id) {
  auto current = HIVE_TRY(get(id));
  std::shared_ptr<AgentChannel> channel;
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(id); found != agents_.end()) {
      found->second.agent.draining = true;
      refreshStatus(found->second.agent);
      current = found->second.agent;
      channel = found->second.channel;
    } else {
      current.draining = true;
      refreshStatus(current);
    }
  }
  if (channel) sendTo(channel, message("drain"));
  persist(current);
  return current;
}

Result<std::string> Core::coordinationStatus() {
  auto tasks = tasks_.lease();
  if (!tasks) return unavailable("tasks are unavailable");
  auto depth = tasks->depth();
  if (!depth.ok()) return depth.status();
  json::array queues;
  std::uint64_t waiting = 0;
  for (const auto& q : *depth) {
    json::object byPriority;
    std::uint64_t total = 0;
    for (const auto& [priority, count] : q.byPriority) {
      byPriority[std::to_string(priority)] = count;
      total += count;
    }
    waiting += total;
    queues.push_back(
        json::object{{"capabilities", q.capabilities}, {"waiting", total}, {"by_priority", byPriority}});
  }
  json::object byStatus;
  for (auto s : {AgentStatus::kIdle, AgentStatus::kBusy, AgentStatus::kDraining, AgentStatus::kOffline,
                 AgentStatus::kFailed})
    byStatus[statusName(s)] = 0;
  // The registry is bounded (max_registered_agents), and so is this walk.
  std::string cursor;
  do {
    auto page = list({}, {}, 1000, cursor);
    if (!page.ok()) return page.status();
    for (const auto& a : page->items)
      byStatus[statusName(a.status)] = byStatus[statusName(a.status)].as_int64() + 1;
    cursor = page->nextCursor;
  } while (!cursor.empty());
  json::array inFlight;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, local] : agents_)
      for (const auto& [task, token] : local.agent.inFlight)
        inFlight.push_back(json::object{{"agent", id}, {"task", task}});
  }
  json::object out{{"node", options_.node},
                   {"queue", json::object{{"waiting", waiting}, {"queues", queues}}},
                   {"agents_by_status", byStatus},
                   {"in_flight", inFlight}};
  return json::serialize(out);
}

}  // namespace hive::orchestrator
