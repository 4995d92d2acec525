// Live swap of the api plugin under load: the listening socket passes from
// generation to generation, keep-alive HTTP clients reconnect on
// `Connection: close` without a single error, and WebSocket clients get 1001
// and resume with `since` without losing or repeating an event.
#include <atomic>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_host.hpp"
#include "hive/services/bus.hpp"
#include "ws_client.hpp"

namespace hive::api_test {
namespace {

std::string field(const std::string& json, const std::string& name) {
  std::string key = "\"" + name + "\":\"";
  auto start = json.find(key);
  if (start == std::string::npos) return {};
  start += key.size();
  return json.substr(start, json.find('"', start) - start);
}

// Hammers GET /health over keep-alive connections, reconnecting whenever the
// server says `Connection: close`.
class HealthLoad {
 public:
  HealthLoad(std::uint16_t port, int threads) {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, port] {
        std::unique_ptr<RawConnection> connection;
        while (running_.load()) {
          if (!connection) {
            connection = std::make_unique<RawConnection>(port);
            if (!connection->ok()) {
              socketErrors_.fetch_add(1);
              connection.reset();
              continue;
            }
            connections_.fetch_add(1);
          }
          if (!connection->send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")) {
            socketErrors_.fetch_add(1);
            connection.reset();
            continue;
          }
          HttpReply reply = connection->read(std::chrono::seconds(10));
          if (reply.status == 0) {
            socketErrors_.fetch_add(1);
            connection.reset();
            continue;
          }
          if (reply.status < 200 || reply.status > 299) non2xx_.fetch_add(1);
          requests_.fetch_add(1);
          if (reply.header("connection") == "close") connection.reset();
        }
      });
  }
  ~HealthLoad() { stop(); }
  void stop() {
    running_ = false;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::int64_t requests() const { return requests_.load(); }
  std::int64_t socketErrors() const { return socketErrors_.load(); }
  std::int64_t non2xx() const { return non2xx_.load(); }
  std::int64_t connections() const { return connections_.load(); }

 private:
  std::atomic<bool> running_{true};
  std::atomic<std::int64_t> requests_{0}, socketErrors_{0}, non2xx_{0}, connections_{0};
  std::vector<std::thread> threads_;
};

// Swaps api 20 times, each after the clients made 50 more requests, then
// stops them: not one socket error or non-2xx, and they reconnected after
// `Connection: close`.
void swapTwentyTimes(ApiHost& api, HealthLoad& load) {
  for (int swap = 0; swap < 20; ++swap) {
    std::int64_t before = load.requests();
    ASSERT_TRUE(eventually([&] { return load.requests() >= before + 50; }, std::chrono::seconds(60)))
        << "clients are really running (before swap " << swap << ": " << load.requests() << " requests, "
        << load.socketErrors() << " socket errors, " << load.connections() << " connections)\n"
        << api.log().substr(api.log().size() > 4000 ? api.log().size() - 4000 : 0);
    Status swapped = api.swap("api", kApiPlugin);
    ASSERT_TRUE(swapped.ok()) << "swap " << swap << ": " << swapped.toString();
  }
  std::int64_t before = load.requests();
  EXPECT_TRUE(eventually([&] { return load.requests() >= before + 50; }));
  load.stop();
  EXPECT_EQ(load.socketErrors(), 0);
  EXPECT_EQ(load.non2xx(), 0);
  EXPECT_GT(load.connections(), 4) << "clients reconnected after Connection: close";
}

void expectOnlyTheTwentyFirstGeneration(ApiHost& api) {
  for (const auto& plugin : api.host().status()) {
    if (plugin.name == "api") {
      EXPECT_EQ(plugin.generation, 21u);
    }
  }
  EXPECT_TRUE(eventually([&] {
    api.host().reapLibraries();
    return api.host().retired().empty();
  })) << "no generation of api stays behind as a zombie";
}

// A WebSocket client following "load.*" across swaps: on close 1001 it
// reconnects and resumes after the last id it saw.
class Follower {
 public:
  explicit Follower(std::uint16_t port) : port_(port) {
    thread_ = std::thread([this] { run(); });
  }
  ~Follower() { finish(); }
  void finish() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }
  bool subscribed() const { return subscribed_.load(); }
  int goingAway() const { return goingAway_.load(); }
  int otherCloses() const { return otherCloses_.load(); }
  std::vector<std::string> otherCodes() const {
    std::lock_guard lock(mutex_);
    return otherCodes_;
  }
  std::vector<std::string> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::string last() const {
    std::lock_guard lock(mutex_);
    return received_.empty() ? std::string() : received_.back();
  }

 private:
  void run() {
    while (running_.load()) {
      WsClient client;
      int status = client.connect(port_, "/api/v2/ws");
      if (status != 101) {  // the old generation refusing during its drain: try again
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      std::string since = last();
      std::string subscribe = R"({"type":"subscribe","id":"f","topic":"load.*")";
      if (!since.empty()) subscribe += R"(,"payload":{"since":")" + since + "\"}";
      if (!client.send(subscribe + "}")) continue;
      while (running_.load()) {
        auto message = client.read(std::chrono::seconds(3));
        if (!message) break;
        if (message->find("\"subscribed\"") != std::string::npos) {
          subscribed_ = true;
          continue;
        }
        if (message->find("\"event\"") == std::string::npos) continue;
        std::lock_guard lock(mutex_);
        received_.push_back(field(*message, "id"));
      }
      if (client.closed()) {
        if (client.closeCode() == 1001)
          goingAway_.fetch_add(1);
        else {
          otherCloses_.fetch_add(1);
          std::lock_guard lock(mutex_);
          otherCodes_.push_back(std::to_string(client.closeCode()) + " " + client.closeError());
        }
      }
    }
  }

