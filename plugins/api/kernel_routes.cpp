#include "kernel_routes.hpp"

#include <charconv>

#include "hive/services/admin.hpp"
#include "hive/services/health.hpp"
#include "hive/services/watchdog.hpp"

namespace hive::api {
namespace {

const char* phaseName(admin::Phase phase) {
  switch (phase) {
    case admin::Phase::kStarting: return "starting";
    case admin::Phase::kReady: return "ready";
    case admin::Phase::kDraining: return "draining";
  }
  return "unknown";
}

// The kernel's provider when present, else the first one.
ServiceRef<admin::Kernel> findKernel(PluginContext& context) {
  auto leases = context.services().lookup(admin::Kernel::kServiceId);
  for (auto& lease : leases)
    if (lease.provider == "kernel") return ServiceRef<admin::Kernel>(std::move(lease));
  if (!leases.empty()) return ServiceRef<admin::Kernel>(std::move(leases.front()));
  return {};
}

http::Response noAdmin() {
  return http::problem(503, "Service Unavailable",
                       "the kernel's admin service (hive.admin/1) is not available");
}

http::Response json(std::string body, int status = 200) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::string pluginJson(const admin::PluginState& plugin, bool detailed) {
  std::string out =
      "{\"name\":" + http::jsonQuote(plugin.name) + ",\"version\":" + http::jsonQuote(plugin.version) +
      ",\"state\":" + http::jsonQuote(plugin.state) + ",\"generation\":" + std::to_string(plugin.generation);
  if (detailed) {
    out += ",\"file\":" + http::jsonQuote(plugin.file);
    if (!plugin.error.empty()) out += ",\"error\":" + http::jsonQuote(plugin.error);
    out += ",\"provides\":[";
    for (std::size_t i = 0; i < plugin.provides.size(); ++i)
      out += (i ? "," : "") + http::jsonQuote(plugin.provides[i]);
    out += "],\"leasesInFlight\":" + std::to_string(plugin.leasesInFlight);
  }
  return out + "}";
}

const char* reloadStateName(admin::ReloadRecord::State state) {
  switch (state) {
    case admin::ReloadRecord::State::kQueued: return "queued";
    case admin::ReloadRecord::State::kRunning: return "running";
    case admin::ReloadRecord::State::kSwapped: return "swapped";
    case admin::ReloadRecord::State::kFailed: return "failed";
  }
  return "unknown";
}

std::string reloadJson(const admin::ReloadRecord& r) {
  std::string out = "{\"id\":" + std::to_string(r.id) + ",\"plugin\":" + http::jsonQuote(r.plugin) +
                    ",\"state\":" + http::jsonQuote(reloadStateName(r.state)) +
                    ",\"generationBefore\":" + std::to_string(r.generationBefore) +
                    ",\"generationAfter\":" + std::to_string(r.generationAfter);
  if (!r.error.empty()) out += ",\"error\":" + http::jsonQuote(r.error);
  return out + "}";
}

// RFC 7240: a client may ask for 202 and a link instead of waiting.
bool prefersAsync(const http::Request& request) {
  const std::string* prefer = request.header("prefer");
  return prefer != nullptr && prefer->find("respond-async") != std::string::npos;
}

const char* kProblemRef = "{\"$ref\":\"#/components/schemas/Problem\"}";

std::string op(const std::string& summary, const std::string& okSchema, bool mayFail = true,
               const std::string& extra = {}) {
  std::string out =
      "{\"summary\":" + http::jsonQuote(summary) + ",\"tags\":[\"kernel\"]" + extra +
      ",\"responses\":{\"200\":{\"description\":\"OK\",\"content\":{\"application/json\":{\"schema\":" +
      okSchema + "}}}";
  if (mayFail)
    out += std::string(
               ",\"default\":{\"description\":\"Error\",\"content\":{\"application/"
               "problem+json\":{\"schema\":") +
           kProblemRef + "}}}";
  return out + "}}";
}

}  // namespace

bool WorkCounter::enter() {
  std::lock_guard lock(mutex_);
  if (refusing_) return false;
  ++inFlight_;
  return true;
}
void WorkCounter::leave() {
  std::lock_guard lock(mutex_);
  if (--inFlight_ == 0) idle_.notify_all();
}
void WorkCounter::refuse() {
  std::lock_guard lock(mutex_);
  refusing_ = true;
}
void WorkCounter::accept() {
  std::lock_guard lock(mutex_);
  refusing_ = false;
}
bool WorkCounter::idle() const {
  std::lock_guard lock(mutex_);
  return inFlight_ == 0;
}
void WorkCounter::stopAndWait() {
  std::unique_lock lock(mutex_);
  refusing_ = true;
  idle_.wait(lock, [this] { return inFlight_ == 0; });
}

KernelRoutes::KernelRoutes(PluginContext& context, TableHolder& table, std::function<bool()> draining)
    : context_(context), routingTable_(table), draining_(std::move(draining)) {
  const std::string pluginsSchema = "{\"$ref\":\"#/components/schemas/PluginList\"}";
  const std::string pluginSchema = "{\"$ref\":\"#/components/schemas/Plugin\"}";
  const std::string healthSchema = "{\"$ref\":\"#/components/schemas/Health\"}";
  const std::string nameParameter =
      ",\"parameters\":[{\"name\":\"name\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}"
      "}]";
  table_.add({.id = "health",
              .method = "GET",
              .path = "/health",
              .permission = "",
              .openapi = op("Liveness and plugin states", healthSchema, false)},
             [this](http::Request, http::Responder respond) { health(std::move(respond)); });
  table_.add({.id = "livez",
              .method = "GET",
              .path = "/livez",
              .permission = "",
              .openapi = op("Liveness", healthSchema, false)},
             [this](http::Request, http::Responder respond) { livez(std::move(respond)); });
  table_.add({.id = "readyz",
              .method = "GET",
              .path = "/readyz",
              .permission = "",
              .openapi = op("Readiness", healthSchema)},
             [this](http::Request, http::Responder respond) { readyz(std::move(respond)); });
  table_.add({.id = "admin.plugins",
              .method = "GET",
              .path = "/api/v2/admin/plugins",
              .permission = "admin:read",
              .openapi = op("Every plugin of the kernel", pluginsSchema)},
             [this](http::Request, http::Responder respond) { this->plugins(std::move(respond)); });
  table_.add({.id = "admin.plugin",
              .method = "GET",
              .path = "/api/v2/admin/plugins/{name}",
              .permission = "admin:read",
              .openapi = op("One plugin", pluginSchema, true, nameParameter)},
             [this](http::Request request, http::Responder respond) {
               this->plugin(request.param("name"), std::move(respond));
             });
  table_.add(
      {.id = "admin.plugin.reload",
       .method = "POST",
       .path = "/api/v2/admin/plugins/{name}/reload",
       .permission = "admin:write",
       .openapi = op("Hot-swap a plugin to the best file in its range", pluginSchema, true, nameParameter)},
      [this](http::Request request, http::Responder respond) {
        // The api's own swap would wait for the drain of the generation serving
        // this request: it is always asynchronous.
        const std::string& name = request.param("name");
        if (name == context_.pluginName() || prefersAsync(request))
          startReload(name, std::move(respond));
        else
          reloadPlugin(name, std::move(respond));
      });
  table_.add({.id = "admin.reload",
              .method = "GET",
              .path = "/api/v2/admin/reloads/{id}",
              .permission = "admin:read",
              .openapi = op("A reload started with 202 Accepted: queued, running, swapped or failed",
                            "{\"$ref\":\"#/components/schemas/Reload\"}", true,
                            ",\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"required\":true,"
                            "\"schema\":{\"type\":\"integer\"}}]")},
             [this](http::Request request, http::Responder respond) {
               reload(request.param("id"), std::move(respond));
             });
  table_.add({.id = "admin.config.reload",
              .method = "POST",
              .path = "/api/v2/admin/config/reload",
              .permission = "admin:write",
              .openapi = op("Re-read and apply the configuration file", "{\"type\":\"object\"}")},
             [this](http::Request, http::Responder respond) { reloadConfig(std::move(respond)); });
  table_.add({.id = "openapi",
              .method = "GET",
              .path = "/api/v2/openapi.json",
              // Not public: the route list tells a stranger what is worth trying.
              .permission = "api:read",
              .openapi = op("This OpenAPI document", "{\"type\":\"object\"}", false)},
             [this](http::Request, http::Responder respond) { openapi(std::move(respond)); });
}

std::string KernelRoutes::openapiSchemas() {
  return R"({"Problem":{"type":"object","description":"RFC 9457 problem details","properties":{"type":{"type":"string"},"title":{"type":"string"},"status":{"type":"integer"},"detail":{"type":"string"},"requestId":{"type":"string"},"errors":{"type":"array","items":{"type":"object","properties":{"field":{"type":"string"},"message":{"type":"string"}}}}},"required":["type","title","status"]},)"
         R"("Plugin":{"type":"object","properties":{"name":{"type":"string"},"version":{"type":"string"},"state":{"type":"string"},"generation":{"type":"integer"},"file":{"type":"string"},"error":{"type":"string"},"provides":{"type":"array","items":{"type":"string"}},"leasesInFlight":{"type":"integer"}},"required":["name","version","state","generation"]},)"
         R"("PluginList":{"type":"object","properties":{"items":{"type":"array","items":{"$ref":"#/components/schemas/Plugin"}}},"required":["items"]},)"
         R"("Reload":{"type":"object","properties":{"id":{"type":"integer"},"plugin":{"type":"string"},"state":{"type":"string","enum":["queued","running","swapped","failed"]},"generationBefore":{"type":"integer"},"generationAfter":{"type":"integer"},"error":{"type":"string"}},"required":["id","plugin","state","generationBefore","generationAfter"]},)"
         R"("Health":{"type":"object","properties":{"status":{"type":"string"},"phase":{"type":"string"},"version":{"type":"string"},"plugins":{"type":"array","items":{"$ref":"#/components/schemas/Plugin"}}},"required":["status"]}})";
}

void KernelRoutes::health(http::Responder respond) {
  auto kernel = findKernel(context_);
  std::string body = "{\"status\":\"ok\"";
  if (kernel) {
    body += ",\"phase\":" + http::jsonQuote(phaseName(kernel->phase())) +
            ",\"version\":" + http::jsonQuote(kernel->version()) + ",\"plugins\":[";
    auto plugins = kernel->plugins();
    for (std::size_t i = 0; i < plugins.size(); ++i) body += (i ? "," : "") + pluginJson(plugins[i], false);
    body += "]";
  }
  respond(json(body + "}"));
}

// Alive unless a watched thread has stalled (hive.watchdog/1): then a
// supervisor should restart the process, and the body says which thread.
void KernelRoutes::livez(http::Responder respond) {
  auto dog = context_.services().get<watchdog::Watchdog>();
  std::vector<watchdog::Stall> stalled = dog.ok() ? (*dog)->stalled() : std::vector<watchdog::Stall>{};
  if (stalled.empty()) return respond(json("{\"status\":\"ok\"}"));
  std::string detail = "stalled: ";
  std::string threads;
  for (const auto& stall : stalled) {
    detail += (threads.empty() ? "" : ", ") + stall.thread + " (" + std::to_string(stall.forMs) + " ms)";
    threads += std::string(threads.empty() ? "" : ",") + "{\"thread\":" + http::jsonQuote(stall.thread) +
               ",\"for_ms\":" + std::to_string(stall.forMs) + "}";
  }
  http::Response response = http::problem(503, "Service Unavailable", detail);
  // The machine-readable list beside the human detail.
  if (!response.body.empty() && response.body.back() == '}')
    response.body.insert(response.body.size() - 1, ",\"stalled\":[" + threads + "]");
  respond(std::move(response));
}

void KernelRoutes::readyz(http::Responder respond) {
  if (draining_()) return respond(http::problem(503, "Service Unavailable", "draining"));
  auto kernel = findKernel(context_);
  if (!kernel) return respond(noAdmin());
  admin::Phase phase = kernel->phase();
  if (phase != admin::Phase::kReady)
    return respond(http::problem(503, "Service Unavailable", phaseName(phase)));
  // What a readiness provider (monitoring_engine) last heard from the plugins'
  // health(): a store or bus whose server is gone makes the process unready.
  if (auto readiness = context_.services().get<health::Readiness>(); readiness.ok()) {
    std::vector<health::FailingCheck> failing = (*readiness)->failing();
    if (!failing.empty()) {
      std::string detail = "not ready: ";
      std::string checks;
      for (const auto& check : failing) {
        detail += (checks.empty() ? "" : "; ") + check.name + ": " + check.reason;
        checks += std::string(checks.empty() ? "" : ",") + "{\"name\":" + http::jsonQuote(check.name) +
                  ",\"reason\":" + http::jsonQuote(check.reason) +
                  ",\"since\":" + std::to_string(check.sinceUnixMs) + "}";
      }
      http::Response response = http::problem(503, "Service Unavailable", detail);
      // The machine-readable list beside the human detail, as /livez does.
      response.body.insert(response.body.size() - 1, ",\"checks\":[" + checks + "]");
      return respond(std::move(response));
    }
  }
  respond(json("{\"status\":\"ready\",\"phase\":\"ready\"}"));
}

void KernelRoutes::plugins(http::Responder respond) {
  auto kernel = findKernel(context_);
  if (!kernel) return respond(noAdmin());
  std::string body = "{\"items\":[";
  auto plugins = kernel->plugins();
  for (std::size_t i = 0; i < plugins.size(); ++i) body += (i ? "," : "") + pluginJson(plugins[i], true);
  respond(json(body + "]}"));
}

void KernelRoutes::plugin(const std::string& name, http::Responder respond) {
  auto kernel = findKernel(context_);
  if (!kernel) return respond(noAdmin());
  for (const auto& plugin : kernel->plugins())
    if (plugin.name == name) return respond(json(pluginJson(plugin, true)));
  respond(http::problem(404, "Not Found", "no plugin named '" + name + "'"));
}

void KernelRoutes::startReload(const std::string& name, http::Responder respond) {
  auto kernel = findKernel(context_);
  if (!kernel) return respond(noAdmin());
  Result<std::uint64_t> id = kernel->startReload(name);
  if (!id.ok()) {
    switch (id.status().code()) {
      case StatusCode::kNotFound: return respond(http::problem(404, "Not Found", id.status().message()));
      case StatusCode::kResourceExhausted:
        return respond(http::problem(429, "Too Many Requests", id.status().message()));
      case StatusCode::kUnimplemented:
        return respond(http::problem(501, "Not Implemented", id.status().message()));
      default: return respond(http::problem(503, "Service Unavailable", id.status().message()));
    }
  }
  auto record = kernel->reloadRecord(*id);
  http::Response response =
      json(record.ok() ? reloadJson(*record) : "{\"id\":" + std::to_string(*id) + "}", 202);
  response.headers.push_back({"location", "/api/v2/admin/reloads/" + std::to_string(*id)});
  respond(std::move(response));
}

void KernelRoutes::reload(const std::string& id, http::Responder respond) {
  auto kernel = findKernel(context_);
  if (!kernel) return respond(noAdmin());
  std::uint64_t number = 0;
  auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), number);
  if (error != std::errc() || end != id.data() + id.size())
    return respond(http::problem(404, "Not Found", "no reload '" + id + "'"));
  auto record = kernel->reloadRecord(number);
  if (!record.ok()) return respond(http::problem(404, "Not Found", record.status().message()));
  respond(json(reloadJson(*record)));
}

