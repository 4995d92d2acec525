#include "plugin.hpp"

#include "project_data.hpp"
#include "routes.hpp"

namespace hive::task_manager {

void TaskManagerPlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  options_ = readOptions(section, diagnostics);
}

Status TaskManagerPlugin::start() {
  auto store = HIVE_TRY(context_.services().handle<store::Store>(), "task_manager needs hive.store/1");
  service_ = std::make_shared<Tasks>(context_, std::move(store), options_, clock_);
  HIVE_TRY(service_->open(), "opening the task collections");
  HIVE_TRY(context_.services().provide<tasks::TaskService>(service_));
  HIVE_TRY(context_.services().provide<http::RouteProvider>(
      makeRoutes(context_, service_, options_.limits, inFlight_)));
  HIVE_TRY(
      context_.services().provide<projects::ProjectData>(std::make_shared<ProjectTasks>(context_, service_)));
  // One sweep at a time, on a blocking thread; a tick while one waits is skipped.
  sweeper_ = context_.timers().every(options_.sweepPeriod, [this] {
    if (sweepQueued_.exchange(true)) return;
    ++*inFlight_;
    context_.blocking().post([this] {
      service_->sweep();
      sweepQueued_ = false;
      --*inFlight_;
    });
  });
  context_.log().info("started");
  return okStatus();
}

void TaskManagerPlugin::stop() {
  sweeper_.reset();
  if (service_) service_->close();
}

}  // namespace hive::task_manager

HIVE_PLUGIN(hive::task_manager::TaskManagerPlugin, .name = "task_manager", .version = HIVE_PLUGIN_VERSION,
            .description = "Tasks: REST API, durable queue with leases, retries, dependencies, events",
            .provides = {hive::http::RouteProvider::kServiceId, hive::tasks::TaskService::kServiceId,
                         hive::projects::ProjectData::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
