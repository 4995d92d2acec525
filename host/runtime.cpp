#include "host/runtime.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/deadline_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_timer.hpp>

namespace hive::host {

namespace asio = boost::asio;

namespace {

// Which Runtime owns the current thread; lets the runtime refuse calls that would wait
// for the calling thread itself (stop() joining it, quiesce() parking it).
thread_local const void* currentRuntime = nullptr;

void nameThread(const std::string& name) {
  // Linux limits thread names to 15 characters.
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// Runs plugin-provided code; nothing it throws may unwind into a kernel thread unseen.
template <typename Work>
void runGuarded(hive::Logger& log, const char* what, Work& work) noexcept {
  try {
    work();
  } catch (const std::exception& e) {
    try {
      log.error(std::string("runtime: exception escaped ") + what + ": " + e.what() + " (thread continues)");
    } catch (...) {
    }
  } catch (...) {
    try {
      log.error(std::string("runtime: non-standard exception escaped ") + what + " (thread continues)");
    } catch (...) {
    }
  }
}

// Every service type the kernel lends is created here once, by kernel code, before any
// plugin runs (see DESIGN.md, "Traps measured on this machine"). Opening and closing one
// object of each also initialises the reactor's per-descriptor state from kernel code.
void instantiateLentServices(asio::io_context& io, hive::Logger& log) {
  boost::system::error_code ignored;
  {
    asio::ip::tcp::acceptor acceptor(io);
    acceptor.open(asio::ip::tcp::v4(), ignored);
    acceptor.close(ignored);
  }
  {
    asio::ip::tcp::socket socket(io);
    socket.open(asio::ip::tcp::v4(), ignored);
    socket.close(ignored);
  }
  {
    asio::ip::udp::socket socket(io);
    socket.open(asio::ip::udp::v4(), ignored);
    socket.close(ignored);
  }
  {
    asio::steady_timer timer(io);
    timer.expires_after(std::chrono::seconds(1));
    timer.cancel();
  }
  {
    asio::system_timer timer(io);
    timer.expires_after(std::chrono::seconds(1));
    timer.cancel();
  }
  {
    // Asio's TLS streams queue their reads and writes on these (the api's HTTPS).
    asio::deadline_timer timer(io);
    timer.expires_from_now(boost::posix_time::seconds(1));
    timer.cancel();
  }
  { asio::strand<asio::io_context::executor_type> strand(io.get_executor()); }
  { asio::ip::tcp::resolver resolver(io); }
  {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      asio::posix::stream_descriptor descriptor(io);
      descriptor.assign(fds[0], ignored);
      if (ignored) ::close(fds[0]);
      descriptor.close(ignored);
      ::close(fds[1]);
    } else {
      log.warn("runtime: pipe2() failed; posix::stream_descriptor service is created without a descriptor");
      asio::posix::stream_descriptor descriptor(io);
    }
  }
}

class IoExecutor final : public hive::Executor {
 public:
  IoExecutor(asio::io_context& io, std::size_t threads, hive::Logger& log)
      : io_(io), threads_(threads), log_(log) {}

  // hive::Executor
  void post(std::function<void()> work) override {
    if (!work) {
      log_.warn("runtime: empty work posted to the I/O executor ignored");
      return;
    }
    asio::post(io_, [&log = log_, work = std::move(work)]() mutable { runGuarded(log, "I/O work", work); });
  }
  std::size_t threadCount() const override { return threads_; }

 private:
  asio::io_context& io_;
  const std::size_t threads_;
  hive::Logger& log_;
};

// A fixed number of threads over a FIFO queue. Own rather than asio::thread_pool so that
// the threads can be marked as runtime threads and catch what escapes the work.
class BlockingPool final : public hive::Executor {
 public:
  BlockingPool(std::size_t threads, hive::Logger& log, const void* owner)
      : threadCount_(threads), log_(log), owner_(owner) {}
  ~BlockingPool() override { stop(); }

  // hive::Executor
  void post(std::function<void()> work) override {
    if (!work) {
      log_.warn("runtime: empty work posted to the blocking executor ignored");
      return;
    }
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(work));
    }
    wake_.notify_one();
  }
  std::size_t threadCount() const override { return threadCount_; }

  void start() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = false;
    }
    for (std::size_t i = 0; i < threadCount_; ++i) threads_.emplace_back([this, i] { workerMain(i); });
  }

  void stop() {
    std::deque<std::function<void()>> discarded;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    {
      std::lock_guard lock(mutex_);
      discarded.swap(queue_);
    }
    if (!discarded.empty()) {
      log_.warn("runtime: stop discarded " + std::to_string(discarded.size()) + " queued blocking task(s)");
    }
  }

 private:
  void workerMain(std::size_t index) {
    nameThread("hive-block-" + std::to_string(index));
    currentRuntime = owner_;
    for (;;) {
      std::function<void()> work;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        work = std::move(queue_.front());
        queue_.pop_front();
      }
      runGuarded(log_, "blocking work", work);
    }
  }

  const std::size_t threadCount_;
  hive::Logger& log_;
  const void* owner_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class TimerRegistry;

