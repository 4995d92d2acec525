#include "hive/testing/harness.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "harness_context.hpp"

namespace hive::testing {
namespace {

constexpr std::size_t kMaxPendingRuns = 1'000'000;

template <std::size_t N>
std::string field(const char (&text)[N]) {
  return std::string(text, strnlen(text, N));
}

std::string lastDlError(std::string_view fallback) {
  const char* error = ::dlerror();
  return error != nullptr ? std::string(error) : std::string(fallback);
}

// The checks the kernel makes, against the SDK headers this harness was built with.
Status checkManifest(const HiveManifest& m) {
  if (std::memcmp(m.magic, HIVE_MANIFEST_MAGIC, HIVE_MANIFEST_MAGIC_SIZE) != 0)
    return invalidArgument("bad manifest magic: not a Hive plugin manifest, or one from an incompatible SDK");
  if (m.manifest_size < sizeof(HiveManifest))
    return invalidArgument("manifest size field " + std::to_string(m.manifest_size) + " is smaller than " +
                           std::to_string(sizeof(HiveManifest)));
  const std::string who = "plugin '" + field(m.name) + "' " + field(m.version) + ": ";
  const std::string ours = std::to_string(HIVE_SDK_ABI_MAJOR) + "." + std::to_string(HIVE_SDK_ABI_MINOR);
  if (m.abi_major != HIVE_SDK_ABI_MAJOR)
    return failedPrecondition(who + "built for SDK ABI " + std::to_string(m.abi_major) +
                              ".x, these SDK headers are " + ours);
  if (m.abi_minor > HIVE_SDK_ABI_MINOR)
    return failedPrecondition(who + "built for SDK ABI " + std::to_string(m.abi_major) + "." +
                              std::to_string(m.abi_minor) + ", newer than these SDK headers' " + ours);
  if (field(m.toolchain) != hive::detail::kToolchain)
    return failedPrecondition(who + "toolchain '" + field(m.toolchain) + "' differs from the test's '" +
                              hive::detail::kToolchain + "'");
  if (field(m.name).empty()) return invalidArgument("manifest has an empty plugin name");
  return okStatus();
}

}  // namespace

ConfigNode configFromPairs(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  ConfigNode node = ConfigNode::map();
  for (const auto& [key, value] : pairs) node.set(key, ConfigNode::scalar(value));
  return node;
}

struct PluginHarness::State {
  State(std::string name, std::string version, const HiveManifest* manifest)
      : manifest(manifest), context(std::move(name), std::move(version), manifest) {}

  // Declared first so that it is released last; also held by pinned services.
  std::shared_ptr<void> library;
  const HiveManifest* manifest;
  detail::HarnessContext context;
  Plugin* plugin = nullptr;
  Destroy destroy = nullptr;
  bool configured = false;
  Diagnostics diagnostics;  // of the last configure()
  bool started = false;
};

PluginHarness::PluginHarness(std::string name, std::string version, const HiveManifest* manifest)
    : state_(std::make_unique<State>(std::move(name), std::move(version), manifest)) {}

PluginHarness::~PluginHarness() {
  stop();
  // The plugin's objects first, through the code that created them ...
  if (state_->plugin != nullptr) state_->destroy(std::exchange(state_->plugin, nullptr));
  // ... then whatever of its code is still queued or registered ...
  state_->context.dropEverythingOfThePlugin();
  // ... and only then the library (unless a ServiceRef still pins it).
  state_->library.reset();
}

Result<std::unique_ptr<PluginHarness>> PluginHarness::loadLibrary(const std::string& soPath) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(soPath, error)) return notFound(soPath + ": no such plugin file");
  ::dlerror();
  void* handle = ::dlopen(soPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return failedPrecondition(soPath + ": " + lastDlError("dlopen failed"));
  std::shared_ptr<void> library(handle, [](void* h) { ::dlclose(h); });

  auto* manifest = static_cast<const HiveManifest*>(::dlsym(handle, HIVE_MANIFEST_SYMBOL));
  if (manifest == nullptr)
    return invalidArgument(soPath + ": not a Hive plugin: no " HIVE_MANIFEST_SYMBOL
                                    " symbol (declare it with HIVE_PLUGIN)");
  if (Status compatible = checkManifest(*manifest); !compatible.ok()) return compatible.withContext(soPath);
  using Create = Plugin* (*)(PluginContext*);
  auto create = reinterpret_cast<Create>(::dlsym(handle, HIVE_CREATE_SYMBOL));
  auto destroy = reinterpret_cast<Destroy>(::dlsym(handle, HIVE_DESTROY_SYMBOL));
  if (create == nullptr || destroy == nullptr)
    return invalidArgument(soPath + ": not a Hive plugin: no " HIVE_CREATE_SYMBOL " / " HIVE_DESTROY_SYMBOL
                                    " (declare it with HIVE_PLUGIN)");

  std::unique_ptr<PluginHarness> harness(
      new PluginHarness(field(manifest->name), field(manifest->version), manifest));
  harness->state_->library = library;
  harness->state_->context.store().pinServicesOf(harness->state_->context.pluginName(), library);
  Plugin* plugin = create(&harness->context());
  if (plugin == nullptr)
    return internalError(soPath + ": plugin '" + field(manifest->name) + "' " + field(manifest->version) +
                         ": " HIVE_CREATE_SYMBOL " returned null (its constructor threw)");
  harness->adopt(plugin, destroy);
  return harness;
}

