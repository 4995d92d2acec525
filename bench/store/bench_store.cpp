// bench_store: loads a hive.store/1 plugin through the SDK harness and prints
//   1. enqueue throughput with N concurrent clients (group commit at work),
//   2. enqueue -> claim -> complete cycles: throughput and latency p50/p99,
//   3. with --pg URL (or HIVE_TEST_POSTGRES_URL set): pgbench, an insert-only
//      custom script with 4 clients against that database, and the ratio.
// The plugin's durability setting is what its config says; storage_sqlite's
// default is synchronous=full (fsync on every commit).
//
//   bench_store [--plugin SO] [--config key=value]... [--threads 8,64,128] [--enqueues 20000]
//               [--cycles 5000] [--pg URL] [--pg-seconds 10]
//
// Without --config path=..., storage_sqlite's file lives in a fresh temporary
// data directory (on the same file system as /tmp).
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hive/config.hpp"
#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string plugin = BENCH_STORE_DEFAULT_PLUGIN;
  std::vector<std::pair<std::string, std::string>> config;
  std::vector<int> threads = {8, 64, 128};
  int enqueues = 20000;
  int cycles = 5000;
  std::string pgUrl;
  int pgSeconds = 10;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    std::string value = argv[++i];
    if (arg == "--plugin") {
      o.plugin = value;
    } else if (arg == "--config") {
      // key=value, or the YAML flow form key: value
      auto at = value.find('=');
      std::size_t skip = 1;
      if (at == std::string::npos) {
        at = value.find(": ");
        skip = 2;
      }
      if (at == std::string::npos) return false;
      o.config.emplace_back(value.substr(0, at), value.substr(at + skip));
    } else if (arg == "--threads") {
      o.threads.clear();
      std::size_t start = 0;
      while (start <= value.size()) {
        auto comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        int n = std::atoi(value.substr(start, comma - start).c_str());
        if (n < 1 || n > 1024) return false;
        o.threads.push_back(n);
        start = comma + 1;
      }
    } else if (arg == "--enqueues") {
      o.enqueues = std::clamp(std::atoi(value.c_str()), 1, 10'000'000);
    } else if (arg == "--cycles") {
      o.cycles = std::clamp(std::atoi(value.c_str()), 1, 10'000'000);
    } else if (arg == "--pg") {
      o.pgUrl = value;
    } else if (arg == "--pg-seconds") {
      o.pgSeconds = std::clamp(std::atoi(value.c_str()), 1, 600);
    } else {
      return false;
    }
  }
  return true;
}

