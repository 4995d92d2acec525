#include "hive/testing/harness.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

namespace hive::testing {
namespace {

std::string levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kCritical: return "critical";
    case LogLevel::kOff: return "off";
  }
  return "info";
}

class RecordingLogger final : public Logger {
 public:
  void log(LogLevel level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.push_back(levelName(level) + ": " + std::string(message));
  }
  bool enabled(LogLevel) const override { return true; }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

class ManualExecutor final : public Executor {
 public:
  void post(std::function<void()> work) override {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(work));
  }
  std::size_t threadCount() const override { return 1; }
  bool runOne() {
    std::function<void()> work;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return false;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
    return true;
  }

 private:
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
};

class ManualTimers final : public Timers {
 public:
  struct Entry {
    std::uint64_t id;
    std::chrono::milliseconds due;
    std::chrono::milliseconds period;  // 0: once
    std::function<void()> callback;
  };

  class Handle final : public Timer {
   public:
    Handle(ManualTimers& timers, std::uint64_t id) : timers_(timers), id_(id) {}
    ~Handle() override { cancel(); }
    void cancel() override { timers_.cancel(id_); }

   private:
    ManualTimers& timers_;
    std::uint64_t id_;
  };

  std::unique_ptr<Timer> after(std::chrono::milliseconds delay, std::function<void()> callback) override {
    return add(delay, std::chrono::milliseconds(0), std::move(callback));
  }
  std::unique_ptr<Timer> every(std::chrono::milliseconds period, std::function<void()> callback) override {
    return add(period, std::max(period, std::chrono::milliseconds(1)), std::move(callback));
  }

  void cancel(std::uint64_t id) {
    std::erase_if(entries_, [&](const Entry& e) { return e.id == id; });
  }

  // Fires every timer due by `until`, earliest first.
  void advanceTo(std::chrono::milliseconds until) {
    for (;;) {
      auto next = std::min_element(entries_.begin(), entries_.end(),
                                   [](const Entry& a, const Entry& b) { return a.due < b.due; });
      if (next == entries_.end() || next->due > until) break;
      now_ = next->due;
      Entry fired = *next;
      if (fired.period.count() > 0)
        next->due += fired.period;
      else
        entries_.erase(next);
      fired.callback();
    }
    now_ = until;
  }
  std::chrono::milliseconds now() const { return now_; }

 private:
  std::unique_ptr<Timer> add(std::chrono::milliseconds delay, std::chrono::milliseconds period,
                             std::function<void()> callback) {
    std::uint64_t id = nextId_++;
    entries_.push_back({id, now_ + delay, period, std::move(callback)});
    return std::make_unique<Handle>(*this, id);
  }

  std::vector<Entry> entries_;
  std::chrono::milliseconds now_{0};
  std::uint64_t nextId_ = 1;
};

template <typename T>
class AtomicValue {
 public:
  void add(T amount) {
    T current = value_.load();
    while (!value_.compare_exchange_weak(current, current + amount)) {
    }
  }
  void set(T v) { value_.store(v); }
  T get() const { return value_.load(); }

 private:
  std::atomic<T> value_{0};
};

class SimpleCounter final : public Counter {
 public:
  void increment(double amount) override {
    if (amount >= 0) value_.add(amount);
  }
  double value() const override { return value_.get(); }

 private:
  AtomicValue<double> value_;
};

class SimpleGauge final : public Gauge {
 public:
  void set(double v) override { value_.set(v); }
  void add(double d) override { value_.add(d); }
  double value() const override { return value_.get(); }

 private:
  AtomicValue<double> value_;
};

class SimpleHistogram final : public Histogram {
 public:
  void observe(double v) override {
    count_.fetch_add(1);
    sum_.add(v);
  }
  std::uint64_t count() const override { return count_.load(); }
  double sum() const override { return sum_.get(); }

 private:
  std::atomic<std::uint64_t> count_{0};
  AtomicValue<double> sum_;
};

std::string seriesKey(const std::string& name, const MetricLabels& labels) {
  std::string key = name;
  if (!labels.empty()) {
    key += "{";
    for (std::size_t i = 0; i < labels.size(); ++i)
      key += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
    key += "}";
  }
  return key;
}

class SimpleMetrics final : public Metrics {
 public:
  Counter& counter(const std::string& name, const std::string&, const MetricLabels& labels) override {
    return get(counters_, seriesKey(name, labels));
  }
  Gauge& gauge(const std::string& name, const std::string&, const MetricLabels& labels) override {
    return get(gauges_, seriesKey(name, labels));
  }
  Histogram& histogram(const std::string& name, const std::string&, const std::vector<double>&,
                       const MetricLabels& labels) override {
    return get(histograms_, seriesKey(name, labels));
  }
  // "name{labels} value" per series; histograms as _count and _sum.
  std::string exposition() const override {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [key, c] : counters_) out += key + " " + std::to_string(c->value()) + "\n";
    for (const auto& [key, g] : gauges_) out += key + " " + std::to_string(g->value()) + "\n";
    for (const auto& [key, h] : histograms_)
      out += key + "_count " + std::to_string(h->count()) + "\n" + key + "_sum " + std::to_string(h->sum()) +
             "\n";
    return out;
  }

 private:
  template <typename T>
  T& get(std::map<std::string, std::unique_ptr<T>>& family, const std::string& key) {
    std::lock_guard lock(mutex_);
    auto& slot = family[key];
    if (!slot) slot = std::make_unique<T>();
    return *slot;
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<SimpleCounter>> counters_;
  std::map<std::string, std::unique_ptr<SimpleGauge>> gauges_;
  std::map<std::string, std::unique_ptr<SimpleHistogram>> histograms_;
};

