// integration_engine with the real storage_sqlite, communication_engine and
// task_manager plugins loaded from their .so files through the SDK harness,
// and a real HTTP receiver on loopback started by the test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "hive/services/bus.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/services/tenancy.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/routes.hpp"
#include "integration_plugin.hpp"
#include "plugin_common/clock_ids.hpp"
#include "plugin_common/switched_gate.hpp"
#include "plugin_common/test_tenancy.hpp"
#include "signature.hpp"

namespace hive::integration_engine {
namespace {

namespace json = boost::json;
using hive::testing::PluginHarness;

constexpr const char* kSecret = "inbound-secret-0123456789";

// A self-signed certificate for 127.0.0.1 (its own CA), made by the openssl CLI.
struct Certificate {
  std::string directory = ::testing::TempDir() + "integration-tls-" + std::to_string(::getpid());
  std::string cert = directory + "/cert.pem";
  std::string key = directory + "/key.pem";

  Certificate() {
    ::mkdir(directory.c_str(), 0700);
    std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        key + " -out " + cert + " 2>/dev/null";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
  ~Certificate() {
    std::remove(cert.c_str());
    std::remove(key.c_str());
    ::rmdir(directory.c_str());
  }
};

// A webhook receiver: answers each POST with the next status of `script`
// (the last one repeats), after `delay`, and keeps what it received. With a
// certificate it speaks TLS (https), and counts the handshakes that failed.
class Receiver {
 public:
  struct Received {
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    int answered = 0;
  };

  explicit Receiver(std::vector<int> script, std::chrono::milliseconds delay = {}, int port = 0,
                    const Certificate* certificate = nullptr)
      : script_(std::move(script)), delay_(delay) {
    if (certificate != nullptr) {
      tls_ = SSL_CTX_new(TLS_server_method());
      EXPECT_EQ(SSL_CTX_use_certificate_chain_file(tls_, certificate->cert.c_str()), 1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey_file(tls_, certificate->key.c_str(), SSL_FILETYPE_PEM), 1);
    }
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener_, 64), 0);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
    for (std::thread& t : handlers_) t.join();
    if (tls_ != nullptr) SSL_CTX_free(tls_);
  }

  std::string url(const std::string& path = "/hook") const {
    return std::string(tls_ != nullptr ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  int failedHandshakes() const { return failedHandshakes_; }
  std::vector<Received> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }
  int maxConcurrent() const { return maxConcurrent_; }

 private:
  void run() {
    for (;;) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      handlers_.emplace_back([this, fd] { handle(fd); });
    }
  }
  void handle(int fd) {
    SSL* tls = nullptr;
    if (tls_ != nullptr) {
      tls = SSL_new(tls_);
      SSL_set_fd(tls, fd);
      if (SSL_accept(tls) != 1) {
        ++failedHandshakes_;
        SSL_free(tls);
        ::close(fd);
        return;
      }
    }
    auto receive = [&](char* buffer, int size) -> long {
      return tls != nullptr ? SSL_read(tls, buffer, size) : ::recv(fd, buffer, size, 0);
    };
    int now = ++concurrent_;
    for (int seen = maxConcurrent_; now > seen && !maxConcurrent_.compare_exchange_weak(seen, now);) {
    }
    std::string data;
    char buffer[4096];
    std::size_t headerEnd = std::string::npos, contentLength = 0;
    while (true) {
      if (headerEnd == std::string::npos && (headerEnd = data.find("\r\n\r\n")) != std::string::npos) {
        std::size_t at = data.find("Content-Length: ");
        contentLength = at < headerEnd ? std::stoul(data.substr(at + 16)) : 0;
      }
      if (headerEnd != std::string::npos && data.size() >= headerEnd + 4 + contentLength) break;
      long n = receive(buffer, sizeof buffer);
      if (n <= 0) break;
      data.append(buffer, static_cast<std::size_t>(n));
    }
    Received received;
    if (headerEnd != std::string::npos) {
      received.body = data.substr(headerEnd + 4);
      std::size_t line = data.find("\r\n") + 2;
      while (line < headerEnd) {
        std::size_t end = data.find("\r\n", line);
        std::string header = data.substr(line, end - line);
        std::size_t colon = header.find(": ");
        std::string name = header.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        received.headers[name] = header.substr(colon + 2);
        line = end + 2;
      }
    }
    std::this_thread::sleep_for(delay_);
    {
      std::lock_guard lock(mutex_);
      received.answered = script_[std::min(received_.size(), script_.size() - 1)];
      received_.push_back(received);
    }
    std::string answer =
        "HTTP/1.1 " + std::to_string(received.answered) +
        " X\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    --concurrent_;
    if (tls != nullptr) {
      SSL_write(tls, answer.data(), static_cast<int>(answer.size()));
      SSL_shutdown(tls);
      SSL_free(tls);
    } else {
      ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    }
    ::close(fd);
  }

