// security_manager: who is calling (API keys) and what they may do (roles),
// as hive.auth/1 for the api plugin, with the key routes under
// /api/v2/security. docs/security.md.
#include "hive/plugin.hpp"

#include <atomic>
#include <memory>
#include <optional>

#include "api_key.hpp"
#include "config.hpp"
#include "hive/services/auth.hpp"
#include "hive/services/http.hpp"
#include "hive/services/secrets.hpp"
#include "hive/services/store.hpp"
#include "key_authenticator.hpp"
#include "key_service.hpp"
#include "project_service.hpp"
#include "routes.hpp"

namespace hive::security_manager {
namespace {

class SecurityManagerPlugin final : public Plugin {
 public:
  explicit SecurityManagerPlugin(PluginContext& context) : context_(context) {}
  ~SecurityManagerPlugin() override { stop(); }

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    settings_ = readSettings(section, diagnostics);
  }

  Status start() override {
    if (!cryptoReady()) return unavailable("libsodium cannot start (no entropy source?)");
    auto store = HIVE_TRY(context_.services().handle<store::Store>(), "security_manager needs hive.store/1");
    auto roles = std::make_shared<const Roles>(settings_.roles);
    audit_ = std::make_shared<AuditLog>(
        store, settings_.auditMaxPending,
        context_.metrics().counter("security_audit_dropped_total",
                                   "Audit entries dropped because audit_max_pending were waiting"));
    HIVE_TRY(audit_->open(), "opening the audit log");
    authenticator_ = std::make_shared<KeyAuthenticator>(roles, settings_.pepper, systemNowMs, settings_.jwt);
    authenticator_->setAudit(audit_,
                             settings_.auditSync ? std::optional(settings_.auditSyncTimeout) : std::nullopt);
    std::unique_ptr<RedisBuckets> sharedBuckets;
    if (settings_.rateLimits.shared) {
      SharedLimitMetrics shared{
          context_.metrics().counter("security_rate_limit_redis_errors_total",
                                     "Calls to the shared rate limits' Redis that failed (unreachable, "
                                     "no answer within the timeout, an error reply)"),
          context_.metrics().counter("security_rate_limit_local_only_total",
                                     "Requests limited by this node alone because the shared rate limits' "
                                     "Redis could not answer")};
      sharedBuckets = std::make_unique<RedisBuckets>(*settings_.rateLimits.shared, shared, context_.log());
      context_.log().info("rate limits shared through Redis at " +
                          settings_.rateLimits.shared->endpoint.redacted());
    }
    authenticator_->setRateLimiter(std::make_shared<RateLimiter>(
        settings_.rateLimits,
        context_.metrics().counter("security_rate_limited_total",
                                   "Requests refused with 429 by a rate limit (per principal, or an address "
                                   "out of failed authentications)"),
        std::move(sharedBuckets)));
    service_ =
        std::make_shared<KeyService>(context_, settings_, roles, authenticator_, KeyStore(store), audit_);
    HIVE_TRY(service_->load(), "reading the API keys");
    projects_ =
        std::make_shared<ProjectService>(context_, ProjectStore(std::move(store)), authenticator_, service_);
    HIVE_TRY(projects_->load(), "reading the projects");
    service_->setProjectCheck([projects = std::weak_ptr<ProjectService>(projects_)](
                                  const std::string& tenant, const std::string& project) {
      auto service = projects.lock();
      return service && service->exists(tenant, project);
    });
    // A request waiting for its audit entry asks for a flush at once; entries
    // queued meanwhile join it. Weak pointers: a request may still be in
    // authorize() while the plugin stops.
    audit_->setFlushTrigger([service = std::weak_ptr<KeyService>(service_),
                             audit = std::weak_ptr<AuditLog>(audit_),
                             queued = std::make_shared<std::atomic<bool>>(false)] {
      auto keys = service.lock();
      if (!keys || queued->exchange(true)) return;
      keys->background([audit, queued] {
        auto log = audit.lock();
        if (!log) return;
        do {
          (void)log->flush();  // a failure leaves the entries queued; their waiters time out
          *queued = false;
        } while (log->pending() && !queued->exchange(true));
      });
    });
    // security_engine's hive.secrets/1 scans request bodies when it runs; it may
    // start, stop or be swapped at any time.
    authenticator_->setScanCounter(context_.metrics().counter(
        "security_scan_findings_total", "Secret-like strings found in request bodies (flagged or refused)"));
    auto followScanner = [this] {
      auto scanner = context_.services().handle<secrets::Vault>();
      authenticator_->setScanner(scanner.ok() ? *scanner : ServiceHandle<secrets::Vault>());
    };
    followScanner();
    scannerWatch_ = context_.services().watch(secrets::Vault::kServiceId,
                                              [followScanner](const ServiceEvent&) { followScanner(); });
    HIVE_TRY(context_.services().provide<auth::Authenticator>(authenticator_));
    HIVE_TRY(context_.services().provide<tenancy::Tenancy>(std::make_shared<KeyTenancy>(authenticator_)));
    HIVE_TRY(context_.services().provide<projects::Projects>(projects_));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(
        std::make_shared<SecurityRoutes>(service_, projects_)));
    refresher_ = context_.timers().every(settings_.refreshInterval, [this] {
      if (refreshQueued_.exchange(true)) return;
      service_->background([this] {
        service_->refresh();
        projects_->refresh();
        for (const auto& change : authenticator_->reloadChangedJwtKeys())
          change.loaded ? context_.log().info(change.line) : context_.log().warn(change.line);
        refreshQueued_ = false;
      });
    });
    auditor_ = context_.timers().every(settings_.auditFlushInterval, [this] {
      if (!audit_->pending() || auditQueued_.exchange(true)) return;
      service_->background([this] {
        if (Status written = audit_->flush(); !written.ok())
          context_.log().warn("audit entries not written yet: " + written.message());
        auditQueued_ = false;
      });
    });
    if (const auto& retention = settings_.auditRetention; retention.keep) {
      trimmer_ = context_.timers().every(retention.period, [this] {
        if (trimQueued_.exchange(true)) return;
        service_->background([this] {
          const auto& retention = settings_.auditRetention;
          const std::int64_t now = systemNowMs();
          auto trimmed =
              audit_->trim(now - retention.keep->count(), retention.batch, "security_manager", now);
          if (!trimmed.ok())
            context_.log().warn("audit entries not trimmed: " + trimmed.status().message());
          else if (*trimmed > 0)
            context_.log().info("audit retention: " + std::to_string(*trimmed) + " entries older than " +
                                std::to_string(retention.keep->count() / 3'600'000) + "h deleted");
          trimQueued_ = false;
        });
      });
    }
    context_.log().info(std::to_string(authenticator_->size()) + " API keys loaded");
    return okStatus();
  }