class NoSubscription final : public Subscription {
 public:
  explicit NoSubscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  ~NoSubscription() override { cancel_(); }

 private:
  std::function<void()> cancel_;
};

// Watches run synchronously on the thread that changes the registry.
class MemoryRegistry final : public ServiceRegistry {
 public:
  explicit MemoryRegistry(std::string owner) : owner_(std::move(owner)) {}

  Status provide(ServiceId id, std::shared_ptr<Service> service) override {
    return provideAs(owner_, id, std::move(service));
  }

  Status provideAs(const std::string& provider, ServiceId id, std::shared_ptr<Service> service) {
    if (!service) return invalidArgument("provide " + id.toString() + ": null service");
    {
      std::lock_guard lock(mutex_);
      for (const auto& e : entries_)
        if (e.provider == provider && e.id == id.toString())
          return alreadyExists("'" + provider + "' already provides " + id.toString());
      entries_.push_back({id.toString(), provider, std::move(service)});
    }
    notify(id, provider, ServiceChange::kAdded);
    return okStatus();
  }

  Status withdraw(ServiceId id) override {
    {
      std::lock_guard lock(mutex_);
      auto before = entries_.size();
      std::erase_if(entries_, [&](const Entry& e) { return e.provider == owner_ && e.id == id.toString(); });
      if (entries_.size() == before) return notFound("'" + owner_ + "' does not provide " + id.toString());
    }
    notify(id, owner_, ServiceChange::kRemoved);
    return okStatus();
  }

  std::vector<ServiceLease> lookup(ServiceId id) const override {
    std::lock_guard lock(mutex_);
    std::vector<ServiceLease> out;
    for (const auto& e : entries_)
      if (e.id == id.toString()) out.push_back({e.service, e.provider, 1});
    return out;
  }

  std::unique_ptr<Subscription> watch(ServiceId id,
                                      std::function<void(const ServiceEvent&)> callback) override {
    std::lock_guard lock(mutex_);
    std::uint64_t key = nextWatch_++;
    watches_[key] = {id.toString(), std::move(callback)};
    return std::make_unique<NoSubscription>([this, key] {
      std::lock_guard inner(mutex_);
      watches_.erase(key);
    });
  }

  void withdrawEverything() {
    std::lock_guard lock(mutex_);
    entries_.clear();
    watches_.clear();
  }

 private:
  struct Entry {
    std::string id;
    std::string provider;
    std::shared_ptr<Service> service;
  };
  void notify(ServiceId id, const std::string& provider, ServiceChange change) {
    std::vector<std::function<void(const ServiceEvent&)>> callbacks;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [key, watch] : watches_)
        if (watch.first == id.toString()) callbacks.push_back(watch.second);
    }
    for (auto& callback : callbacks) callback(ServiceEvent{id, provider, change});
  }

  std::string owner_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::map<std::uint64_t, std::pair<std::string, std::function<void(const ServiceEvent&)>>> watches_;
  std::uint64_t nextWatch_ = 1;
};

class HarnessContext final : public PluginContext {
 public:
  HarnessContext(std::string name, std::string version)
      : name_(std::move(name)),
        version_(std::move(version)),
        registry_(name_),
        dataDirectory_("/tmp/hive-harness-" + name_) {}

  const std::string& pluginName() const override { return name_; }
  const std::string& pluginVersion() const override { return version_; }
  Logger& log() override { return logger_; }
  const ConfigNode& config() const override { return config_; }
  ServiceRegistry& services() override { return registry_; }
  Executor& io() override { return io_; }
  Executor& blocking() override { return blocking_; }
  Timers& timers() override { return timers_; }
  Metrics& metrics() override { return metrics_; }
  const std::string& dataDirectory() const override { return dataDirectory_; }
  // No io_context here: plugins that need one are tested against the kernel.
  void* nativeIoContext() override { return nullptr; }

  std::string name_;
  std::string version_;
  RecordingLogger logger_;
  ConfigNode config_ = ConfigNode::map();
  MemoryRegistry registry_;
  ManualExecutor io_;
  ManualExecutor blocking_;
  ManualTimers timers_;
  SimpleMetrics metrics_;
  std::string dataDirectory_;
};

}  // namespace