// One scheduled callback. All access to `timer` happens under `mutex`, so the Asio
// object is never touched by two threads at once.
struct TimerState : std::enable_shared_from_this<TimerState> {
  TimerState(hive::Logger& log, std::weak_ptr<TimerRegistry> registry, std::function<void()> callback,
             std::optional<std::chrono::milliseconds> period)
      : log(log), registry(std::move(registry)), callback(std::move(callback)), period(period) {}

  void arm() {  // with `mutex` held
    timer->async_wait(
        [self = shared_from_this()](const boost::system::error_code& error) { self->fire(error); });
  }

  void fire(const boost::system::error_code& error);
  void cancel();

  hive::Logger& log;
  const std::weak_ptr<TimerRegistry> registry;
  std::mutex mutex;
  std::condition_variable idle;
  std::unique_ptr<asio::steady_timer> timer;  // null once cancelled or finished
  std::function<void()> callback;
  const std::optional<std::chrono::milliseconds> period;  // set for every()
  bool cancelled = false;
  std::thread::id runningOn;  // the thread inside the callback (or its destructor), if any
};

// Knows every live timer, so that stop() can cancel them and the asio::steady_timer
// objects are gone before the io_context they belong to.
class TimerRegistry final : public hive::Timers, public std::enable_shared_from_this<TimerRegistry> {
 public:
  TimerRegistry(asio::io_context& io, hive::Logger& log) : io_(io), log_(log) {}

  // hive::Timers
  std::unique_ptr<hive::Timer> after(std::chrono::milliseconds delay,
                                     std::function<void()> callback) override {
    return schedule(std::max(delay, std::chrono::milliseconds(0)), std::nullopt, std::move(callback));
  }
  std::unique_ptr<hive::Timer> every(std::chrono::milliseconds period,
                                     std::function<void()> callback) override {
    if (period <= std::chrono::milliseconds(0)) {
      log_.warn("runtime: timer period " + std::to_string(period.count()) + " ms raised to 1 ms");
      period = std::chrono::milliseconds(1);
    }
    return schedule(period, period, std::move(callback));
  }

  void cancelAll() {
    std::vector<std::shared_ptr<TimerState>> states;
    {
      std::lock_guard lock(mutex_);
      for (auto& [key, state] : live_) states.push_back(state);
    }
    for (auto& state : states) state->cancel();
  }

  // No timer can be scheduled afterwards; used before the io_context goes away.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    cancelAll();
  }

  void forget(const TimerState* state) {
    std::shared_ptr<TimerState> last;  // released outside the lock
    std::lock_guard lock(mutex_);
    auto found = live_.find(state);
    if (found == live_.end()) return;
    last = std::move(found->second);
    live_.erase(found);
  }

 private:
  class Handle final : public hive::Timer {
   public:
    explicit Handle(std::shared_ptr<TimerState> state) : state_(std::move(state)) {}
    ~Handle() override { state_->cancel(); }
    // hive::Timer
    void cancel() override { state_->cancel(); }

   private:
    std::shared_ptr<TimerState> state_;
  };

  std::unique_ptr<hive::Timer> schedule(std::chrono::milliseconds delay,
                                        std::optional<std::chrono::milliseconds> period,
                                        std::function<void()> callback) {
    if (!callback) log_.warn("runtime: timer with an empty callback will never run");
    auto state = std::make_shared<TimerState>(log_, weak_from_this(), std::move(callback), period);
    bool accepted = false;
    {
      std::lock_guard lock(mutex_);
      if (!closed_ && state->callback) {
        live_.emplace(state.get(), state);
        accepted = true;
      }
    }
    std::unique_lock lock(state->mutex);
    // A concurrent cancelAll() may already have cancelled the state; then no Asio timer
    // may be created, or it could outlive the io_context.
    if (accepted && !state->cancelled) {
      state->timer = std::make_unique<asio::steady_timer>(io_, delay);
      state->arm();
    } else {
      state->cancelled = true;
    }
    lock.unlock();
    return std::make_unique<Handle>(std::move(state));
  }

  asio::io_context& io_;
  hive::Logger& log_;
  std::mutex mutex_;
  bool closed_ = false;
  std::unordered_map<const TimerState*, std::shared_ptr<TimerState>> live_;
};