  std::vector<int> script_;
  std::chrono::milliseconds delay_;
  SSL_CTX* tls_ = nullptr;
  std::atomic<int> failedHandshakes_{0};
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::thread> handlers_;
  std::mutex mutex_;
  std::vector<Received> received_;
  std::atomic<int> concurrent_{0}, maxConcurrent_{0};
};

ConfigNode scalar(std::string text) { return ConfigNode::scalar(std::move(text)); }

class IntegrationEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(keyPath_) << "signing-key-of-at-least-32-bytes-0123456789\n";
    ::chmod(keyPath_.c_str(), 0600);
    bus_ = load(COMMUNICATION_ENGINE_PLUGIN);
    ASSERT_TRUE(bus_->start().ok());
    store_ = load(STORAGE_SQLITE_PLUGIN);
    store_->setConfig(hive::testing::configFromPairs({{"path", databasePath_}}));
    ASSERT_TRUE(store_->start().ok());
    tasks_ = load(TASK_MANAGER_PLUGIN);
    tasks_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
    tasks_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    ASSERT_TRUE(tasks_->start().ok());
  }

  void TearDown() override {
    if (other_) {
      other_->plugin().beginDrain();
      EXPECT_TRUE(until([&] { return other_->plugin().drained(); }));
      other_->stop();
      other_.reset();
    }
    stopEngine();
    tasks_.reset();
    store_.reset();
    bus_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((databasePath_ + suffix).c_str());
    std::remove(keyPath_.c_str());
  }

  ConfigNode config(bool allowPrivate, std::int64_t maxAttempts = 5, std::int64_t concurrency = 2,
                    const std::string& caFile = {}) {
    ConfigNode section = ConfigNode::map();
    ConfigNode hooks = ConfigNode::sequence();
    ConfigNode hook = ConfigNode::map();
    hook.set("name", scalar("ci"));
    hook.set("secret", scalar(kSecret));
    hook.set("tolerance", scalar("60s"));
    hook.set("max_body_bytes", scalar("2048"));
    ConfigNode task = ConfigNode::map();
    task.set("type", scalar("build"));
    ConfigNode capabilities = ConfigNode::sequence();
    capabilities.push(scalar("shell"));
    task.set("capabilities", std::move(capabilities));
    ConfigNode payload = ConfigNode::map();
    payload.set("fixed", scalar("yes"));
    task.set("payload", std::move(payload));
    hook.set("task", std::move(task));
    ConfigNode map = ConfigNode::map();
    map.set("ref", scalar("/ref"));
    hook.set("map", std::move(map));
    if (!hookTenant_.empty()) hook.set("tenant", scalar(hookTenant_));
    hooks.push(std::move(hook));
    ConfigNode github = ConfigNode::map();
    github.set("name", scalar("gh"));
    github.set("scheme", scalar("github"));
    github.set("secret", scalar(kSecret));
    ConfigNode push = ConfigNode::map();
    push.set("type", scalar("push"));
    github.set("task", std::move(push));
    ConfigNode pushMap = ConfigNode::map();
    pushMap.set("repository", scalar("/repository/full_name"));
    github.set("map", std::move(pushMap));
    hooks.push(std::move(github));
    section.set("webhooks", std::move(hooks));
    ConfigNode outbound = ConfigNode::map();
    outbound.set("allow_private_targets", scalar(allowPrivate ? "true" : "false"));
    outbound.set("max_attempts", scalar(std::to_string(maxAttempts)));
    outbound.set("backoff_base", scalar("20ms"));
    outbound.set("backoff_max", scalar("50ms"));
    outbound.set("poll_period", scalar("20ms"));
    outbound.set("subscription_refresh", scalar("1s"));
    outbound.set("timeout", scalar("2s"));
    outbound.set("threads", scalar("4"));
    outbound.set("concurrency_per_target", scalar(std::to_string(concurrency)));
    outbound.set("signing_key_file", scalar(keyPath_));
    if (!caFile.empty()) outbound.set("ca_file", scalar(caFile));
    section.set("outbound", std::move(outbound));
    return section;
  }

  enum class Build { kLinked, kSharedLibrary };
  void startEngine(ConfigNode section, Build build = Build::kLinked) {
    stopEngine();
    engine_ = build == Build::kLinked
                  ? PluginHarness::create<IntegrationEnginePlugin>("integration_engine", "1.0.0")
                  : load(INTEGRATION_ENGINE_PLUGIN);
    engine_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
    engine_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    engine_->provideFake<http::RouteProvider>(lookup<http::RouteProvider>(*tasks_), "task_manager");
    engine_->setConfig(std::move(section));
    ASSERT_FALSE(engine_->configure().hasErrors());
    Status started = engine_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
  }

  void stopEngine() {
    if (!engine_) return;
    engine_->plugin().beginDrain();
    EXPECT_TRUE(until([&] { return engine_->plugin().drained(); }));
    engine_->stop();
    engine_.reset();
  }

  static std::unique_ptr<PluginHarness> load(const char* path) {
    auto loaded = PluginHarness::loadLibrary(path);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    return std::move(loaded).value();
  }

  template <class T>
  static std::shared_ptr<T> lookup(PluginHarness& harness) {
    auto leases = harness.services().lookup(T::kServiceId);
    EXPECT_FALSE(leases.empty());
    return std::static_pointer_cast<T>(leases.front().service);
  }

  template <class F>
  bool until(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (engine_) engine_->runPending();
      if (other_) other_->runPending();
      tasks_->runPending();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  }

  http::Response call(PluginHarness& harness, const std::string& provider, std::string_view method,
                      std::string target, std::string body = {}, std::vector<http::Header> headers = {},
                      std::string principal = "test") {
    hive::testing::RouteClient client(harness.services(), provider, {.principal = std::move(principal)});
    std::atomic<bool> answered = false;
    Result<http::Response> response = unavailable("no answer");
    std::thread caller([&] {
      response = client.request(method, target, std::move(body), std::move(headers));
      answered = true;
    });
    until([&] { return answered.load(); });
    caller.join();
    EXPECT_TRUE(response.ok()) << response.status().toString();
    return response.ok() ? *response : http::Response{};
  }
  http::Response engine(std::string_view method, std::string target, std::string body = {},
                        std::vector<http::Header> headers = {}) {
    return call(*engine_, "integration_engine", method, std::move(target), std::move(body),
                std::move(headers));
  }
  json::value parsed(const http::Response& response) {
    std::error_code ec;
    json::value value = json::parse(response.body, ec);
    return ec ? json::value() : value;
  }

  http::Response deliver(const std::string& body, const std::string& delivery, std::int64_t timestamp,
                         const std::string& secret = kSecret) {
    return engine("POST", "/api/v2/integrations/webhooks/ci", body,
                  {{"content-type", "application/json"},
                   {"x-hive-timestamp", std::to_string(timestamp)},
                   {"x-hive-signature", signGeneric(secret, timestamp, body)},
                   {"x-hive-delivery", delivery}});
  }

  std::size_t taskCount() {
    json::value tasks = parsed(call(*tasks_, "task_manager", "GET", "/api/v2/tasks?limit=1000"));
    return tasks.is_object() ? tasks.at("items").as_array().size() : 0;
  }

  std::string subscribe(const std::string& url, const std::string& topic = "tasks.*",
                        std::string* secret = nullptr) {
    http::Response created =
        engine("POST", "/api/v2/integrations/subscriptions",
               json::serialize(json::object{{"url", url}, {"topics", json::array{json::string(topic)}}}));
    EXPECT_EQ(created.status, 201) << created.body;
    json::value body = parsed(created);
    if (secret != nullptr) *secret = std::string(body.at("secret").as_string());
    return std::string(body.at("id").as_string());
  }

  std::string databasePath_ = ::testing::TempDir() + "integration-engine-test-" + std::to_string(::getpid()) +
                              "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
  std::string keyPath_ = databasePath_ + ".key";
  std::unique_ptr<PluginHarness> bus_, store_, tasks_, engine_;
  std::unique_ptr<PluginHarness> other_;  // a second node, when a test starts one
  std::string hookTenant_;                // the "ci" webhook's tenant, when set
};