void KernelRoutes::reloadPlugin(const std::string& name, http::Responder respond) {
  if (!findKernel(context_)) return respond(noAdmin());
  if (!work_.enter()) return respond(http::problem(503, "Service Unavailable", "draining"));
  context_.blocking().post([this, name, respond = std::move(respond)]() mutable {
    {
      auto kernel = findKernel(context_);
      if (!kernel) {
        respond(noAdmin());
      } else {
        Status status = kernel->reloadPlugin(name);
        if (!status.ok()) {
          respond(http::problem(status.code() == StatusCode::kNotFound ? 404 : 409,
                                status.code() == StatusCode::kNotFound ? "Not Found" : "Conflict",
                                status.message()));
        } else {
          std::string body;
          for (const auto& plugin : kernel->plugins())
            if (plugin.name == name) body = pluginJson(plugin, true);
          respond(json(body.empty() ? "{\"name\":" + http::jsonQuote(name) + "}" : body));
        }
      }
      respond = nullptr;
    }
    work_.leave();
  });
}

void KernelRoutes::reloadConfig(http::Responder respond) {
  if (!findKernel(context_)) return respond(noAdmin());
  if (!work_.enter()) return respond(http::problem(503, "Service Unavailable", "draining"));
  context_.blocking().post([this, respond = std::move(respond)]() mutable {
    {
      auto kernel = findKernel(context_);
      if (!kernel) {
        respond(noAdmin());
      } else {
        Status status = kernel->reloadConfig();
        if (status.ok())
          respond(json("{\"status\":\"applied\"}"));
        else
          respond(http::problem(
              status.code() == StatusCode::kInvalidArgument ? 422 : 409,
              status.code() == StatusCode::kInvalidArgument ? "Unprocessable Content" : "Conflict",
              status.message()));
      }
      respond = nullptr;
    }
    work_.leave();
  });
}

void KernelRoutes::openapi(http::Responder respond) {
  auto table = routingTable_.get();
  auto kernel = findKernel(context_);
  std::string document;
  try {
    document = buildOpenApi(*table, kernel ? kernel->version() : context_.pluginVersion());
  } catch (const std::exception& e) {
    context_.log().error(std::string("openapi document: ") + e.what());
    return respond(http::problem(500, "Internal Server Error"));
  }
  respond(json(std::move(document)));
}

}  // namespace hive::api
