#include "host/runtime.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/deadline_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace hive::host {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// Polls instead of sleeping a fixed time, so that slow machines only make tests slower.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class RuntimeTest : public ::testing::Test {
 protected:
  hive::test::RecordingLogger log_;
};

TEST_F(RuntimeTest, LentServicesExistBeforeAnyPluginRuns) {
  Runtime runtime(1, 1, log_);
  auto& io = runtime.ioContext();
  using SteadyTimerService = asio::detail::deadline_timer_service<asio::detail::chrono_time_traits<
      std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>>>;
  EXPECT_TRUE(asio::has_service<asio::detail::reactive_socket_service<asio::ip::tcp>>(io));
  EXPECT_TRUE(asio::has_service<SteadyTimerService>(io));
  // boost::asio::ssl::stream's queued operations (the api plugin's TLS).
  EXPECT_TRUE(
      asio::has_service<asio::detail::deadline_timer_service<asio::time_traits<boost::posix_time::ptime>>>(
          io));
  EXPECT_TRUE(asio::has_service<asio::detail::strand_executor_service>(io));
  EXPECT_TRUE(asio::has_service<asio::detail::reactive_descriptor_service>(io));
  EXPECT_TRUE(asio::has_service<asio::detail::resolver_service<asio::ip::tcp>>(io));
}

TEST_F(RuntimeTest, ThreadCounts) {
  Runtime runtime(3, 2, log_);
  EXPECT_EQ(runtime.ioThreadCount(), 3u);
  EXPECT_EQ(runtime.io().threadCount(), 3u);
  EXPECT_EQ(runtime.blockingThreadCount(), 2u);
  EXPECT_EQ(runtime.blocking().threadCount(), 2u);

  Runtime clamped(0, -4, log_);
  EXPECT_EQ(clamped.ioThreadCount(), 1u);
  EXPECT_EQ(clamped.blockingThreadCount(), 1u);
}

TEST_F(RuntimeTest, PostsRunOnRuntimeThreads) {
  Runtime runtime(2, 2, log_);
  runtime.start();
  for (Executor* executor : {&runtime.io(), &runtime.blocking()}) {
    std::promise<std::pair<std::thread::id, bool>> ran;
    executor->post([&] { ran.set_value({std::this_thread::get_id(), runtime.onRuntimeThread()}); });
    auto future = ran.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    auto [thread, onRuntimeThread] = future.get();
    EXPECT_NE(thread, std::this_thread::get_id());
    EXPECT_TRUE(onRuntimeThread);
  }
  EXPECT_FALSE(runtime.onRuntimeThread());
}

TEST_F(RuntimeTest, WorkPostedBeforeStartRunsAfterIt) {
  Runtime runtime(1, 1, log_);
  std::atomic<int> ran{0};
  runtime.io().post([&] { ++ran; });
  runtime.blocking().post([&] { ++ran; });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(ran.load(), 0);
  runtime.start();
  EXPECT_TRUE(eventually([&] { return ran == 2; }));
}

TEST_F(RuntimeTest, ThousandPostsAllRun) {
  Runtime runtime(4, 3, log_);
  runtime.start();
  std::atomic<int> io{0};
  std::atomic<int> blocking{0};
  std::mutex mutex;
  std::set<std::thread::id> ioThreads;
  for (int i = 0; i < 1000; ++i) {
    runtime.io().post([&] {
      {
        std::lock_guard lock(mutex);
        ioThreads.insert(std::this_thread::get_id());
      }
      ++io;
    });
    runtime.blocking().post([&] { ++blocking; });
  }
  EXPECT_TRUE(eventually([&] { return io == 1000 && blocking == 1000; }));
  std::lock_guard lock(mutex);
  EXPECT_LE(ioThreads.size(), 4u);
}

TEST_F(RuntimeTest, AfterFiresOnce) {
  Runtime runtime(2, 1, log_);
  runtime.start();
  std::atomic<int> calls{0};
  std::atomic<bool> onIoThread{false};
  auto start = std::chrono::steady_clock::now();
  std::atomic<std::chrono::steady_clock::time_point> firedAt{};
  auto timer = runtime.timers().after(30ms, [&] {
    firedAt = std::chrono::steady_clock::now();
    onIoThread = runtime.onRuntimeThread();
    ++calls;
  });
  EXPECT_TRUE(eventually([&] { return calls == 1; }));
  EXPECT_GE(firedAt.load() - start, 30ms);
  EXPECT_TRUE(onIoThread);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(RuntimeTest, EveryFiresPeriodicallyAndNeverOverlaps) {
  Runtime runtime(4, 1, log_);
  runtime.start();
  std::atomic<int> calls{0};
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  auto timer = runtime.timers().every(5ms, [&] {
    if (++inside > 1) overlapped = true;
    std::this_thread::sleep_for(8ms);  // slower than the period: the next call must wait
    --inside;
    ++calls;
  });
  EXPECT_TRUE(eventually([&] { return calls >= 5; }));
  timer.reset();
  int after = calls.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), after) << "no call after the handle is gone";
  EXPECT_FALSE(overlapped);
}

