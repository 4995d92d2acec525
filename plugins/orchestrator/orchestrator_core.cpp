#include "orchestrator_core.hpp"

#include <algorithm>

#include <boost/json.hpp>

namespace hive::orchestrator {
namespace json = boost::json;
namespace {

constexpr const char* kAgents = "agents";

store::Document toDocument(const Agent& agent) {
  store::Document d;
  d.id = agent.id;
  d.body = toJson(agent);
  d.index = {{"status", std::string(statusName(agent.status))}, {"name", agent.name}};
  return d;
}

std::string message(std::string_view type, json::object fields = {}) {
  fields["type"] = type;
  fields["ts"] = nowMs();
  return json::serialize(fields);
}

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
        serial_(std::make_shared<SerialQueue>(core_->context_.blocking())) {}

  void onMessage(std::string_view text) override {
    ++core_->inFlight_;
    serial_->post([self = shared_from_this(), text = std::string(text)] {
      self->handle(text);
      --self->core_->inFlight_;
    });
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
  void fail(const std::string& why) { (void)peer_->send(message("error", {{"message", why}})); }

  void handle(const std::string& text) {
    std::error_code ec;
    json::parse_options options;
    options.max_depth = 64;
    json::value parsed = json::parse(text, ec, {}, options);
    if (ec || !parsed.is_object()) return fail("a message must be a JSON object");
    json::object& o = parsed.as_object();
    auto* typeValue = o.if_contains("type");
    if (typeValue == nullptr || !typeValue->is_string()) return fail("a message needs a string 'type'");
    std::string type(typeValue->as_string());
    if (type == "hello") return onHello(o);
    if (!greeted_) return fail("say hello first");
    if (type == "heartbeat") {
      core_->heartbeat(agentId_);
      (void)peer_->send(message("heartbeat.ack"));
      return;
    }
    auto field = [&](std::string_view key) -> std::string {
      auto* v = o.if_contains(key);
      return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    std::string taskId = field("task_id"), token = field("lease_token");
    if (type == "task.progress" || type == "task.result") {
      if (taskId.empty() || token.empty()) return fail(type + " needs task_id and lease_token");
    }
    if (type == "task.progress") {
      auto* progress = o.if_contains("progress");
      auto tasks = core_->tasks_.lease();
      if (!tasks) return fail("tasks are unavailable");
      Status s = tasks->progress(taskId, token, progress ? json::serialize(*progress) : "{}");
      if (!s.ok() && s.code() == StatusCode::kFailedPrecondition)
        (void)peer_->send(message(
            "task.ack",
            {{"task_id", taskId}, {"report", "progress"}, {"accepted", false}, {"reason", s.message()}}));
      return;
    }
    if (type == "task.result") {
      std::string outcome = field("status");
      if (outcome != "succeeded" && outcome != "failed")
        return fail("task.result needs status \"succeeded\" or \"failed\"");
      auto* result = o.if_contains("result");
      auto* retryable = o.if_contains("retryable");
      Status s = core_->report(agentId_, taskId, token, outcome == "succeeded",
                               result ? json::serialize(*result) : "{}", field("error"),
                               retryable == nullptr || !retryable->is_bool() || retryable->as_bool());
      json::object ack{{"task_id", taskId}, {"report", "result"}, {"accepted", s.ok()}};
      if (!s.ok()) ack["reason"] = s.message();
      (void)peer_->send(message("task.ack", std::move(ack)));
      return;
    }
    fail("unknown message type '" + type + "'");
  }

  void onHello(json::object& o) {
    if (greeted_) return fail("hello was already said");
    std::string requested;
    if (auto* v = o.if_contains("agent_id"); v && v->is_string()) requested = std::string(v->as_string());
    o.erase("type");
    o.erase("agent_id");
    o.erase("ts");
    o.erase("id");
    if (!o.contains("runtime")) o["runtime"] = "remote";
    std::vector<http::FieldError> errors;
    auto spec = parseAgentSpec(json::serialize(o), false, errors);
    if (!spec.ok()) {
      std::string why = spec.status().message();
      for (const auto& e : errors) why += "; " + e.field + ": " + e.message;
      fail(why);
      peer_->close(1008, "invalid hello");
      return;
    }
    auto id = core_->hello(peer_, requested, *spec);
    if (!id.ok()) {
      fail(id.status().message());
      peer_->close(1008, "hello refused");
      return;
    }
    agentId_ = *id;
    greeted_ = true;
    (void)peer_->send(
        message("welcome", {{"agent_id", agentId_},
                            {"heartbeat_interval_ms", core_->options_.heartbeatInterval.count()},
                            {"node", core_->options_.node}}));
    core_->requestDispatch();
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<http::WebSocketPeer> peer_;
  std::shared_ptr<SerialQueue> serial_;
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
  open_ = true;
  resubscribe();
  std::weak_ptr<Core> weak = weak_from_this();
  tasksWatch_ = context_.services().watch(tasks::TaskService::kServiceId, [weak](const ServiceEvent&) {
    if (auto self = weak.lock()) self->resubscribe();
  });
  loadProcessAgents();
  return okStatus();
}

void Core::resubscribe() {
  std::lock_guard lock(subscriptionMutex_);
  workSubscription_.reset();
  if (!open_) return;
  auto tasks = tasks_.lease();
  if (!tasks) return;
  std::weak_ptr<Core> weak = weak_from_this();
  workSubscription_ = tasks->onWork([weak] {
    if (auto self = weak.lock()) self->requestDispatch();
  });
  requestDispatch();
}

void Core::close() {
  open_ = false;
  tasksWatch_.reset();  // waits for a running callback
  {
    std::lock_guard lock(subscriptionMutex_);
    workSubscription_.reset();
  }
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

std::vector<Core::Candidate> Core::candidates() {
  std::vector<Candidate> out;
  std::int64_t now = nowMs();
  std::lock_guard lock(mutex_);
  for (auto& [id, local] : agents_) {
    Agent& a = local.agent;
    if (a.runtime == Runtime::kRemote && !local.peer) continue;
    if (a.draining) continue;
    std::size_t capacity = a.maxConcurrency;
    if (a.circuit == Circuit::kOpen) {
      if (now - a.circuitOpenedMs < options_.openFor.count()) continue;
      a.circuit = Circuit::kHalfOpen;
    }
    if (a.circuit == Circuit::kHalfOpen) capacity = 1;  // one probe at a time
    if (a.inFlight.size() >= capacity) continue;
    out.push_back({id, a.capabilities, static_cast<double>(a.inFlight.size()) / a.maxConcurrency});
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
    auto claimed = tasks->claim(candidate.id, candidate.capabilities, 1);
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
  std::shared_ptr<http::WebSocketPeer> peer;
  Runtime runtime = Runtime::kRemote;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    auto found = agents_.find(agentId);
    if (found != agents_.end()) {
      found->second.agent.inFlight[a.taskId] = a.leaseToken;
      refreshStatus(found->second.agent);
      peer = found->second.peer;
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
        refreshStatus(found->second.agent);
      }
    }
    (void)tasks->released(a.taskId, a.leaseToken, why);
  };
  if (runtime == Runtime::kRemote) {
    if (!peer) return undo("agent " + agentId + " disconnected before the assignment");
    json::value task = json::parse(a.taskJson);
    Status sent = peer->send(message("task.assign", {{"task", task},
                                                     {"lease_token", a.leaseToken},
                                                     {"attempt", a.attempt},
                                                     {"deadline_ms", a.leaseExpiresMs}}));
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
                 "could not start: " + execution.status().message(), true);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(agentId); found != agents_.end())
      found->second.executions[a.taskId] = *execution;
  }
  (void)tasks->started(a.taskId, a.leaseToken);
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
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(agentId); found != agents_.end()) {
      found->second.agent.inFlight.erase(taskId);
      refreshStatus(found->second.agent);
    }
    return;
  }
  bool ok = outcome.kind == exec::OutcomeKind::kSucceeded;
  std::string result = outcome.result.empty() ? "{}" : outcome.result;
  std::string error = ok ? std::string() : (outcome.reason.empty() ? "process failed" : outcome.reason);
  (void)report(agentId, taskId, leaseToken, ok, result, error, true);
}