  void stop() override {
    scannerWatch_.reset();
    refresher_.reset();
    auditor_.reset();
    trimmer_.reset();
    // What is still queued is written now: stop() may block, a request may not.
    if (audit_)
      if (Status written = audit_->flush(); !written.ok())
        context_.log().error("audit entries lost at stop: " + written.message());
  }

  Status health() override { return service_ ? okStatus() : unavailable("not started"); }

 private:
  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<KeyAuthenticator> authenticator_;
  std::shared_ptr<KeyService> service_;
  std::shared_ptr<ProjectService> projects_;
  std::shared_ptr<AuditLog> audit_;
  std::atomic<bool> refreshQueued_{false};
  std::atomic<bool> auditQueued_{false};
  std::atomic<bool> trimQueued_{false};
  std::unique_ptr<Timer> refresher_;
  std::unique_ptr<Timer> auditor_;
  std::unique_ptr<Timer> trimmer_;
  std::unique_ptr<Subscription> scannerWatch_;
};

}  // namespace
}  // namespace hive::security_manager

HIVE_PLUGIN(hive::security_manager::SecurityManagerPlugin, .name = "security_manager",
            .version = HIVE_PLUGIN_VERSION,
            .description =
                "API keys, roles, projects and audit: hive.auth/1 for the api, keys under "
                "/api/v2/security, projects under /api/v2/projects",
            .provides = {hive::auth::Authenticator::kServiceId, hive::http::RouteProvider::kServiceId,
                         hive::tenancy::Tenancy::kServiceId, hive::projects::Projects::kServiceId},
            .requiredServices = {hive::store::Store::kServiceId})
