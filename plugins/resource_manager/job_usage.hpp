// A job's figures as JSON (GET /api/v2/resources, hive.job_usage/1) and the
// provider of hive.job_usage/1: the orchestrator reads a task's job there and
// puts it on the task.
#pragma once

#include <memory>
#include <string>

#include <boost/json.hpp>

#include "hive/services/job_usage.hpp"
#include "job_tracker.hpp"

namespace hive::resource_manager {

boost::json::object quotaJson(const Quota& quota);
boost::json::object jobJson(const JobRecord& record);

class JobUsageReader final : public jobs::UsageReader {
 public:
  explicit JobUsageReader(std::shared_ptr<const JobTracker> jobs) : jobs_(std::move(jobs)) {}

  // hive::jobs::UsageReader
  std::string usage(const std::string& taskId) override {
    auto found = jobs_->find(taskId);
    return found ? boost::json::serialize(jobJson(*found)) : std::string();
  }

 private:
  const std::shared_ptr<const JobTracker> jobs_;
};

}  // namespace hive::resource_manager
