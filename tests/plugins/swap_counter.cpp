// The hot-swap test plugin: a counter whose value survives swaps through
// handoff(), with an Asio timer on the kernel's io_context whose handlers it
// counts, so that drained() is true only once none is in flight.
//
// Built several times from this file (see CMakeLists.txt):
//   SWAP_BUILD        "v1", "v2", ...
//   SWAP_FAIL_START   start()/startFrom() fail
//   SWAP_FAIL_HEALTH  health() fails
//   SWAP_NEVER_DRAINS drained() stays false
#include <atomic>
#include <charconv>
#include <memory>
#include <mutex>

#include <boost/asio/steady_timer.hpp>

#include "hive/asio.hpp"
#include "hive/plugin.hpp"
#include "swap_counter_service.hpp"

namespace hive::test {
namespace {

constexpr std::uint32_t kStateVersion = 1;

// Counts live timer handlers: a copy of the token lives in every handler.
class HandlerToken {
 public:
  explicit HandlerToken(std::atomic<int>& live) : live_(&live) { live_->fetch_add(1); }
  HandlerToken(const HandlerToken& other) : live_(other.live_) { live_->fetch_add(1); }
  HandlerToken& operator=(const HandlerToken&) = delete;
  ~HandlerToken() { live_->fetch_sub(1); }

 private:
  std::atomic<int>* live_;
};

class Counter final : public SwapCounter {
 public:
  std::int64_t next() override { return value.fetch_add(1) + 1; }
  std::string build() const override { return SWAP_BUILD; }
  std::int64_t ticks() const override { return tickCount.load(); }

  std::atomic<std::int64_t> value{0};
  std::atomic<std::int64_t> tickCount{0};
};

class SwapCounterPlugin final : public Plugin {
 public:
  explicit SwapCounterPlugin(PluginContext& context)
      : context_(context), timer_(std::make_shared<boost::asio::steady_timer>(ioContext(context))) {}

  ~SwapCounterPlugin() override { stopTimer(); }

  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    ConfigReader reader(section, diagnostics);
    tick_ = reader.get<std::chrono::milliseconds>("tick", std::chrono::milliseconds(1));
    reader.finish();
  }

  Status start() override { return begin(0); }

  Status startFrom(Handoff handoff) override {
    if (handoff.stateVersion != kStateVersion)
      return failedPrecondition("state version " + std::to_string(handoff.stateVersion) + " unknown");
    std::int64_t value = 0;
    auto [ptr, ec] =
        std::from_chars(handoff.state.data(), handoff.state.data() + handoff.state.size(), value);
    if (ec != std::errc()) return invalidArgument("bad state '" + handoff.state + "'");
    return begin(value);
  }

  Result<Handoff> handoff() override {
    return Handoff{kStateVersion, std::to_string(counter_->value.load()), {}};
  }

  void stop() override { stopTimer(); }

  Status health() override {
#ifdef SWAP_FAIL_HEALTH
    return unavailable("told to fail its health check");
#else
    return okStatus();
#endif
  }

  void beginDrain() override { stopTimer(); }

  bool drained() const override {
#ifdef SWAP_NEVER_DRAINS
    return false;
#else
    return liveHandlers_.load() == 0;
#endif
  }

 private:
  Status begin(std::int64_t value) {
#ifdef SWAP_FAIL_START
    (void)value;
    return unavailable("told to fail at start");
#else
    counter_->value = value;
    HIVE_TRY(context_.services().provide<SwapCounter>(counter_));
    running_ = true;
    arm();
    return okStatus();
#endif
  }

  void arm() {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    timer_->expires_after(tick_);
    timer_->async_wait([this, token = HandlerToken(liveHandlers_)](const boost::system::error_code& error) {
      if (error) return;
      counter_->tickCount.fetch_add(1);
      arm();
    });
  }

  void stopTimer() {
    std::lock_guard lock(mutex_);
    running_ = false;
    timer_->cancel();
  }

  PluginContext& context_;
  std::shared_ptr<boost::asio::steady_timer> timer_;
  std::shared_ptr<Counter> counter_ = std::make_shared<Counter>();
  std::chrono::milliseconds tick_{1};
  std::mutex mutex_;
  bool running_ = false;
  std::atomic<int> liveHandlers_{0};
};

}  // namespace
}  // namespace hive::test

HIVE_PLUGIN(hive::test::SwapCounterPlugin, .name = "swap_counter", .version = SWAP_VERSION,
            .description = "hot-swap test counter", .provides = {hive::test::SwapCounter::kServiceId})
