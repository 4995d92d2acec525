#include "dispatcher.hpp"

#include <algorithm>
#include <limits>

#include "concurrency_limits.hpp"
#include "health.hpp"
#include "process_agents.hpp"
#include "render.hpp"

namespace hive::orchestrator {
namespace {

// At most this many tasks go to one agent per dispatch round, so that a burst
// is spread over the least loaded agents rather than taken by the first.
constexpr std::size_t kClaimsPerRound = 16;

}  // namespace

void Dispatcher::request() {
  if (!env_.background.open()) return;
  pending_ = true;
  if (running_.exchange(true)) return;
  env_.background.post([this] { loop(); });
}

void Dispatcher::loop() {
  for (;;) {
    while (env_.background.open() && pending_.exchange(false)) {
      for (int rounds = 0; rounds < 100000 && env_.background.open() && round(); ++rounds) {
      }
    }
    running_ = false;
    // A request that came after the last check but before the flag dropped.
    if (!pending_ || !env_.background.open() || running_.exchange(true)) return;
  }
}

std::vector<Dispatcher::Candidate> Dispatcher::candidates() {
  std::int64_t now = env_.now();
  const Options& options = env_.options;
  std::vector<Candidate> out = registry_.withLock([&](AgentTable& table) {
    std::vector<Candidate> found;
    for (auto& [id, local] : table.byId) {
      Agent& a = local.agent;
      if (a.runtime == Runtime::kRemote && !local.peer) continue;
      if (a.draining || local.assignments != Assignments::kOpen) continue;
      // It does not read what it was sent: it could not start a new task anyway.
      if (local.channel && (local.channel->closed() || local.channel->congested())) continue;
      // An agent holds at most this many assignments it has not answered.
      if (local.unacknowledged.size() >= options.maxUnacknowledged) continue;
      std::size_t capacity = breaker::capacity(a, now, options.openFor);
      if (a.inFlight.size() >= capacity) continue;
      std::size_t free = capacity - a.inFlight.size();
      if (a.runtime == Runtime::kRemote)
        free = std::min(free, options.maxUnacknowledged - local.unacknowledged.size());
      double expected = 0;
      if (options.latencyRanking && local.latencyMs > 0)
        expected = static_cast<double>(a.inFlight.size() + 1) * local.latencyMs;
      else if (options.latencyRanking && local.attemptsEnded > 0)
        expected = std::numeric_limits<double>::infinity();  // ended only in failures: after the others
      found.push_back({id, claimCapabilities(a), static_cast<double>(a.inFlight.size()) / a.maxConcurrency,
                       std::min(free, kClaimsPerRound), a.inFlight.size(), a.maxConcurrency, expected});
    }
    return found;
  });
  applyConcurrencyLimits(env_.context.services(), out);  // outside the lock: it calls another plugin
  // Soonest to finish one more task first: (held + 1) × its recent time from
  // assignment to a successful result (as Finagle's and Linkerd's peak-EWMA
  // balancers rank), so a slower agent gets work once the faster ones hold
  // enough to be no sooner; an agent nothing ended on yet comes first (it is
  // tried, and measured), one whose attempts all failed last. Then least
  // loaded.
  std::stable_sort(out.begin(), out.end(), [](const Candidate& x, const Candidate& y) {
    return x.expectedMs != y.expectedMs ? x.expectedMs < y.expectedMs : x.load < y.load;
  });
  return out;
}

bool Dispatcher::available(const std::string& agentId) {
  return registry_.withLock([&](AgentTable& table) {
    auto found = table.byId.find(agentId);
    return found != table.byId.end() &&
           (found->second.agent.runtime == Runtime::kProcess ||
            (found->second.channel != nullptr && !found->second.channel->closed()));
  });
}

bool Dispatcher::round() {
  auto tasks = env_.tasks.lease();
  if (!tasks) return false;
  bool assigned = false;
  for (const auto& candidate : candidates()) {
    // A round of many claims takes a while: an agent that left meanwhile (its
    // socket closed, or all of them handed over to the next generation) is not claimed for, or
    // each of its tasks would lose an attempt going back to the queue.
    if (!available(candidate.id)) continue;
    // Several at once when it has room: one claim is one store transaction
    // whatever its size, and a burst fills agents in a few rounds.
    auto claimed = tasks->claim(candidate.id, candidate.capabilities, candidate.free);
    if (!claimed.ok()) {
      env_.log().warn("claim for agent " + candidate.id + " failed: " + claimed.status().message());
      return false;
    }
    for (const auto& assignment : *claimed) {
      deliver(candidate.id, assignment);
      assigned = true;
    }
  }
  return assigned;
}

void Dispatcher::deliver(const std::string& agentId, const tasks::Assignment& a) {
  // Claimed just before its cancellation committed: the lease is void already,
  // there is nothing to hand out or to release.
  if (cancellations_.recentlyCancelled(a.taskId)) return;
  struct Target {
    std::shared_ptr<AgentChannel> channel;
    Runtime runtime = Runtime::kRemote;
    std::string name;
  };
  std::int64_t claimDeadline = env_.now() + env_.options.claimWindow.count();
  Target target = registry_.withLock([&](AgentTable& table) {
    auto found = table.byId.find(agentId);
    if (found == table.byId.end()) return Target{};
    LocalAgent& local = found->second;
    local.agent.inFlight[a.taskId] = a.leaseToken;
    local.assignedAtMs[a.taskId] = env_.now();
    if (local.agent.runtime == Runtime::kRemote) local.unacknowledged[a.taskId] = claimDeadline;
    registry_.refreshStatus(local.agent);
    return Target{local.channel, local.agent.runtime, local.agent.name};
  });
  if (target.runtime == Runtime::kProcess) return processAgents_.run(agentId, target.name, a);
  if (!target.channel) return undo(agentId, a, "agent " + agentId + " disconnected before the assignment");
  // A full socket keeps it in the channel's backlog, in order, within the
  // claim window like any assignment.
  Status sent = target.channel->send(protocol::assign(a, env_.now()));
  if (!sent.ok()) undo(agentId, a, "agent " + agentId + " unreachable: " + sent.message());
}

void Dispatcher::undo(const std::string& agentId, const tasks::Assignment& a, const std::string& why) {
  registry_.withLock([&](AgentTable& table) {
    if (auto found = table.byId.find(agentId); found != table.byId.end()) {
      found->second.agent.inFlight.erase(a.taskId);
      found->second.unacknowledged.erase(a.taskId);
      registry_.refreshStatus(found->second.agent);
    }
  });
  if (auto tasks = env_.tasks.lease()) (void)tasks->released(a.taskId, a.leaseToken, why);
}

void Dispatcher::releaseAll(LocalAgent& local, const std::string& reason) {
  release(Leases(local.agent.inFlight.begin(), local.agent.inFlight.end()), reason);
  local.agent.inFlight.clear();
  local.unacknowledged.clear();
}

void Dispatcher::release(const Leases& leases, const std::string& reason) {
  if (leases.empty()) return;
  auto tasks = env_.tasks.lease();
  if (!tasks) return;  // the leases expire and the task sweep puts them back
  for (const auto& [task, token] : leases) {
    Status released = tasks->released(task, token, reason);
    if (!released.ok() && released.code() != StatusCode::kFailedPrecondition)
      env_.log().warn("task " + task + " not released (" + reason + "): " + released.message());
  }
  request();
}

}  // namespace hive::orchestrator
