// /api/v2/secrets: set, describe, list and delete secrets and rotate the
// master key, served on the blocking executor (every handler talks to the
// store). No route ever answers a value: plugins read values through
// hive.secrets/1, people never read them back.
#pragma once

#include <memory>

#include "hive/executor.hpp"
#include "hive/services/http.hpp"
#include "vault.hpp"

namespace hive::security_engine {

class SecretRoutes final : public http::RouteProvider, public std::enable_shared_from_this<SecretRoutes> {
 public:
  // `vault` is null when no master key is configured: every route answers 503.
  SecretRoutes(std::shared_ptr<Vault> vault, Executor& blocking, std::size_t maxValueBytes);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override;

 private:
  void add(http::Route route, std::function<http::Response(Vault&, const http::Request&)> handler);

  std::shared_ptr<Vault> vault_;
  Executor& blocking_;
  http::RouteTable table_;
};

// The JSON of a secret's metadata (the `Secret` schema).
std::string infoJson(const secrets::SecretInfo& info);

}  // namespace hive::security_engine
