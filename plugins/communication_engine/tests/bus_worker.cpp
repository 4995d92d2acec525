// A separate process for the cross-process and crash tests: a real kernel with
// communication_engine on Redis.
//
//   bus_worker publish <url> <prefix> <topic> <count>
//     publishes "0".."count-1" on <topic>, then exits 0.
//   bus_worker stream <url> <prefix> <log> <first> <end>
//     appends "m<first>".."m<end-1>" to stream "crash" while consuming it in
//     group "workers" (taking over what an earlier run left pending first);
//     logs "appended <payload> <id>" after each OK append, "delivered <payload>
//     <id>" when read and "acked <payload> <id>" after each ack, one write(2) per
//     line so that a kill -9 loses no logged line. Exits 0 once all is appended
//     and nothing is left to consume.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "bus_host.hpp"

using namespace hive;
using namespace hive::communication_engine::test;

namespace {

class LineLog {
 public:
  explicit LineLog(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {}
  ~LineLog() { ::close(fd_); }
  void write(const std::string& line) {
    std::string text = line + "\n";
    [[maybe_unused]] auto written = ::write(fd_, text.data(), text.size());
  }

 private:
  int fd_;
};

int publish(bus::Bus& bus, const std::string& topic, int count) {
  for (int i = 0; i < count; ++i) {
    auto id = bus.publish(topic, std::to_string(i));
    if (!id.ok()) {
      std::fprintf(stderr, "publish %d: %s\n", i, id.status().toString().c_str());
      return 1;
    }
  }
  return 0;
}

int stream(bus::Bus& bus, const std::string& logPath, int first, int end) {
  LineLog log(logPath);
  if (Status s = bus.createGroup("crash", "workers", {.maxDeliveries = 0}); !s.ok()) {
    std::fprintf(stderr, "createGroup: %s\n", s.toString().c_str());
    return 1;
  }
  std::atomic<bool> appending{true};
  std::thread appender([&] {
    for (int i = first; i < end;) {
      std::string payload = "m" + std::to_string(i);
      auto id = bus.append("crash", payload);
      if (!id.ok()) continue;  // not appended (or unknown): try again
      log.write("appended " + payload + " " + *id);
      ++i;
    }
    appending = false;
  });
  auto consume = [&](const std::vector<bus::StreamMessage>& messages) {
    // The whole batch is logged as delivered first: a kill then usually finds
    // delivered, unacked messages.
    for (const auto& m : messages) log.write("delivered " + m.payload + " " + m.id);
    for (const auto& m : messages)
      if (bus.ack("crash", "workers", {m.id}).ok()) log.write("acked " + m.payload + " " + m.id);
  };
  // What an earlier (killed) run read but never acked.
  for (;;) {
    auto left = bus.claimIdle("crash", "workers", "consumer", std::chrono::milliseconds(0), 500);
    if (!left.ok() || left->empty()) break;
    consume(*left);
  }
  for (;;) {
    bool more = appending.load();
    auto messages = bus.read("crash", "workers", "consumer", 200, std::chrono::milliseconds(100));
    if (messages.ok()) consume(*messages);
    if (!more && messages.ok() && messages->empty()) break;
  }
  appender.join();
  auto pending = bus.pending("crash", "workers", 10);
  return pending.ok() && pending->empty() ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bus_worker publish|stream <url> <prefix> ...\n");
    return 64;
  }
  std::string mode = argv[1];
  BusHost host(redisSection(argv[2], argv[3]));
  if (host.bus() == nullptr) {
    std::fprintf(stderr, "bus did not start: %s\n", host.error().c_str());
    return 3;
  }
  if (mode == "publish") return publish(*host.bus(), argv[4], std::atoi(argv[5]));
  if (mode == "stream" && argc == 7)
    return stream(*host.bus(), argv[4], std::atoi(argv[5]), std::atoi(argv[6]));
  return 64;
}
