// storage_postgres throughput, printed (not a test): enqueues/s from many caller
// threads, then claim→complete/s, against the real .so.
//
//   storage_postgres_bench URL [THREADS=32] [SECONDS=5] [SCHEMA=bench_<pid>] [BATCH_CONCURRENCY] [POOL_SIZE]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [THREADS] [SECONDS] [SCHEMA]\n", argv[0]);
    return 2;
  }
  std::string url = argv[1];
  int threads = argc > 2 ? std::stoi(argv[2]) : 32;
  int seconds = argc > 3 ? std::stoi(argv[3]) : 5;
  std::string schema = argc > 4 ? argv[4] : "bench_" + std::to_string(::getpid());
  auto loaded = hive::testing::PluginHarness::loadLibrary(STORAGE_POSTGRES_PLUGIN_PATH);
  if (!loaded.ok()) return std::fprintf(stderr, "%s\n", loaded.status().toString().c_str()), 1;
  auto harness = std::move(loaded).value();
  auto section = hive::ConfigNode::map();
  section.set("url", hive::ConfigNode::scalar(url));
  section.set("schema", hive::ConfigNode::scalar(schema));
  if (argc > 5) section.set("batch_concurrency", hive::ConfigNode::scalar(argv[5]));
  if (argc > 6) section.set("pool_size", hive::ConfigNode::scalar(argv[6]));
  harness->setConfig(section);
  if (auto started = harness->start(); !started.ok())
    return std::fprintf(stderr, "%s\n", started.toString().c_str()), 1;
  {
    auto store = harness->services().get<hive::store::Store>();
    hive::store::Store& s = **store;

    std::atomic<bool> stop{false};
    std::atomic<long> enqueued{0}, errors{0};
    std::vector<std::thread> pool;
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        hive::store::EnqueueRequest request;
        request.queue = "bench";
        request.payload = std::string(200, 'p');
        while (!stop) {
          if (s.enqueue(request).ok())
            ++enqueued;
          else
            ++errors;
        }
      });
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    stop = true;
    for (auto& t : pool) t.join();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("enqueue: %d threads, %ld items in %.2fs = %.0f/s (%ld errors)\n", threads, enqueued.load(),
                elapsed, enqueued.load() / elapsed, errors.load());

    std::atomic<long> completed{0};
    stop = false;
    pool.clear();
    start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        hive::store::ClaimRequest request;
        request.queue = "bench";
        request.claimant = "bench-" + std::to_string(t);
        request.maxItems = 1;
        while (!stop) {
          auto claimed = s.claim(request);
          if (!claimed.ok()) {
            ++errors;
            continue;
          }
          if (claimed->empty()) break;
          for (const auto& item : *claimed)
            if (s.complete("bench", item.id, item.leaseToken).ok())
              ++completed;
            else
              ++errors;
        }
      });
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    stop = true;
    for (auto& t : pool) t.join();
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("claim+complete: %d threads, %ld items in %.2fs = %.0f/s (%ld errors)\n", threads,
                completed.load(), elapsed, completed.load() / elapsed, errors.load());
    auto& metrics = harness->metrics();
    auto& sizes = metrics.histogram("hive_store_postgres_batch_size", "",
                                    {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, {{"schema", schema}});
    std::printf("group commit: %llu transactions, %.1f requests per transaction on average\n",
                static_cast<unsigned long long>(sizes.count()),
                sizes.sum() / std::max<double>(1, sizes.count()));
  }
  harness->stop();
  pqxx::connection connection(url);
  pqxx::nontransaction tx(connection);
  tx.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
  return 0;
}
