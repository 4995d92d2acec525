// The `api` plugin: HTTP/1.1 and WebSocket server whose routes come from every
// hive.routes/1 provider. Swappable live: the listening socket goes to the next
// generation through handoff().
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "config.hpp"
#include "dispatcher.hpp"
#include "hive/plugin.hpp"
#include "hive/services/swaps.hpp"
#include "kernel_routes.hpp"
#include "router.hpp"
#include "server.hpp"
#include "websocket.hpp"

namespace hive::api {

class ApiPlugin final : public Plugin {
 public:
  explicit ApiPlugin(PluginContext& context);
  ~ApiPlugin() override;

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  Status startFrom(Handoff handoff) override;
  Result<Handoff> handoff() override;
  void beginDrain() override;
  bool drained() const override;
  void stop() override;

 private:
  Status begin(int inheritedFd);
  void rebuildTable();
  void watchSwaps();
  void announce();

  PluginContext& context_;
  Settings settings_;
  TableHolder table_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<KernelRoutes> kernelRoutes_;
  std::shared_ptr<RouteOwner> kernelOwner_;
  Dispatcher dispatcher_;
  Hub hub_;
  std::unique_ptr<Server> server_;
  std::mutex rebuildMutex_;
  std::unique_ptr<Subscription> routesWatch_;
  // hive.swaps/1: a route provider's WebSockets close before its swap waits for our leases.
  std::unique_ptr<Subscription> swapWatch_;
  bool stopped_ = false;
};

}  // namespace hive::api