void TimerState::fire(const boost::system::error_code& error) {
  std::unique_lock lock(mutex);
  if (cancelled || !timer || error == asio::error::operation_aborted) return;
  runningOn = std::this_thread::get_id();
  lock.unlock();
  runGuarded(log, "a timer callback", callback);
  lock.lock();

  std::function<void()> finished;
  if (period && !cancelled && timer) {
    // This call is over before the next can start (possibly at once, on another
    // thread): clear the mark first, or clearing it later would erase the next call's.
    runningOn = std::thread::id();
    idle.notify_all();
    // Keeps the cadence of a fast callback; a slow one delays the next call instead of
    // piling calls up behind it.
    auto next = std::max(timer->expiry() + *period, asio::steady_timer::clock_type::now());
    timer->expires_at(next);
    arm();
    return;
  } else {
    cancelled = true;
    timer.reset();
    finished = std::move(callback);
  }
  const bool done = cancelled;
  lock.unlock();
  // The callback's destructor is plugin code too: cancel() keeps waiting until it ran.
  finished = nullptr;
  if (done) {
    if (auto owner = registry.lock()) owner->forget(this);
  }
  lock.lock();
  runningOn = std::thread::id();
  idle.notify_all();
}

void TimerState::cancel() {
  std::unique_lock lock(mutex);
  std::function<void()> doomed;
  if (!cancelled) {
    cancelled = true;
    timer.reset();  // aborts a pending wait; its handler only drops the last reference
    if (runningOn == std::thread::id()) doomed = std::move(callback);
  }
  // From inside the callback (or its destructor) there is nothing to wait for: fire()
  // sees `cancelled` when the callback returns.
  if (runningOn != std::this_thread::get_id()) {
    idle.wait(lock, [this] { return runningOn == std::thread::id(); });
  }
  lock.unlock();
  doomed = nullptr;
  if (auto owner = registry.lock()) owner->forget(this);
}

}  // namespace

struct Runtime::Impl {
  Impl(std::size_t ioThreadCount, std::size_t blockingThreadCount, hive::Logger& log)
      : log(log),
        ioThreadCount(ioThreadCount),
        ioExecutor(io, ioThreadCount, log),
        blockingPool(blockingThreadCount, log, this),
        timers(std::make_shared<TimerRegistry>(io, log)) {}

  void ioThreadMain(std::size_t index) {
    nameThread("hive-io-" + std::to_string(index));
    currentRuntime = this;
    for (;;) {
      // Raw Asio handlers of plugins are not wrapped: whatever escapes them ends run().
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        log.error(std::string("runtime: exception escaped an I/O handler: ") + e.what() +
                  " (thread continues)");
      } catch (...) {
        log.error("runtime: non-standard exception escaped an I/O handler (thread continues)");
      }
    }
  }

  hive::Logger& log;
  asio::io_context io;
  const std::size_t ioThreadCount;
  IoExecutor ioExecutor;
  BlockingPool blockingPool;
  std::shared_ptr<TimerRegistry> timers;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> workGuard;
  std::vector<std::thread> ioThreads;
  std::mutex lifecycleMutex;  // start/stop/quiesce
  // Atomic rather than under lifecycleMutex: stop() and quiesce() hold that mutex while
  // they wait for callbacks, which may well ask whether the runtime is running.
  std::atomic<bool> running{false};
  std::atomic<std::size_t> parked{0};
  // Threads in waitParked(), and whether a quiesce() is under way: one that ends
  // its wait meanwhile stays in kernel code until it is over.
  std::mutex waitMutex;
  std::condition_variable quiesceEnded;
  std::size_t waiting = 0;
  bool quiescing = false;
};

namespace {

std::size_t atLeastOne(int count, const char* what, hive::Logger& log) {
  if (count >= 1) return static_cast<std::size_t>(count);
  log.warn(std::string("runtime: ") + what + " thread count " + std::to_string(count) + " raised to 1");
  return 1;
}

}  // namespace

Runtime::Runtime(int ioThreads, int blockingThreads, hive::Logger& kernelLog)
    : impl_(std::make_unique<Impl>(atLeastOne(ioThreads, "I/O", kernelLog),
                                   atLeastOne(blockingThreads, "blocking", kernelLog), kernelLog)) {
  instantiateLentServices(impl_->io, kernelLog);
}

Runtime::~Runtime() {
  stop();
  // Asio timers must be gone before their io_context; handles may outlive us.
  impl_->timers->close();
}

void Runtime::start() {
  std::lock_guard lock(impl_->lifecycleMutex);
  if (impl_->running) return;
  if (impl_->io.stopped()) impl_->io.restart();
  impl_->workGuard.emplace(asio::make_work_guard(impl_->io));
  impl_->running = true;
  for (std::size_t i = 0; i < impl_->ioThreadCount; ++i) {
    impl_->ioThreads.emplace_back([impl = impl_.get(), i] { impl->ioThreadMain(i); });
  }
  impl_->blockingPool.start();
}