Status Core::report(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                    bool succeeded, const std::string& result, const std::string& error, bool retryable) {
  auto tasks = tasks_.lease();
  if (!tasks) return unavailable("tasks are unavailable");
  Status reported = succeeded ? tasks->succeeded(taskId, leaseToken, result)
                              : tasks->failed(taskId, leaseToken, error, retryable);
  Agent snapshot;
  bool known = false;
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(agentId); found != agents_.end()) {
      Agent& a = found->second.agent;
      auto inFlight = a.inFlight.find(taskId);
      bool mine = inFlight != a.inFlight.end() && inFlight->second == leaseToken;
      if (mine) a.inFlight.erase(inFlight);
      if (reported.ok() || mine) {
        if (succeeded) {
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
    }
  }
  if (known) persist(snapshot);
  requestDispatch();
  return reported;
}

void Core::releaseAll(Local& local, const std::string& reason) {
  auto tasks = tasks_.lease();
  for (const auto& [task, token] : local.agent.inFlight)
    if (tasks) (void)tasks->released(task, token, reason);
  local.agent.inFlight.clear();
}

// ---- remote agents ----

std::shared_ptr<http::WebSocketSession> Core::connect(std::shared_ptr<http::WebSocketPeer> peer) {
  return std::make_shared<AgentSession>(shared_from_this(), std::move(peer));
}