TEST_F(IntegrationEngineTest, ASignedWebhookSubmitsATaskWithTheBodyMappedInAndARedeliveryStartsNothing) {
  startEngine(config(true));
  std::int64_t now = plugin_common::nowMs() / 1000;
  http::Response first = deliver(R"({"ref": "refs/heads/main", "other": 1})", "d-1", now);
  ASSERT_EQ(first.status, 202) << first.body;
  json::value task = parsed(first).at("task");
  std::string taskId(task.at("id").as_string());
  json::value stored = parsed(call(*tasks_, "task_manager", "GET", "/api/v2/tasks/" + taskId));
  EXPECT_EQ(stored.at("type"), "build");
  EXPECT_EQ(stored.at("payload"), json::parse(R"({"fixed": "yes", "ref": "refs/heads/main"})"));

  // The sender retries (it missed the answer): the first outcome, nothing new.
  http::Response again = deliver(R"({"ref": "refs/heads/main", "other": 1})", "d-1", now + 1);
  EXPECT_EQ(again.status, 202);
  EXPECT_EQ(again.body, first.body);
  bool replayed = false;
  for (const http::Header& header : again.headers) replayed |= header.name == "idempotent-replayed";
  EXPECT_TRUE(replayed);
  EXPECT_EQ(taskCount(), 1u);
  // After a restart of the plugin too.
  startEngine(config(true), Build::kSharedLibrary);
  EXPECT_EQ(deliver(R"({"ref": "x"})", "d-1", now).body, first.body);
  EXPECT_EQ(taskCount(), 1u);
  // Another delivery is another task; a body without /ref is refused and recorded.
  EXPECT_EQ(deliver(R"({"ref": "refs/tags/v1"})", "d-2", now).status, 202);
  http::Response unmapped = deliver(R"({"other": 1})", "d-3", now);
  EXPECT_EQ(unmapped.status, 422);
  EXPECT_NE(unmapped.body.find("the body has no /ref"), std::string::npos) << unmapped.body;
  EXPECT_EQ(taskCount(), 2u);
}

