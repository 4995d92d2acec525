// The `openai` embedder against a small HTTP server on loopback (port 0) that
// plays an OpenAI-compatible /v1/embeddings endpoint: batching, the key and
// model sent, answers out of order, retries after 503, no retry after 401, the
// timeout, and the key in no error message.
#include "openai_embedder.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace hive::context_manager {
namespace {

namespace json = boost::json;

struct Received {
  std::string head;  // request line and headers
  json::value body;
};

// Answers each request with the next planned reply: a status and a body, or
// silence (the connection held open until the test ends).
class FakeEndpoint {
 public:
  struct Reply {
    int status = 200;
    std::string body;  // empty with 200: vectors made from the request
    bool silent = false;
  };

  FakeEndpoint() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(listener_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeEndpoint() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
    for (int held : held_) ::close(held);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/embeddings"; }
  void plan(Reply reply) {
    std::lock_guard lock(mutex_);
    plan_.push_back(std::move(reply));
  }
  std::vector<Received> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void serve() {
    while (!stopping_) {
      int connection = ::accept(listener_, nullptr, nullptr);
      if (connection < 0) return;
      std::string data;
      char buffer[4096];
      std::size_t headerEnd = std::string::npos;
      std::size_t need = 0;
      while (true) {
        ssize_t got = ::recv(connection, buffer, sizeof buffer, 0);
        if (got <= 0) break;
        data.append(buffer, static_cast<std::size_t>(got));
        if (headerEnd == std::string::npos && (headerEnd = data.find("\r\n\r\n")) != std::string::npos) {
          auto at = data.find("Content-Length: ");
          need = headerEnd + 4 + std::stoul(data.substr(at + 16));
        }
        if (headerEnd != std::string::npos && data.size() >= need) break;
      }
      Reply reply;
      {
        std::lock_guard lock(mutex_);
        received_.push_back({data.substr(0, headerEnd), json::parse(data.substr(headerEnd + 4))});
        if (!plan_.empty()) {
          reply = plan_.front();
          plan_.pop_front();
        }
      }
      if (reply.silent) {
        held_.push_back(connection);
        continue;
      }
      std::string body = reply.body;
      if (reply.status == 200 && body.empty()) {
        // Vectors [i+1, 1, 0, 0] for the i-th input, listed last first.
        const json::array& input = received_.back().body.at("input").as_array();
        json::array data;
        for (std::size_t i = input.size(); i-- > 0;)
          data.push_back(
              json::object{{"index", i}, {"embedding", json::array{double(i + 1), 1.0, 0.0, 0.0}}});
        body = json::serialize(json::object{{"data", data}});
      }
      std::string response = "HTTP/1.1 " + std::to_string(reply.status) +
                             " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
      ::send(connection, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(connection);
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::deque<Reply> plan_;
  std::vector<Received> received_;
  std::vector<int> held_;
};

EmbedderOptions optionsFor(const FakeEndpoint& endpoint) {
  EmbedderOptions options;
  options.kind = EmbedderKind::kOpenAi;
  options.url = endpoint.url();
  options.model = "text-embedding-test";
  options.apiKey = "sk-secret-test-key";
  options.dimension = 4;
  options.batch = 2;
  options.retries = 2;
  options.timeout = std::chrono::milliseconds(500);
  return options;
}

TEST(OpenAiEmbedder, BatchesSendsKeyAndModelAndOrdersByIndex) {
  FakeEndpoint endpoint;
  OpenAiEmbedder embedder(optionsFor(endpoint));
  EXPECT_EQ(embedder.model(), "openai/text-embedding-test/4");
  auto vectors = embedder.embed({"a", "b", "c", "d", "e"});
  ASSERT_TRUE(vectors.ok()) << vectors.status().toString();
  ASSERT_EQ(vectors->size(), 5u);
  auto requests = endpoint.received();
  ASSERT_EQ(requests.size(), 3u);  // 2 + 2 + 1
  EXPECT_NE(requests[0].head.find("POST /v1/embeddings HTTP/1.1"), std::string::npos);
  EXPECT_NE(requests[0].head.find("Authorization: Bearer sk-secret-test-key"), std::string::npos);
  EXPECT_EQ(requests[0].body.at("model"), "text-embedding-test");
  EXPECT_EQ(requests[0].body.at("input"), (json::array{"a", "b"}));
  EXPECT_EQ(requests[2].body.at("input"), (json::array{"e"}));
  // The second text of a batch got [2, 1, 0, 0], normalised; answers came last first.
  EXPECT_NEAR((*vectors)[1][0], 2.0 / std::sqrt(5.0), 1e-6);
  EXPECT_NEAR((*vectors)[0][0], 1.0 / std::sqrt(2.0), 1e-6);
}

// api_key_secret: the key comes from the vault at each request (a rotation is
// used at once); a key that cannot be read sends nothing and is not retried.
TEST(OpenAiEmbedder, AKeyFromTheVaultIsReadAtEachRequest) {
  FakeEndpoint endpoint;
  auto options = optionsFor(endpoint);
  options.apiKey.clear();
  options.apiKeySecret = "embedder_key";
  std::string current = "sk-vault-one";
  OpenAiEmbedder embedder(options, [&]() -> Result<std::string> { return current; });
  ASSERT_TRUE(embedder.embed({"a"}).ok());
  current = "sk-vault-two";
  ASSERT_TRUE(embedder.embed({"b"}).ok());
  auto requests = endpoint.received();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0].head.find("Authorization: Bearer sk-vault-one"), std::string::npos);
  EXPECT_NE(requests[1].head.find("Authorization: Bearer sk-vault-two"), std::string::npos);

  OpenAiEmbedder missing(options,
                         []() -> Result<std::string> { return notFound("no secret 'embedder_key'"); });
  auto refused = missing.embed({"c"});
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("no secret 'embedder_key'"), std::string::npos);
  EXPECT_EQ(endpoint.received().size(), 2u);  // nothing sent without a key
}

TEST(OpenAiEmbedder, RetriesUnavailableAndTooManyRequests) {
  FakeEndpoint endpoint;
  endpoint.plan({503, "{}"});
  endpoint.plan({429, "{}"});
  OpenAiEmbedder embedder(optionsFor(endpoint));
  auto vectors = embedder.embed({"x"});
  ASSERT_TRUE(vectors.ok()) << vectors.status().toString();
  EXPECT_EQ(endpoint.received().size(), 3u);
}

TEST(OpenAiEmbedder, GivesUpAfterItsRetriesWithoutTheKeyInTheMessage) {
  FakeEndpoint endpoint;
  for (int i = 0; i < 3; ++i) endpoint.plan({500, "{\"error\":\"down\"}"});
  OpenAiEmbedder embedder(optionsFor(endpoint));
  auto vectors = embedder.embed({"x"});
  EXPECT_EQ(vectors.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(vectors.status().message().find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(vectors.status().message().find("sk-secret"), std::string::npos);
  EXPECT_EQ(endpoint.received().size(), 3u);
}

TEST(OpenAiEmbedder, RefusedKeyIsNotRetried) {
  FakeEndpoint endpoint;
  endpoint.plan({401, "{\"error\":\"bad key sk-secret-test-key\"}"});
  OpenAiEmbedder embedder(optionsFor(endpoint));
  auto vectors = embedder.embed({"x"});
  EXPECT_EQ(vectors.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(vectors.status().message().find("sk-secret"), std::string::npos);
  EXPECT_EQ(endpoint.received().size(), 1u);
}

TEST(OpenAiEmbedder, WrongDimensionIsRefused) {
  FakeEndpoint endpoint;
  endpoint.plan({200, R"({"data":[{"index":0,"embedding":[1,2,3]}]})"});
  auto options = optionsFor(endpoint);
  options.retries = 0;
  OpenAiEmbedder embedder(options);
  EXPECT_EQ(embedder.embed({"x"}).status().code(), StatusCode::kUnavailable);
}

TEST(OpenAiEmbedder, SilentServerTimesOut) {
  FakeEndpoint endpoint;
  endpoint.plan({.silent = true});
  endpoint.plan({.silent = true});
  auto options = optionsFor(endpoint);
  options.retries = 1;
  options.timeout = std::chrono::milliseconds(300);
  OpenAiEmbedder embedder(options);
  auto began = std::chrono::steady_clock::now();
  auto vectors = embedder.embed({"x"});
  auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(vectors.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(endpoint.received().size(), 2u);
  // Two attempts of 300 ms and one pause of 200 ms; not the default 10 s.
  EXPECT_LT(took, std::chrono::seconds(5));
}

}  // namespace
}  // namespace hive::context_manager