  std::uint16_t port_;
  std::atomic<bool> running_{true};
  std::atomic<bool> subscribed_{false};
  std::atomic<int> goingAway_{0}, otherCloses_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> received_;
  std::vector<std::string> otherCodes_;  // close codes other than 1001 (0: no close frame)
  std::thread thread_;
};

TEST(ApiSwap, TwentySwapsUnderHealthLoadWithoutASocketErrorOrANon2xx) {
  HostOptions options;
  options.logLevel = hive::LogLevel::kWarn;
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();

  HealthLoad load(api.port(), 4);
  swapTwentyTimes(api, load);
  ASSERT_FALSE(HasFatalFailure());

  expectOnlyTheTwentyFirstGeneration(api);
}

// With no client holding descriptors, the copy of the listening socket handed
// to the next generation takes the lowest free descriptor number, which is the
// number the generation before last listened on. Each generation must take the
// socket over (not start from nothing on another port) and serve on it.
TEST(ApiSwap, EveryGenerationTakesTheListeningSocketOverWhenNoClientIsConnected) {
  HostOptions options;
  options.logLevel = hive::LogLevel::kWarn;
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  for (int swap = 0; swap < 6; ++swap) {
    Status swapped = api.swap("api", kApiPlugin);
    ASSERT_TRUE(swapped.ok()) << "swap " << swap << ": " << swapped.toString();
    EXPECT_THAT(api.log(), ::testing::Not(::testing::HasSubstr("starts from nothing"))) << "swap " << swap;
    RawConnection connection(api.port());
    ASSERT_TRUE(connection.ok()) << "swap " << swap;
    ASSERT_TRUE(connection.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(connection.read(std::chrono::seconds(10)).status, 200) << "swap " << swap;
  }
}

// WebSocket followers across 20 swaps of api, with HTTP load and events
// published all along: each follower gets 1001 at every swap, resumes with
// `since`, and ends with exactly the published sequence. The send queue is
// large here: on a loaded machine a follower's thread can stall for longer than
// 256 events take, and the slow-consumer rule (its own test) is not the subject.
TEST(ApiSwap, WebSocketFollowersResumeAcrossTwentySwaps) {
  HostOptions options;
  options.bus = true;
  options.logLevel = hive::LogLevel::kWarn;
  options.api = {{"websocket", mapOf({{"send_queue", scalar("8192")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  auto leases = api.host().services().lookup(host::ServiceKey{"hive.bus", 1});
  ASSERT_FALSE(leases.empty());
  auto bus = std::static_pointer_cast<bus::Bus>(leases.front().service);
  leases.clear();

  constexpr int kFollowers = 20;
  std::vector<std::unique_ptr<Follower>> followers;
  for (int i = 0; i < kFollowers; ++i) followers.push_back(std::make_unique<Follower>(api.port()));
  ASSERT_TRUE(eventually([&] {
    for (auto& f : followers)
      if (!f->subscribed()) return false;
    return true;
  }));

  std::vector<std::string> published;
  std::mutex publishedMutex;
  std::atomic<bool> publishing{true};
  std::thread publisher([&] {
    for (int n = 0; publishing.load(); ++n) {
      auto id = bus->publish("load.x", "{\"n\":" + std::to_string(n) + "}");
      if (id.ok()) {
        std::lock_guard lock(publishedMutex);
        published.push_back(*id);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });

  HealthLoad load(api.port(), 4);
  swapTwentyTimes(api, load);
  publishing = false;
  publisher.join();
  ASSERT_FALSE(HasFatalFailure());

  RecordProperty("health_requests", static_cast<int>(load.requests()));

  std::string lastPublished = published.back();
  for (auto& f : followers)
    EXPECT_TRUE(eventually([&] { return f->last() == lastPublished; }, std::chrono::seconds(20)));
  for (auto& f : followers) f->finish();
  int index = 0;
  for (auto& f : followers) {
    EXPECT_GE(f->goingAway(), 20) << "follower " << index << " got 1001 at every swap";
    EXPECT_EQ(f->otherCloses(), 0) << "follower " << index << ": codes "
                                   << ::testing::PrintToString(f->otherCodes());
    EXPECT_EQ(f->received(), published) << "follower " << index << " lost or repeated events";
    ++index;
  }

  if (HasFailure()) {
    std::string log = api.log(), warnings;
    for (std::size_t start = 0; start < log.size();) {
      std::size_t end = std::min(log.find('\n', start), log.size());
      std::string line = log.substr(start, end - start);
      if (line.find("WARN") != std::string::npos || line.find("ERROR") != std::string::npos ||
          line.find("warn") != std::string::npos || line.find("error") != std::string::npos)
        warnings += line + "\n";
      start = end + 1;
    }
    ADD_FAILURE() << "warnings and errors in the host's log:\n" << warnings.substr(0, 20'000);
  }

  expectOnlyTheTwentyFirstGeneration(api);
}

}  // namespace
}  // namespace hive::api_test