void Runtime::stop() {
  if (onRuntimeThread()) {
    impl_->log.error("runtime: stop() called from a runtime thread refused (a thread cannot join itself)");
    return;
  }
  std::lock_guard lock(impl_->lifecycleMutex);
  // Before the threads go: a callback that is running finishes, none starts afterwards.
  impl_->timers->cancelAll();
  if (!impl_->running) return;
  impl_->workGuard.reset();
  impl_->io.stop();
  for (auto& thread : impl_->ioThreads) thread.join();
  impl_->ioThreads.clear();
  impl_->blockingPool.stop();
  impl_->running = false;
}

boost::asio::io_context& Runtime::ioContext() { return impl_->io; }

hive::Executor& Runtime::io() { return impl_->ioExecutor; }

hive::Executor& Runtime::blocking() { return impl_->blockingPool; }

hive::Timers& Runtime::timers() { return *impl_->timers; }

bool Runtime::quiesce(std::chrono::milliseconds timeout, const std::function<void()>& whileParked) {
  if (onRuntimeThread()) {
    impl_->log.error("runtime: quiesce() called from a runtime thread refused (it cannot park itself)");
    return false;
  }
  std::lock_guard lifecycle(impl_->lifecycleMutex);
  auto runWhileParked = [&] {
    if (whileParked) runGuarded(impl_->log, "quiesce work", whileParked);
  };
  if (!impl_->running) {
    runWhileParked();
    return true;
  }
  {
    std::lock_guard lock(impl_->waitMutex);
    impl_->quiescing = true;
  }
  auto endQuiesce = [impl = impl_.get()] {
    {
      std::lock_guard lock(impl->waitMutex);
      impl->quiescing = false;
    }
    impl->quiesceEnded.notify_all();
  };

  struct Parking {
    std::mutex mutex;
    std::condition_variable arrivedChanged;
    std::size_t arrived = 0;
    std::latch release{1};
  };
  // Shared with the handlers: one that starts after a timeout must still find it.
  auto parking = std::make_shared<Parking>();
  const std::size_t total = impl_->ioThreadCount + impl_->blockingPool.threadCount();
  auto park = [parking, impl = impl_.get()] {
    impl->parked.fetch_add(1);
    {
      std::lock_guard lock(parking->mutex);
      ++parking->arrived;
    }
    parking->arrivedChanged.notify_all();
    // Blocking is the point: a parked thread cannot take a second park handler, so
    // `total` handlers occupy every thread exactly once.
    parking->release.wait();
    impl->parked.fetch_sub(1);
  };
  for (std::size_t i = 0; i < impl_->ioThreadCount; ++i) asio::post(impl_->io, park);
  for (std::size_t i = 0; i < impl_->blockingPool.threadCount(); ++i) impl_->blockingPool.post(park);

  // A thread in waitParked() takes no park handler (its park runs, and returns at
  // once, when its wait is over); it may enter that wait while this one goes on,
  // which is why the count is looked at again every few milliseconds.
  auto waiting = [impl = impl_.get()] {
    std::lock_guard lock(impl->waitMutex);
    return impl->waiting;
  };
  bool allParked = false;
  std::size_t arrived = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    std::unique_lock lock(parking->mutex);
    for (;;) {
      arrived = parking->arrived;
      if (arrived + waiting() >= total) {
        allParked = true;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      parking->arrivedChanged.wait_for(lock, std::chrono::milliseconds(5));
    }
  }
  if (allParked) runWhileParked();
  parking->release.count_down();
  endQuiesce();
  if (!allParked) {
    impl_->log.warn("runtime: quiesce timed out after " + std::to_string(timeout.count()) + " ms with " +
                    std::to_string(arrived) + " of " + std::to_string(total) + " threads parked");
  }
  return allParked;
}

void Runtime::waitParked(const std::function<void()>& wait) {
  if (!onRuntimeThread()) {
    wait();
    return;
  }
  {
    std::lock_guard lock(impl_->waitMutex);
    ++impl_->waiting;
  }
  runGuarded(impl_->log, "a parked wait", wait);
  std::unique_lock lock(impl_->waitMutex);
  impl_->quiesceEnded.wait(lock, [&] { return !impl_->quiescing; });
  --impl_->waiting;
}

std::size_t Runtime::ioThreadCount() const { return impl_->ioThreadCount; }

std::size_t Runtime::blockingThreadCount() const { return impl_->blockingPool.threadCount(); }

std::size_t Runtime::parkedThreadCount() const { return impl_->parked.load(); }

bool Runtime::running() const { return impl_->running.load(); }

bool Runtime::onRuntimeThread() const { return currentRuntime == impl_.get(); }

}  // namespace hive::host
