// A second node for the multi-process tests: loads the storage_postgres .so
// through the SDK harness, as another Hive process would, and does one job.
//
//   storage_postgres_worker drain   URL SCHEMA QUEUE OUTFILE CLAIMANT
//       claims and completes until the queue stays empty; writes one line per
//       completed item ("<payload>") to OUTFILE; exits 0, or 2 on errors.
//   storage_postgres_worker wait    URL SCHEMA QUEUE TIMEOUT_MS
//       subscribes onClaimable(QUEUE), prints "ready", exits 0 once woken
//       ("woken"), 3 when TIMEOUT_MS passes first.
//   storage_postgres_worker enqueue URL SCHEMA QUEUE PAYLOAD
//       enqueues one item and exits 0.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "worker: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return fail("usage: drain|wait|enqueue URL SCHEMA QUEUE ...");
  std::string mode = argv[1], url = argv[2], schema = argv[3], queue = argv[4];
  auto loaded = hive::testing::PluginHarness::loadLibrary(STORAGE_POSTGRES_PLUGIN_PATH);
  if (!loaded.ok()) return fail(loaded.status().toString());
  auto harness = std::move(loaded).value();
  auto section = hive::ConfigNode::map();
  section.set("url", hive::ConfigNode::scalar(url));
  section.set("schema", hive::ConfigNode::scalar(schema));
  section.set("pool_size", hive::ConfigNode::scalar("4"));
  harness->setConfig(section);
  hive::Status started = harness->start();
  if (!started.ok()) return fail("start: " + started.toString());
  int code = 0;
  {
    auto store = harness->services().get<hive::store::Store>();
    if (!store.ok()) return fail(store.status().toString());
    hive::store::Store& s = **store;

    if (mode == "drain" && argc >= 7) {
      std::ofstream out(argv[5]);
      int emptyInARow = 0;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
      while (std::chrono::steady_clock::now() < deadline) {
        hive::store::ClaimRequest request;
        request.queue = queue;
        request.claimant = argv[6];
        request.lease = std::chrono::minutes(10);
        request.maxItems = 8;
        auto claimed = s.claim(request);
        if (!claimed.ok()) {
          std::fprintf(stderr, "worker: claim: %s\n", claimed.status().toString().c_str());
          code = 2;
          break;
        }
        if (claimed->empty()) {
          if (++emptyInARow > 40) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        emptyInARow = 0;
        for (const auto& item : *claimed) {
          hive::Status done = s.complete(queue, item.id, item.leaseToken);
          if (!done.ok()) {
            std::fprintf(stderr, "worker: complete %s: %s\n", item.id.c_str(), done.toString().c_str());
            code = 2;
            continue;
          }
          out << item.payload << '\n';
        }
      }
      out.flush();
      if (!out) code = 2;
    } else if (mode == "wait" && argc >= 6) {
      std::mutex mutex;
      std::condition_variable woken;
      bool called = false;
      auto subscription = s.onClaimable(queue, [&] {
        std::lock_guard lock(mutex);
        called = true;
        woken.notify_all();
      });
      std::printf("ready\n");
      std::fflush(stdout);
      std::unique_lock lock(mutex);
      bool ok = woken.wait_for(lock, std::chrono::milliseconds(std::stoll(argv[5])), [&] { return called; });
      lock.unlock();
      subscription.reset();
      std::printf(ok ? "woken\n" : "timeout\n");
      std::fflush(stdout);
      code = ok ? 0 : 3;
    } else if (mode == "enqueue" && argc >= 6) {
      hive::store::EnqueueRequest request;
      request.queue = queue;
      request.payload = argv[5];
      auto item = s.enqueue(request);
      if (!item.ok()) {
        std::fprintf(stderr, "worker: enqueue: %s\n", item.status().toString().c_str());
        code = 2;
      }
    } else {
      code = fail("unknown mode or missing arguments: " + mode);
    }
  }
  harness->stop();
  return code;
}
