// hive.project_data/1 for tasks: a project's tasks and their events, exported
// as JSON Lines and erased — the finished ones deleted, the others cancelled
// first; their events in the task log made tombstones through the store's
// hive.store_erasure/1.
#pragma once

#include <memory>

#include "hive/context.hpp"
#include "hive/services/projects.hpp"
#include "hive/services/store_erasure.hpp"
#include "service.hpp"

namespace hive::task_manager {

class ProjectTasks final : public projects::ProjectData {
 public:
  ProjectTasks(PluginContext& context, std::shared_ptr<Tasks> tasks)
      : context_(context), tasks_(std::move(tasks)) {}

  std::string kind() override { return "tasks"; }
  // Cursors: "t:<task page cursor>" while tasks are listed, then
  // "e:<event id>" while the event log is read.
  Result<projects::ExportPage> exportPage(std::string_view tenant, std::string_view project,
                                          std::string_view cursor, std::size_t limit) override;
  Result<std::uint64_t> erase(std::string_view tenant, std::string_view project) override;

 private:
  // A page of the project's tasks (the store lists by project; the tenant is checked here).
  Result<TaskPage> tasksOf(std::string_view tenant, std::string_view project, const std::string& cursor,
                           std::size_t limit);
  Result<projects::ExportPage> exportEvents(std::string_view tenant, std::string_view project,
                                            std::uint64_t after, std::size_t limit);
  // The store's hive.store_erasure/1 (provided by the plugin that provides its store).
  Result<ServiceLease> eventEraser();
  Status eraseEvents(store::Erasure& eraser, std::string_view tenant, std::string_view project);

  PluginContext& context_;
  std::shared_ptr<Tasks> tasks_;
};

}  // namespace hive::task_manager
