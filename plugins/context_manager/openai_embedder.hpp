// The `openai` hive.embedder/1 provider: an OpenAI-compatible embeddings
// endpoint (POST <url> with {"model", "input": [texts]}, answer
// {"data": [{"index", "embedding"}]}), over HTTP or HTTPS (the system's CA
// certificates, the host name checked).
//
// Texts go in batches of `batch`; each request has `timeout` in all
// (connect, send, answer) and is tried again `retries` times, after 200 ms,
// 400 ms, ..., when the connection fails, times out or the server answers 429
// or 5xx. 401/403 are kPermissionDenied and 4xx kInvalidArgument at once.
// Vectors are scaled to unit length; one of another dimension than
// configured is kUnavailable. The key is sent as `Authorization: Bearer` and
// never appears in a Status message or a log line.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "config.hpp"
#include "hive/services/embedder.hpp"

namespace hive::context_manager {

class OpenAiEmbedder final : public embedder::Embedder {
 public:
  // Where the API key comes from at each request when the options name a
  // secret (api_key_secret); never logged, never part of an error.
  using KeySource = std::function<Result<std::string>()>;
  explicit OpenAiEmbedder(EmbedderOptions options, KeySource keySource = {});
  ~OpenAiEmbedder() override;

  // hive::embedder::Embedder
  std::size_t dimension() const override { return options_.dimension; }
  std::string model() const override {
    return "openai/" + options_.model + "/" + std::to_string(options_.dimension);
  }
  Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) override;

 private:
  struct Endpoint;
  Result<std::vector<std::vector<float>>> embedBatch(const std::vector<std::string>& texts);

  EmbedderOptions options_;
  KeySource keySource_;
  std::unique_ptr<Endpoint> endpoint_;
};

}  // namespace hive::context_manager