// Runs a shell-free command, returns its stdout (empty on failure).
std::string capture(std::vector<std::string> args) {
  int pipeFds[2];
  if (pipe(pipeFds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipeFds[1], 1);
    close(pipeFds[0]);
    close(pipeFds[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(pipeFds[1]);
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipeFds[0], buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
  close(pipeFds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench_store: %s failed (status %d)\n", args[0].c_str(), status);
    return {};
  }
  return out;
}

// pgbench, insert-only, 4 clients: transactions per second, 0 on failure.
double runPgbench(const Options& o) {
  const char* ddl =
      "SET client_min_messages = warning; DROP TABLE IF EXISTS bench_store_queue; CREATE TABLE "
      "bench_store_queue (seq bigserial PRIMARY KEY, "
      "queue text NOT NULL, id text NOT NULL, payload bytea NOT NULL, priority int NOT NULL, "
      "enqueued_ms bigint NOT NULL, UNIQUE (queue, id))";
  if (capture({"psql", "-q", "-v", "ON_ERROR_STOP=1", o.pgUrl, "-c", ddl}).empty() &&
      capture({"psql", "-q", "-v", "ON_ERROR_STOP=1", o.pgUrl, "-c", "SELECT 1"}).empty())
    return 0;
  std::string script = (std::filesystem::temp_directory_path() / "bench_store_pgbench.sql").string();
  {
    std::ofstream out(script);
    out << "\\set p random(1, 10)\n"
           "INSERT INTO bench_store_queue (queue, id, payload, priority, enqueued_ms) VALUES ('bench', "
           "md5(random()::text), 'payload', :p, (extract(epoch from now()) * 1000)::bigint);\n";
  }
  std::string output = capture(
      {"pgbench", "-n", "-c", "4", "-j", "2", "-T", std::to_string(o.pgSeconds), "-f", script, o.pgUrl});
  std::filesystem::remove(script);
  (void)capture({"psql", "-q", o.pgUrl, "-c", "DROP TABLE IF EXISTS bench_store_queue"});
  auto at = output.find("tps = ");
  if (at == std::string::npos) {
    std::fprintf(stderr, "bench_store: unexpected pgbench output:\n%s\n", output.c_str());
    return 0;
  }
  return std::atof(output.c_str() + at + 6);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: bench_store [--plugin SO] [--config key=value]... [--threads N] [--enqueues N] "
                 "[--cycles N] [--pg URL] [--pg-seconds S]\n");
    return 2;
  }
  if (o.pgUrl.empty() && std::getenv("HIVE_TEST_POSTGRES_URL") != nullptr)
    o.pgUrl = std::getenv("HIVE_TEST_POSTGRES_URL");

  auto loaded = hive::testing::PluginHarness::loadLibrary(o.plugin);
  if (!loaded.ok()) {
    std::fprintf(stderr, "bench_store: %s\n", loaded.status().toString().c_str());
    return 1;
  }
  auto harness = std::move(loaded).value();
  auto config = hive::ConfigNode::map();
  for (const auto& [key, value] : o.config) config.set(key, hive::ConfigNode::scalar(value));
  harness->setConfig(std::move(config));
  hive::Diagnostics diagnostics = harness->configure();
  if (diagnostics.hasErrors()) {
    std::fprintf(stderr, "%s", diagnostics.toString().c_str());
    return 1;
  }
  if (hive::Status started = harness->start(); !started.ok()) {
    std::fprintf(stderr, "bench_store: %s\n", started.toString().c_str());
    return 1;
  }
  double sqliteRate = 0;
  {
    auto found = harness->services().get<hive::store::Store>();
    if (!found.ok()) {
      std::fprintf(stderr, "bench_store: %s\n", found.status().toString().c_str());
      return 1;
    }
    hive::store::Store& store = **found;
    std::printf("plugin %s\n", o.plugin.c_str());
    for (const auto& [key, value] : o.config) std::printf("  config %s=%s\n", key.c_str(), value.c_str());
    for (const auto& line : harness->logLines()) std::printf("  log %s\n", line.c_str());

    // 1. Enqueue throughput, for each number of client threads.
    auto& batches = harness->metrics().histogram("hive_store_sqlite_batch_size", "");
    std::atomic<int> errors{0};
    for (int threads : o.threads) {
      std::uint64_t batchesBefore = batches.count();
      double requestsBefore = batches.sum();
      errors = 0;
      auto start = Clock::now();
      {
        std::vector<std::thread> clients;
        for (int t = 0; t < threads; ++t) {
          clients.emplace_back([&, t] {
            for (int i = t; i < o.enqueues; i += threads) {
              hive::store::EnqueueRequest request;
              request.queue = "bench";
              request.payload = "payload " + std::to_string(i);
              request.priority = 1 + i % 10;
              if (!store.enqueue(request).ok()) ++errors;
            }
          });
        }
        for (auto& c : clients) c.join();
      }
      double elapsed = seconds(Clock::now() - start);
      double rate = o.enqueues / elapsed;
      sqliteRate = std::max(sqliteRate, rate);
      std::printf("enqueue: %d items, %d client threads: %.0f enqueues/s (%.2f s, %d errors)\n", o.enqueues,
                  threads, rate, elapsed, errors.load());
      if (batches.count() > batchesBefore)
        std::printf("  group commit: %llu commits, %.1f requests per commit on average\n",
                    static_cast<unsigned long long>(batches.count() - batchesBefore),
                    (batches.sum() - requestsBefore) / static_cast<double>(batches.count() - batchesBefore));
    }

    // 2. enqueue -> claim -> complete cycles, on an empty queue of their own.
    const int threads = *std::max_element(o.threads.begin(), o.threads.end());
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(threads));
    errors = 0;
    auto start = Clock::now();
    {
      std::vector<std::thread> clients;
      for (int t = 0; t < threads; ++t) {
        clients.emplace_back([&, t] {
          auto& mine = latencies[static_cast<std::size_t>(t)];
          for (int i = t; i < o.cycles; i += threads) {
            auto began = Clock::now();
            hive::store::EnqueueRequest request;
            request.queue = "cycle";
            request.payload = "payload " + std::to_string(i);
            if (!store.enqueue(request).ok()) {
              ++errors;
              continue;
            }
            hive::store::ClaimRequest claim;
            claim.queue = "cycle";
            claim.claimant = "bench";
            auto claimed = store.claim(claim);
            if (!claimed.ok()) {
              ++errors;
              continue;
            }
            for (const auto& item : *claimed)
              if (!store.complete("cycle", item.id, item.leaseToken).ok()) ++errors;
            mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - began).count());
          }
        });
      }
      for (auto& c : clients) c.join();
    }
    double elapsed = seconds(Clock::now() - start);
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::printf(
        "enqueue->claim->complete: %d cycles, %d client threads: %.0f cycles/s (%.2f s, %d errors), "
        "latency p50 %.2f ms, p99 %.2f ms\n",
        o.cycles, threads, o.cycles / elapsed, elapsed, errors.load(), percentile(all, 0.5),
        percentile(all, 0.99));
  }
  harness->stop();

  if (!o.pgUrl.empty()) {
    double tps = runPgbench(o);
    if (tps > 0)
      std::printf(
          "pgbench insert-only, 4 clients, %d s: %.0f tps; best enqueues/s of this store / pgbench tps = "
          "%.2f\n",
          o.pgSeconds, tps, sqliteRate / tps);
    else
      std::printf("pgbench: failed (see above)\n");
  }
  return 0;
}