// A subscription gets its creator's tenant's events only (every tenant's for
// a creator that spans tenants), and another tenant's subscription is 404 on
// every route; a webhook endpoint with `tenant` makes that tenant's task.
TEST_F(IntegrationEngineTest, SubscriptionsAndWebhookEndpointsKeepTenantsApart) {
  hookTenant_ = "acme";
  startEngine(config(true));
  auto tenancy = std::make_shared<plugin_common::TenantsByName>();
  engine_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  tasks_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  auto as = [&](const std::string& principal, std::string_view method, const std::string& target,
                std::string body = {}) {
    return call(*engine_, "integration_engine", method, target, std::move(body), {}, principal);
  };
  auto subscribeAs = [&](const std::string& principal, const std::string& url) {
    http::Response created =
        as(principal, "POST", "/api/v2/integrations/subscriptions",
           json::serialize(json::object{{"url", url}, {"topics", json::array{json::string("tasks.*")}}}));
    EXPECT_EQ(created.status, 201) << created.body;
    return std::string(parsed(created).at("id").as_string());
  };
  Receiver acme({200}), everyone({200});
  const std::string acmeId = subscribeAs("acme", acme.url());
  subscribeAs("admin", everyone.url());
  EXPECT_EQ(parsed(as("acme", "GET", "/api/v2/integrations/subscriptions/" + acmeId)).at("tenant"), "acme");

  auto bus = lookup<bus::Bus>(*bus_);
  ASSERT_TRUE(
      bus->publish("tasks.t1", R"({"event":"task.created","tenant":"acme","task":{"id":"t1"}})").ok());
  ASSERT_TRUE(
      bus->publish("tasks.t2", R"({"event":"task.created","tenant":"globex","task":{"id":"t2"}})").ok());
  ASSERT_TRUE(bus->publish("tasks.t3", R"({"event":"task.created","task":{"id":"t3"}})").ok());
  ASSERT_TRUE(until([&] { return everyone.received().size() >= 3; }));
  ASSERT_TRUE(until([&] { return acme.received().size() >= 1; }));
  until([] { return false; }, std::chrono::milliseconds(300));  // nothing more may come
  std::set<std::string> topics;
  for (const auto& r : acme.received())
    topics.insert(std::string(json::parse(r.body).at("topic").as_string()));
  EXPECT_EQ(topics, std::set<std::string>{"tasks.t1"}) << "acme's subscription gets acme's events only";
  EXPECT_EQ(everyone.received().size(), 3u);

  for (const std::string& suffix : {"", "/deliveries", "/dead-letters"})
    EXPECT_EQ(as("globex", "GET", "/api/v2/integrations/subscriptions/" + acmeId + suffix).status, 404)
        << suffix;
  EXPECT_EQ(
      as("globex", "POST", "/api/v2/integrations/subscriptions/" + acmeId + "/dead-letters/replay").status,
      404);
  EXPECT_EQ(as("globex", "DELETE", "/api/v2/integrations/subscriptions/" + acmeId).status, 404);
  EXPECT_EQ(parsed(as("globex", "GET", "/api/v2/integrations/subscriptions")).at("items").as_array().size(),
            0u);
  EXPECT_EQ(parsed(as("acme", "GET", "/api/v2/integrations/subscriptions")).at("items").as_array().size(),
            1u);
  EXPECT_EQ(parsed(as("admin", "GET", "/api/v2/integrations/subscriptions")).at("items").as_array().size(),
            2u);
  EXPECT_EQ(as("acme", "DELETE", "/api/v2/integrations/subscriptions/" + acmeId).status, 204);

  // The "ci" webhook is acme's: its task is acme's.
  http::Response delivered = deliver(R"({"ref": "refs/heads/main"})", "t-1", plugin_common::nowMs() / 1000);
  ASSERT_EQ(delivered.status, 202) << delivered.body;
  std::string taskId(parsed(delivered).at("task").at("id").as_string());
  EXPECT_EQ(
      parsed(call(*tasks_, "task_manager", "GET", "/api/v2/tasks/" + taskId, {}, {}, "acme")).at("tenant"),
      "acme");
  EXPECT_EQ(call(*tasks_, "task_manager", "GET", "/api/v2/tasks/" + taskId, {}, {}, "").status, 404)
      << "the default tenant does not see acme's task";
}

