// The workflow engine's view of task_manager: submit, read and cancel tasks.
//
// hive.tasks/1 is the task queue as an agent runner sees it (claim, report);
// it has no submit, read or cancel. task_manager offers those as its REST
// routes, which it provides through hive.routes/1, so the engine calls them
// the way the api plugin does: it finds the provider serving
// `POST /api/v2/tasks` and calls serve() on a lease of it. A swap of
// task_manager takes effect at the next call; nothing is held in between.
#pragma once

#include <functional>
#include <string>

#include <boost/json.hpp>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::workflow_engine {

class TaskGateway {
 public:
  virtual ~TaskGateway() = default;
  // `done` gets the task id, or why the task was refused: kInvalidArgument
  // (task_manager answered 4xx: the same body will never be accepted) or
  // another code (no task_manager, storage trouble: try again later). It may
  // run before submit() returns, or later on another thread.
  // Each call acts for `tenant` (hive.tenancy/1): a task it submits is that
  // tenant's, and another tenant's task is not found.
  using Submitted = std::function<void(Result<std::string>)>;
  virtual void submit(const std::string& tenant, const std::string& idempotencyKey, const std::string& body,
                      Submitted done) = 0;
  // The task as GET /api/v2/tasks/{id} shows it.
  using Read = std::function<void(Result<boost::json::object>)>;
  virtual void read(const std::string& tenant, const std::string& taskId, Read done) = 0;
  using Cancelled = std::function<void(Status)>;
  virtual void cancel(const std::string& tenant, const std::string& taskId, Cancelled done) = 0;
};

class RouteTaskGateway final : public TaskGateway {
 public:
  // `self`: this plugin's name, whose own routes are skipped.
  RouteTaskGateway(ServiceRegistry& services, std::string self)
      : services_(services), self_(std::move(self)) {}

  void submit(const std::string& tenant, const std::string& idempotencyKey, const std::string& body,
              Submitted done) override;
  void read(const std::string& tenant, const std::string& taskId, Read done) override;
  void cancel(const std::string& tenant, const std::string& taskId, Cancelled done) override;

 private:
  ServiceRegistry& services_;
  std::string self_;
};

}  // namespace hive::workflow_engine