ConfigNode configFromPairs(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  ConfigNode node = ConfigNode::map();
  for (const auto& [key, value] : pairs) node.set(key, ConfigNode::scalar(value));
  return node;
}

struct PluginHarness::State {
  HarnessContext context;
  void* library = nullptr;
  const HiveManifest* manifest = nullptr;
  void (*destroy)(Plugin*) noexcept = nullptr;
  Plugin* plugin = nullptr;
  bool started = false;

  State(std::string name, std::string version) : context(std::move(name), std::move(version)) {}
};

PluginHarness::PluginHarness(std::string name, std::string version)
    : state_(std::make_unique<State>(std::move(name), std::move(version))) {}

PluginHarness::~PluginHarness() {
  stop();
  state_->context.registry_.withdrawEverything();
  if (state_->plugin != nullptr) {
    if (state_->destroy != nullptr)
      state_->destroy(state_->plugin);
    else
      delete state_->plugin;
  }
  // Queued work and timers may hold plugin code: drop them before the library.
  void* library = state_->library;
  state_.reset();
  if (library != nullptr) ::dlclose(library);
}

Result<std::unique_ptr<PluginHarness>> PluginHarness::loadLibrary(const std::string& path) {
  void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* error = ::dlerror();
    return unavailable(path + ": " + (error ? error : "dlopen failed"));
  }
  auto fail = [&](std::string why) {
    ::dlclose(library);
    return failedPrecondition(path + ": " + why);
  };
  auto* manifest = static_cast<const HiveManifest*>(::dlsym(library, HIVE_MANIFEST_SYMBOL));
  auto create = reinterpret_cast<Plugin* (*)(PluginContext*) noexcept>(::dlsym(library, HIVE_CREATE_SYMBOL));
  auto destroy = reinterpret_cast<void (*)(Plugin*) noexcept>(::dlsym(library, HIVE_DESTROY_SYMBOL));
  if (manifest == nullptr || create == nullptr || destroy == nullptr)
    return fail("not a Hive plugin (no HIVE_PLUGIN)");
  if (std::memcmp(manifest->magic, HIVE_MANIFEST_MAGIC, HIVE_MANIFEST_MAGIC_SIZE) != 0)
    return fail("bad manifest magic");
  if (manifest->abi_major != HIVE_SDK_ABI_MAJOR || manifest->abi_minor > HIVE_SDK_ABI_MINOR)
    return fail("built for SDK ABI " + std::to_string(manifest->abi_major) + "." +
                std::to_string(manifest->abi_minor) + ", these headers are " +
                std::to_string(HIVE_SDK_ABI_MAJOR) + "." + std::to_string(HIVE_SDK_ABI_MINOR));
  std::unique_ptr<PluginHarness> harness(new PluginHarness(
      std::string(manifest->name, strnlen(manifest->name, sizeof manifest->name)),
      std::string(manifest->version, strnlen(manifest->version, sizeof manifest->version))));
  harness->state_->library = library;
  harness->state_->manifest = manifest;
  harness->state_->destroy = destroy;
  Plugin* plugin = create(&harness->context());
  if (plugin == nullptr) {
    harness->state_->library = nullptr;  // closed by fail()
    return fail("the plugin's constructor failed");
  }
  harness->state_->plugin = plugin;
  return harness;
}

void PluginHarness::adopt(Plugin* plugin) { state_->plugin = plugin; }

void PluginHarness::setConfig(ConfigNode section) { state_->context.config_ = std::move(section); }

Diagnostics PluginHarness::configure() {
  Diagnostics diagnostics;
  state_->plugin->configure(state_->context.config_, diagnostics);
  return diagnostics;
}

Status PluginHarness::start() {
  Status started = state_->plugin->start();
  state_->started = started.ok();
  return started;
}

void PluginHarness::stop() {
  if (!state_ || !state_->started) return;
  state_->plugin->stop();
  state_->started = false;
}

Status PluginHarness::health() { return state_->plugin->health(); }
Plugin& PluginHarness::plugin() { return *state_->plugin; }
PluginContext& PluginHarness::context() { return state_->context; }
const HiveManifest* PluginHarness::manifest() const { return state_->manifest; }
ServiceRegistry& PluginHarness::services() { return state_->context.registry_; }
Metrics& PluginHarness::metrics() { return state_->context.metrics_; }
std::vector<std::string> PluginHarness::logLines() const { return state_->context.logger_.lines(); }

void PluginHarness::provideAs(const std::string& provider, ServiceId id, std::shared_ptr<Service> service) {
  (void)state_->context.registry_.provideAs(provider, id, std::move(service));
}

std::size_t PluginHarness::runPending() {
  std::size_t ran = 0;
  while (state_->context.io_.runOne() || state_->context.blocking_.runOne()) ++ran;
  return ran;
}

void PluginHarness::advanceTime(std::chrono::milliseconds duration) {
  auto until = state_->context.timers_.now() + duration;
  // Work posted by a timer may arm earlier timers: run it before the next one.
  state_->context.timers_.advanceTo(until);
  runPending();
}

}  // namespace hive::testing