void PluginHarness::adopt(Plugin* plugin, Destroy destroy) {
  state_->plugin = plugin;
  state_->destroy = destroy;
}

void PluginHarness::setConfig(ConfigNode section) {
  state_->context.setConfig(std::move(section));
  state_->configured = false;
}

Diagnostics PluginHarness::configure() {
  Diagnostics diagnostics;
  state_->plugin->configure(state_->context.config(), diagnostics);
  state_->configured = true;
  state_->diagnostics = diagnostics;
  return diagnostics;
}

Status PluginHarness::start() {
  if (state_->started)
    return failedPrecondition("plugin '" + state_->context.pluginName() + "' is already started");
  if (!state_->configured) (void)configure();
  if (state_->diagnostics.hasErrors())
    return invalidArgument("plugin '" + state_->context.pluginName() + "' rejected its config:\n" +
                           state_->diagnostics.toString());
  Status started = state_->plugin->start();
  state_->started = started.ok();
  // A failed start leaves nothing behind in the kernel either.
  if (!started.ok()) state_->context.pluginView().withdrawAndCancelAll();
  return started;
}

void PluginHarness::stop() {
  if (!state_->started) return;
  state_->plugin->stop();
  state_->started = false;
  state_->context.pluginView().withdrawAndCancelAll();
}

Status PluginHarness::health() { return state_->plugin->health(); }
bool PluginHarness::started() const { return state_->started; }
Plugin& PluginHarness::plugin() { return *state_->plugin; }
PluginContext& PluginHarness::context() { return state_->context; }
const HiveManifest* PluginHarness::manifest() const { return state_->manifest; }
ServiceRegistry& PluginHarness::services() { return state_->context.testView(); }
Metrics& PluginHarness::metrics() { return state_->context.metrics(); }
std::vector<std::string> PluginHarness::logLines() const { return state_->context.logger().lines(); }

void PluginHarness::provideFakeService(ServiceId id, std::shared_ptr<Service> service, std::string provider) {
  Status provided = state_->context.store().provide(provider, id, std::move(service),
                                                    detail::ServiceStore::Replace::kAllow);
  // Only a null service or an invalid id fails here: a bug in the test itself.
  if (!provided.ok())
    state_->context.logger().log(LogLevel::kError, "harness: provideFake: " + provided.message());
}

bool PluginHarness::withdrawFakeService(ServiceId id, const std::string& provider) {
  return state_->context.store().withdraw(provider, id).ok();
}

std::size_t PluginHarness::runPending() {
  std::size_t ran = 0;
  auto& io = state_->context.ioQueue();
  auto& blocking = state_->context.blockingQueue();
  while (ran < kMaxPendingRuns) {
    bool any = io.runOne();
    ran += any ? 1 : 0;
    if (blocking.runOne()) {
      any = true;
      ++ran;
    }
    if (!any) break;
  }
  return ran;
}

void PluginHarness::advanceTime(std::chrono::milliseconds duration) {
  auto& timers = state_->context.manualTimers();
  const auto until = timers.now() + std::max(duration, std::chrono::milliseconds(0));
  while (timers.fireNext(until)) runPending();
  timers.setNow(until);
  runPending();
}

std::chrono::milliseconds PluginHarness::now() const { return state_->context.manualTimers().now(); }

}  // namespace hive::testing
