#include "host/plugin_context.hpp"

#include "host/runtime.hpp"

namespace hive::host {

KernelPluginContext::KernelPluginContext(const PluginManifest& manifest, std::unique_ptr<Logger> log,
                                         ConfigNode config, std::unique_ptr<PluginServiceView> services,
                                         Runtime& runtime, Metrics& metrics, std::string dataDirectory)
    : manifest_(manifest),
      log_(std::move(log)),
      config_(std::move(config)),
      services_(std::move(services)),
      runtime_(runtime),
      metrics_(metrics),
      dataDirectory_(std::move(dataDirectory)) {}

Executor& KernelPluginContext::io() { return runtime_.io(); }
Executor& KernelPluginContext::blocking() { return runtime_.blocking(); }
Timers& KernelPluginContext::timers() { return runtime_.timers(); }
void* KernelPluginContext::nativeIoContext() { return &runtime_.ioContext(); }

}  // namespace hive::host