using plugin_common::SwitchedGate;

// A webhook is new work from outside: 503 while admission is closed, not
// recorded, so that the sender's redelivery starts the task once it opens.
TEST_F(IntegrationEngineTest, AWebhookIsRefused503WhileAdmissionIsClosedAndItsRedeliveryStartsTheTask) {
  startEngine(config(true));
  auto gate = std::make_shared<SwitchedGate>();
  engine_->provideFake<admission::Gate>(gate, "resource_manager");
  std::int64_t now = plugin_common::nowMs() / 1000;
  http::Response refused = deliver(R"({"ref": "refs/heads/main"})", "g-1", now);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("Hive is saturated: test (webhook)"), std::string::npos) << refused.body;
  EXPECT_EQ(taskCount(), 0u);
  gate->closed = false;
  http::Response redelivered = deliver(R"({"ref": "refs/heads/main"})", "g-1", now);
  EXPECT_EQ(redelivered.status, 202) << redelivered.body;
  EXPECT_EQ(taskCount(), 1u);
}

TEST_F(IntegrationEngineTest, BadStaleAndUnsignedRequestsAre401AuditedAndStartNothing) {
  startEngine(config(true));
  std::int64_t now = plugin_common::nowMs() / 1000;
  EXPECT_EQ(deliver(R"({"ref": "a"})", "b-1", now, "some-other-secret-0123").status, 401);
  EXPECT_EQ(deliver(R"({"ref": "a"})", "b-2", now - 120).status, 401);  // outside the 60 s window
  EXPECT_EQ(
      engine("POST", "/api/v2/integrations/webhooks/ci", R"({"ref": "a"})", {{"x-hive-delivery", "b-3"}})
          .status,
      401);
  // The alias the brief asks for reaches the same endpoint.
  http::Response viaAlias =
      engine("POST", "/api/v2/hooks/ci", R"({"ref": "a"})", {{"x-hive-delivery", "b-4"}});
  EXPECT_EQ(viaAlias.status, 401);
  EXPECT_EQ(viaAlias.body.find(kSecret), std::string::npos);
  std::string large = R"({"ref": ")" + std::string(3000, 'x') + "\"}";
  EXPECT_EQ(deliver(large, "b-5", now).status, 413);
  EXPECT_EQ(deliver(R"({"ref": "a"})", "b-6", now).status / 100, 2);  // and a good one still works
  EXPECT_EQ(engine("POST", "/api/v2/integrations/webhooks/nope", "{}").status, 404);
  EXPECT_EQ(taskCount(), 1u);
  auto audit = lookup<store::Store>(*store_)->read("integration_audit", 0);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 4u);
  EXPECT_NE(audit->at(0).body.find("bad signature"), std::string::npos);
  EXPECT_NE(audit->at(1).body.find("tolerance 60 s"), std::string::npos);
  for (const store::Event& event : *audit) EXPECT_EQ(event.body.find(kSecret), std::string::npos);
}

