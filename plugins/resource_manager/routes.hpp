// resource_manager's HTTP routes (hive.routes/1): what the host and the
// process agents' jobs use, their quotas, and admission control's state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "admission_gate.hpp"
#include "hive/services/http.hpp"
#include "job_tracker.hpp"

namespace hive::resource_manager {

class ResourceRoutes final : public http::RouteProvider {
 public:
  ResourceRoutes(std::shared_ptr<JobTracker> jobs, std::shared_ptr<AdmissionGate> admission);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override;

 private:
  http::Response overview() const;
  http::Response task(const std::string& taskId) const;

  std::shared_ptr<JobTracker> jobs_;
  std::shared_ptr<AdmissionGate> admission_;
  http::RouteTable table_;
};

}  // namespace hive::resource_manager
