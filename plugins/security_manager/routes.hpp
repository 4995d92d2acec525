// /api/v2/security/...: key management and the role table, served on the
// blocking executor (every handler talks to the store).
#pragma once

#include <memory>

#include "hive/services/http.hpp"
#include "key_service.hpp"
#include "project_service.hpp"

namespace hive::security_manager {

class SecurityRoutes final : public http::RouteProvider {
 public:
  SecurityRoutes(std::shared_ptr<KeyService> service, std::shared_ptr<ProjectService> projects);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override;

 private:
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler);
  // project_routes.cpp
  void addProjectRoutes(std::shared_ptr<ProjectService> projects);
  static std::string projectSchemas();

  std::shared_ptr<KeyService> service_;
  http::RouteTable table_;
};

}  // namespace hive::security_manager