TEST_F(IntegrationEngineTest, AReceiverThatFailsTwiceThenAcceptsGetsExactlyOneAcceptedSignedDelivery) {
  Receiver receiver({500, 503, 200});
  startEngine(config(true));
  std::string secret;
  std::string id = subscribe(receiver.url(), "tasks.*", &secret);
  ASSERT_TRUE(
      lookup<bus::Bus>(*bus_)->publish("tasks.t1", R"({"event":"task.created","task":{"id":"t1"}})").ok());
  ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("workflows.w1", R"({"event":"ignored"})").ok());
  ASSERT_TRUE(until([&] { return receiver.received().size() >= 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing more may come
  until([] { return false; }, std::chrono::milliseconds(100));
  auto received = receiver.received();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(std::count_if(received.begin(), received.end(), [](auto& r) { return r.answered == 200; }), 1);
  for (const auto& r : received) {
    EXPECT_EQ(r.headers.at("x-hive-delivery"), received[0].headers.at("x-hive-delivery"));
    std::int64_t timestamp = std::stoll(r.headers.at("x-hive-timestamp"));
    EXPECT_EQ(r.headers.at("x-hive-signature"), signGeneric(secret, timestamp, r.body));
    json::value body = json::parse(r.body);
    EXPECT_EQ(body.at("topic"), "tasks.t1");
    EXPECT_EQ(body.at("event").at("task").at("id"), "t1");
  }
  EXPECT_EQ(received[2].headers.at("x-hive-attempt"), "3");
  json::value log = parsed(engine("GET", "/api/v2/integrations/subscriptions/" + id + "/deliveries"));
  ASSERT_EQ(log.at("items").as_array().size(), 1u);
  EXPECT_EQ(log.at("items").at(0).at("status"), "delivered");
  EXPECT_EQ(log.at("items").at(0).at("attempts"), 3);
  // The secret is shown once: not in the subscription as listed.
  EXPECT_EQ(engine("GET", "/api/v2/integrations/subscriptions/" + id).body.find(secret), std::string::npos);
}

// https targets: delivered over TLS when the server's certificate chains to
// outbound.ca_file and names the host; with the system's trust store instead,
// the self-signed certificate is refused before anything is sent, and the
// delivery log says why.
TEST_F(IntegrationEngineTest, HttpsTargetsAreDeliveredOverVerifiedTls) {
  Certificate certificate;
  Receiver receiver({200}, {}, 0, &certificate);
  startEngine(config(true, 5, 2, certificate.cert));
  std::string secret;
  std::string id = subscribe(receiver.url(), "tasks.*", &secret);
  ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("tasks.t1", R"({"event":"task.created"})").ok());
  ASSERT_TRUE(until([&] { return receiver.received().size() == 1; }));
  auto received = receiver.received();
  std::int64_t timestamp = std::stoll(received[0].headers.at("x-hive-timestamp"));
  EXPECT_EQ(received[0].headers.at("x-hive-signature"), signGeneric(secret, timestamp, received[0].body));
  EXPECT_EQ(received[0].headers.at("x-hive-subscription"), id);
  ASSERT_TRUE(until([&] {
    json::value log = parsed(engine("GET", "/api/v2/integrations/subscriptions/" + id + "/deliveries"));
    return json::serialize(log).find("\"delivered\"") != std::string::npos;
  }));

  Receiver untrusted({200}, {}, 0, &certificate);
  startEngine(config(true, 1));
  std::string other = subscribe(untrusted.url(), "alerts.*");
  ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("alerts.disk", R"({"event":"alert.firing"})").ok());
  json::value letters;
  ASSERT_TRUE(until([&] {
    letters = parsed(engine("GET", "/api/v2/integrations/subscriptions/" + other + "/dead-letters"));
    return letters.is_object() && letters.at("items").as_array().size() == 1;
  }));
  EXPECT_NE(json::serialize(letters).find("is not trusted: self-signed certificate"), std::string::npos)
      << letters;
  EXPECT_EQ(untrusted.received().size(), 0u);
  EXPECT_GE(untrusted.failedHandshakes(), 1);
}