TEST_F(RuntimeTest, CancelBeforeFiringPreventsTheCall) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  std::atomic<int> calls{0};
  // Long enough that a descheduled test thread still cancels before the deadline.
  auto cancelled = runtime.timers().after(200ms, [&] { ++calls; });
  auto destroyed = runtime.timers().after(200ms, [&] { ++calls; });
  auto periodic = runtime.timers().every(200ms, [&] { ++calls; });
  cancelled->cancel();
  cancelled->cancel();  // twice is fine
  destroyed.reset();
  periodic->cancel();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(RuntimeTest, DestroyingATimerWhileItsCallbackSleepsWaitsForIt) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  std::promise<void> started;
  std::atomic<bool> finished{false};
  auto timer = runtime.timers().after(0ms, [&] {
    started.set_value();
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  started.get_future().wait();
  auto before = std::chrono::steady_clock::now();
  timer.reset();
  EXPECT_TRUE(finished) << "the handle's destructor returned while the callback still ran";
  EXPECT_GE(std::chrono::steady_clock::now() - before, 100ms);
}

TEST_F(RuntimeTest, CancelFromAnotherThreadWaitsForARunningPeriodicCallback) {
  Runtime runtime(2, 1, log_);
  runtime.start();
  std::atomic<int> calls{0};
  std::atomic<bool> inside{false};
  std::promise<void> started;
  std::once_flag once;
  auto timer = runtime.timers().every(1ms, [&] {
    inside = true;
    std::call_once(once, [&] { started.set_value(); });
    std::this_thread::sleep_for(50ms);
    ++calls;
    inside = false;
  });
  started.get_future().wait();
  timer->cancel();
  EXPECT_FALSE(inside);
  int after = calls.load();
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls.load(), after);
}

TEST_F(RuntimeTest, CancelFromInsideItsOwnCallback) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  std::atomic<int> calls{0};
  std::unique_ptr<Timer> timer;
  std::mutex mutex;
  {
    std::lock_guard lock(mutex);  // the callback may fire before `timer` is assigned
    timer = runtime.timers().every(2ms, [&] {
      std::lock_guard inner(mutex);
      if (++calls == 3) timer->cancel();
    });
  }
  EXPECT_TRUE(eventually([&] { return calls == 3; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls.load(), 3);
  std::lock_guard lock(mutex);
  timer.reset();  // cancelling again from outside is harmless
}

TEST_F(RuntimeTest, DestroyingTheHandleInsideItsOwnCallback) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  std::atomic<int> calls{0};
  std::unique_ptr<Timer> timer;
  std::mutex mutex;
  {
    std::lock_guard lock(mutex);
    timer = runtime.timers().every(2ms, [&] {
      std::lock_guard inner(mutex);
      ++calls;
      timer.reset();
    });
  }
  EXPECT_TRUE(eventually([&] { return calls == 1; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls.load(), 1);
  std::lock_guard lock(mutex);
  EXPECT_EQ(timer, nullptr);
}

TEST_F(RuntimeTest, StopCancelsTimersAndHandlesMayOutliveTheRuntime) {
  std::atomic<int> calls{0};
  std::unique_ptr<Timer> survivor;
  {
    Runtime runtime(1, 1, log_);
    runtime.start();
    auto pending = runtime.timers().after(200ms, [&] { ++calls; });
    survivor = runtime.timers().every(1h, [&] { ++calls; });
    runtime.stop();
    runtime.start();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(calls.load(), 0);
    // New timers work after a restart.
    auto fresh = runtime.timers().after(1ms, [&] { ++calls; });
    EXPECT_TRUE(eventually([&] { return calls == 1; }));
  }
  survivor->cancel();
  survivor.reset();
}

TEST_F(RuntimeTest, QuiesceParksEveryThread) {
  Runtime runtime(3, 2, log_);
  runtime.start();
  std::size_t parkedWhileParked = 0;
  std::atomic<int> ranWhileParked{0};
  bool ok = runtime.quiesce(5s, [&] {
    parkedWhileParked = runtime.parkedThreadCount();
    // With every thread parked, nothing posted now may start.
    runtime.io().post([&] { ++ranWhileParked; });
    runtime.blocking().post([&] { ++ranWhileParked; });
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(ranWhileParked.load(), 0);
  });
  EXPECT_TRUE(ok);
  EXPECT_EQ(parkedWhileParked, 5u);
  EXPECT_TRUE(eventually([&] { return ranWhileParked == 2; })) << "threads were released";
  EXPECT_TRUE(eventually([&] { return runtime.parkedThreadCount() == 0; }));
  EXPECT_TRUE(runtime.quiesce(5s)) << "repeatable";
}

TEST_F(RuntimeTest, QuiesceFailsWhileAThreadIsBusyAndSucceedsLater) {
  Runtime runtime(2, 1, log_);
  runtime.start();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> busy;
  runtime.io().post([&, released] {
    busy.set_value();
    released.wait();
  });
  busy.get_future().wait();
  bool called = false;
  EXPECT_FALSE(runtime.quiesce(100ms, [&] { called = true; }));
  EXPECT_FALSE(called);
  release.set_value();
  EXPECT_TRUE(runtime.quiesce(5s));
  // The late park handler of the failed attempt passed straight through.
  EXPECT_TRUE(eventually([&] { return runtime.parkedThreadCount() == 0; }));
}

TEST_F(RuntimeTest, QuiesceFromARuntimeThreadIsRefused) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  std::promise<bool> result;
  runtime.blocking().post([&] { result.set_value(runtime.quiesce(1s)); });
  EXPECT_FALSE(result.get_future().get());
  EXPECT_EQ(log_.errors().size(), 1u);
}

// How a plugin's blocking thread waits for a swap that the kernel runs on its
// own thread, and that quiesces the runtime before it closes a library.
TEST_F(RuntimeTest, AThreadInAParkedWaitCountsAsParkedAndStaysInItUntilTheQuiesceEnds) {
  Runtime runtime(1, 2, log_);
  runtime.start();
  std::promise<void> swapDone;
  std::shared_future<void> done = swapDone.get_future().share();
  std::atomic<bool> waiting{false}, returned{false};
  runtime.blocking().post([&, done] {
    runtime.waitParked([&] {
      waiting = true;
      done.wait();
    });
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return waiting.load(); }));
  bool returnedWhileParked = true;
  bool ok = runtime.quiesce(5s, [&] {
    // The wait is over now, yet its thread must not go back to its caller.
    swapDone.set_value();
    std::this_thread::sleep_for(50ms);
    returnedWhileParked = returned;
  });
  EXPECT_TRUE(ok) << "the waiting thread was counted as parked";
  EXPECT_FALSE(returnedWhileParked);
  EXPECT_TRUE(eventually([&] { return returned.load(); })) << "released with the others";
  EXPECT_TRUE(eventually([&] { return runtime.parkedThreadCount() == 0; }));
  EXPECT_TRUE(runtime.quiesce(5s)) << "its late park handler passed straight through";
  EXPECT_TRUE(log_.errors().empty());
}

