// Hands the remote agents of one generation of the orchestrator to the next,
// before the kernel's swap waits for the old generation's leases.
//
// Why: the api holds a lease on the orchestrator's route provider for as long
// as an agent's WebSocket is open (the session is the provider's code). A swap
// gates the provider and waits until none of its leases is out, so with agents
// connected it waited for them until drain_deadline and then failed (issue 13:
// "50 leases of 'orchestrator' generation 1 still held after the drain
// deadline"). Closing the sockets in stop() comes too late: stop() runs after
// that wait.
//
// What: the kernel constructs and configures the next generation before it
// gates the old one. The next generation's configure() calls takeOver(): each
// generation serving now (registered in an object the generations of this
// plugin share through hive.generation/1) closes its agents' sockets with 1001,
// refuses new sessions (the api answers 503; agents retry) and waits, bounded,
// until its sessions ended. The gate then finds no session lease, and the
// agents' retries reach the new generation once it serves. When the swap
// fails, the staged generation is destroyed, and its destructor tells the
// generations still serving to accept sessions again.
//
// The shared object holds plain data and, per serving generation, pointers to
// functions of that generation's library, registered in start() and removed
// in stop() under the shared mutex, which every caller holds: a function is
// called only while its library surely is mapped. Without hive.generation/1
// (unit tests), or when another version shares a different layout, there is
// nothing to hand over and a swap waits for the sessions as before.
#pragma once

#include <chrono>

#include "hive/callbacks.hpp"
#include "hive/services.hpp"

namespace hive::orchestrator {

class RemoteAgents;
struct SuccessionState;

class Succession {
 public:
  explicit Succession(ServiceRegistry& services);
  // Tells the generations still serving to accept sessions again (a swap that
  // failed after takeOver()); leaves the shared object.
  ~Succession();
  Succession(const Succession&) = delete;
  Succession& operator=(const Succession&) = delete;

  // This generation is about to replace the ones serving: they hand their
  // agents over, each waiting at most `wait` for its sessions to end.
  void takeOver(std::chrono::milliseconds wait);
  // This generation serves agents through `agents` (start()) ...
  void serve(RemoteAgents& agents);
  // ... and no longer (stop()).
  void leave();

 private:
  ServiceRef<Generation> generation_;
  SuccessionState* state_ = nullptr;
  RemoteAgents* serving_ = nullptr;
};

}  // namespace hive::orchestrator
