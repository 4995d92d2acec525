#include "api_plugin.hpp"

#include <unistd.h>

#include <fstream>

namespace hive::api {
namespace {
constexpr std::uint32_t kStateVersion = 1;
}

ApiPlugin::ApiPlugin(PluginContext& context)
    : context_(context),
      kernelRoutes_(std::make_shared<KernelRoutes>(context, table_, [this] { return draining_.load(); })),
      kernelOwner_(std::make_shared<RouteOwner>()),
      dispatcher_(context, settings_, table_),
      hub_(context) {
  kernelOwner_->name = context.pluginName();
  kernelOwner_->local = kernelRoutes_.get();
}

ApiPlugin::~ApiPlugin() { stop(); }

void ApiPlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  settings_ = readSettings(section, diagnostics);
}

Status ApiPlugin::start() { return begin(-1); }

Status ApiPlugin::startFrom(Handoff handoff) {
  if (handoff.stateVersion != kStateVersion || handoff.fileDescriptors.size() != 1) {
    for (int fd : handoff.fileDescriptors) ::close(fd);
    return failedPrecondition("state version " + std::to_string(handoff.stateVersion) + " not understood");
  }
  return begin(handoff.fileDescriptors.front());
}

Status ApiPlugin::begin(int inheritedFd) {
  if (!isLoopback(settings_.address) && !dispatcher_.hasAuthenticator()) {
    if (inheritedFd >= 0) ::close(inheritedFd);
    return failedPrecondition("refusing to listen on " + settings_.address +
                              ", a non-loopback address, while no hive.auth/1 provider is running; enable "
                              "security_manager (listed before api under plugins:, after its store) or "
                              "listen on 127.0.0.1");
  }
  if (!isLoopback(settings_.address) && !settings_.tls.enabled() && !settings_.allowInsecure) {
    if (inheritedFd >= 0) ::close(inheritedFd);
    return failedPrecondition("refusing plain HTTP on " + settings_.address +
                              ", a non-loopback address: configure tls (cert_file, key_file), or set "
                              "allow_insecure: true when a proxy in front terminates TLS");
  }
  if (!isLoopback(settings_.address)) dispatcher_.requireAuthenticator();
  if (settings_.localToken != LocalTokenScope::kOff) {
    std::string replaced;
    auto token = LocalToken::open(context_.dataDirectory() + "/local_token", &replaced);
    if (!token.ok()) {
      // The other routes still serve; the ones that need the token answer 503.
      context_.log().error("api: no local token, the admin routes answer 503: " + token.status().message());
    } else {
      if (!replaced.empty()) context_.log().warn("api: a new local token replaces the old one: " + replaced);
      dispatcher_.useLocalToken(std::make_shared<const LocalToken>(std::move(*token)));
    }
  } else {
    context_.log().warn(
        "api: local_token: off: without a hive.auth/1 provider, every local user may call the admin routes");
  }
  stopped_ = false;
  kernelRoutes_->work().accept();
  dispatcher_.watchAuthenticator();
  hub_.start();
  routesWatch_ = context_.services().watch(http::RouteProvider::kServiceId,
                                           [this](const ServiceEvent&) { rebuildTable(); });
  rebuildTable();
  server_ = std::make_unique<Server>(context_, settings_, dispatcher_, hub_);
  watchSwaps();
  Status listening = inheritedFd >= 0 ? server_->adopt(inheritedFd) : server_->listen();
  if (!listening.ok()) return listening;
  announce();
  return okStatus();
}

void ApiPlugin::announce() {
  std::uint16_t port = server_->port();
  std::string where =
      (settings_.address.find(':') != std::string::npos ? "[" + settings_.address + "]" : settings_.address) +
      ":" + std::to_string(port);
  context_.log().info("api listening on " + where);
  std::string path = context_.dataDirectory() + "/port";
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << "\n";
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) context_.log().warn("api: cannot write " + path);
}

void ApiPlugin::watchSwaps() {
  auto notices = context_.services().get<SwapNotices>();
  if (!notices.ok()) return;  // a kernel before SDK 2.5: swaps wait for WebSockets to end
  swapWatch_ = (*notices)->watch([this](const SwapNotice& notice) {
    // Our own routes take no lease; our own swap drains us as usual.
    if (notice.provider == context_.pluginName()) return;
    if (notice.phase == SwapPhase::kComing) {
      dispatcher_.swaps().coming(notice.provider);
      std::size_t closing = server_ ? server_->providerSwapping(notice.provider) : 0;
      if (closing > 0)
        context_.log().info("plugin '" + notice.provider + "' is about to be swapped: " +
                            std::to_string(closing) + " of its WebSocket(s) close with 1012");
      return;
    }
    for (auto& resume : dispatcher_.swaps().ended(notice.provider))
      context_.io().post([resume = std::move(resume)] { resume(true); });
  });
}

void ApiPlugin::rebuildTable() {
  std::lock_guard lock(rebuildMutex_);
  Table table;
  for (const auto& problem :
       table.add(kernelOwner_, kernelRoutes_->routes(), {}, kernelRoutes_->openapiSchemas()))
    context_.log().warn("api: " + problem);
  std::size_t providers = 0;
  for (auto& lease : context_.services().lookup(http::RouteProvider::kServiceId)) {
    auto slot = context_.services().slot(http::RouteProvider::kServiceId, lease.provider);
    if (!slot.ok()) continue;
    auto owner = std::make_shared<RouteOwner>();
    owner->name = lease.provider;
    owner->handle = ServiceHandle<http::RouteProvider>(*slot);
    auto provider = std::static_pointer_cast<http::RouteProvider>(lease.service);
    std::vector<http::Route> routes;
    std::vector<http::WebSocketRoute> webSocketRoutes;
    std::string schemas;
    try {
      routes = provider->routes();
      webSocketRoutes = provider->webSocketRoutes();
      schemas = provider->openapiSchemas();
    } catch (...) {
      context_.log().error("api: provider '" + lease.provider + "' threw while listing its routes; skipped");
      continue;
    }
    for (const auto& problem :
         table.add(owner, std::move(routes), std::move(webSocketRoutes), std::move(schemas)))
      context_.log().warn("api: " + problem);
    ++providers;
  }
  std::size_t count = table.routes().size();
  table_.set(std::make_shared<const Table>(std::move(table)));
  context_.log().debug("api: routing table rebuilt: " + std::to_string(count) + " routes from " +
                       std::to_string(providers) + " provider(s)");
}

Result<Handoff> ApiPlugin::handoff() {
  if (!server_) return failedPrecondition("not serving");
  int fd = HIVE_TRY(server_->duplicateListener());
  return Handoff{kStateVersion, {}, {fd}};
}

void ApiPlugin::beginDrain() {
  draining_ = true;
  kernelRoutes_->work().refuse();
  hub_.beginDrain();
  if (server_) server_->beginDrain();
}

bool ApiPlugin::drained() const {
  return (!server_ || server_->idle()) && hub_.idle() && kernelRoutes_->work().idle();
}

void ApiPlugin::stop() {
  if (stopped_) return;
  stopped_ = true;
  routesWatch_.reset();
  swapWatch_.reset();
  for (auto& resume : dispatcher_.swaps().takeAll()) resume(false);
  if (server_) server_->stop();
  hub_.stop();
  dispatcher_.stopWatching();
  kernelRoutes_->work().stopAndWait();
  table_.set(std::make_shared<const Table>());
}

}  // namespace hive::api