TEST_F(RuntimeTest, AParkedWaitOffTheRuntimeJustWaits) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  bool waited = false;
  runtime.waitParked([&] { waited = true; });
  EXPECT_TRUE(waited);
}

TEST_F(RuntimeTest, QuiesceWhenNotRunningHasNothingToPark) {
  Runtime runtime(2, 2, log_);
  bool called = false;
  EXPECT_TRUE(runtime.quiesce(10ms, [&] { called = true; }));
  EXPECT_TRUE(called);
}

TEST_F(RuntimeTest, StopIsIdempotent) {
  Runtime runtime(2, 2, log_);
  runtime.stop();  // never started
  runtime.start();
  runtime.start();  // already running
  EXPECT_TRUE(runtime.running());
  runtime.stop();
  runtime.stop();
  EXPECT_FALSE(runtime.running());
  runtime.start();
  std::promise<void> ran;
  runtime.io().post([&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(5s), std::future_status::ready);
  // The destructor stops once more.
}

TEST_F(RuntimeTest, ExceptionsAreLoggedAndThreadsSurvive) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  runtime.io().post([] { throw std::runtime_error("io boom"); });
  runtime.blocking().post([] { throw std::runtime_error("blocking boom"); });
  runtime.io().post([] { throw 42; });
  auto timer = runtime.timers().after(0ms, [] { throw std::logic_error("timer boom"); });
  // A plugin's raw Asio handler is not wrapped by the executor.
  asio::post(runtime.ioContext(), [] { throw std::runtime_error("raw boom"); });

  EXPECT_TRUE(eventually([&] { return log_.errors().size() == 5; }));
  std::atomic<int> ran{0};
  runtime.io().post([&] { ++ran; });
  runtime.blocking().post([&] { ++ran; });
  EXPECT_TRUE(eventually([&] { return ran == 2; })) << "the single threads survived";

  auto errors = log_.errors();
  ASSERT_EQ(errors.size(), 5u);
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  for (const char* expected :
       {"I/O work: io boom", "blocking work: blocking boom", "non-standard exception escaped I/O work",
        "a timer callback: timer boom", "an I/O handler: raw boom"}) {
    EXPECT_NE(all.find(expected), std::string::npos) << expected << " not in\n" << all;
  }
}

TEST_F(RuntimeTest, PeriodicTimerSurvivesAThrowingCallback) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  std::atomic<int> calls{0};
  auto timer = runtime.timers().every(2ms, [&] {
    ++calls;
    throw std::runtime_error("periodic boom");
  });
  EXPECT_TRUE(eventually([&] { return calls >= 3; }));
}

TEST_F(RuntimeTest, StopFromARuntimeThreadIsRefused) {
  Runtime runtime(1, 1, log_);
  runtime.start();
  std::promise<void> done;
  runtime.io().post([&] {
    runtime.stop();
    done.set_value();
  });
  done.get_future().wait();
  EXPECT_TRUE(runtime.running());
  EXPECT_EQ(log_.errors().size(), 1u);
}

}  // namespace
}  // namespace hive::host
