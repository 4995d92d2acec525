#include "orchestrator.hpp"

namespace hive::orchestrator {

std::shared_ptr<Orchestrator> Orchestrator::create(PluginContext& context, const Clock& clock,
                                                   Options options, ServiceHandle<tasks::TaskService> tasks,
                                                   ServiceHandle<store::Store> store,
                                                   FrameHandlers& handlers) {
  auto orchestrator = std::make_shared<Orchestrator>(context, clock, std::move(options), std::move(tasks),
                                                     std::move(store), handlers);
  orchestrator->background_.setOwner(orchestrator);
  return orchestrator;
}

Orchestrator::Orchestrator(PluginContext& context, const Clock& clock, Options options,
                           ServiceHandle<tasks::TaskService> tasks, ServiceHandle<store::Store> store,
                           FrameHandlers& handlers)
    : options_(std::move(options)),
      background_(context.blocking()),
      env_{context, clock, options_, std::move(tasks), std::move(store), background_},
      registry_(clock),
      records_(env_, registry_),
      frames_(env_, registry_, handlers),
      cancelWatch_(context,
                   [this](const std::string& taskId, const std::string& traceparent) {
                     if (!background_.open()) return;
                     // Off the bus thread: persisting the agent blocks on storage.
                     background_.post(
                         [this, taskId, traceparent] { cancellation_.taskCancelled(taskId, traceparent); });
                   }),
      dispatcher_(env_, registry_, processAgents_, cancelWatch_),
      results_(env_, registry_, records_, dispatcher_),
      processAgents_(env_, registry_, records_, results_, dispatcher_, cancelWatch_),
      health_(env_, registry_, records_, dispatcher_),
      remote_(env_, registry_, records_, dispatcher_, results_, health_, frames_),
      cancellation_(env_, registry_, records_, dispatcher_),
      admin_(env_, registry_, records_, dispatcher_),
      work_(context.services(), [this](tasks::TaskService& tasks) { return subscribeToWork(tasks); }) {}

Status Orchestrator::open() {
  if (!env_.store.lease()) return unavailable("no hive.store/1 provider is running");
  if (!env_.tasks.lease()) return unavailable("no hive.tasks/1 provider is running");
  HIVE_TRY(records_.open());
  background_.setOpen(true);
  cancelWatch_.start();
  (void)work_.start();  // checked above: hive.tasks/1 runs
  processAgents_.load();
  return okStatus();
}

std::unique_ptr<Subscription> Orchestrator::subscribeToWork(tasks::TaskService& tasks) {
  auto subscription = tasks.onWork([this, owner = background_.owner()] {
    if (auto alive = owner.lock()) dispatcher_.request();
  });
  // Work may have come while nobody listened (a new provider, or none).
  dispatcher_.request();
  return subscription;
}

void Orchestrator::close() {
  background_.setOpen(false);
  cancelWatch_.stop();
  work_.stop();  // waits for a running callback
  remote_.closeAll("orchestrator going away; reconnect");
  // Process jobs end with this generation; their leases expire and the tasks
  // are retried (a process cannot be handed to the next generation).
  for (auto& execution : processAgents_.running()) execution->cancel();
  records_.persistUnsaved();
}

void Orchestrator::sweep() {
  if (!background_.open()) return;
  processAgents_.load();
  std::int64_t now = env_.now();
  health_.check(now);
  records_.purge(now);
  results_.retryHeld();
  processAgents_.publishUsage(now);
  dispatcher_.request();
}

}  // namespace hive::orchestrator
