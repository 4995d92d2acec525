// Calls another plugin's REST route in-process, as the api plugin would: finds
// the provider of hive.routes/1 that serves `method path` (a path template such
// as /api/v2/tasks/{id}) and calls serve() on a lease of it. The lease rides
// with the responder, so the provider's library stays mapped until it
// answered; a swap of the provider takes effect at the next call. Header-only,
// shared by in-tree plugins (not part of the SDK).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "hive/services.hpp"
#include "hive/services/http.hpp"
#include "hive/services/tenancy.hpp"

namespace hive::plugin_common {

// `self`: the caller's plugin name; its own routes are skipped. The callee sees
// the caller as `self` acting for `tenant` (hive::tenancy::actingFor; "": the
// default tenant). `done` may run before this returns, or later on
// another thread.
inline void callRoute(ServiceRegistry& services, const std::string& self, const std::string& method,
                      const std::string& path, http::Request request,
                      std::function<void(Result<http::Response>)> done, std::string_view tenant = {}) {
  for (ServiceLease& lease : services.lookup(http::RouteProvider::kServiceId)) {
    if (lease.provider == self) continue;
    auto provider = std::static_pointer_cast<http::RouteProvider>(lease.service);
    for (const http::Route& route : provider->routes()) {
      if (route.method != method || route.path != path) continue;
      request.method = method;
      request.principal = tenancy::actingFor(self, tenant);
      auto held = std::make_shared<ServiceLease>(std::move(lease));
      provider->serve(route.id, std::move(request),
                      [held, done = std::move(done)](http::Response response) mutable {
                        done(std::move(response));
                        held.reset();
                      });
      return;
    }
  }
  done(unavailable("no running plugin serves " + method + " " + path));
}

// callRoute() for a caller on the blocking executor: waits up to `timeout`
// for the answer (kDeadlineExceeded after it; a late answer is dropped).
inline Result<http::Response> callRouteAndWait(ServiceRegistry& services, const std::string& self,
                                               const std::string& method, const std::string& path,
                                               http::Request request, std::chrono::milliseconds timeout,
                                               std::string_view tenant = {}) {
  struct Answer {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<Result<http::Response>> value;
  };
  auto answer = std::make_shared<Answer>();
  callRoute(
      services, self, method, path, std::move(request),
      [answer](Result<http::Response> response) {
        std::lock_guard lock(answer->mutex);
        answer->value.emplace(std::move(response));
        answer->ready.notify_all();
      },
      tenant);
  std::unique_lock lock(answer->mutex);
  if (!answer->ready.wait_for(lock, timeout, [&] { return answer->value.has_value(); }))
    return deadlineExceeded(method + " " + path + ": no answer within " + std::to_string(timeout.count()) +
                            " ms");
  return std::move(*answer->value);
}

}  // namespace hive::plugin_common