TEST_F(IntegrationEngineTest, RedirectsAreNotFollowedAndDeadLettersCanBeReplayed) {
  Receiver redirecting({302, 302, 200});
  startEngine(config(true, 2));
  std::string id = subscribe(redirecting.url(), "alerts.*");
  ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("alerts.disk", R"({"event":"alert.firing"})").ok());
  std::string path = "/api/v2/integrations/subscriptions/" + id + "/dead-letters";
  json::value letters;
  ASSERT_TRUE(until([&] {
    letters = parsed(engine("GET", path));
    return letters.is_object() && letters.at("items").as_array().size() == 1;
  }));
  EXPECT_EQ(redirecting.received().size(), 2u);
  EXPECT_NE(json::serialize(letters).find("redirects are not followed"), std::string::npos) << letters;
  http::Response replayed = engine("POST", path + "/replay", "{}");
  EXPECT_EQ(parsed(replayed).at("replayed"), 1) << replayed.body;
  ASSERT_TRUE(until([&] { return redirecting.received().size() == 3; }));
  ASSERT_TRUE(until([&] {
    json::value log = parsed(engine("GET", "/api/v2/integrations/subscriptions/" + id + "/deliveries"));
    return json::serialize(log).find("\"delivered\"") != std::string::npos;
  }));
  EXPECT_EQ(parsed(engine("GET", path)).at("items").as_array().size(), 0u);
}

TEST_F(IntegrationEngineTest, PrivateTargetsAndBadSubscriptionsAreRefusedWith422) {
  startEngine(config(false));
  http::Response loopback = engine("POST", "/api/v2/integrations/subscriptions",
                                   R"({"url": "http://127.0.0.1:9/x", "topics": ["tasks.*"]})");
  EXPECT_EQ(loopback.status, 422);
  EXPECT_NE(loopback.body.find("allow_private_targets"), std::string::npos) << loopback.body;
  http::Response metadata = engine("POST", "/api/v2/integrations/subscriptions",
                                   R"({"url": "http://169.254.169.254/latest", "topics": ["tasks.*"]})");
  EXPECT_EQ(metadata.status, 422);
  http::Response topics =
      engine("POST", "/api/v2/integrations/subscriptions",
             R"({"url": "http://93.184.216.34/x", "topics": ["agents.*", 3], "secret": "x"})");
  EXPECT_EQ(topics.status, 422);
  EXPECT_NE(topics.body.find("/topics/0"), std::string::npos);
  EXPECT_NE(topics.body.find("/topics/1"), std::string::npos);
  EXPECT_NE(topics.body.find("/secret"), std::string::npos);
  EXPECT_EQ(parsed(engine("GET", "/api/v2/integrations/subscriptions")).at("items").as_array().size(), 0u);
}

TEST_F(IntegrationEngineTest, AnUndeliveredEventSurvivesARestartAndIsDeliveredOnce) {
  int port = 0;
  {
    Receiver placeholder({200});  // a port that nobody listens on once it is gone
    port = std::stoi(placeholder.url().substr(17));
  }
  startEngine(config(true, 50));
  std::string id = subscribe("http://127.0.0.1:" + std::to_string(port) + "/hook", "workflows.*");
  ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("workflows.r1", R"({"event":"workflow.run.succeeded"})").ok());
  ASSERT_TRUE(until([&] {
    json::value log = parsed(engine("GET", "/api/v2/integrations/subscriptions/" + id + "/deliveries"));
    return json::serialize(log).find("\"retrying\"") != std::string::npos;
  }));
  stopEngine();
  // The receiver comes up on that port while hive is down; the new
  // generation (the .so this time) delivers what was left.
  auto receiver = std::make_unique<Receiver>(std::vector<int>{200}, std::chrono::milliseconds(0), port);
  startEngine(config(true, 50), Build::kSharedLibrary);
  ASSERT_TRUE(until([&] { return receiver->received().size() == 1; }));
  EXPECT_EQ(json::parse(receiver->received()[0].body).at("topic"), "workflows.r1");
}

TEST_F(IntegrationEngineTest, OneTargetGetsAtMostConcurrencyPerTargetDeliveriesAtOnce) {
  Receiver slow({200}, std::chrono::milliseconds(150));
  startEngine(config(true, 5, 2));
  subscribe(slow.url(), "tasks.*");
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("tasks.c" + std::to_string(i), "{}").ok());
  ASSERT_TRUE(until([&] { return slow.received().size() == 6; }));
  EXPECT_EQ(slow.maxConcurrent(), 2);
}

TEST_F(IntegrationEngineTest, EventsStillReachSubscriptionsAfterASwapOfTheBus) {
  Receiver receiver({200});
  startEngine(config(true));
  subscribe(receiver.url(), "tasks.*");
  ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("tasks.before", "{}").ok());
  ASSERT_TRUE(until([&] { return receiver.received().size() == 1; }));
  // A new communication_engine generation replaces the old one: the follower
  // drops its subscriptions to the old bus and subscribes to the new one.
  auto next = load(COMMUNICATION_ENGINE_PLUGIN);
  ASSERT_TRUE(next->start().ok());
  engine_->provideFake<bus::Bus>(lookup<bus::Bus>(*next), "communication_engine");
  ASSERT_TRUE(lookup<bus::Bus>(*next)->publish("tasks.after", "{}").ok());
  ASSERT_TRUE(until([&] { return receiver.received().size() == 2; }));
  EXPECT_EQ(json::parse(receiver.received()[1].body).at("topic"), "tasks.after");
  stopEngine();
}

