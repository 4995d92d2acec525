#include "embedders.hpp"

#include "hashing_embedder.hpp"
#include "openai_embedder.hpp"

namespace hive::context_manager {

std::shared_ptr<embedder::Embedder> makeEmbedder(const EmbedderOptions& options,
                                                 std::function<Result<std::string>()> keySource) {
  if (options.kind == EmbedderKind::kOpenAi)
    return std::make_shared<OpenAiEmbedder>(options,
                                            options.apiKeySecret.empty() ? nullptr : std::move(keySource));
  return std::make_shared<HashingEmbedder>(options.dimension);
}

}  // namespace hive::context_manager
