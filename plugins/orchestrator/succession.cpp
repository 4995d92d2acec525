#include "succession.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string_view>
#include <vector>

#include "remote_agents.hpp"

namespace hive::orchestrator {

// Shared by the generations: data only (no virtual function, no shared_ptr),
// freed by whichever generation drops the last reference.
struct SuccessionState {
  struct Member {
    void* agents;  // a RemoteAgents of the member's library
    void (*handOver)(void* agents, std::chrono::milliseconds wait);
    void (*resume)(void* agents);
  };
  std::atomic<std::size_t> references{1};
  std::mutex mutex;
  std::vector<Member> serving;
};

namespace {

// A new layout of SuccessionState needs a new name here: generations that
// disagree on it then share nothing.
constexpr std::string_view kName = "orchestrator.succession";
constexpr std::string_view kType = "hive::orchestrator::SuccessionState/1";

void retain(SuccessionState* state) { state->references.fetch_add(1, std::memory_order_relaxed); }
void release(SuccessionState* state) {
  if (state->references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete state;
}

void handOverAgents(void* agents, std::chrono::milliseconds wait) {
  (void)static_cast<RemoteAgents*>(agents)->handOver(wait);
}
void resumeAgents(void* agents) { static_cast<RemoteAgents*>(agents)->resume(); }

}  // namespace

Succession::Succession(ServiceRegistry& services) {
  auto generation = services.get<Generation>();
  if (!generation.ok()) return;
  auto* fresh = new SuccessionState;
  void* shared = (*generation)->share(kName, kType, fresh);
  if (shared == nullptr) {  // another layout under the name
    release(fresh);
    return;
  }
  // `fresh`'s reference went to the kernel's entry if it was recorded.
  if (shared != fresh) release(fresh);
  generation_ = std::move(generation).value();
  state_ = static_cast<SuccessionState*>(shared);
  retain(state_);
}

Succession::~Succession() {
  if (state_ == nullptr) return;
  leave();
  {
    std::lock_guard lock(state_->mutex);
    for (const auto& member : state_->serving) member.resume(member.agents);
  }
  if (generation_->unshare(kName, state_)) release(state_);
  release(state_);
}

void Succession::takeOver(std::chrono::milliseconds wait) {
  if (state_ == nullptr) return;
  std::lock_guard lock(state_->mutex);
  for (const auto& member : state_->serving) member.handOver(member.agents, wait);
}

void Succession::serve(RemoteAgents& agents) {
  if (state_ == nullptr) return;
  std::lock_guard lock(state_->mutex);
  serving_ = &agents;
  state_->serving.push_back({serving_, &handOverAgents, &resumeAgents});
}

void Succession::leave() {
  if (state_ == nullptr || serving_ == nullptr) return;
  std::lock_guard lock(state_->mutex);
  std::erase_if(state_->serving, [&](const SuccessionState::Member& m) { return m.agents == serving_; });
  serving_ = nullptr;
}

}  // namespace hive::orchestrator
