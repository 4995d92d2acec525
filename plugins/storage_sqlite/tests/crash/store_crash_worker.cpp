// store_crash_worker: loads a hive.store/1 plugin through the SDK harness and
// runs queue operations (enqueue -> claim -> complete), appending to a side log,
// fsync'd, each operation the store acknowledged (returned OK):
//   E <id>   the enqueue of <id> returned OK
//   C <id>   a claim returned <id>; its complete is about to be called
//   D <id>   the complete of <id> returned OK
// Meant to be killed with SIGKILL at any moment by store_crash_test, which then
// checks the store against the log. Works with any provider:
//
//   store_crash_worker --plugin storage_x-1.0.0.so --config path=/tmp/x.db --config synchronous=full
//                      --log /tmp/ack.log --run r1 --items 3334
//
// Exit status 0 when all items were processed, 1 on a store error, 2 on bad usage.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "hive/config.hpp"
#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

namespace {

using namespace std::chrono_literals;

struct Options {
  std::string plugin;
  std::vector<std::pair<std::string, std::string>> config;
  std::string log;
  std::string run = "run";
  int items = 3334;
};

bool parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    std::string value = argv[++i];
    if (arg == "--plugin") {
      options.plugin = value;
    } else if (arg == "--config") {
      auto equals = value.find('=');
      if (equals == std::string::npos) return false;
      options.config.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    } else if (arg == "--log") {
      options.log = value;
    } else if (arg == "--run") {
      options.run = value;
    } else if (arg == "--items") {
      options.items = std::atoi(value.c_str());
      if (options.items < 1 || options.items > 1'000'000) return false;
    } else {
      return false;
    }
  }
  return !options.plugin.empty() && !options.log.empty();
}

class AckLog {
 public:
  explicit AckLog(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {}
  ~AckLog() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // One write() per line and fdatasync: a line is either absent or complete
  // (a kill between write and sync loses at most an acknowledged-but-unlogged op).
  bool record(char kind, const std::string& id) {
    std::string line = std::string(1, kind) + " " + id + "\n";
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return false;
    return ::fdatasync(fd_) == 0;
  }

 private:
  int fd_;
};

int fail(const std::string& what, const hive::Status& status) {
  std::fprintf(stderr, "store_crash_worker: %s: %s\n", what.c_str(), status.toString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: store_crash_worker --plugin SO --log FILE [--config KEY=VALUE]... [--run ID] "
                 "[--items N]\n");
    return 2;
  }
  AckLog log(options.log);
  if (!log.ok()) {
    std::perror(options.log.c_str());
    return 2;
  }
  auto loaded = hive::testing::PluginHarness::loadLibrary(options.plugin);
  if (!loaded.ok()) return fail("loading " + options.plugin, loaded.status());
  auto harness = std::move(loaded).value();
  auto config = hive::ConfigNode::map();
  for (const auto& [key, value] : options.config) config.set(key, hive::ConfigNode::scalar(value));
  harness->setConfig(std::move(config));
  if (auto started = harness->start(); !started.ok()) return fail("starting the plugin", started);
  auto store = harness->services().get<hive::store::Store>();
  if (!store.ok()) return fail("finding hive.store/1", store.status());

  int completed = 0;
  for (int i = 0; i < options.items; ++i) {
    hive::store::EnqueueRequest request;
    request.queue = "crash";
    request.id = options.run + "-" + std::to_string(i);
    request.payload = "payload of " + request.id;
    auto enqueued = (*store)->enqueue(request);
    if (!enqueued.ok()) return fail("enqueue " + request.id, enqueued.status());
    if (!log.record('E', request.id)) return fail("logging", hive::internalError(std::strerror(errno)));

    hive::store::ClaimRequest claim;
    claim.queue = "crash";
    claim.claimant = options.run;
    claim.lease = 2s;  // items leased by a killed worker come back soon
    auto claimed = (*store)->claim(claim);
    if (!claimed.ok()) return fail("claim", claimed.status());
    for (const auto& item : *claimed) {
      if (!log.record('C', item.id)) return fail("logging", hive::internalError(std::strerror(errno)));
      hive::Status done = (*store)->complete("crash", item.id, item.leaseToken);
      if (done.code() == hive::StatusCode::kFailedPrecondition) continue;  // our lease expired meanwhile
      if (!done.ok()) return fail("complete " + item.id, done);
      if (!log.record('D', item.id)) return fail("logging", hive::internalError(std::strerror(errno)));
      ++completed;
    }
  }
  std::printf("store_crash_worker: %d enqueued, %d completed\n", options.items, completed);
  return 0;
}