TEST_F(IntegrationEngineTest, GithubDeliveriesAreCheckedWithXHubSignature256AndDedupedByTheirDeliveryId) {
  startEngine(config(true));
  std::string body = R"({"ref": "refs/heads/main", "repository": {"full_name": "acme/app"}})";
  auto github = [&](const std::string& payload, const std::string& signature, const std::string& delivery) {
    std::vector<http::Header> headers{
        {"content-type", "application/json"}, {"x-hub-signature-256", signature}, {"x-github-event", "push"}};
    if (!delivery.empty()) headers.push_back({"x-github-delivery", delivery});
    return engine("POST", "/api/v2/integrations/webhooks/gh", payload, std::move(headers));
  };
  std::string good = "sha256=" + hmacSha256Hex(kSecret, body);
  http::Response first = github(body, good, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  ASSERT_EQ(first.status, 202) << first.body;
  std::string taskId(parsed(first).at("task").at("id").as_string());
  json::value task = parsed(call(*tasks_, "task_manager", "GET", "/api/v2/tasks/" + taskId));
  EXPECT_EQ(task.at("payload"), json::parse(R"({"repository": "acme/app"})"));
  EXPECT_EQ(github(body, good, "72d3162e-cc78-11e3-81ab-4c9367dc0958").body, first.body);
  EXPECT_EQ(github(body, "sha256=" + hmacSha256Hex("not-the-secret-0123", body), "d-2").status, 401);
  EXPECT_EQ(github(body + " ", good, "d-3").status, 401);
  http::Response noDelivery = github(body, good, "");
  EXPECT_EQ(noDelivery.status, 400);
  EXPECT_NE(noDelivery.body.find("X-GitHub-Delivery"), std::string::npos);
  EXPECT_EQ(taskCount(), 1u);
}

TEST_F(IntegrationEngineTest, TwoNodesOnOneStoreShareSubscriptionsAndDeliverAnEventOnce) {
  Receiver receiver({200});
  startEngine(config(true));
  // A second node: another instance of the plugin on the same store and bus.
  other_ = PluginHarness::create<IntegrationEnginePlugin>("integration_engine", "1.0.0");
  other_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
  other_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
  other_->setConfig(config(true));
  ASSERT_FALSE(other_->configure().hasErrors());
  ASSERT_TRUE(other_->start().ok());
  std::string id = subscribe(receiver.url(), "tasks.*");
  EXPECT_EQ(call(*other_, "integration_engine", "GET", "/api/v2/integrations/subscriptions/" + id).status,
            404);
  // The other node reads it at its next refresh.
  other_->advanceTime(std::chrono::seconds(1));
  ASSERT_TRUE(until([&] {
    return call(*other_, "integration_engine", "GET", "/api/v2/integrations/subscriptions/" + id).status ==
           200;
  }));
  ASSERT_TRUE(lookup<bus::Bus>(*bus_)->publish("tasks.shared", "{}").ok());
  ASSERT_TRUE(until([&] { return receiver.received().size() >= 1; }));
  until([] { return false; }, std::chrono::milliseconds(300));
  EXPECT_EQ(receiver.received().size(), 1u);  // both queued it under one key: one delivery
}

}  // namespace
}  // namespace hive::integration_engine
