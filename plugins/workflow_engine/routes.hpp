// The workflow routes (hive.routes/1): definitions and runs over REST. Every
// handler runs on the blocking executor through Engine::background.
#pragma once

#include <memory>

#include "engine.hpp"
#include "hive/services/http.hpp"
#include "scheduler.hpp"

namespace hive::workflow_engine {

class WorkflowRoutes final : public http::RouteProvider {
 public:
  WorkflowRoutes(std::shared_ptr<Engine> engine, std::shared_ptr<Scheduler> scheduler);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler);
  http::Response apply(const http::Request& request);
  http::Response startRun(const http::Request& request);
  http::Response listRuns(const http::Request& request, const std::string& workflow);

  std::shared_ptr<Engine> engine_;
  std::shared_ptr<Scheduler> scheduler_;
  http::RouteTable table_;
};

}  // namespace hive::workflow_engine