Result<std::string> Core::hello(const std::shared_ptr<http::WebSocketPeer>& peer,
                                const std::string& requestedId, const AgentSpec& spec) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  Agent agent;
  if (!requestedId.empty()) {
    auto stored = store->get(kAgents, requestedId);
    if (stored.ok()) {
      auto parsed = fromJson(stored->body);
      if (!parsed.ok()) return parsed.status();
      agent = *parsed;
    } else if (stored.status().code() != StatusCode::kNotFound) {
      return stored.status();
    } else {
      return notFound("no agent " + requestedId + "; register it first or say hello without agent_id");
    }
    if (agent.runtime != Runtime::kRemote)
      return invalidArgument("agent " + requestedId + " is not a remote agent");
  } else {
    agent.id = newAgentId();
    agent.createdAtMs = nowMs();
  }
  apply(spec, agent);
  agent.runtime = Runtime::kRemote;
  agent.node = options_.node;
  agent.lastHeartbeatMs = nowMs();
  std::shared_ptr<http::WebSocketPeer> previous;
  Agent snapshot;
  {
    std::lock_guard lock(mutex_);
    if (agents_.size() >= options_.maxAgents && agents_.count(agent.id) == 0)
      return resourceExhausted("this node serves its maximum of " + std::to_string(options_.maxAgents) +
                               " agents");
    Local& local = agents_[agent.id];
    // A reconnect keeps the tasks still leased to it: their results are welcome.
    agent.inFlight = local.agent.inFlight;
    if (local.agent.id.empty()) agent.inFlight.clear();
    previous = local.peer;
    local.agent = agent;
    local.peer = peer;
    local.disconnectedAtMs = 0;
    refreshStatus(local.agent);
    snapshot = local.agent;
  }
  if (previous && previous != peer) previous->close(1008, "the same agent connected again");
  persist(snapshot);
  context_.log().info("agent " + agent.id + " (" + agent.name + ") connected");
  return agent.id;
}

void Core::heartbeat(const std::string& agentId) {
  std::lock_guard lock(mutex_);
  if (auto found = agents_.find(agentId); found != agents_.end())
    found->second.agent.lastHeartbeatMs = nowMs();
}

void Core::disconnected(const std::string& agentId, const http::WebSocketPeer* peer) {
  Agent snapshot;
  {
    std::lock_guard lock(mutex_);
    auto found = agents_.find(agentId);
    if (found == agents_.end() || found->second.peer.get() != peer) return;
    found->second.peer.reset();
    found->second.disconnectedAtMs = nowMs();
    found->second.agent.node.clear();
    refreshStatus(found->second.agent);
    snapshot = found->second.agent;
  }
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
        a.node.clear();
        a.status = AgentStatus::kOffline;
        gone.push_back(std::move(local));
        gone.back().agent.lastHeartbeatMs = a.lastHeartbeatMs;
        it = agents_.erase(it);
        continue;
      }
      if (a.circuit == Circuit::kOpen && now - a.circuitOpenedMs >= options_.openFor.count()) {
        a.circuit = Circuit::kHalfOpen;
        refreshStatus(a);
        changed.push_back(a);
      }
      ++it;
    }
  }
  for (auto& peer : toClose) peer->close(4000, "heartbeats missed");
  for (auto& local : gone) {
    releaseAll(local, "agent " + local.agent.id + " went offline");
    refreshStatus(local.agent);
    persist(local.agent);
  }
  for (auto& agent : changed) persist(agent);
  // Also the safety net for wake-ups nobody sent (a retry whose backoff ended).
  requestDispatch();
}

// ---- REST ----

Result<Agent> Core::registerAgent(const AgentSpec& spec) {
  Agent agent;
  agent.id = newAgentId();
  agent.createdAtMs = agent.updatedAtMs = nowMs();
  apply(spec, agent);
  agent.runtime = Runtime::kRemote;
  refreshStatus(agent);
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  auto put = store->put(kAgents, toDocument(agent), store::kMustNotExist);
  if (!put.ok()) return put.status();
  return agent;
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

Result<std::vector<Agent>> Core::list(const std::string& status, const std::string& capability) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  std::vector<Agent> out;
  std::string cursor;
  std::map<std::string, std::string> equals;
  if (!status.empty()) equals["status"] = status;
  do {
    auto page = store->list({kAgents, equals, 1000, cursor});
    if (!page.ok()) return page.status();
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
      out.push_back(std::move(agent).value());
    }
    cursor = page->nextCursor;
  } while (!cursor.empty() && out.size() < 100000);
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
  return store->remove(kAgents, id);
}

Result<Agent> Core::drain(const std::string& id) {
  auto current = HIVE_TRY(get(id));
  std::shared_ptr<http::WebSocketPeer> peer;
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(id); found != agents_.end()) {
      found->second.agent.draining = true;
      refreshStatus(found->second.agent);
      current = found->second.agent;
      peer = found->second.peer;
    } else {
      current.draining = true;
      refreshStatus(current);
    }
  }
  if (peer) (void)peer->send(message("drain"));
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
  auto agents = list({}, {});
  if (!agents.ok()) return agents.status();
  json::object byStatus;
  for (auto s : {AgentStatus::kIdle, AgentStatus::kBusy, AgentStatus::kDraining, AgentStatus::kOffline,
                 AgentStatus::kFailed})
    byStatus[statusName(s)] = 0;
  for (const auto& a : *agents)
    byStatus[statusName(a.status)] = byStatus[statusName(a.status)].as_int64() + 1;
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
